"""The NDI SDK (through ndi-python) behind a small safe surface; SDK failures become SourceError/SinkError.

Everything that touches ``NDIlib`` lives here. Rules this module keeps so the rest need not know them:

* A received frame's pixels are copied into a numpy array we own *before* the SDK frame is freed
  (``VideoFrameV2.data`` copies; planar P216 needs its height doubled first to take both planes).
* An async-sent frame's buffer stays alive until the next async send (the sender double-buffers).
* Process-wide settings (the Discovery Server, allowed adapters) live in the SDK's JSON config file,
  read once when the runtime starts: :func:`initialize` writes one when a URL asks for a server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import NDIlib
import numpy as np
import numpy.typing as npt

from io_adapters.ndi.config import read_config, write_config
from io_adapters.ndi.settings import DISCOVERY_SERVICE_PORT
from plugin.errors import AdapterError, SinkError, SourceError
from plugin.frames import PixelFormat

#: ``timestamp`` of frames from senders older than NDI 2.5, and "synthesize it" for ``timecode``.
UNDEFINED = int(NDIlib.RECV_TIMESTAMP_UNDEFINED)
SYNTHESIZE = int(NDIlib.SEND_TIMECODE_SYNTHESIZE)

_LOCK = threading.RLock()
_started = False
_started_discovery: str | None = None

_FOURCC_FORMAT: dict[Any, tuple[PixelFormat, int]] = {
    # FourCC: (how we keep it, bytes per pixel of its first plane)
    NDIlib.FOURCC_VIDEO_TYPE_UYVY: (PixelFormat.UYVY, 2),
    NDIlib.FOURCC_VIDEO_TYPE_UYVA: (PixelFormat.UYVY, 2),  # the alpha plane after it is dropped
    NDIlib.FOURCC_VIDEO_TYPE_BGRX: (PixelFormat.BGRX, 4),
    NDIlib.FOURCC_VIDEO_TYPE_BGRA: (PixelFormat.BGRX, 4),
    NDIlib.FOURCC_VIDEO_TYPE_P216: (PixelFormat.P216, 2),
    NDIlib.FOURCC_VIDEO_TYPE_PA16: (PixelFormat.P216, 2),  # the alpha plane after it is dropped
}
_SEND_FOURCC = {PixelFormat.UYVY: NDIlib.FOURCC_VIDEO_TYPE_UYVY, PixelFormat.BGRX: NDIlib.FOURCC_VIDEO_TYPE_BGRX}
_COLOR = {
    "fastest": NDIlib.RECV_COLOR_FORMAT_FASTEST,
    "best": NDIlib.RECV_COLOR_FORMAT_BEST,
    "uyvy": NDIlib.RECV_COLOR_FORMAT_UYVY_BGRA,
    "bgrx": NDIlib.RECV_COLOR_FORMAT_BGRX_BGRA,
}
_BANDWIDTH = {"highest": NDIlib.RECV_BANDWIDTH_HIGHEST, "lowest": NDIlib.RECV_BANDWIDTH_LOWEST}


# --- the runtime and its configuration ------------------------------------------------------------


def initialize(discovery: str | None = None, error: type[AdapterError] = SourceError) -> None:
    """Start the NDI runtime once per process; with ``discovery``, configure that server first."""
    global _started, _started_discovery
    with _LOCK:
        if _started:
            if discovery and discovery != _started_discovery:
                raise error(
                    f"NDI Discovery Server {discovery!r} asked for, but this process already runs NDI with "
                    f"{_started_discovery or 'mDNS (no server)'}: the SDK reads it once per process, so give "
                    "every ndi:// URL of a show the same discovery= (or set it in ndi-config.v1.json)"
                )
            return
        # The configuration is read before the runtime starts, so a broken file fails every try (as
        # ``error``, which the caller's retry loop reports) rather than only the first.
        configured = read_config(error)
        if discovery:
            folder = tempfile.mkdtemp(prefix="fvr-ndi-config-")
            os.environ["NDI_CONFIG_DIR"] = str(write_config(folder, discovery=discovery, base=configured))
        if not NDIlib.is_supported_CPU():
            raise error("the NDI runtime does not support this CPU (it needs SSE4.2 on x86-64)")
        if not NDIlib.initialize():
            raise error("the NDI runtime failed to start (NDIlib.initialize returned false)")
        _started = True
        _started_discovery = discovery or configured.get("ndi", {}).get("networks", {}).get("discovery") or None


def local_host() -> str:
    """The address receivers on other machines reach us at: the first allowed NDI adapter, else the
    interface of the default route, else loopback. Only outputs ask, so a broken configuration is a SinkError."""
    allowed = read_config(SinkError).get("ndi", {}).get("adapters", {}).get("allowed")
    if isinstance(allowed, list):
        allowed = ",".join(str(a) for a in allowed)
    if isinstance(allowed, str) and allowed.split(",")[0].strip():
        return allowed.split(",")[0].strip()
    try:
        # connect() on a UDP socket only picks the route; no packet is sent.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def _listening_tcp_ports() -> set[int] | None:
    """TCP ports this process listens on (Linux /proc), or None where that cannot be read."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/self/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        ports: set[int] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError), open(table) as fh:
                next(fh, None)
                for line in fh:
                    f = line.split()
                    if len(f) > 9 and f[3] == "0A" and f[9] in inodes:  # 0A: LISTEN
                        ports.add(int(f[1].rsplit(":", 1)[1], 16))
        return ports
    except OSError:
        return None


