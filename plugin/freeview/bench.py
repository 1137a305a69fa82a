"""``fvreplay bench render``: how fast the free-viewpoint renderers draw a view, on the CPU and on CUDA.

Times ``depth`` (and ``switch``) at 640x360 from 2 and 4 cameras on the CPU, and with clean plates (the
players placed by their silhouettes), with new frames every render (a playing replay) and with the same
frames (``frozen``: an orbit of one moment, whose uploads and masks the renderer keeps), and how long the
venue depth takes per camera (made once, ahead, in the engine's plates thread); with a GPU also 1920x1080
from 4 cameras and 3840x2160, with peak GPU memory. The pictures come from the small analytic test venue
(the plugin does not import the sim adapter); timing does not depend on what the pictures show. On a GPU the
views wider than 960 (``half_depth_above``) are also timed with their depth worked out at full size.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from plugin.errors import RenderError
from plugin.freeview.background import BackgroundPlates
from plugin.freeview.path import VirtualView
from plugin.freeview.render import DepthRenderer, SwitchRenderer, fused
from plugin.freeview.render.base import BaseRenderer
from plugin.freeview.render.common import STAGE_PREFIX, resolve_device
from plugin.freeview.rig import Rig
from plugin.freeview.testscene import TestScene, arc_cameras

log = logging.getLogger("fvreplay.bench.render")

#: The CPU is shared with other work: benchmarks use at most this many threads.
CPU_THREADS = 2


def _put(section: dict[str, Any], device: str, key: str, row: Any) -> None:
    """``section[key] = row``, logged as soon as it is measured: a run stopped by a time limit (a lent GPU
    machine's) still leaves the rows it got to."""
    section[key] = row
    log.info("%s %s: %s", device, key, row)


def _rig_and_images(
    width: int, height: int, count: int = 5, players: int = 6
) -> tuple[Rig, dict[str, np.ndarray]]:
    """A 5-camera arc 7.5 degrees apart; pictures ray-cast at up to 960 wide and resized (timing only).
    ``players=0``: the empty venue (the clean plates)."""
    scale = min(1.0, 960 / width)
    small = arc_cameras(count, width=round(width * scale), height_px=round(height * scale))
    scene = TestScene(players=players)
    images = {}
    for cam in small:
        img, _ = scene.render(cam, supersample=1)
        images[cam.name] = img if scale == 1.0 else cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return Rig(arc_cameras(count, width=width, height_px=height)), images


def _plates(width: int, height: int) -> BackgroundPlates:
    return BackgroundPlates(_rig_and_images(width, height, players=0)[1])


def _time(
    renderer: BaseRenderer,
    view: VirtualView,
    images: dict[str, np.ndarray],
    size: tuple[int, int],
    seconds: float,
    *,
    frozen: bool = False,
) -> dict[str, float]:
    """Render times. Every render gets new frames (copies: a playing replay), unless ``frozen``: the
    same frames every time, as in an orbit of one moment, whose uploads the renderer then keeps."""
    frames = [images] if frozen else [images, {name: img.copy() for name, img in images.items()}]
    renderer.render(view, images, *size)  # warm-up: caches, allocator, kernels
    times: list[float] = []
    start = time.perf_counter()
    while not times or (time.perf_counter() - start < seconds and len(times) < 200):
        given = frames[len(times) % len(frames)]
        t0 = time.perf_counter()
        renderer.render(view, given, *size)  # returns host memory: includes the device sync
        times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(1000 * statistics.median(times), 2),
        "min_ms": round(1000 * min(times), 2),
        "frames": len(times),
    }


