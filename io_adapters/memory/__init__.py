"""In-process frames: ``mem://<name>`` sources and sinks joined by a named hub.

A ``MemorySink`` named X keeps its most recent frames and also feeds any ``MemorySource`` named X,
so one engine's output can be another's camera. Tests and embedding applications push frames with
``feed()`` and read outputs with ``hub(name).recent()``. This is a real adapter, not a test double:
it follows the same protocols and settles its format before the first frame like any other.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from plugin.errors import AdapterError, SinkError, SourceError
from plugin.frames import Frame
from plugin.ports import AdapterContext, VideoFormat
from plugin.queues import put_dropping_oldest
from timing import slot_at

__all__ = ["MemorySink", "MemorySource", "feed", "hub", "reset"]


#: Recent frames a hub holds unless a sink asks for another number (``mem://NAME?keep=N``).
DEFAULT_KEEP = 16


@dataclass
class _Hub:
    """One named rendezvous: a bounded queue for readers and a short history for inspection."""

    name: str
    capacity: int = 64
    queue: queue.Queue[Frame] = field(init=False)
    history: collections.deque[Frame] = field(init=False)  # its maxlen is how many frames the hub keeps
    sent: int = 0
    dropped: int = 0
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.queue = queue.Queue(self.capacity)
        self.history = collections.deque(maxlen=DEFAULT_KEEP)

    def put(self, frame: Frame) -> None:
        with self._lock:  # never appends to a history that set_keep() is replacing
            self.sent += 1
            self.history.append(frame)
        # A reader that falls behind loses the oldest frame, never blocks the writer.
        self.dropped += put_dropping_oldest(self.queue, frame)

    def set_keep(self, keep: int) -> None:
        """Hold the last ``keep`` frames from now on (the most recent of those held so far stay)."""
        with self._lock:
            if keep != self.history.maxlen:
                self.history = collections.deque(self.history, maxlen=keep)

    def recent(self) -> list[Frame]:
        with self._lock:
            return list(self.history)


_HUBS: dict[str, _Hub] = {}
_LOCK = threading.Lock()


def _name_of(url: str, error: type[AdapterError]) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    if parts.scheme != "mem":
        raise error(f"{url!r} is not a mem:// URL")
    name = (parts.netloc + parts.path).strip("/")
    if not name:
        raise error(f"{url!r}: name the hub, e.g. mem://cam01")
    return name, parse_qs(parts.query)


def hub(name: str, *, capacity: int = 64, keep: int | None = None) -> _Hub:
    """The hub called ``name``, created on first use; ``keep`` sets how many recent frames it holds."""
    with _LOCK:
        h = _HUBS.get(name)
        if h is None:
            h = _HUBS[name] = _Hub(name, capacity)
        if keep is not None:
            # A sink asking for a longer (or shorter) history than the hub was made with, e.g. by a
            # source that opened first, gets it.
            h.set_keep(keep)
        return h


def feed(name: str, frame: Frame) -> None:
    """Push a frame into ``mem://name`` (as a camera would)."""
    hub(name).put(frame)


def reset() -> None:
    """Forget every hub (between tests or embedded sessions)."""
    with _LOCK:
        _HUBS.clear()


class MemorySource:
    """``mem://<name>``: frames pushed into the hub; unslotted frames (slot < 0) are slotted by TAI time."""

    has_clock = False

    def __init__(self, url: str, ctx: AdapterContext) -> None:
        self.url = url
        self.name, _ = _name_of(url, SourceError)
        self.ctx = ctx
        self._hub: _Hub | None = None
        self.frames_in = 0

    def open(self) -> None:
        self._hub = hub(self.name)

    def read(self, timeout: float) -> Frame | None:
        if self._hub is None:
            raise SourceError(f"{self.url}: read before open")
        try:
            frame = self._hub.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if frame.slot < 0:
            # A new Frame: the one in the hub may be held by the feeder and the hub's history too.
            frame = dataclasses.replace(frame, slot=slot_at(frame.tai_ns, self.ctx.fmt.rate))
        self.frames_in += 1
        return frame

    def close(self) -> None:
        self._hub = None

    def state(self) -> dict[str, Any]:
        return {"url": self.url, "frames_in": self.frames_in, "queue": self._hub.queue.qsize() if self._hub else 0}


class MemorySink:
    """``mem://<name>[?keep=N]``: keeps the last N frames sent and feeds ``mem://<name>`` sources."""

    has_clock = False

    def __init__(self, url: str, ctx: AdapterContext) -> None:
        self.url = url
        self.name, query = _name_of(url, SinkError)
        try:
            self.keep = int(query.get("keep", [str(DEFAULT_KEEP)])[0])
        except ValueError as exc:
            raise SinkError(f"{url}: keep must be an integer") from exc
        if self.keep < 1:
            raise SinkError(f"{url}: keep must be at least 1")
        self.ctx = ctx
        self.fmt: VideoFormat | None = None
        self._hub: _Hub | None = None

    def configure(self, fmt: VideoFormat) -> None:
        self.fmt = fmt
        self._hub = hub(self.name, keep=self.keep)

    def send(self, frame: Frame) -> None:
        if self._hub is None:
            raise SinkError(f"{self.url}: send before configure")
        self._hub.put(frame)

    def close(self) -> None:
        self._hub = None

    def state(self) -> dict[str, Any]:
        h = _HUBS.get(self.name)
        return {"url": self.url, "frames_out": h.sent if h else 0}
