"""Building small engines on mem:// cameras for tests: frames whose pixels say which camera and slot they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plugin.engine import Engine
from plugin.frames import Frame, PixelFormat
from profiles import parse_profile
from timing import ManualClock, slot_start_ns

W, H = 64, 36
#: A slot far from 0 (the engine tests' record trains start here).
BASE = 1_000_000


def profile_text(cameras: int = 3, *, seconds: float = 4.0, extra: str = "", rate: str = "50") -> str:
    cams = "\n".join(f'[[cameras]]\nname = "cam{i:02d}"\nsource = "mem://cam{i:02d}"\n' for i in range(1, cameras + 1))
    return f"""
name = "test"
[format]
width = {W}
height = {H}
rate = "{rate}"
[buffer]
seconds = {seconds}
guardband_seconds = 0.1
memory_limit = "1GB"
[storage]
clip_codec = "raw"
{extra}
[[channels]]
name = "PGM1"
outputs = ["mem://PGM1?keep=1000"]
{cams}
"""


def make_engine(tmp: Path, cameras: int = 3, **kwargs: object) -> Engine:
    profile = parse_profile(profile_text(cameras, **kwargs))  # type: ignore[arg-type]
    clock = ManualClock()
    return Engine.from_profile(profile, clock=clock, storage_root=tmp / "store")


def frame_for(camera: str, slot: int, rate: str = "50") -> Frame:
    """A UYVY frame whose luma encodes the camera number and the slot (readable back with decode())."""
    data = np.zeros((H, W, 2), np.uint8)
    data[:, :, 0] = 128
    data[:, : W // 2, 1] = 20 + 10 * int(camera[-2:])
    data[:, W // 2 :, 1] = 16 + slot % 200
    return Frame(data, PixelFormat.UYVY, camera, slot, slot_start_ns(slot, rate))


def decode(frame: Frame) -> tuple[int, int]:
    """(camera number, slot mod 200) of a frame made by frame_for (exact for UYVY, ±1 slot after RGB)."""
    d = frame.to_uyvy()
    return round((int(d[0, 0, 1]) - 20) / 10), int(d[0, -1, 1]) - 16


def record(engine: Engine, first: int, last: int) -> None:
    """Write slots first..last of every camera straight into the record trains."""
    for slot in range(first, last + 1):
        for cam in engine.camera_names:
            engine.recorder.trains[cam].write(frame_for(cam, slot))
