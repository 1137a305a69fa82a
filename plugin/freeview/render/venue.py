"""The venue's own depth: each camera's depth of the empty venue, estimated once from its clean plate.

The cameras are locked off and the venue does not move, so what a live sweep finds hardest (the stands'
fine, repetitive crowd, the boards' lettering a few per cent out) can be worked out once, with time to
spare, from the clean plates: each camera's plate is the reference of a multi-view sweep against its
neighbours' plates (a real picture to compare with, no players in the way), refined by propagating
depths between neighbouring pixels, smoothed by a median of inverse depth (the stands are a smooth
surface; the pixel-level matches on an aliased crowd are not), and cross-checked: a pixel keeps its depth
only where a neighbouring camera's depth map puts the point back within a pixel. Sports free-viewpoint
systems do the same (the static field modelled ahead, only the players live).

The renderer splats the venue depth of the two cameras bracketing a view into it (``splat_depth``). A
pixel takes it where its point shows the empty venue in every source (background against the plate), or
where it matches about as well as the live sweep's depth; the players are placed over it by their
silhouettes. On the demo rig this took the depth renderer from 3.8 to 1.7 dB below the true-depth oracle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from plugin.freeview.background import BackgroundPlates
from plugin.freeview.camera import CameraModel
from plugin.freeview.render.common import PixelGrid, Projection, constant, view_rays

#: A pixel of the venue depth is kept when a neighbouring camera's depth puts its point back within this
#: many pixels of where it started.
CHECK_PX = 1.0
#: Radius of the median of inverse depth that smooths each camera's venue depth (9 x 9 pixels).
MEDIAN_RADIUS = 4
#: Rows of the picture the median works on at once (its window unfolded costs 81 floats a pixel).
_MEDIAN_ROWS = 64

_pixels = PixelGrid()


def plate_sizes(plates: BackgroundPlates, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(width, height) of the plate of each of ``names`` that has one."""
    return {name: (int(plates.plates[name].shape[1]), int(plates.plates[name].shape[0])) for name in names if name in plates}


def median_inverse_depth(depth: torch.Tensor, radius: int = MEDIAN_RADIUS) -> torch.Tensor:
    """(H, W) depth whose inverse is the median of the inverse depths in a (2r+1)^2 window (no depth,
    inf, counts as inverse depth 0); pixels without a depth stay without."""
    if radius <= 0:
        return depth
    finite = torch.isfinite(depth)
    inv = torch.where(finite, 1.0 / depth, torch.zeros_like(depth))
    h, w = inv.shape
    k = 2 * radius + 1
    padded = F.pad(inv[None, None], (radius, radius, radius, radius), mode="replicate")
    out = torch.empty_like(inv)
    for top in range(0, h, _MEDIAN_ROWS):
        rows = min(_MEDIAN_ROWS, h - top)
        window = F.unfold(padded[..., top : top + rows + 2 * radius, :], k)[0]  # (k*k, rows*w)
        out[top : top + rows] = window.median(dim=0).values.view(rows, w)
    smooth = torch.where(out > 0, 1.0 / out.clamp(min=1e-12), torch.full_like(out, float("inf")))
    return torch.where(finite, smooth, depth)


def world_points(cam: CameraModel, depth: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) world points of ``cam``'s pixels at ``depth`` (z_cam; inf: far out along the ray)."""
    rays = view_rays(cam, _pixels(cam.width, cam.height, depth.device))
    center = constant(cam.center, depth.device)
    far = torch.where(torch.isfinite(depth), depth, torch.full_like(depth, 1e6))
    return center + rays * far.unsqueeze(-1)


