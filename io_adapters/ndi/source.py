"""``ndi://`` camera sources: one receive thread per camera, frames filed under their reference slots."""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from fractions import Fraction
from typing import Any

from io_adapters.ndi import _sdk
from io_adapters.ndi.settings import SourceSettings
from plugin.errors import SourceError
from plugin.frames import Frame, PixelFormat
from plugin.ports import AdapterContext
from plugin.queues import put_dropping_oldest
from timing import FrameSlotSync, time_of_day_timecode, utc_to_tai_ns

log = logging.getLogger("fvreplay.ndi")

_AUTO_COLOR = {PixelFormat.P216: "best", PixelFormat.BGRX: "bgrx"}
# A timecode further than this from the frame's arrival is not a time of day (some senders count
# from midnight or from zero): such frames are filed by their timestamp instead.
_PLAUSIBLE_NS = 10 * 1_000_000_000
_STATS_EVERY_NS = 1_000_000_000
_RECREATE_AFTER_S = 5.0


class NdiSource:
    """``ndi://<NDI name>`` (discovery) or ``ndi://<host>:<port>`` (direct): one camera over NDI.

    ``open()`` starts a receive thread that never blocks the engine: it captures, copies each frame
    into an array the Frame owns, converts its time to TAI, files it under its slot with
    ``timing.FrameSlotSync`` and puts it on a bounded queue (the oldest frame goes when it is full).
    A sender that disappears is reported LOST and picked up again when it returns.
    """

    has_clock = False

    def __init__(self, url: str, ctx: AdapterContext) -> None:
        self.url = url
        self.ctx = ctx
        self.settings = SourceSettings.from_url(url, ctx.name, ctx.options)
        s = self.settings
        self._color = s.color if s.color != "auto" else _AUTO_COLOR.get(ctx.fmt.pixel_format, "fastest")
        self._queue: queue.Queue[Frame] = queue.Queue(s.queue_frames)
        self._sync = FrameSlotSync(ctx.fmt.rate, name=ctx.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._rx: _sdk.Receiver | None = None
        self._tally = (False, False)
        # Runtime state, written by the receive thread, read by state().
        self._state = "CLOSED"
        self._source = s.target
        self._error = ""
        self._frames = 0
        self._dropped_queue = 0
        self._dropped_sdk_base = 0  # from receivers since replaced
        self._dropped_sdk = 0
        self._sdk_queue = 0
        self._connections = 0
        self._lost = 0
        self._reconnects = 0
        self._unsupported = 0
        self._time_fallbacks = 0
        self._format = ""
        self._format_key: tuple[object, ...] | None = None
        self._format_ok = True
        self._latency_ns = 0
        self._arrivals: collections.deque[int] = collections.deque(maxlen=max(2, ctx.fmt.rate.nominal + 1))
        self.connection_metadata = ""  # the sender's <ndi_product …/> and the like, as last received

    # --- Source protocol ---------------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            raise SourceError(f"{self.url}: already open")
        _sdk.initialize(self.settings.discovery, SourceError)
        self._stop.clear()
        self._state = "CONNECTING"
        self._thread = threading.Thread(target=self._run, name=f"ndi-rx-{self.ctx.name}", daemon=True)
        self._thread.start()

    def read(self, timeout: float) -> Frame | None:
        if self._thread is None:
            raise SourceError(f"{self.url}: read before open")
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)
        with self._lock:
            rx, self._rx = self._rx, None
        if rx is not None:
            rx.close()
        self._state = "CLOSED"

    def state(self) -> dict[str, Any]:
        now = time.monotonic_ns()
        arrivals = [t for t in self._arrivals if now - t < 2 * _STATS_EVERY_NS]
        fps = 0.0
        if len(arrivals) >= 2 and arrivals[-1] > arrivals[0]:
            fps = round((len(arrivals) - 1) * 1e9 / (arrivals[-1] - arrivals[0]), 2)
        sync = self._sync.stats()
        offset = sync["offset_ns"]
        dropped_sdk = self._dropped_sdk_base + self._dropped_sdk
        return {
            "url": self.url,
            "source": self._source,
            "state": self._state,
            "format": self._format,
            "format_ok": self._format_ok,
            "frames": self._frames,
            "fps": fps,
            "dropped": dropped_sdk + self._dropped_queue,
            "dropped_sdk": dropped_sdk,
            "dropped_queue": self._dropped_queue,
            "queue": self._queue.qsize(),
            "sdk_queue": self._sdk_queue,
            "offset_ms": round(offset / 1e6, 3) if isinstance(offset, int) else None,
            "latency_ms": round(self._latency_ns / 1e6, 3) if self._frames else None,
            "duplicates": sync["duplicates"],
            "gaps": sync["gaps"],
            "connections": self._connections,
            "lost": self._lost,
            "reconnects": self._reconnects,
            "unsupported_frames": self._unsupported,
            "time_fallbacks": self._time_fallbacks,
            "error": self._error,
        }

    # --- extras ------------------------------------------------------------------------------------

    def set_tally(self, program: bool, preview: bool) -> None:
        """Tell the sender (a camera's tally light) it is on programme / preview."""
        self._tally = (program, preview)
        with self._lock:
            if self._rx is not None:
                self._rx.set_tally(program, preview)

    # --- the receive thread ------------------------------------------------------------------------

    def _connect(self) -> _sdk.Receiver | None:
        s = self.settings
        name, address = s.ndi_name, s.url_address
        if name and "(" not in name:
            # The SDK matches names exactly ("HOST (NAME)"); find the full name first.
            found = _sdk.find_source(name, extra_ips=s.extra_ips, timeout_s=1.0)
            if found is None:
                self._error = f"no NDI source named {name!r} found yet (discovery: {s.discovery or 'mDNS'})"
                return None
            name, address = found[0], found[1] or None
        rx = _sdk.Receiver(
            ndi_name=name, url_address=address, color=self._color, bandwidth=s.bandwidth, recv_name=f"FVR {s.camera}"
        )
        self._source = name or address or s.target
        if any(self._tally):
            rx.set_tally(*self._tally)
        return rx

    def _run(self) -> None:
        last_stats = 0
        last_frame = time.monotonic()
        lost_since: float | None = None
        while not self._stop.is_set():
            try:
                with self._lock:
                    rx = self._rx
                if rx is None:
                    rx = self._connect()
                    if rx is None:
                        self._stop.wait(0.5)
                        continue
                    with self._lock:
                        self._rx = rx
                got = rx.capture(100)
                now = time.monotonic()
                if got.video is not None:
                    self._deliver(got.video)
                    last_frame = now
                    if self._state != "LIVE":
                        if self._state == "LOST":
                            self._reconnects += 1
                            log.info("%s: %s is back", self.ctx.name, self._source)
                        self._state, self._error, lost_since = "LIVE", "", None
                elif got.unsupported:
                    self._unsupported += 1
                    self._error = f"frames arrive as {got.unsupported}, which fvreplay does not keep"
                if got.metadata is not None and "<ndi_product" in got.metadata:
                    self.connection_metadata = got.metadata
                if self._state == "LIVE" and now - last_frame > self.settings.lost_after_s:
                    self._state, lost_since = "LOST", now
                    self._lost += 1
                    self._error = f"no frame from {self._source} for {self.settings.lost_after_s} s"
                    log.warning("%s: %s", self.ctx.name, self._error)
                if lost_since is not None and now - lost_since > _RECREATE_AFTER_S:
                    # The SDK reconnects on its own; a fresh receiver also re-resolves a name whose
                    # sender came back at another address.
                    self._replace_receiver()
                    lost_since = now
                if time.monotonic_ns() - last_stats > _STATS_EVERY_NS:
                    last_stats = time.monotonic_ns()
                    _, self._dropped_sdk, self._sdk_queue, self._connections = rx.counters()
            except SourceError as exc:
                self._error = str(exc)
                log.warning("%s: %s; retrying", self.ctx.name, exc)
                self._replace_receiver()
                self._stop.wait(1.0)

    def _replace_receiver(self) -> None:
        with self._lock:
            rx, self._rx = self._rx, None
        if rx is not None:
            self._dropped_sdk_base += rx.counters()[1]
            self._dropped_sdk = 0
            rx.close()

    def _capture_tai(self, v: _sdk.VideoCopy, arrival_tai: int) -> int:
        base = self.settings.time_base
        if base == "timecode" and v.timecode not in (_sdk.UNDEFINED, _sdk.SYNTHESIZE):
            tai = utc_to_tai_ns(v.timecode * 100)
            if abs(tai - arrival_tai) < _PLAUSIBLE_NS:
                return tai
            self._time_fallbacks += 1
        if base != "receive" and v.timestamp not in (0, _sdk.UNDEFINED):
            return utc_to_tai_ns(v.timestamp * 100)
        return arrival_tai

    def _deliver(self, v: _sdk.VideoCopy) -> None:
        arrival = self.ctx.clock.now_ns()
        self._arrivals.append(time.monotonic_ns())
        tai = self._capture_tai(v, arrival)
        filed = self._sync.file(tai)
        self._frames += 1
        self._latency_ns = arrival - tai
        key = (v.width, v.height, v.pixel_format, v.rate_n, v.rate_d, v.progressive)
        if key != self._format_key:  # described once per change of format, not per frame
            self._format_key = key
            rate = Fraction(v.rate_n, v.rate_d) if v.rate_d else Fraction(0)
            fmt = f"{v.width}x{v.height} {v.pixel_format.value} {rate}{'' if v.progressive else 'i'}"
            house = self.ctx.fmt
            self._format_ok = (v.width, v.height, rate) == (house.width, house.height, house.rate.fps)
            if not self._format_ok:
                log.warning("%s: %s sends %s; the house format is %s", self.ctx.name, self._source, fmt, house)
            self._format = fmt
        frame = Frame(
            v.data,
            v.pixel_format,
            self.ctx.name,
            filed.slot,
            tai,
            time_of_day_timecode(filed.slot, self.ctx.fmt.rate),
            {
                "ndi_timecode": v.timecode,
                "ndi_timestamp": v.timestamp,
                "arrival_tai_ns": arrival,
                "ndi_metadata": v.metadata,
                "duplicate": filed.duplicate,
                "gap": filed.gap,
            },
        )
        # The engine fell behind: drop the oldest, never block the receive thread.
        self._dropped_queue += put_dropping_oldest(self._queue, frame)
