"""The sim loop cache: every camera's loop rendered once to disk as raw UYVY, played back by memcpy.

Rendering the demo rig live is too slow for a CPU, so a loop of ``loop`` seconds is rendered once
for all cameras of a venue and kept under ``$FVR_CACHE_DIR`` (default ``~/.cache/fvreplay/sim``),
one raw file per camera (``cam01.uyvy``: frames × H × W × 2 bytes, read with ``np.memmap``).
The folder is keyed by a hash of everything that changes a pixel: venue, cameras, scene, size,
rate and :data:`RENDER_VERSION`. ``meta.json`` is written last, so a folder without it is an
interrupted build and is rebuilt. One builder renders, under a file lock (``flock``): other
sources in the same process or in other processes wait for it and then map the same files.
Builds for the same venue, size and rate made by an older renderer are removed after a build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import mmap
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from plugin.errors import SourceError
from timing import FrameRate

log = logging.getLogger("fvreplay.sim.cache")

CACHE_ENV = "FVR_CACHE_DIR"
WORKERS_ENV = "FVR_SIM_WORKERS"

#: progress(frames_done, frames_total): called from the building thread.
Progress = Callable[[int, int], None]

_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def cache_root() -> Path:
    """Where loops are kept: ``$FVR_CACHE_DIR`` or ``~/.cache/fvreplay/sim``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fvreplay" / "sim"