# --- finding sources -----------------------------------------------------------------------------


def name_matches(full_name: str, wanted: str) -> bool:
    """Whether an NDI source ``HOST (NAME)`` is the one asked for as ``HOST (NAME)`` or ``NAME``."""
    if full_name == wanted:
        return True
    return "(" not in wanted and full_name.endswith(f"({wanted})")


def find_source(wanted: str, *, extra_ips: str | None, timeout_s: float) -> tuple[str, str] | None:
    """(full NDI name, url_address) of the first source matching ``wanted``, or None in time."""
    finder = NDIlib.find_create_v2(NDIlib.FindCreate(show_local_sources=True, p_extra_ips=extra_ips))
    if finder is None:
        raise SourceError(f"ndi://{wanted}: the NDI SDK could not create a finder")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            for src in NDIlib.find_get_current_sources(finder):
                if name_matches(src.ndi_name or "", wanted):
                    return str(src.ndi_name), str(src.url_address or "")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            NDIlib.find_wait_for_sources(finder, int(min(left, 0.5) * 1000) + 1)
    finally:
        NDIlib.find_destroy(finder)


# --- receiving -----------------------------------------------------------------------------------


@dataclass
class VideoCopy:
    """A received video frame whose pixels we own (the SDK's frame is already freed)."""

    data: npt.NDArray[Any]
    pixel_format: PixelFormat
    width: int
    height: int
    rate_n: int
    rate_d: int
    timecode: int  # 100 ns, sender-defined (usually UTC since 1970)
    timestamp: int  # 100 ns UTC since 1970 when the sender submitted it; UNDEFINED if unknown
    metadata: str
    progressive: bool


@dataclass
class Captured:
    """What one capture call returned: at most one video frame and one metadata string."""

    video: VideoCopy | None = None
    metadata: str | None = None
    unsupported: str = ""  # the FourCC name of a video frame we cannot keep


