"""The multiviewer: layout, tally borders, labels and tiles composed in UYVY, and its NDI output."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import pytest

from io_adapters.ndi import NdiSource
from io_adapters.ndi.multiview import Multiviewer, layout
from plugin.frames import Frame, PixelFormat, uyvy_to_rgb
from plugin.ports import AdapterContext, VideoFormat
from plugin.state import StateMap
from tests.conftest import wait_until
from timing import FrameRate, InternalClock

RATE = FrameRate.parse("50")
COLOURS = {"cam01": (200, 30, 30), "cam02": (30, 200, 30), "cam03": (30, 30, 200)}


@dataclass(frozen=True)
class Status:
    """The fields of plugin.engine.ChannelStatus the multiviewer reads."""

    name: str
    state: str
    speed: float
    camera: str
    timecode: str
    tally: str
    clip_id: str | None = None


class FakeEngine:
    """Just the engine API the multiviewer uses (docs/engine-api.md), with solid-colour cameras."""

    def __init__(self, *, fmt: PixelFormat = PixelFormat.UYVY) -> None:
        self.rate = RATE
        self.fmt = VideoFormat(640, 360, RATE)
        self.clock = InternalClock()
        self.camera_names = list(COLOURS)
        self.channel_names = ["PGM1"]
        self.state = StateMap()
        self.frames: dict[str, Frame | None] = {}
        for i, (cam, colour) in enumerate(COLOURS.items()):
            rgb = np.empty((360, 640, 3), np.uint8)
            rgb[:] = colour
            self.frames[cam] = Frame.from_rgb(rgb, camera=cam, slot=i, tai_ns=i + 1, pixel_format=fmt)
        self.status = Status("PGM1", "PLAYING", 0.5, "cam02", "10:00:05:12", "program", "114A/00")

    def latest_frame(self, camera: str) -> Frame | None:
        return self.frames[camera]

    def channel_frame(self, channel: str) -> Frame | None:
        return self.frames[self.status.camera]

    def channel_status(self, channel: str) -> Status:
        return self.status


def rgb_at(canvas: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    x -= x % 2
    return tuple(int(v) for v in uyvy_to_rgb(canvas[y : y + 1, x : x + 2])[0, 0])


def test_layout_fits_every_tile_on_the_picture_without_overlap() -> None:
    for cams, chans in ((10, 1), (16, 2), (3, 1), (1, 1), (24, 3)):
        chan_tiles, cam_tiles = layout(1280, 720, cams, chans, 16 / 9)
        boxes = [t.outer for t in chan_tiles + cam_tiles]
        assert len(cam_tiles) == cams and len(chan_tiles) == chans
        for x, y, w, h in boxes:
            assert x >= 0 and y >= 0 and x + w <= 1280 and y + h <= 720 and x % 2 == 0 and w % 2 == 0
        for i, (ax, ay, aw, ah) in enumerate(boxes):
            for bx, by, bw, bh in boxes[i + 1 :]:
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
        # Programme tiles are larger than camera tiles, the way a replay multiviewer looks.
        assert chan_tiles[0].w >= cam_tiles[0].w and (cams == 1 or chan_tiles[0].w > cam_tiles[0].w)


@pytest.mark.parametrize("fmt", [PixelFormat.UYVY, PixelFormat.RGB, PixelFormat.BGRX])
def test_tiles_show_each_camera_with_its_tally_border(fmt: PixelFormat) -> None:
    engine = FakeEngine(fmt=fmt)
    mv = Multiviewer(engine, url=f"ndi://FVR MV {os.getpid()}", width=1280, height=720)
    canvas = mv.compose()
    (pgm,), cams = mv._chan_tiles, mv._cam_tiles
    for cam, tile in zip(engine.camera_names, cams, strict=True):
        got = rgb_at(canvas, tile.x + tile.w // 2, tile.y + tile.h // 2)
        assert np.abs(np.subtract(got, COLOURS[cam])).max() < 8, (cam, got)
    # The programme tile shows the channel's camera.
    assert np.abs(np.subtract(rgb_at(canvas, pgm.x + pgm.w // 2, pgm.y + pgm.h // 2), COLOURS["cam02"])).max() < 8
    # cam02 is on programme: red border; the other cameras are not tallied: dark border.
    red = rgb_at(canvas, cams[1].x - 2, cams[1].y + 10)
    assert red[0] > 180 and red[1] < 60 and red[2] < 60
    plain = rgb_at(canvas, cams[0].x - 2, cams[0].y + 10)
    assert max(plain) < 80
    # Labels: white text on grey under each tile.
    bar = canvas[pgm.y + pgm.h : pgm.y + pgm.h + 22, pgm.x : pgm.x + pgm.w, 1]
    assert bar.max() > 200 and np.median(bar) < 80

    # Preview turns the border green; only the changed border is redrawn, not the tiles.
    drawn = mv.tiles_drawn
    engine.status = replace(engine.status, tally="preview")
    canvas = mv.compose()
    green = rgb_at(canvas, cams[1].x - 2, cams[1].y + 10)
    assert green[1] > 150 and green[0] < 60
    assert mv.tiles_drawn == drawn


def test_a_camera_without_pictures_says_no_signal() -> None:
    engine = FakeEngine()
    engine.frames["cam03"] = None
    mv = Multiviewer(engine, url=f"ndi://FVR MV {os.getpid()}")
    canvas = mv.compose()
    tile = mv._cam_tiles[2]
    area = canvas[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w, 1]
    assert np.median(area) <= 16 and area.max() > 200


@pytest.mark.integration
def test_the_multiview_goes_out_over_ndi_at_its_own_rate() -> None:
    engine = FakeEngine()
    mv = Multiviewer(engine, url=f"ndi://FVR MV {os.getpid()}?host=127.0.0.1", width=640, height=360, every=2)
    mv.start()
    try:
        assert mv.describe().startswith('NDI output MULTIVIEW: "') and ":" in mv.sink.address()
        src = NdiSource(f"ndi://{mv.sink.address()}", AdapterContext("mv", VideoFormat(640, 360, RATE), InternalClock()))
        src.open()
        try:
            frame = wait_until(lambda: src.read(0.1), "a multiview frame", timeout=5.0)
            assert (frame.width, frame.height) == (640, 360)
            assert src.state()["format"] == "640x360 uyvy 25"
        finally:
            src.close()
        assert mv.state()["pictures"] > 0
    finally:
        mv.stop()
