"""Record trains: one bounded ring per camera, indexed by slot, filled by a capture thread per source.

A frame for slot n lives at ring index ``n mod capacity``, next to the slot it holds, so looking up
"camera X at slot n" is one array read, a gap is simply a slot that was never written, and the ring
overwrites the oldest frame without bookkeeping. Memory for raw trains is allocated at start for the
whole buffer; the engine refuses a profile whose trains do not fit (:func:`plan_memory`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from plugin.errors import BufferTooLargeError, RecorderError, SourceError
from plugin.frames import Frame, PixelFormat, decode_jpeg, encode_jpeg
from plugin.ports import Source, VideoFormat

log = logging.getLogger("fvreplay.recorder")

#: Assumed size of a JPEG frame relative to its raw UYVY size, for planning memory (q≈90 on sport).
JPEG_PLANNING_RATIO = 0.12


PAGE = 4096


def prefault(array: npt.NDArray[Any]) -> None:
    """Touch every page of a fresh array now, so the kernel's first-touch faults (and zeroing) happen
    at start instead of while frames arrive: filling 10 trains of 720p50 faults in ~1 GB/s, which
    otherwise costs the capture threads most of a core in the kernel and delays the ticker."""
    flat = array.reshape(-1).view(np.uint8)
    flat[::PAGE] = 0


@dataclass(frozen=True)
class MemoryPlan:
    """What the record trains of a profile need."""

    bytes_needed: int
    frames_per_camera: int
    per_frame: int
    description: str


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def plan_memory(
    cameras: int, seconds: float, fmt: VideoFormat, codec: str, limit: int
) -> MemoryPlan:
    """Compute the trains' memory; raise BufferTooLargeError saying by how much and what to do."""
    frames = max(2, int(np.ceil(seconds * float(fmt.rate.fps))))
    raw = fmt.pixel_format.nbytes(fmt.width, fmt.height)
    per_frame = raw if codec == "raw" else int(raw * JPEG_PLANNING_RATIO)
    needed = per_frame * frames * cameras
    what = (
        f"{cameras} cameras × {seconds:g} s of {fmt.width}×{fmt.height} "
        f"{fmt.pixel_format.value.upper()}{' as JPEG' if codec == 'jpeg' else ''} at {fmt.rate}p"
    )
    if needed > limit:
        hint = "lower buffer.seconds, use codec = \"jpeg\", or raise buffer.memory_limit"
        if codec == "jpeg":
            hint = "lower buffer.seconds or raise buffer.memory_limit"
        raise BufferTooLargeError(f"buffer needs {_gb(needed)} for {what}; limit is {_gb(limit)}: {hint}")
    return MemoryPlan(needed, frames, per_frame, f"{_gb(needed)} for {what}")


