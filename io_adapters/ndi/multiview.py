"""The multiviewer: every camera and every channel's programme in one NDI picture, ``FVR MULTIVIEW``.

Laid out like a replay server's multiviewer: the channels' programme tiles across the top half
(name, state, speed, camera and timecode under each), the cameras in a grid below, each with its
name and a tally border: red = on programme of a channel, green = on preview, amber = selected on a
channel that is not tallied. The picture is composed in UYVY (the format the tiles arrive in and NDI
sends), so nothing is converted to RGB and back: tiles are decimated, resized with INTER_AREA plane by
plane, and labels drawn with neutral colours straight into the packed canvas. Only tiles whose frame
changed are redrawn, camera tiles in turns (``camera_every``); it runs at the house rate divided by
``every`` on its own ticker.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from io_adapters.ndi.sink import NdiSink
from plugin.errors import SinkError
from plugin.frames import Frame, PixelFormat, rgb_to_uyvy
from plugin.ports import AdapterContext, VideoFormat
from timing import FrameRate, Ticker, slot_start_ns

log = logging.getLogger("fvreplay.ndi")

U8 = npt.NDArray[np.uint8]

_BORDER = 4
_LABEL_H = 22
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Luma levels; drawn with neutral chroma (128). OpenCV draws on 1, 3 or 4 channels, not packed
# 4:2:2, so text goes onto a luma strip that is then copied into the canvas.
_WHITE, _BLACK, _GREY = 235, 16, 60


def _uyvy_colour(r: int, g: int, b: int) -> tuple[int, int, int]:
    """(Cb, Cr, Y) of an RGB colour, BT.709 limited range as every frame here."""
    px = rgb_to_uyvy(np.array([[[r, g, b], [r, g, b]]], np.uint8))
    return int(px[0, 0, 0]), int(px[0, 1, 0]), int(px[0, 0, 1])


_TALLY = {
    "program": _uyvy_colour(230, 0, 0),
    "preview": _uyvy_colour(0, 200, 0),
    "selected": _uyvy_colour(230, 160, 0),
    "": (128, 128, 40),
}


@dataclass(frozen=True)
class Tile:
    """Where one picture goes: its image area (x, y, w, h: even x and w for 4:2:2) and label bar."""

    x: int
    y: int
    w: int
    h: int

    @property
    def outer(self) -> tuple[int, int, int, int]:
        return self.x - _BORDER, self.y - _BORDER, self.w + 2 * _BORDER, self.h + 2 * _BORDER + _LABEL_H


def _even(v: float) -> int:
    return int(v) // 2 * 2


def _fit(cell_w: int, cell_h: int, aspect: float) -> tuple[int, int]:
    """The largest image of ``aspect`` inside a cell, less its border and label."""
    w = cell_w - 2 * _BORDER - 4
    h = cell_h - 2 * _BORDER - _LABEL_H - 4
    if w / max(h, 1) > aspect:
        w = int(h * aspect)
    else:
        h = int(w / aspect)
    return max(_even(w), 2), max(h, 2)


def layout(width: int, height: int, cameras: int, channels: int, aspect: float) -> tuple[list[Tile], list[Tile]]:
    """Tiles for the channels (top half, large) and the cameras (a grid below, as large as fits)."""
    top = height // 2 if channels else 0
    chan_tiles = []
    if channels:
        cw, ch = _fit(width // channels, top, aspect)
        cell = width // channels
        for i in range(channels):
            x = _even(i * cell + (cell - cw) // 2)
            chan_tiles.append(Tile(x, _BORDER + 2, cw, ch))
    cam_tiles: list[Tile] = []
    if cameras:
        area_h = height - top
        best: tuple[int, int, int, int] = (0, 1, 0, 0)
        for cols in range(1, cameras + 1):
            rows = math.ceil(cameras / cols)
            w, h = _fit(width // cols, area_h // rows, aspect)
            if w * h > best[0]:
                best = (w * h, cols, w, h)
        _, cols, w, h = best
        rows = math.ceil(cameras / cols)
        cell_w, cell_h = width // cols, area_h // rows
        for i in range(cameras):
            r, c = divmod(i, cols)
            x = _even(c * cell_w + (cell_w - w) // 2)
            y = top + r * cell_h + (cell_h - h - _LABEL_H) // 2
            cam_tiles.append(Tile(x, y, w, h))
    return chan_tiles, cam_tiles


def _thumbnail(frame: Frame, w: int, h: int) -> U8:
    """A frame scaled to w×h as packed UYVY: decimated by slicing to about 1.5 times the size, then
    INTER_AREA. Packed UYVY is resized as w/2 four-channel pixels (Cb Y0 Cr Y1), which averages each
    sample with its own kind and keeps the result packed."""
    fh, fw = frame.height, frame.width
    k = max(1, min(fh // h, fw // w) * 2 // 3)
    fmt = frame.pixel_format
    if fmt is PixelFormat.UYVY:
        quads = np.ascontiguousarray(frame.data.reshape(fh, fw // 2, 4)[::k, ::k])
    elif fmt is PixelFormat.P216:
        y = frame.data[:fh].reshape(fh, fw // 2, 2)[::k, ::k] >> 8
        c = frame.data[fh:].reshape(fh, fw // 2, 2)[::k, ::k] >> 8
        quads = np.stack([c[..., 0], y[..., 0], c[..., 1], y[..., 1]], axis=-1).astype(np.uint8)
    else:
        rgb = frame.data[::k, ::k, 2::-1] if fmt is PixelFormat.BGRX else frame.data[::k, ::k]
        small_rgb = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA)
        return rgb_to_uyvy(np.asarray(small_rgb, dtype=np.uint8))
    small = cv2.resize(quads, (w // 2, h), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8).reshape(h, w, 2)


class Multiviewer:
    """An extra NDI output showing every camera and channel, composed on its own ticker thread.

    ``Multiviewer(engine).start()`` after ``engine.start()``; ``stop()`` before ``engine.stop()``.
    ``describe()`` gives the line to print (``NDI output MULTIVIEW: "<host> (FVR MULTIVIEW)" at …``).
    The engine is read only through its public API: ``camera_names``, ``channel_names``, ``fmt``,
    ``clock``, ``latest_frame``, ``channel_frame``, ``channel_status`` and ``state``.
    """

    def __init__(
        self,
        engine: Any,
        url: str = "ndi://FVR MULTIVIEW",
        width: int = 1280,
        height: int = 720,
        every: int = 2,
        camera_every: int = 2,
    ) -> None:
        if every < 1 or camera_every < 1:
            raise SinkError(f"{url}: every and camera_every count frames and pictures: at least 1, got {every}, {camera_every}")
        self.engine = engine
        self.every = every
        self.camera_every = camera_every
        self.rate = FrameRate(Fraction(engine.rate.fps) / every)
        self.fmt = VideoFormat(_even(width), height, self.rate, PixelFormat.UYVY)
        self.sink = NdiSink(url, AdapterContext("MULTIVIEW", self.fmt, engine.clock))
        fw, fh = engine.fmt.width, engine.fmt.height
        self._chan_tiles, self._cam_tiles = layout(
            self.fmt.width, height, len(engine.camera_names), len(engine.channel_names), fw / fh
        )
        self._canvas = np.empty((height, self.fmt.width, 2), np.uint8)
        self._canvas[..., 0], self._canvas[..., 1] = 128, _BLACK
        self._shown: dict[str, tuple[int, int]] = {}  # tile key → (slot, tai_ns) of the frame drawn
        self._labels: dict[str, str] = {}
        self._ticker: Ticker | None = None
        self._lock = threading.Lock()
        self.pictures = 0
        self.tiles_drawn = 0
        self._compositions = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the NDI output and start composing at the house rate / ``every``."""
        if self._ticker is not None:
            return
        self.sink.configure(self.fmt)
        self._ticker = Ticker(self.engine.clock, self.rate, self.compose_and_send, name="multiview")
        self._ticker.start()

    def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()
        self.sink.close()

    def describe(self) -> str:
        return self.sink.describe()

    def state(self) -> dict[str, Any]:
        out = {"pictures": self.pictures, "tiles_drawn": self.tiles_drawn, **self.sink.state()}
        if self._ticker is not None:
            out["ticker"] = self._ticker.stats()
        return out

    # --- one picture -------------------------------------------------------------------------------

    def compose(self) -> U8:
        """Bring the canvas up to date with the engine and return it (packed UYVY, H×W×2)."""
        engine = self.engine
        with self._lock:
            tally: dict[str, str] = {}
            statuses = []
            for name in engine.channel_names:
                st = engine.channel_status(name)
                statuses.append(st)
                kind = st.tally or "selected"
                if _rank(kind) > _rank(tally.get(st.camera, "")):
                    tally[st.camera] = kind
            snapshot = engine.state.snapshot("cameras.")
            for st, tile in zip(statuses, self._chan_tiles):
                self._draw(f"ch:{st.name}", tile, engine.channel_frame(st.name), st.tally)
                label = f"{st.name}  {st.state} {st.speed:+.2f}x  {st.camera}  {st.timecode}"
                if st.clip_id:
                    label += f"  clip {st.clip_id}"
                self._label(f"ch:{st.name}", tile, label)
            for i, (cam, tile) in enumerate(zip(engine.camera_names, self._cam_tiles)):
                # Camera tiles take turns (camera_every groups): the previews run at a fraction of the
                # picture rate, which halves the work on a 2-core machine; programme tiles never wait.
                due = (i + self._compositions) % self.camera_every == 0
                key = f"cam:{cam}"
                if due or key not in self._shown:
                    self._draw(key, tile, engine.latest_frame(cam), tally.get(cam, ""))
                else:
                    self._border(key, tile, tally.get(cam, ""))
                cam_state = snapshot.get(f"cameras.{cam}.state", "")
                self._label(key, tile, cam if cam_state in ("", "LIVE", "OK") else f"{cam} {cam_state}")
            self._compositions += 1
            return self._canvas

    def compose_and_send(self, slot: int) -> None:
        """One multiviewer picture: compose, then send it stamped with ``slot`` of the multiview rate."""
        canvas = self.compose()
        self.sink.send(Frame(canvas, PixelFormat.UYVY, "MULTIVIEW", slot, slot_start_ns(slot, self.rate)))
        self.pictures += 1

    # --- drawing -----------------------------------------------------------------------------------

    def _draw(self, key: str, tile: Tile, frame: Frame | None, tally: str) -> None:
        ident = (frame.slot, frame.tai_ns) if frame is not None else (-1, -1)
        if self._shown.get(key) != ident:
            c = self._canvas
            area = c[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w]
            if frame is None:
                _text(area, "NO SIGNAL", _BLACK, tile.h // 2)
            else:
                area[:] = _thumbnail(frame, tile.w, tile.h)
            self._shown[key] = ident
            self.tiles_drawn += 1
        self._border(key, tile, tally)

    def _border(self, key: str, tile: Tile, tally: str) -> None:
        if self._labels.get(key + ":tally") == tally:
            return
        self._labels[key + ":tally"] = tally
        cb, cr, luma = _TALLY.get(tally, _TALLY[""])
        x, y, w, h = tile.outer
        c = self._canvas
        for ys, xs in (
            (slice(y, y + _BORDER), slice(x, x + w)),
            (slice(y + h - _BORDER, y + h), slice(x, x + w)),
            (slice(y, y + h), slice(x, x + _BORDER)),
            (slice(y, y + h), slice(x + w - _BORDER, x + w)),
        ):
            part = c[ys, xs]
            part[..., 1] = luma
            part[:, 0::2, 0] = cb  # x is even, so even columns carry Cb
            part[:, 1::2, 0] = cr

    def _label(self, key: str, tile: Tile, text: str) -> None:
        if self._labels.get(key) == text:
            return
        self._labels[key] = text
        y0 = tile.y + tile.h
        _text(self._canvas[y0 : y0 + _LABEL_H, tile.x : tile.x + tile.w], text, _GREY, _LABEL_H - 6)


def _text(area: U8, text: str, background: int, baseline: int) -> None:
    """Fill a region of the packed canvas with a grey level and write white text on it."""
    luma = np.full(area.shape[:2], background, np.uint8)
    scale = 0.5 if area.shape[1] >= 300 else 0.4
    cv2.putText(luma, text, (6, baseline), _FONT, scale, _WHITE, 1, cv2.LINE_AA)
    area[..., 1] = luma
    area[..., 0] = 128


_RANK = {"program": 3, "preview": 2, "selected": 1}


def _rank(kind: str) -> int:
    return _RANK.get(kind, 0)
