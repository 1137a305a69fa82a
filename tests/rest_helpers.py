"""Shared by the REST and web tests: a real engine on mem:// cameras with a rig, ticked from a thread.

The driver plays the genlock: each step it records one frame per camera for the next slot and calls
``engine.tick(slot)``, so commands submitted through the API are applied within a few milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from control.rest import create_app
from control.rest.settings import RestSettings
from plugin.engine import Engine
from plugin.frames import Frame
from plugin.freeview.camera import CameraModel
from plugin.freeview.rig import Rig
from profiles import parse_profile
from tests.engine_helpers import BASE, H, W, frame_for, profile_text
from timing import ManualClock

CAMERAS = 3
URL = "http://127.0.0.1:8080"


def rig_for(cameras: int = CAMERAS) -> Rig:
    """Cameras on a 30 m arc around the origin, 8 m up, all aimed at the centre spot (0, 0, 0)."""
    models = []
    for i in range(cameras):
        angle = np.radians(-30 + 60 * i / max(1, cameras - 1))
        center = [30 * np.sin(angle), -30 * np.cos(angle), 8.0]
        models.append(CameraModel.look_at(f"cam{i + 1:02d}", center, [0, 0, 0], width=W, height=H, focal_px=60.0))
    return Rig(models, order=False)


def make_rest_engine(tmp: Path, *, cameras: int = CAMERAS, rig: bool = True) -> Engine:
    profile = parse_profile(profile_text(cameras, seconds=30.0))
    return Engine.from_profile(
        profile, clock=ManualClock(), storage_root=tmp / "store", rig=rig_for(cameras) if rig else None
    )


class EngineDriver:
    """Records a frame per camera and ticks the engine every ``period_s`` (faster than real time)."""

    def __init__(
        self,
        engine: Engine,
        first_slot: int = BASE,
        period_s: float = 0.004,
        frames: Callable[[str, int], Frame] = frame_for,
    ) -> None:
        self.engine = engine
        self.frames = frames
        self.slot = first_slot
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-genlock", daemon=True)

    def prime(self, slots: int) -> None:
        """Record ``slots`` slots and tick once, before the thread starts (a train to cue into)."""
        for _ in range(slots):
            self._record_next()
        self.engine.tick(self.slot)

    def _record_next(self) -> None:
        self.slot += 1
        for cam in self.engine.camera_names:
            self.engine.recorder.trains[cam].write(self.frames(cam, self.slot))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._record_next()
            self.engine.tick(self.slot)
            time.sleep(self.period_s)

    def start(self) -> EngineDriver:
        self._thread.start()
        return self

    def __enter__(self) -> EngineDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def driven_engine(tmp: Path, *, prime: int = 20, **driver_args: Any) -> Iterator[Engine]:
    """A REST test engine with ``prime`` slots recorded, ticked by an EngineDriver (given ``driver_args``, e.g.
    ``period_s``) until the block ends."""
    e = make_rest_engine(tmp)
    driver = EngineDriver(e, **driver_args)
    driver.prime(prime)
    driver.start()
    try:
        yield e
    finally:
        driver.stop()
        e.stop()


def client_for(engine: Engine, **settings: Any) -> TestClient:
    """A TestClient of the real app on ``engine`` with these RestSettings."""
    return TestClient(create_app(engine, RestSettings(**settings)), base_url=URL)