def _copy_video(vf: Any) -> VideoCopy | str:
    """Own the pixels of an SDK frame (still allocated); a str names an unsupported FourCC."""
    kept = _FOURCC_FORMAT.get(vf.FourCC)
    if kept is None:
        return str(getattr(vf.FourCC, "name", vf.FourCC))
    fmt, bpp = kept
    w, h = int(vf.xres), int(vf.yres)
    rows = 2 * h if fmt is PixelFormat.P216 else h  # Y plane then the interleaved CbCr plane
    if rows != h:
        vf.yres = rows  # the binding's view covers yres rows; restored before the SDK frees it
    try:
        raw = vf.data  # a copy: (rows, w, stride // w) bytes
    finally:
        vf.yres = h
    if raw.shape[2] != bpp:  # padded lines: keep each row's first w·bpp bytes
        raw = raw.reshape(rows, -1)[:, : w * bpp].reshape(rows, w, bpp)
    data: npt.NDArray[Any] = raw
    if fmt is PixelFormat.P216:
        data = np.ascontiguousarray(raw).view(np.uint16).reshape(rows, w)
    return VideoCopy(
        data=data,
        pixel_format=fmt,
        width=w,
        height=h,
        rate_n=int(vf.frame_rate_N),
        rate_d=int(vf.frame_rate_D),
        timecode=int(vf.timecode),
        timestamp=int(vf.timestamp),
        metadata=vf.metadata or "",
        progressive=vf.frame_format_type == NDIlib.FRAME_FORMAT_TYPE_PROGRESSIVE,
    )


class Receiver:
    """One NDI receiver connected to one sender, by name or by address."""

    def __init__(
        self, *, ndi_name: str | None, url_address: str | None, color: str, bandwidth: str, recv_name: str
    ) -> None:
        self.target = url_address or ndi_name or ""
        src = NDIlib.Source(ndi_name or None, url_address or None)
        try:
            settings = NDIlib.RecvCreateV3(
                src,
                color_format=_COLOR[color],
                bandwidth=_BANDWIDTH[bandwidth],
                allow_video_fields=False,  # the engine files whole frames; the SDK weaves fields
                p_ndi_recv_name=recv_name,
            )
            inst = NDIlib.recv_create_v3(settings)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SourceError(f"ndi://{self.target}: the NDI SDK refused the receiver settings: {exc}") from exc
        if inst is None:
            raise SourceError(f"ndi://{self.target}: the NDI SDK could not create a receiver")
        self._inst: Any = inst

    def capture(self, timeout_ms: int) -> Captured:
        """Wait up to ``timeout_ms`` for a video or metadata frame (audio is never requested)."""
        inst = self._inst
        if inst is None:
            raise SourceError(f"ndi://{self.target}: capture on a closed receiver")
        try:
            _, vf, _, mf = NDIlib.recv_capture_v3(inst, timeout_ms, True, False, True)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SourceError(f"ndi://{self.target}: NDI capture failed: {exc}") from exc
        out = Captured()
        if vf is not None:
            try:
                copied = _copy_video(vf)
            finally:
                NDIlib.recv_free_video_v2(inst, vf)
            if isinstance(copied, str):
                out.unsupported = copied
            else:
                out.video = copied
        if mf is not None:
            try:
                out.metadata = mf.data
            finally:
                NDIlib.recv_free_metadata(inst, mf)
        return out

    def counters(self) -> tuple[int, int, int, int]:
        """(video frames received, video frames dropped, SDK queue depth, connections)."""
        inst = self._inst
        if inst is None:
            return 0, 0, 0, 0
        total, dropped = NDIlib.recv_get_performance(inst)
        queue = NDIlib.recv_get_queue(inst)
        conns = NDIlib.recv_get_no_connections(inst)
        return int(total.video_frames), int(dropped.video_frames), int(queue.video_frames), int(conns)

    def set_tally(self, program: bool, preview: bool) -> None:
        if self._inst is not None:
            NDIlib.recv_set_tally(self._inst, NDIlib.Tally(program, preview))

    def close(self) -> None:
        inst, self._inst = self._inst, None
        if inst is not None:
            NDIlib.recv_destroy(inst)


# --- sending -------------------------------------------------------------------------------------


