"""``ndi://FVR <channel>`` outputs: an NDI sender per channel, paced by the engine's genlock ticker."""

from __future__ import annotations

import logging
import threading
from typing import Any
from xml.sax.saxutils import quoteattr

from io_adapters.ndi import _sdk
from io_adapters.ndi.settings import SinkSettings
from plugin import __version__
from plugin.errors import SinkError
from plugin.frames import Frame, PixelFormat
from plugin.ports import AdapterContext, VideoFormat
from timing import TimecodeError, slot_start_ns, tai_to_utc_ns, timecode_to_frames

log = logging.getLogger("fvreplay.ndi")

#: Frame.meta keys carried in each frame's ``<fvr …/>`` metadata, in this order.
FRAME_META_KEYS = ("clip", "angle", "speed", "view_s")


def frame_metadata(frame: Frame) -> str:
    """The per-frame XML a mixer or recorder can read: ``<fvr clip="…" angle="…" speed="…" view_s="…"/>``
    with the frame's timecode label and slot (keys the frame does not carry are left out)."""
    attrs = [f"{k}={quoteattr(str(frame.meta[k]))}" for k in FRAME_META_KEYS if frame.meta.get(k) is not None]
    if frame.timecode:
        attrs.append(f"tc={quoteattr(frame.timecode)}")
    attrs.append(f'slot="{frame.slot}"')
    return f"<fvr {' '.join(attrs)}/>"


def product_metadata(channel: str) -> str:
    """The connection metadata every receiver gets when it connects (NDI's ``<ndi_product/>``)."""
    return (
        '<ndi_product long_name="fvreplay free-viewpoint replay" short_name="fvreplay" manufacturer="fvreplay" '
        f'model_name="fvreplay" version={quoteattr(__version__)} session_name={quoteattr(channel)}/>'
    )


class NdiSink:
    """An NDI sender named ``FVR <channel>`` (mixers list it as ``<host> (FVR PGM1)``).

    The SDK's own clocking is off: the engine's ticker calls ``send`` once per slot, and each call
    returns at once (the SDK compresses on its thread while we fill the other of two buffers).
    Every frame carries its timecode (the frame's TAI time as NDI's 100 ns UTC, or its label with
    ``?tc=label``) and ``<fvr …/>`` metadata; tally from the receivers is read back by ``state()``.
    """

    has_clock = False

    def __init__(self, url: str, ctx: AdapterContext) -> None:
        self.url = url
        self.ctx = ctx
        self.settings = SinkSettings.from_url(url, ctx.name, ctx.options)
        self.fmt: VideoFormat | None = None
        self._tx: _sdk.Sender | None = None
        self._address = ""
        self._lock = threading.Lock()
        self._frames_out = 0
        self._tally = (False, False)

    # --- Sink protocol -----------------------------------------------------------------------------

    def configure(self, fmt: VideoFormat) -> None:
        if self._tx is not None:
            if fmt == self.fmt:
                return
            raise SinkError(f"{self.url}: already configured for {self.fmt}; close it before changing to {fmt}")
        if fmt.pixel_format not in (PixelFormat.UYVY, PixelFormat.BGRX):
            fmt = VideoFormat(fmt.width, fmt.height, fmt.rate, PixelFormat.UYVY)
        _sdk.initialize(self.settings.discovery, SinkError)
        tx = _sdk.Sender(
            self.settings.ndi_name,
            groups=self.settings.groups,
            width=fmt.width,
            height=fmt.height,
            fmt=fmt.pixel_format,
            rate=fmt.rate,
        )
        tx.add_connection_metadata(product_metadata(self.ctx.name))
        port = tx.port if tx.port is not None else tx.find_port()
        self._address = f"{self.settings.host or _sdk.local_host()}:{port if port is not None else '?'}"
        self.fmt, self._tx = fmt, tx
        log.info("%s", self.describe())

    def send(self, frame: Frame) -> None:
        with self._lock:  # close() or state() from another thread never meet a half-sent frame
            tx, fmt = self._tx, self.fmt
            if tx is None or fmt is None:
                raise SinkError(f"{self.url}: send before configure (or after close)")
            if (frame.width, frame.height) != (fmt.width, fmt.height):
                raise SinkError(
                    f"{self.url}: frame from {frame.camera or 'the channel'} is {frame.width}x{frame.height}, "
                    f"the output is {fmt.width}x{fmt.height}"
                )
            timecode, metadata = self._timecode(frame, fmt), frame_metadata(frame)
            if fmt.pixel_format is PixelFormat.UYVY:
                tx.send(frame.to_uyvy(), timecode, metadata)
            elif frame.pixel_format is PixelFormat.BGRX:
                tx.send(frame.data, timecode, metadata)
            else:
                buf = tx.buffer()
                buf[:, :, 2::-1] = frame.to_rgb()
                buf[:, :, 3] = 255
                tx.submit(timecode, metadata)
            self._frames_out += 1

    def close(self) -> None:
        with self._lock:
            tx, self._tx = self._tx, None
        if tx is not None:
            tx.close()

    def state(self) -> dict[str, Any]:
        with self._lock:
            tx = self._tx
            if tx is not None:
                self._tally = tx.tally()
            connections = tx.connections() if tx is not None else 0
        return {
            "url": self.url,
            "state": "OPEN" if tx is not None else "CLOSED",
            "ndi_name": tx.full_name if tx is not None else self.settings.ndi_name,
            "address": self._address if tx is not None else "",
            "frames_out": self._frames_out,
            "connections": connections,
            "tally_program": self._tally[0],
            "tally_preview": self._tally[1],
        }

    # --- what the lead prints ------------------------------------------------------------------------

    @property
    def full_name(self) -> str:
        """The name receivers list, ``<host> (FVR PGM1)`` (known once configured)."""
        return self._tx.full_name if self._tx is not None else self.settings.ndi_name

    def address(self) -> str:
        """``host:port`` a receiver can connect to directly (``ndi://host:port``), once configured."""
        if self._tx is None:
            raise SinkError(f"{self.url}: the sender has no address before configure()")
        return self._address

    def describe(self) -> str:
        """``NDI output PGM1: "<host> (FVR PGM1)" at <host>:<port>``: the line ``fvreplay run`` prints."""
        where = self.address() if self._tx is not None else "(not started)"
        return f'NDI output {self.ctx.name}: "{self.full_name}" at {where}'

    # --- helpers -------------------------------------------------------------------------------------

    def _timecode(self, frame: Frame, fmt: VideoFormat) -> int:
        """NDI timecode (100 ns) of a frame: its TAI time as UTC, or its label as time since midnight."""
        if self.settings.timecode == "label" and frame.timecode:
            try:
                frames = timecode_to_frames(frame.timecode, fmt.rate)
            except TimecodeError:
                return _sdk.SYNTHESIZE
            return slot_start_ns(frames, fmt.rate) // 100
        if frame.tai_ns > 0:
            return tai_to_utc_ns(frame.tai_ns) // 100
        return _sdk.SYNTHESIZE