def _in_camera(cam: CameraModel, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid coordinates (..., 2) (align_corners: -1..1 across the frame) and depth z_cam (...) of world
    ``points`` (..., 3) in ``cam``, its distortion applied."""
    R = constant(cam.R, points.device)
    t = constant(cam.t, points.device)
    local = points @ R.T + t
    shape = local.shape[:-1]
    grid = Projection.of([cam], points.device).points(local.reshape(1, -1, 3))[0, 0]
    return grid.view(*shape, 2), local[..., 2]


def cross_check(
    cam: CameraModel, depth: torch.Tensor, others: Sequence[tuple[CameraModel, torch.Tensor]], tolerance: float = CHECK_PX
) -> torch.Tensor:
    """``depth`` of ``cam`` kept (else inf) where one of ``others`` (camera, its depth map) agrees: the
    point, looked up in the other camera's depth map and carried back, lands within ``tolerance`` pixels."""
    dev = depth.device
    h, w = depth.shape
    points = world_points(cam, depth)
    own = _pixels(w, h, dev)[..., :2]
    agreed = torch.zeros((h, w), dtype=torch.bool, device=dev)
    for other, other_depth in others:
        grid, z = _in_camera(other, points)
        inside = (grid.abs() <= 1).all(dim=-1) & (z > 0)
        there = F.grid_sample(
            world_points(other, other_depth).permute(2, 0, 1)[None], grid[None], mode="nearest", align_corners=True
        )[0].permute(1, 2, 0)
        back, zb = _in_camera(cam, there)
        px = torch.stack([(back[..., 0] + 1) * (0.5 * (w - 1)), (back[..., 1] + 1) * (0.5 * (h - 1))], dim=-1)
        agreed |= inside & (zb > 0) & ((px - own).norm(dim=-1) < tolerance)
    return torch.where(agreed & torch.isfinite(depth), depth, torch.full_like(depth, float("inf")))


def splat_depth(target: CameraModel, points: Sequence[torch.Tensor]) -> torch.Tensor:
    """(H, W) depth z_cam in ``target`` of world ``points`` ((P, 3) each: venue points of the sources),
    nearest first (a z-buffer); inf where no point lands.

    Each point lands on the target pixel nearest it; cracks left between them (the target sees the
    surface a little larger, or from a little aside) take the farthest depth around them (a crack in a
    surface is that surface; at an edge, the one behind). Measured on the demo rig, this scores better
    than covering the 2 x 2 pixels around each point, and costs a quarter of the scatter."""
    dev = points[0].device
    w, h = target.width, target.height
    zbuf = torch.full((h * w + 1,), float("inf"), device=dev)  # the last slot takes what lands outside
    for pts in points:
        grid, z = _in_camera(target, pts)
        x = ((grid[:, 0] + 1) * (0.5 * (w - 1))).round_().clamp_(-1, w).long()
        y = ((grid[:, 1] + 1) * (0.5 * (h - 1))).round_().clamp_(-1, h).long()
        ok = (z > 1e-3) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        zbuf.scatter_reduce_(0, torch.where(ok, y * w + x, h * w), z, reduce="amin", include_self=True)
    zbuf = zbuf[: h * w]
    out = zbuf.view(h, w)
    finite = torch.isfinite(out)
    around = F.max_pool2d(torch.where(finite, out, torch.zeros_like(out))[None, None], 3, stride=1, padding=1)[0, 0]
    count = F.avg_pool2d(finite.float()[None, None], 3, stride=1, padding=1)[0, 0]
    crack = ~finite & (count > 4.5 / 9)  # a hole with most of its neighbours known
    return torch.where(crack, around, out)


class VenueDepth:
    """Each camera's venue depth (float32 (H, W) z_cam at its plate's size, inf where unknown), worked
    out on first use and kept: ``estimate(name)`` gives a camera's raw depth, which is then
    cross-checked against the cameras next to it along the rig (``order``). Thread-safe;
    ``complete()`` works them all out ahead (the engine does, in its plates thread)."""

    def __init__(
        self,
        order: Sequence[str],
        cameras: Callable[[str], CameraModel],
        estimate: Callable[[str], torch.Tensor],
        sizes: dict[str, tuple[int, int]],
    ) -> None:
        self.order = list(order)
        self.sizes = dict(sizes)  # name -> (width, height) of the plate it was made from
        self._camera = cameras
        self._estimate = estimate
        self._raw: dict[str, torch.Tensor] = {}
        self._checked: dict[str, torch.Tensor] = {}
        self._points: dict[str, torch.Tensor] = {}
        self._lock = threading.RLock()

    def __contains__(self, name: object) -> bool:
        return name in self.sizes

    def made_for(self, plates: BackgroundPlates) -> bool:
        """Whether this was made for the cameras of ``plates`` at their sizes (the venue and the locked-off
        cameras do not move: new plates of the same cameras need no new venue depth)."""
        return plate_sizes(plates, self.order) == self.sizes

    def camera(self, name: str) -> CameraModel:
        """Camera ``name`` at the size of its venue depth."""
        return self._camera(name)

    def raw(self, name: str) -> torch.Tensor:
        """Camera ``name``'s venue depth as estimated, before the cross-check."""
        with self._lock, torch.inference_mode():
            if name not in self._raw:
                self._raw[name] = self._estimate(name)
            return self._raw[name]

    def depth(self, name: str) -> torch.Tensor:
        """Camera ``name``'s cross-checked venue depth."""
        with self._lock, torch.inference_mode():
            if name not in self._checked:
                k = self.order.index(name)
                near = [n for n in self.order[max(0, k - 1) : k + 2] if n != name and n in self.sizes]
                others = [(self.camera(n), self.raw(n)) for n in near]
                self._checked[name] = cross_check(self.camera(name), self.raw(name), others) if others else self.raw(name)
            return self._checked[name]

    def points(self, name: str) -> torch.Tensor:
        """(P, 3) world points of camera ``name``'s venue depth (its known pixels), for ``splat_depth``."""
        with self._lock, torch.inference_mode():
            if name not in self._points:
                depth = self.depth(name)
                self._points[name] = world_points(self.camera(name), depth)[torch.isfinite(depth)]
            return self._points[name]

    def complete(self, cancelled: Callable[[], bool] | None = None) -> VenueDepth | None:
        """Every camera's depth worked out now: self, or None when ``cancelled()`` turned true (it is
        asked before each camera)."""
        for name in self.order:
            if name in self.sizes:
                if cancelled is not None and cancelled():
                    return None
                self.points(name)
        return self

    def known(self) -> float:
        """The fraction of pixels with a venue depth, over the cameras worked out so far (0 when none)."""
        with self._lock:
            maps = list(self._checked.values())
        if not maps:
            return 0.0
        return float(np.mean([float(torch.isfinite(m).float().mean()) for m in maps]))