class RecordTrain:
    """One camera's ring of the most recent ``capacity`` slots."""

    def __init__(self, camera: str, fmt: VideoFormat, capacity: int, *, codec: str = "raw", jpeg_quality: int = 90):
        self.camera = camera
        self.fmt = fmt
        self.capacity = capacity
        self.codec = codec
        self.jpeg_quality = jpeg_quality
        self.pixel_format = fmt.pixel_format
        self._shape = fmt.pixel_format.shape(fmt.width, fmt.height)
        self._slots = np.full(capacity, -1, dtype=np.int64)
        self._tai = np.zeros(capacity, dtype=np.int64)
        self._tc: list[str] = [""] * capacity
        self._raw: npt.NDArray[Any] | None = None
        self._jpeg: list[bytes | None] = []
        if codec == "raw":
            self._raw = np.empty((capacity, *self._shape), dtype=fmt.pixel_format.dtype)
            prefault(self._raw)
        else:
            self._jpeg = [None] * capacity
        self._lock = threading.Lock()
        self.first_slot: int | None = None
        self.last_slot: int | None = None
        self.frames_in = 0
        self.duplicates = 0
        self.gaps = 0
        self.converted = 0
        self.gap_events: list[tuple[int, int]] = []  # (first missing slot, count), most recent last

    def write(self, frame: Frame) -> None:
        """Copy a frame into the ring under its slot (the source's buffer is not kept).

        A frame that cannot be stored (a size or format that cannot be converted) raises SourceError.
        """
        data = frame.data
        if frame.pixel_format is not self.pixel_format or data.shape != self._shape:
            data = self._convert(frame)
        idx = frame.slot % self.capacity
        encoded = self._encode(data) if self.codec == "jpeg" else None
        with self._lock:
            if self._slots[idx] == frame.slot:
                self.duplicates += 1
            if self.last_slot is not None and frame.slot > self.last_slot + 1:
                missing = frame.slot - self.last_slot - 1
                self.gaps += missing
                self.gap_events.append((self.last_slot + 1, missing))
                del self.gap_events[:-32]
            if self._raw is not None:
                self._raw[idx] = data
            else:
                self._jpeg[idx] = encoded
            self._slots[idx] = frame.slot
            self._tai[idx] = frame.tai_ns
            self._tc[idx] = frame.timecode
            self.frames_in += 1
            if self.last_slot is None or frame.slot > self.last_slot:
                self.last_slot = frame.slot
            if self.first_slot is None or frame.slot < self.first_slot:
                self.first_slot = frame.slot

    def _convert(self, frame: Frame) -> npt.NDArray[Any]:
        # Stored "as arrived" when the format matches the ring; a camera that sends another format
        # (or size) than the house format is converted once here, and counted.
        self.converted += 1
        try:
            if (frame.height, frame.width) != (self.fmt.height, self.fmt.width):
                rgb = cv2.resize(frame.to_rgb(), (self.fmt.width, self.fmt.height), interpolation=cv2.INTER_AREA)
                frame = Frame(np.asarray(rgb, np.uint8), PixelFormat.RGB, frame.camera, frame.slot, frame.tai_ns)
            return frame.converted(self.pixel_format)
        except (cv2.error, ValueError) as exc:
            raise SourceError(
                f"{self.camera}: cannot store a {frame.width}x{frame.height} {frame.pixel_format.value} frame "
                f"in the {self.fmt} {self.pixel_format.value} record train: {exc}"
            ) from exc

    def _encode(self, data: npt.NDArray[Any]) -> bytes:
        blob = encode_jpeg(Frame(data, self.pixel_format, self.camera, 0, 0).to_rgb(), self.jpeg_quality)
        if blob is None:
            raise SourceError(f"{self.camera}: JPEG encode failed")
        return blob

    def range(self) -> tuple[int, int] | None:
        """(oldest, newest) slot the ring can still hold; slots in between may be gaps."""
        with self._lock:
            if self.last_slot is None or self.first_slot is None:
                return None
            return max(self.first_slot, self.last_slot - self.capacity + 1), self.last_slot

    def read(self, slot: int) -> Frame | None:
        """The frame held for ``slot`` (a copy, safe from the ring overwriting it), or None."""
        idx = slot % self.capacity
        with self._lock:
            if self._slots[idx] != slot:
                return None
            tai, tc = int(self._tai[idx]), self._tc[idx]
            if self._raw is not None:
                data: npt.NDArray[Any] = self._raw[idx].copy()
                return Frame(data, self.pixel_format, self.camera, slot, tai, tc)
            blob = self._jpeg[idx]
        if blob is None:
            return None
        rgb = decode_jpeg(blob)
        if rgb is None:
            raise RecorderError(f"{self.camera}: held frame at slot {slot} is not a readable JPEG")
        return Frame(rgb, PixelFormat.RGB, self.camera, slot, tai, tc)

    def read_encoded(self, slot: int) -> tuple[int, bytes, str, tuple[int, ...]] | None:
        """A slot exactly as held: (TAI ns, bytes, coding ("jpeg" or the raw pixel format), picture shape)."""
        idx = slot % self.capacity
        with self._lock:
            if self._slots[idx] != slot:
                return None
            tai = int(self._tai[idx])
            if self._raw is not None:
                return tai, self._raw[idx].tobytes(), self.pixel_format.value, self._shape
            blob = self._jpeg[idx]
        return (tai, blob, "jpeg", (self.fmt.height, self.fmt.width, 3)) if blob is not None else None

    def latest(self) -> Frame | None:
        last = self.last_slot
        return None if last is None else self.read(last)

    def stats(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "gaps": self.gaps,
            "duplicates": self.duplicates,
            "converted": self.converted,
            "last_slot": self.last_slot,
        }