class Sender:
    """One NDI sender, clocked by its caller (``clock_video=False``), double-buffered async sends."""

    def __init__(self, name: str, *, groups: str | None, width: int, height: int, fmt: PixelFormat, rate: Any) -> None:
        if fmt not in _SEND_FOURCC:
            raise SinkError(f"ndi://{name}: NDI outputs send UYVY or BGRX, not {fmt.value}")
        self.name = name
        with _LOCK:
            # The sender's listening port is the one that appears while it is created; the lock keeps
            # two of our senders from appearing at once.
            before = _listening_tcp_ports()
            try:
                inst = NDIlib.send_create(NDIlib.SendCreate(name, groups, clock_video=False, clock_audio=False))
            except (TypeError, ValueError, RuntimeError) as exc:
                raise SinkError(f"ndi://{name}: the NDI SDK refused the sender settings: {exc}") from exc
            after = _listening_tcp_ports()
        if inst is None:
            raise SinkError(f"ndi://{name}: the NDI SDK could not create the sender (is the name in use?)")
        self._inst: Any = inst
        new = sorted((after or set()) - (before or set()) - {DISCOVERY_SERVICE_PORT})
        self.port: int | None = new[0] if new else None
        src = NDIlib.send_get_source_name(inst)
        self.full_name = str(getattr(src, "ndi_name", "") or name)
        self.pixel_format = fmt
        shape = fmt.shape(width, height)
        self._buffers = [np.zeros(shape, np.uint8) for _ in range(2)]
        self._frames = []
        for buf in self._buffers:
            vf = NDIlib.VideoFrameV2()
            vf.data = buf  # the wrapper keeps a reference; buf is C-contiguous uint8, so never copied
            vf.FourCC = _SEND_FOURCC[fmt]
            vf.frame_rate_N, vf.frame_rate_D = int(rate.numerator), int(rate.denominator)
            vf.frame_format_type = NDIlib.FRAME_FORMAT_TYPE_PROGRESSIVE
            vf.picture_aspect_ratio = width / height
            self._frames.append(vf)
        self._next = 0

    def buffer(self) -> npt.NDArray[np.uint8]:
        """The buffer the next :meth:`submit` sends: fill it in place (the SDK no longer reads it)."""
        return self._buffers[self._next]

    def submit(self, timecode: int, metadata: str) -> None:
        """Hand :meth:`buffer` to the SDK, which compresses it on its own thread; the buffer sent the
        time before is released by this call and becomes the next :meth:`buffer`."""
        inst = self._inst
        if inst is None:
            raise SinkError(f"ndi://{self.name}: send on a closed sender")
        i = self._next
        vf = self._frames[i]
        vf.timecode = timecode
        vf.metadata = metadata
        try:
            NDIlib.send_send_video_async_v2(inst, vf)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SinkError(f"ndi://{self.name}: NDI send failed: {exc}") from exc
        self._next = 1 - i

    def send(self, pixels: npt.NDArray[Any], timecode: int, metadata: str) -> None:
        """Copy ``pixels`` (the sender's shape, uint8) into the free buffer and submit it."""
        np.copyto(self._buffers[self._next], pixels, casting="no")
        self.submit(timecode, metadata)

    def tally(self) -> tuple[bool, bool]:
        """(on programme, on preview) as the receivers set it now."""
        if self._inst is None:
            return False, False
        t = NDIlib.Tally()
        NDIlib.send_get_tally(self._inst, t, 0)
        return bool(t.on_program), bool(t.on_preview)

    def connections(self) -> int:
        return int(NDIlib.send_get_no_connections(self._inst, 0)) if self._inst is not None else 0

    def add_connection_metadata(self, xml: str) -> None:
        if self._inst is not None:
            NDIlib.send_add_connection_metadata(self._inst, NDIlib.MetadataFrame(p_data=xml))

    def find_port(self, timeout_s: float = 2.0) -> int | None:
        """The port through a finder asking this machine, where /proc could not tell it."""
        found = find_source(self.full_name, extra_ips="127.0.0.1", timeout_s=timeout_s)
        if found and ":" in found[1]:
            return int(found[1].rsplit(":", 1)[1])
        return None

    def close(self) -> None:
        inst, self._inst = self._inst, None
        if inst is not None:
            NDIlib.send_send_video_async_v2(inst, None)  # flush: the SDK lets go of our last buffer
            NDIlib.send_destroy(inst)
