"""Export one instant of the synthetic venue as ground truth: a COLMAP rig, images, depth, points.

``export_rig`` writes into ``out``: ``cameras.txt`` / ``images.txt`` / ``points3D.txt`` (COLMAP
text, exact calibration), ``images/<camera>.png``, ``depth/<camera>.npy`` (float32 metres along the
optical axis, inf for sky) and, on request, ``sheet.png`` (every camera with its name). With
``between = N``, N virtual cameras are added between each pair of neighbours (position along the
arc, aimed at the pivot, focal interpolated, no distortion), named ``cam03_v1of3`` …; their images
are exact renders too: ground truth for in-between views.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from io_adapters.sim.render import SimImage, SimRenderer
from io_adapters.sim.scene import Scene
from io_adapters.sim.venue import between_cameras, venue_cameras, venue_spec
from plugin.errors import SourceError
from plugin.freeview.camera import CameraModel
from plugin.freeview.colmap import write_colmap_model

#: progress(cameras_done, cameras_total, name)
ExportProgress = Callable[[int, int, str], None]


@dataclass
class ExportResult:
    out: Path
    cameras: list[CameraModel]
    virtual: list[str] = field(default_factory=list)
    n_points: int = 0
    sheet: Path | None = None


def export_rig(
    out: str | Path,
    *,
    venue: str = "arena",
    time: float = 0.0,
    width: int = 1280,
    height: int = 720,
    seed: int = 0,
    loop: float = 3.0,
    players: int = 8,
    between: int = 0,
    sheet: bool = False,
    device: str = "cpu",
    max_points: int = 50_000,
    progress: ExportProgress | None = None,
) -> ExportResult:
    """Render every camera of the venue (and virtual ones between) at scene time ``time`` into ``out``."""
    spec = venue_spec(venue)
    if between < 0:
        raise SourceError(f"sim export: --between must be 0 or more, got {between}")
    out = Path(out).expanduser()
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "depth").mkdir(parents=True, exist_ok=True)
    scene = Scene(seed, loop, players)
    renderer = SimRenderer(scene, device, max_cached_cameras=2)
    real = venue_cameras(venue, width, height)
    cams = between_cameras(real, between, scene.pivot, closed=spec.closed) if between else real
    real_names = {c.name for c in real}
    rng = np.random.default_rng(0)
    pts, cols, thumbs = [], [], []
    for i, cam in enumerate(cams):
        img = renderer.render(cam, time)
        cv2.imwrite(str(out / "images" / f"{cam.name}.png"), img.rgb[:, :, ::-1])
        np.save(out / "depth" / f"{cam.name}.npy", img.depth)
        if cam.name in real_names:
            p, c = _surface_points(cam, img, max_points // len(real), rng)
            pts.append(p)
            cols.append(c)
        if sheet:
            thumbs.append((cam.name, img.rgb))
        if progress is not None:
            progress(i + 1, len(cams), cam.name)
    points = np.concatenate(pts) if pts else np.zeros((0, 3))
    colors = np.concatenate(cols) if cols else np.zeros((0, 3), np.uint8)
    write_colmap_model(out, cams, points, colors)
    result = ExportResult(out, cams, [c.name for c in cams if c.name not in real_names], len(points))
    if sheet:
        result.sheet = out / "sheet.png"
        cv2.imwrite(str(result.sheet), contact_sheet(thumbs, time=time, venue=venue)[:, :, ::-1])
    return result


def _surface_points(
    cam: CameraModel, img: SimImage, n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """World points on the surfaces a camera sees (sky excluded), with their colours."""
    ys, xs = np.nonzero(np.isfinite(img.depth))
    if len(ys) == 0 or n <= 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    pick = rng.choice(len(ys), size=min(n, len(ys)), replace=False)
    ys, xs = ys[pick], xs[pick]
    world = cam.unproject(np.stack([xs, ys], -1).astype(float), img.depth[ys, xs].astype(float))
    return world, img.rgb[ys, xs]


def contact_sheet(
    images: list[tuple[str, npt.NDArray[np.uint8]]], *, time: float | None = None, venue: str = "",
    width: int = 1920,
) -> npt.NDArray[np.uint8]:
    """All cameras in a grid, each labelled with its name: an RGB picture ``width`` pixels wide."""
    if not images:
        raise SourceError("contact sheet: no images")
    n = len(images)
    cols = 5 if n <= 10 else min(8, math.ceil(math.sqrt(n * 1.8)))
    rows = math.ceil(n / cols)
    h0, w0 = images[0][1].shape[:2]
    tw = width // cols
    th = round(tw * h0 / w0)
    title_h = 36
    sheet = np.full((title_h + rows * th, cols * tw, 3), 24, np.uint8)
    title = f"fvreplay sim: {venue}" + (f" at t = {time:.3f} s" if time is not None else "") + f", {n} cameras"
    cv2.putText(sheet, title, (10, 25), cv2.FONT_HERSHEY_DUPLEX, 0.75, (235, 235, 235), 1, cv2.LINE_AA)
    for k, (name, rgb) in enumerate(images):
        r, c = divmod(k, cols)
        thumb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        y, x = title_h + r * th, c * tw
        sheet[y : y + th, x : x + tw] = thumb
        cv2.rectangle(sheet, (x, y), (x + tw - 1, y + th - 1), (24, 24, 24), 1)
        (tw_, th_), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_DUPLEX, 0.6, 1)
        cv2.rectangle(sheet, (x + 4, y + 4), (x + 12 + tw_, y + 12 + th_), (0, 0, 0), -1)
        cv2.putText(sheet, name, (x + 8, y + 8 + th_), cv2.FONT_HERSHEY_DUPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return sheet
