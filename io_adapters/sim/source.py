"""``sim://<venue>/<camera>``: a genlocked camera of the synthetic venue, delivering one frame per slot.

URL options: ``seed`` (scene, default 0), ``loop`` (seconds of motion before it repeats, default
3), ``noise`` (error added to the *reported* calibration, default 0), ``players`` (2-16, default 8),
``mode`` (``cache``: play a loop rendered once to disk; ``live``: render every frame as it is
read; ``auto``, the default: live on a GPU that keeps up, the cache otherwise).

Timing: all sim cameras are genlocked to the context's reference clock. ``read()`` sleeps until the
start of the slot after the last one it delivered (``clock.sleep_until(slot_start_ns(n))``; with a
``ManualClock`` that jumps the clock instead of sleeping) and returns that slot's frame, stamped
with the slot, its TAI start and its time-of-day timecode; the first read delivers the slot that
begins at or after the current instant. So cameras read one after another on a shared clock all
deliver the same slot. Like a real camera a source does not wait for a late reader: when more than
a slot has passed, it delivers the current slot and counts the ones missed as ``dropped``. Slot ``n`` shows scene time
``(n mod loop_frames) / rate``, so every camera of the rig shows the same instant.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from io_adapters.sim.cache import LoopCache, LoopSpec, ensure_loop
from io_adapters.sim.venue import find_camera, parse_sim_url, venue_spec
from plugin.errors import SourceError
from plugin.frames import Frame, PixelFormat
from plugin.freeview.camera import CameraModel
from plugin.ports import AdapterContext
from timing import slot_at, slot_start_ns, time_of_day_timecode

log = logging.getLogger("fvreplay.sim")

# Live renderers shared by every sim camera of one scene in this process (static layers cached).
_RENDERERS: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_RENDERERS_GUARD = threading.Lock()


def _shared_renderer(spec: LoopSpec, device: str) -> tuple[Any, threading.Lock]:
    from io_adapters.sim.render import SimRenderer

    key = (spec.venue, spec.seed, spec.loop_seconds, spec.players, device)
    with _RENDERERS_GUARD:
        if key not in _RENDERERS:
            _RENDERERS[key] = (SimRenderer(spec.scene(), device, max_cached_cameras=32), threading.Lock())
        return _RENDERERS[key]


class SimSource:
    """One camera of the synthetic venue (see the module docstring for URL options and timing)."""

    has_clock = True

    def __init__(self, url: str, ctx: AdapterContext) -> None:
        self.url = url
        self._ctx = ctx
        self._url = parse_sim_url(url)
        fmt = ctx.fmt
        if fmt.width % 2:
            raise SourceError(f"{url}: the picture width must be even for 4:2:2, got {fmt.width}")
        self._spec = LoopSpec(
            self._url.venue, fmt.width, fmt.height, fmt.rate, self._url.seed, self._url.loop, self._url.players
        )
        self._camera = find_camera(self._url.venue, self._url.camera, fmt.width, fmt.height)
        self._reported = find_camera(
            self._url.venue, self._url.camera, fmt.width, fmt.height, noise=self._url.noise, seed=self._url.seed
        )
        self._mode = "closed"
        self._cache: LoopCache | None = None
        self._frames: npt.NDArray[np.uint8] | None = None
        self._renderer: Any = None
        self._render_lock: threading.Lock | None = None
        self._last_slot: int | None = None
        self._delivered = 0
        self._dropped = 0
        self._render_ms = 0.0

    @property
    def camera(self) -> str:
        return self._url.camera

    @property
    def calibration(self) -> CameraModel:
        """The calibration this camera reports (exact, or perturbed by the URL's ``noise``)."""
        return self._reported

    def open(self) -> None:
        """Make frames available: map the loop cache (rendering it first if needed), or go live."""
        if self._mode != "closed":
            return
        mode = self._url.mode
        from plugin.freeview.render.common import resolve_device

        device = resolve_device("auto").type
        if mode == "auto":
            mode = "live" if device == "cuda" and self._live_keeps_up(device) else "cache"
        if mode == "live":
            self._renderer, self._render_lock = _shared_renderer(self._spec, device)
        else:
            self._cache = ensure_loop(self._spec, device=device)
            self._frames = self._cache.frames(self._url.camera)
        self._mode = mode
        self._last_slot = None
        log.info("%s: open (%s, %d-frame loop)", self.url, mode, self._spec.frames)

    def _live_keeps_up(self, device: str) -> bool:
        renderer, lock = _shared_renderer(self._spec, device)
        with lock:
            renderer.render_uyvy(self._camera, 0.0)  # static layer and warm-up
            start = time.perf_counter()
            for i in range(3):
                renderer.render_uyvy(self._camera, self._spec.scene_time(i + 1))
            per_frame = (time.perf_counter() - start) / 3
        budget = float(self._ctx.fmt.rate.frame_ns) / 1e9
        log.info("%s: live render %.1f ms per frame on %s (budget %.1f ms)", self.url, per_frame * 1e3, device,
                 budget * 1e3)
        # Every camera of the rig renders on the same device, one after another: all must fit a frame.
        return per_frame * venue_spec(self._url.venue).count * 1.25 < budget

    def read(self, timeout: float) -> Frame | None:
        """The next slot's frame, after sleeping until that slot begins; None if it is beyond ``timeout``."""
        if self._mode == "closed":
            raise SourceError(f"{self.url}: read() before open()")
        clock = self._ctx.clock
        rate = self._ctx.fmt.rate
        now = clock.now_ns()
        current = slot_at(now, rate)
        if self._last_slot is None:
            # The first frame: the slot beginning right now, else the next one.
            slot = current if now == slot_start_ns(current, rate) else current + 1
        else:
            slot = self._last_slot + 1
            if current > slot:  # the reader fell behind: those frames are gone, as from a real camera
                self._dropped += current - slot
                slot = current
        start = slot_start_ns(slot, rate)
        limit = now + int(max(0.0, timeout) * 1e9)
        if start > limit:
            clock.sleep_until(limit, precise=False)
            return None
        # No spinning: ten cameras spinning for the GIL would starve the genlock ticker.
        clock.sleep_until(start, precise=False)
        self._last_slot = slot
        index = slot % self._spec.frames
        data = self._picture(index)
        self._delivered += 1
        return Frame(
            data,
            self._ctx.fmt.pixel_format,
            self._url.camera,
            slot,
            start,
            time_of_day_timecode(slot, rate),
            {"scene_time": self._spec.scene_time(index), "loop_frame": index},
        )

    def _picture(self, index: int) -> npt.NDArray[Any]:
        if self._frames is not None:
            # A read-only view of the memory-mapped cache: the record train copies it once, on write,
            # and the mapping outlives every frame that refers to it.
            uyvy = self._frames[index]
        elif self._renderer is not None and self._render_lock is not None:
            started = time.perf_counter()
            with self._render_lock:
                uyvy = self._renderer.render_uyvy(self._camera, self._spec.scene_time(index))
            self._render_ms = (time.perf_counter() - started) * 1e3
        else:
            raise SourceError(f"{self.url}: not open")
        # The cached UYVY in the house pixel format (the same array when that is UYVY).
        return Frame(uyvy, PixelFormat.UYVY, "", 0, 0).converted(self._ctx.fmt.pixel_format)

    def close(self) -> None:
        self._frames = None
        self._cache = None
        self._renderer = None
        self._mode = "closed"

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "camera": self._url.camera,
            "venue": self._url.venue,
            "mode": self._mode,
            "loop_frames": self._spec.frames,
            "delivered": self._delivered,
            "dropped": self._dropped,
            "last_slot": self._last_slot,
        }
        if self._cache is not None:
            out["cache"] = str(self._cache.folder)
        if self._mode == "live":
            out["render_ms"] = round(self._render_ms, 2)
        return out