class _Dispatched(TorchDispatchMode):
    """Counts the tensor operations dispatched (each a kernel launch, or more, on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.count += 1
        return func(*args, **(kwargs or {}))


def _operations(renderer: BaseRenderer, view: VirtualView, images: dict[str, np.ndarray], size: tuple[int, int]) -> int:
    """Tensor operations one render dispatches (not timed: counting slows it). On a GPU each costs the
    host some microseconds to launch, whatever its size: at 1080p that is a floor under a frame's time.
    Triton kernels (``fused``) are launched directly, not dispatched, and are not counted."""
    with _Dispatched() as counter:
        renderer.render(view, {name: img.copy() for name, img in images.items()}, *size)
    return counter.count


def _with_venue(renderer: DepthRenderer, plates: BackgroundPlates) -> dict[str, float]:
    """Give ``renderer`` the plates and the venue depth of every camera, made whole as the engine's plates
    thread does (ahead of the renders); the time it took per camera, and how much of the pictures it knows."""
    renderer.background = plates
    t0 = time.perf_counter()
    venue = renderer.estimate_venue(plates)
    venue.complete()
    if renderer.device.type == "cuda":
        torch.cuda.synchronize()
    renderer.venue = venue
    return {"per_camera_s": round((time.perf_counter() - t0) / len(venue.sizes), 2), "known": round(venue.known(), 3)}


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Time the renderers; options: device ('cpu', 'cuda', 'auto'), seconds (per timed case)."""
    seconds = float(options.get("seconds") or 2.0)
    device = str(options.get("device") or "auto")
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, CPU_THREADS))
    results: dict[str, Any] = {"cpu_threads": torch.get_num_threads()}
    try:
        with torch.inference_mode():
            if device in ("cpu", "auto"):
                rig, images = _rig_and_images(640, 360)
                view = VirtualView(2.5, rig.default_pivot)
                cpu: dict[str, Any] = {}
                for quality in ("draft", "normal"):
                    for n in (2, 4):
                        r = DepthRenderer(rig, device="cpu", quality=quality, near=5.0, far=90.0, sources=n)
                        _put(cpu, "cpu", f"depth_{quality}_640x360_{n}cams", _time(r, view, images, (640, 360), seconds))
                r = DepthRenderer(rig, device="cpu", quality="normal", near=5.0, far=90.0, sources=4)
                _put(cpu, "cpu", "venue_depth_640x360", _with_venue(r, _plates(640, 360)))
                row = _time(r, view, images, (640, 360), seconds)
                row["operations"] = _operations(r, view, images, (640, 360))
                _put(cpu, "cpu", "depth_normal_plates_640x360_4cams", row)
                row = _time(r, view, images, (640, 360), seconds, frozen=True)
                _put(cpu, "cpu", "depth_normal_plates_frozen_640x360_4cams", row)
                sw = SwitchRenderer(rig, device="cpu", near=5.0, far=90.0)
                _put(cpu, "cpu", "switch_640x360", _time(sw, view, images, (640, 360), seconds))
                results["cpu"] = cpu
            if device in ("cuda", "auto") and torch.cuda.is_available():
                gpu: dict[str, Any] = {"name": torch.cuda.get_device_name(0), "fused": fused.available(torch.device("cuda"))}
                results["cuda"] = gpu
                # The targets' cases first (1080p and 4K at normal quality), then draft.
                for (w, h), quality in (((1920, 1080), "normal"), ((3840, 2160), "normal"), ((1920, 1080), "draft")):
                    rig, images = _rig_and_images(w, h)
                    view = VirtualView(2.5, rig.default_pivot)
                    torch.cuda.reset_peak_memory_stats()
                    r = DepthRenderer(rig, device="cuda", quality=quality, near=5.0, far=90.0, sources=4)
                    row = _time(r, view, images, (w, h), seconds)
                    row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                    _put(gpu, "cuda", f"depth_{quality}_{w}x{h}_4cams", row)
                    torch.cuda.reset_peak_memory_stats()
                    _put(gpu, "cuda", f"venue_depth_{w}x{h}", _with_venue(r, _plates(w, h)))
                    for frozen in (False, True):
                        row = _time(r, view, images, (w, h), seconds, frozen=frozen)
                        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                        if not frozen:
                            row["operations"] = _operations(r, view, images, (w, h))
                        _put(gpu, "cuda", f"depth_{quality}_plates{'_frozen' if frozen else ''}_{w}x{h}_4cams", row)
                    if r.fused:  # the same without the fused kernels (plain torch), for comparison
                        r.fused = False
                        row = _time(r, view, images, (w, h), seconds)
                        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                        row["operations"] = _operations(r, view, images, (w, h))
                        _put(gpu, "cuda", f"depth_{quality}_plates_unfused_{w}x{h}_4cams", row)
                        r.fused = True
                    if r.depth_factor(w) > 1:  # the same with the depth worked out at full size, for comparison
                        settings = r.settings
                        r.settings = replace(settings, half_depth_above=0)
                        row = _time(r, view, images, (w, h), seconds)
                        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                        _put(gpu, "cuda", f"depth_{quality}_plates_full_size_depth_{w}x{h}_4cams", row)
                        r.settings = settings
                    sw = SwitchRenderer(rig, device="cuda", near=5.0, far=90.0)
                    _put(gpu, "cuda", f"switch_{w}x{h}", _time(sw, view, images, (w, h), seconds))
            elif device == "cuda":
                results["cuda"] = "no CUDA GPU on this machine"
    finally:
        torch.set_num_threads(threads)
    return results


#: Frames profiled per case by ``bench_stages`` (after one to warm up), by device.
_PROFILED_FRAMES = {"cpu": 3, "cuda": 10}


