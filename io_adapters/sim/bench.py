"""``fvreplay bench sim``: how fast the synthetic venue renders, and what the demo's cache build costs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from timing import FrameRate


def _times(fn: Callable[[int], object], repeats: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``fn(i)`` over ``repeats`` calls (after one warm-up call)."""
    fn(0)
    sync()
    out = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        fn(i)
        sync()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Static-layer time per camera, per-frame time per camera (moving bodies; and with UYVY), demo cache estimate.

    Options: ``device`` (cpu, cuda, auto), ``seconds`` (rough time budget, default 20),
    ``sizes`` (list of (width, height), default 640x360 and 1280x720). The demo cache estimate uses
    single-threaded timings, as its worker processes run one per core with one thread each.
    """
    import torch

    from io_adapters.sim.cache import LoopSpec
    from io_adapters.sim.render import RENDER_VERSION

    want = options.get("device", "auto")
    demo = LoopSpec("arena", 1280, 720, FrameRate.parse("50"))
    devices = ["cpu"]
    if torch.cuda.is_available() and want in ("auto", "cuda"):
        devices = ["cuda"] if want == "cuda" else ["cpu", "cuda"]
    sizes = [tuple(s) for s in options.get("sizes", [(640, 360), (1280, 720)])]
    budget = float(options.get("seconds", 20.0))
    threads = torch.get_num_threads()
    out: dict[str, Any] = {"render_version": RENDER_VERSION, "torch_threads": threads}
    for device in devices:

        def sync(device: str = device) -> None:
            if device == "cuda":
                torch.cuda.synchronize()

        per_device: dict[str, Any] = {}
        for w, h in sizes:
            per_device[f"{w}x{h}"] = _bench_size(device, w, h, demo, budget / (len(sizes) * len(devices)), sync)
        out[device] = per_device
    return out


def _bench_size(device: str, w: int, h: int, demo: Any, budget: float, sync: Callable[[], None]) -> dict[str, Any]:
    import torch

    from io_adapters.sim.cache import default_workers
    from io_adapters.sim.render import SimRenderer
    from io_adapters.sim.scene import Scene
    from io_adapters.sim.venue import venue_cameras

    cams = venue_cameras("arena", w, h)
    cam = cams[len(cams) // 2]
    r = SimRenderer(Scene(0, demo.loop_seconds), device, max_cached_cameras=2)

    def static(i: int) -> object:
        return r._build_static(cams[i % len(cams)])

    def frame(i: int) -> object:
        return r.render(cam, 0.02 * i)

    def uyvy(i: int) -> object:
        return r.render_uyvy(cam, 0.02 * i)

    started = time.perf_counter()
    t_static = _times(static, 2, sync)
    r.static_layer(cam)
    t_frame = _times(frame, 3, sync)
    left = budget - (time.perf_counter() - started)
    n = max(3, min(50, int(left / max(t_frame, 1e-3) / 3)))
    entry: dict[str, Any] = {
        "static_ms_per_camera": round(1e3 * t_static, 1),
        "frame_ms_per_camera": round(1e3 * _times(frame, n, sync), 1),
        "uyvy_frame_ms_per_camera": round(1e3 * _times(uyvy, n, sync), 1),
        "frames_timed": 2 * n,
    }
    if device == "cpu" and (w, h) == (demo.width, demo.height):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            static1 = _times(static, 1, sync)
            r.static_layer(cam)
            uyvy1 = _times(uyvy, n, sync)
        finally:
            torch.set_num_threads(threads)
        workers = default_workers(len(cams))
        frames = len(cams) * demo.frames
        entry["one_thread_static_ms"] = round(1e3 * static1, 1)
        entry["one_thread_uyvy_frame_ms"] = round(1e3 * uyvy1, 1)
        entry["demo_cache_estimate_s"] = round((len(cams) * static1 + frames * uyvy1) / workers, 1)
        entry["demo_cache"] = (
            f"{len(cams)} cameras × {demo.frames} frames ({demo.loop_seconds:g} s at {demo.rate}), "
            f"{demo.total_bytes / 1e9:.2f} GB, {workers} worker process(es) of one thread"
        )
    return entry