@dataclass(frozen=True)
class LoopSpec:
    """What a cached loop shows: a venue's cameras at a size and rate, one scene, ``loop`` seconds."""

    venue: str
    width: int
    height: int
    rate: FrameRate
    seed: int = 0
    loop: float = 3.0
    players: int = 8

    @property
    def frames(self) -> int:
        """Frames in the loop: ``loop`` seconds rounded to whole frames (at least one)."""
        return max(1, round(self.loop * float(self.rate.fps)))

    @property
    def loop_seconds(self) -> float:
        """The exact loop length the scene uses, so frame ``frames`` equals frame 0."""
        return float(Fraction(self.frames) / self.rate.fps)

    def scene_time(self, index: int) -> float:
        """Scene time of loop frame ``index``."""
        return float(Fraction(index % self.frames) / self.rate.fps)

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 2

    def cameras(self) -> list[Any]:
        from io_adapters.sim.venue import venue_cameras

        return venue_cameras(self.venue, self.width, self.height)

    def scene(self) -> Any:
        from io_adapters.sim.scene import Scene

        return Scene(self.seed, self.loop_seconds, self.players)

    @functools.cached_property
    def key(self) -> str:
        """Hash of everything that changes a pixel (made once: it builds the scene and every camera)."""
        data = {
            "venue": self.venue,
            "size": [self.width, self.height],
            "rate": [self.rate.numerator, self.rate.denominator],
            "frames": self.frames,
            "scene": self.scene().params(),
            "cameras": [c.to_dict() for c in self.cameras()],
            "render_version": _render_version(),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def prefix(self) -> str:
        return f"{self.venue}-{self.width}x{self.height}-{str(self.rate).replace('/', '_')}p"

    def folder(self, root: Path | None = None) -> Path:
        return (root or cache_root()) / f"{self.prefix}-{self.key}"

    @property
    def total_bytes(self) -> int:
        return len(self.cameras()) * self.frames * self.frame_bytes


class LoopCache:
    """A finished loop on disk: ``frames(camera)`` maps one camera's file read-only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
        self._maps: dict[str, np.memmap[Any, np.dtype[np.uint8]]] = {}

    @property
    def n_frames(self) -> int:
        return int(self.meta["frames"])

    def frames(self, camera: str) -> npt.NDArray[np.uint8]:
        """(frames, H, W, 2) UYVY of one camera, memory-mapped read-only."""
        if camera not in self._maps:
            if camera not in self.meta["cameras"]:
                raise SourceError(f"sim cache {self.folder}: no camera {camera!r}")
            shape = (self.n_frames, int(self.meta["height"]), int(self.meta["width"]), 2)
            mm = np.memmap(self.folder / f"{camera}.uyvy", np.uint8, "r", shape=shape)
            # Map every page now (one minor fault each) rather than on the first pass of playback,
            # where ~1 GB/s of first touches would cost the capture threads their core in the kernel.
            raw = getattr(mm, "_mmap", None)
            if raw is not None and hasattr(mmap, "MADV_WILLNEED"):
                raw.madvise(mmap.MADV_WILLNEED)
            int(np.asarray(mm.reshape(-1)[:: mmap.PAGESIZE]).sum())
            self._maps[camera] = mm
        return self._maps[camera]


def _process_lock(key: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock other processes see (flock); a no-op where flock does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux/macOS
        yield
        return
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("sim cache: another process is building %s; waiting for it", path.parent)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def default_workers(n_cameras: int) -> int:
    env = os.environ.get(WORKERS_ENV)
    if env:
        return max(1, int(env))
    return max(1, min(n_cameras, os.cpu_count() or 1))


def ensure_loop(
    spec: LoopSpec,
    *,
    device: str = "cpu",
    workers: int | None = None,
    progress: Progress | None = None,
    root: Path | None = None,
) -> LoopCache:
    """The spec's loop on disk, rendering it first if no finished build exists (blocking)."""
    folder = spec.folder(root)
    if (folder / "meta.json").exists():
        return LoopCache(folder)
    with _process_lock(str(folder)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceError(f"sim cache: cannot create {folder}: {exc.strerror} (set {CACHE_ENV})") from exc
        with _file_lock(folder / ".lock"):
            if (folder / "meta.json").exists():
                return LoopCache(folder)
            _build(spec, folder, device=device, workers=workers, progress=progress)
    _prune_older(spec, folder)
    return LoopCache(folder)


def _build(spec: LoopSpec, folder: Path, *, device: str, workers: int | None, progress: Progress | None) -> None:
    cams = spec.cameras()
    need = spec.total_bytes
    free = shutil.disk_usage(folder).free
    if free < need * 1.05:
        raise SourceError(
            f"sim cache: the {spec.venue} loop needs {need / 1e9:.2f} GB at {folder} but only "
            f"{free / 1e9:.2f} GB is free; free some space, point {CACHE_ENV} elsewhere, or shorten "
            f"the loop (sim://...?loop=SECONDS)"
        )
    n_workers = min(workers or default_workers(len(cams)), len(cams))
    if workers is None and spec.width * spec.height * spec.frames * len(cams) < 20_000_000:
        n_workers = 1  # a second or two of work: starting processes would cost more
    if workers is None and device != "cpu":
        n_workers = min(n_workers, 2)  # one GPU: two processes keep it busy
    log.info(
        "sim cache: rendering %d cameras × %d frames (%s, %dx%d at %s, %.2f GB) with %d worker(s) into %s",
        len(cams), spec.frames, spec.venue, spec.width, spec.height, spec.rate, need / 1e9, n_workers, folder,
    )
    started = time.monotonic()
    for cam in cams:  # allocate the files up front: workers only write into them
        with open(folder / f"{cam.name}.uyvy", "wb") as fh:
            fh.truncate(spec.frames * spec.frame_bytes)
    total = len(cams) * spec.frames
    reporter = _Reporter(total, progress)
    groups = [[c.name for c in cams[i::n_workers]] for i in range(n_workers)]
    if n_workers == 1:
        _render_cameras(spec, str(folder), groups[0], device, reporter.add)
    else:
        _render_parallel(spec, folder, groups, device, reporter)
    meta = {
        "venue": spec.venue,
        "width": spec.width,
        "height": spec.height,
        "rate": str(spec.rate),
        "frames": spec.frames,
        "loop_seconds": spec.loop_seconds,
        "seed": spec.seed,
        "players": spec.players,
        "cameras": [c.name for c in cams],
        "key": spec.key,
        "render_version": _render_version(),
        "build_seconds": round(time.monotonic() - started, 2),
        "workers": n_workers,
        "device": device,
    }
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(folder / "meta.json")
    log.info("sim cache: built in %.1f s: %s", meta["build_seconds"], folder)


class _Reporter:
    """Counts rendered frames; logs every 10 % and forwards to the caller's progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._next_log = 0.1

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)
        if self.done >= self._next_log * self.total:
            log.info("sim cache: %d%% (%d/%d frames)", 100 * self.done // self.total, self.done, self.total)
            self._next_log = math.floor(10 * self.done / self.total + 1) / 10


def _render_cameras(spec: LoopSpec, folder: str, names: list[str], device: str, report: Callable[[int], None]) -> None:
    """Render the loop of some cameras into their (pre-allocated) files."""
    from io_adapters.sim.render import SimRenderer

    renderer = SimRenderer(spec.scene(), device, max_cached_cameras=1)
    cams = {c.name: c for c in spec.cameras()}
    shape = (spec.frames, spec.height, spec.width, 2)
    for name in names:
        mm = np.memmap(Path(folder) / f"{name}.uyvy", np.uint8, "r+", shape=shape)
        cam = cams[name]
        batch = 0
        for i in range(spec.frames):
            renderer.render_uyvy(cam, spec.scene_time(i), out=mm[i])
            batch += 1
            if batch == 10 or i == spec.frames - 1:
                report(batch)
                batch = 0
        mm.flush()
        del mm


def _render_parallel(spec: LoopSpec, folder: Path, groups: list[list[str]], device: str, reporter: _Reporter) -> None:
    """One worker process per group of cameras, each ``python -m io_adapters.sim.cache`` (no fork, no
    re-import of the caller's ``__main__``), reporting rendered frames on stdout."""
    job = json.dumps(
        {"venue": spec.venue, "width": spec.width, "height": spec.height, "rate": str(spec.rate),
         "seed": spec.seed, "loop": spec.loop, "players": spec.players}
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "io_adapters.sim.cache", job, str(folder), device, *names],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        for names in groups
    ]
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()

    def pump(k: int, proc: subprocess.Popen[str]) -> None:
        for line in proc.stdout or ():
            lines.put((k, line))
        lines.put((k, None))

    for k, proc in enumerate(procs):
        threading.Thread(target=pump, args=(k, proc), daemon=True).start()
    running = len(procs)
    try:
        while running:
            k, line = lines.get()
            if line is None:
                running -= 1
                code = procs[k].wait()
                if code != 0:
                    stderr = procs[k].stderr
                    err = stderr.read() if stderr is not None else ""
                    raise SourceError(f"sim cache: render worker {k} failed (exit {code}):\n{err.strip()}")
            elif line.startswith("frames "):
                reporter.add(int(line.split()[1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=10)


def _worker_main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    job = json.loads(argv[0])
    spec = LoopSpec(job["venue"], job["width"], job["height"], FrameRate.parse(job["rate"]), job["seed"],
                    job["loop"], job["players"])

    parent = os.getppid()

    def report(n: int) -> None:
        if os.getppid() != parent:  # the engine that asked is gone: stop rendering for nobody
            sys.exit(1)
        print(f"frames {n}", flush=True)  # noqa: T201 (progress protocol to the parent process)

    _render_cameras(spec, argv[1], argv[3:], argv[2], report)
    return 0


def _render_version() -> str:
    from io_adapters.sim.render import RENDER_VERSION

    return RENDER_VERSION


def _prune_older(spec: LoopSpec, keep: Path) -> None:
    """Remove finished builds of the same venue, size and rate made by an older renderer (stale pixels)."""
    current = _render_version()
    for other in keep.parent.glob(f"{spec.prefix}-*"):
        if other == keep or not other.is_dir() or not (other / "meta.json").exists():
            continue
        try:
            if json.loads((other / "meta.json").read_text()).get("render_version") == current:
                continue
        except (OSError, ValueError):
            continue
        try:
            shutil.rmtree(other)
            log.info("sim cache: removed an older build %s", other)
        except OSError as exc:
            log.warning("sim cache: could not remove an older build %s: %s", other, exc)


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
