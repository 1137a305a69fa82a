"""The Source and Sink protocols every adapter implements, and what an adapter is given to start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plugin.frames import Frame, PixelFormat
from timing import FrameRate

if TYPE_CHECKING:
    from timing.clocks import ReferenceClock


@dataclass(frozen=True)
class VideoFormat:
    """The house video format: every camera and output of a show runs at it."""

    width: int
    height: int
    rate: FrameRate
    pixel_format: PixelFormat = PixelFormat.UYVY

    def __str__(self) -> str:
        return f"{self.width}x{self.height}p{self.rate}"


@dataclass
class AdapterContext:
    """What an adapter is handed when it is built from a URL.

    ``camera`` is the camera (for sources) or channel (for sinks) name in the profile; ``options``
    carries the adapter's own profile settings (already validated by the profile schema), and
    ``profile`` the whole resolved profile for adapters that need more (the sim needs the scene).
    """

    name: str
    fmt: VideoFormat
    clock: ReferenceClock
    options: dict[str, Any] = field(default_factory=dict)
    profile: Any = None


@runtime_checkable
class Source(Protocol):
    """A camera feed. ``read`` returns the next frame, already stamped with its slot, or None on timeout.

    A source with ``has_clock`` drives its own timing (a genlocked capture card); others are
    stamped by timing's frame-slot sync from their capture timestamps.
    """

    url: str
    has_clock: bool

    def open(self) -> None: ...

    def read(self, timeout: float) -> Frame | None: ...

    def close(self) -> None: ...

    def state(self) -> dict[str, Any]: ...


@runtime_checkable
class Sink(Protocol):
    """A channel output. ``send`` is called exactly once per tick with the channel's frame.

    A sink with ``has_clock`` paces the channel itself (a hardware output); the genlock ticker
    paces the others.
    """

    url: str
    has_clock: bool

    def configure(self, fmt: VideoFormat) -> None: ...

    def send(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def state(self) -> dict[str, Any]: ...