class CaptureThread:
    """Reads one source into its record train; reconnects a source that fails, without stopping the engine."""

    def __init__(self, source: Source, train: RecordTrain, *, retry_s: float = 1.0) -> None:
        self.source = source
        self.train = train
        self.retry_s = retry_s
        self.state = "STARTING"
        self.reason = ""
        self.errors = 0
        self._stop = threading.Event()
        #: Set once the source's first open() has returned or failed: the engine waits on it before ticking.
        self.first_open = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{train.camera}", daemon=True)
        self._arrivals: deque[float] = deque(maxlen=512)
        self.last_arrival = 0.0

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to finish (without waiting): stopping many cameras at once is one wait."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def fps(self) -> float:
        """Frames that arrived in the last second. Read from the ticker while the capture thread appends:
        iterating the deque itself then fails ('deque mutated during iteration', seen under full CPU
        load), so it is copied first (one C call: the capture thread cannot append in between)."""
        now = time.monotonic()
        return float(sum(1 for t in self._arrivals.copy() if now - t <= 1.0))

    def _run(self) -> None:
        opened = False
        while not self._stop.is_set():
            try:
                if not opened:
                    try:
                        self.source.open()
                    finally:
                        self.first_open.set()
                    opened = True
                    self.state, self.reason = "OK", ""
                frame = self.source.read(0.25)
            except SourceError as exc:
                self.errors += 1
                self.state, self.reason = "LOST", str(exc)
                log.warning("%s: %s; retrying in %.1f s", self.train.camera, exc, self.retry_s)
                if opened:
                    self._close()
                    opened = False
                self._stop.wait(self.retry_s)
                continue
            if frame is None:
                if self.state == "OK" and time.monotonic() - self.last_arrival > 1.0:
                    self.state, self.reason = "STALLED", "no frames for over 1 s"
                continue
            try:
                self.train.write(frame)
            except SourceError as exc:
                # One unstorable frame is dropped and counted; it must not stop the camera.
                self.errors += 1
                if self.reason != str(exc):
                    log.warning("%s: %s; frame dropped", self.train.camera, exc)
                self.reason = str(exc)
                continue
            now = time.monotonic()
            self.last_arrival = now
            self._arrivals.append(now)
            if self.state != "OK":
                self.state, self.reason = "OK", ""
        if opened:
            self._close()

    def _close(self) -> None:
        try:
            self.source.close()
        except SourceError as exc:
            log.warning("%s: close failed: %s", self.train.camera, exc)


class Recorder:
    """Every camera's record train, by name, in rig order."""

    def __init__(self, trains: dict[str, RecordTrain]) -> None:
        self.trains = trains

    def __contains__(self, camera: object) -> bool:
        return camera in self.trains

    def range(self, camera: str) -> tuple[int, int] | None:
        return self.trains[camera].range()

    def read(self, camera: str, slot: int) -> Frame | None:
        return self.trains[camera].read(slot)

    def latest(self, camera: str) -> Frame | None:
        return self.trains[camera].latest()

    def newest(self, camera: str) -> int | None:
        return self.trains[camera].last_slot

    def common_range(self) -> tuple[int, int] | None:
        """Slots every camera's train can hold (a FrameSet exists for slots without gaps)."""
        ranges = [r for r in (t.range() for t in self.trains.values()) if r is not None]
        if not ranges:
            return None
        first, last = max(r[0] for r in ranges), min(r[1] for r in ranges)
        return (first, last) if first <= last else None