def bench_stages(options: dict[str, Any]) -> dict[str, Any]:
    """``fvreplay bench stages``: where a ``depth`` frame's time goes, stage by stage (the ranges the renderer
    labels with ``stage``: the upload, the pyramid, each level of the sweep, the players, the blend, ...),
    with clean plates and the venue depth, as in the engine, and new frames every render.

    Per stage and frame: host milliseconds, GPU milliseconds (its kernels' time; CUDA only) and the tensor
    operations dispatched (each a kernel launch or more on a GPU); a stage's numbers include its parts
    (``sweep.level4`` is part of ``sweep``). Per frame: the wall time without the profiler (median), the
    profiled host time, the GPU's busy time, the operations and the waits for the GPU. A frame whose GPU
    time is well under its wall time is held up by the host (dispatch, waits), not by the GPU.

    options: device ('cpu', 'cuda', 'auto': CPU 640x360, CUDA 1920x1080 and 3840x2160), seconds (of the
    unprofiled timing), sizes (a list of (width, height) instead), frames (how many are profiled)."""
    seconds = float(options.get("seconds") or 2.0)
    device = str(options.get("device") or "auto")
    try:
        kind = resolve_device(device).type
    except RenderError:
        return {"cuda": "no CUDA GPU on this machine"}
    sizes = options.get("sizes") or ([(1920, 1080), (3840, 2160)] if kind == "cuda" else [(640, 360)])
    frames = int(options.get("frames") or _PROFILED_FRAMES[kind])
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, CPU_THREADS))
    results: dict[str, Any] = {"device": kind, "cpu_threads": torch.get_num_threads()}
    try:
        with torch.inference_mode():
            for w, h in sizes:
                rig, images = _rig_and_images(w, h)
                view = VirtualView(2.5, rig.default_pivot)
                r = DepthRenderer(rig, device=kind, quality="normal", near=5.0, far=90.0, sources=4)
                _with_venue(r, _plates(w, h))
                row: dict[str, Any] = {"wall_ms": _time(r, view, images, (w, h), seconds)["median_ms"]}
                row.update(_profiled(r, view, images, (w, h), frames))
                _put(results, kind, f"depth_normal_plates_{w}x{h}_4cams", row)
    finally:
        torch.set_num_threads(threads)
    return results


def _profiled(
    renderer: BaseRenderer, view: VirtualView, images: dict[str, np.ndarray], size: tuple[int, int], frames: int
) -> dict[str, Any]:
    """``frames`` renders under torch's profiler, new frames each (as ``_time``), summed by stage (see
    ``bench_stages``)."""
    given = [images, {name: img.copy() for name, img in images.items()}]
    activities = [ProfilerActivity.CPU]
    if renderer.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    renderer.render(view, given[1], *size)  # warm-up (the profiler's own first-use costs are outside it too)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for k in range(frames):
            renderer.render(view, given[k % 2], *size)
        host = time.perf_counter() - t0
    return {"profiled_ms": round(1000 * host / frames, 2), **_by_stage(prof.events(), frames)}


def _by_stage(events: Any, frames: int) -> dict[str, Any]:
    """The profiler's ``events`` summed by stage and per frame: see ``bench_stages``."""
    stages: dict[str, dict[str, float]] = {}
    operations = unlabelled = syncs = 0
    busy_us = 0.0

    def row(name: str) -> dict[str, float]:
        return stages.setdefault(name, {"host_ms": 0.0, "gpu_ms": 0.0, "operations": 0})

    for e in sorted(events, key=lambda e: e.time_range.start):
        if e.device_type != DeviceType.CPU:  # a kernel, a copy or a fill on the GPU
            busy_us += e.device_time_total
        elif e.name.startswith(STAGE_PREFIX):
            r = row(e.name[len(STAGE_PREFIX) :])
            r["host_ms"] += e.cpu_time_total / 1000
            r["gpu_ms"] += e.device_time_total / 1000
        elif "Synchronize" in e.name:
            syncs += 1
        elif e.name.startswith("aten::") and not (e.cpu_parent is not None and e.cpu_parent.name.startswith("aten::")):
            operations += 1  # dispatched by the renderer, not by another operation
            parent, labelled = e.cpu_parent, False
            while parent is not None:
                if parent.name.startswith(STAGE_PREFIX):
                    row(parent.name[len(STAGE_PREFIX) :])["operations"] += 1
                    labelled = True
                parent = parent.cpu_parent
            unlabelled += not labelled
    per_frame = {
        name: {key: round(value / frames, 2 if key != "operations" else 1) for key, value in r.items()}
        for name, r in stages.items()
    }
    return {
        "gpu_busy_ms": round(busy_us / 1000 / frames, 2),
        "operations": round(operations / frames, 1),
        "unlabelled_operations": round(unlabelled / frames, 1),
        "gpu_waits": round(syncs / frames, 1),
        "stages": per_frame,
    }
