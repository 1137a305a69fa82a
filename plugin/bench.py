"""Engine benchmarks: record-train ingest capacity and the engine's own per-tick overhead."""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

from plugin.frames import Frame, PixelFormat
from plugin.ports import VideoFormat
from plugin.recorder import RecordTrain
from timing import FrameRate, slot_start_ns


def _ingest(codec: str, seconds: float) -> dict[str, Any]:
    """Frames per second one thread writes into a 1920×1080 UYVY record train."""
    fmt = VideoFormat(1920, 1080, FrameRate.parse("50"), PixelFormat.UYVY)
    train = RecordTrain("bench", fmt, 250, codec=codec, jpeg_quality=90)
    rng = np.random.default_rng(0)
    # Camera-like content (smooth gradients + noise) so JPEG costs what it costs on pictures.
    y = np.linspace(40, 200, 1920, dtype=np.float32)[None, :] + np.linspace(0, 30, 1080, dtype=np.float32)[:, None]
    data = np.empty((1080, 1920, 2), np.uint8)
    data[:, :, 1] = np.clip(y + rng.normal(0, 6, y.shape), 16, 235)
    data[:, :, 0] = 128
    frames = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - start < seconds:
        slot = 1000 + frames
        train.write(Frame(data, PixelFormat.UYVY, "bench", slot, slot_start_ns(slot, fmt.rate)))
        frames += 1
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    return {
        "frames_per_s": round(frames / wall, 1),
        "cameras_at_50p": round(frames / wall / 50, 2),
        "cpu_ms_per_frame": round(1000 * cpu / frames, 2),
    }


def _tick_overhead(ticks: int) -> dict[str, Any]:
    """Engine work per tick with 10 cameras and one channel playing a record train (cut)."""
    from plugin import commands as c
    from plugin.engine import Engine
    from profiles import parse_profile

    cams = "\n".join(f'[[cameras]]\nname = "cam{i:02d}"\nsource = "mem://b{i:02d}"\n' for i in range(1, 11))
    text = f"""
[format]
width = 1280
height = 720
rate = "50"
[buffer]
seconds = 4
[[channels]]
name = "PGM1"
outputs = ["mem://bench-out"]
{cams}
"""
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.from_profile(parse_profile(text), storage_root=tmp)
        base = 5_000_000
        data = np.full((720, 1280, 2), 128, np.uint8)
        for slot in range(base, base + 150):
            for cam in engine.camera_names:
                engine.recorder.trains[cam].write(Frame(data, PixelFormat.UYVY, cam, slot, 0))
        engine.submit(c.CueSlot("PGM1", base))
        engine.tick(base + 150)
        engine.submit(c.SetSpeed("PGM1", 0.5))
        for i in range(ticks):
            engine.tick(base + 151 + i)
        ns = np.array(list(engine.tick_overhead_ns)[-ticks:], dtype=np.float64)
        engine.stop()
    return {
        "ticks": ticks,
        "p50_ms": round(float(np.percentile(ns, 50)) / 1e6, 3),
        "p99_ms": round(float(np.percentile(ns, 99)) / 1e6, 3),
        "max_ms": round(float(ns.max()) / 1e6, 3),
        "frame_period_ms": 20.0,
    }


def bench_engine(options: dict[str, Any]) -> dict[str, Any]:
    seconds = float(options.get("seconds", 5.0))
    return {
        "ingest_1080p_uyvy_raw": _ingest("raw", seconds),
        "ingest_1080p_uyvy_jpeg": _ingest("jpeg", seconds),
        "tick_overhead_10cams_720p_cut": _tick_overhead(500),
    }
