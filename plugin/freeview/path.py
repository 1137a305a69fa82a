"""View positions along a rig: the virtual view (s, pivot, zoom) and the smooth curve through the camera centres.

A view position ``s`` is 1-based, like operators' camera numbers: s = 1 is the rig's first camera, s = 3.5 is
halfway between cameras 3 and 4. The virtual camera's centre moves on a centripetal Catmull-Rom spline through
the camera centres (it passes through every centre, never overshoots or loops between close cameras), looks at
the pivot with a level horizon, and interpolates the cameras' focal lengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from plugin.errors import RenderError
from plugin.freeview.camera import F64

#: A pivot as given: (x, y, z) metres as a tuple, a list or a numpy array; stored as a tuple of floats.
PivotLike: TypeAlias = tuple[float, float, float] | Sequence[float] | F64

#: Centripetal parametrisation (alpha = 0.5): no cusps or self-intersections (Yuksel et al. 2011).
_ALPHA = 0.5


@dataclass(frozen=True)
class VirtualView:
    """Where the virtual camera is: position ``s`` along the rig (1-based), the pivot it looks at, and zoom.

    ``zoom`` multiplies the interpolated focal length (2.0 = twice as tight). ``pivot`` may be given as
    any three numbers (tuple, list, numpy array); it is stored as a tuple of floats (hashable, JSON-able).
    """

    s: float
    pivot: PivotLike
    zoom: float = 1.0

    def __post_init__(self) -> None:
        try:
            pivot = tuple(float(v) for v in np.asarray(self.pivot, dtype=float).ravel())
        except (TypeError, ValueError) as exc:
            raise RenderError(f"view pivot {self.pivot!r} is not three numbers (x, y, z metres)") from exc
        if len(pivot) != 3 or not all(math.isfinite(v) for v in pivot):
            raise RenderError(f"view pivot {self.pivot!r} must be three finite numbers (x, y, z metres)")
        if not math.isfinite(float(self.s)):
            raise RenderError(f"view position s = {self.s!r} is not a finite number")
        if not (math.isfinite(float(self.zoom)) and float(self.zoom) > 0):
            raise RenderError(f"view zoom {self.zoom!r} must be a positive number")
        object.__setattr__(self, "pivot", pivot)
        object.__setattr__(self, "s", float(self.s))
        object.__setattr__(self, "zoom", float(self.zoom))

    def to_dict(self) -> dict[str, Any]:
        return {"s": self.s, "pivot": list(self.pivot), "zoom": self.zoom}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtualView:
        try:
            return cls(s=data["s"], pivot=data["pivot"], zoom=data.get("zoom", 1.0))
        except (KeyError, TypeError) as exc:
            raise RenderError(f"view {data!r}: needs s and pivot [x, y, z] (and optionally zoom)") from exc


def _catmull_rom(p0: F64, p1: F64, p2: F64, p3: F64, u: float) -> F64:
    """Point at fraction ``u`` in [0, 1] of the centripetal Catmull-Rom segment from p1 to p2."""

    def knot(t: float, a: F64, b: F64) -> float:
        return t + max(float(np.linalg.norm(b - a)) ** _ALPHA, 1e-9)

    t0 = 0.0
    t1 = knot(t0, p0, p1)
    t2 = knot(t1, p1, p2)
    t3 = knot(t2, p2, p3)
    t = t1 + u * (t2 - t1)
    a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    return np.asarray((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2)


class ArcPath:
    """The curve through the camera centres, parametrised by the 1-based view position s in [1, N]."""

    def __init__(self, centers: F64) -> None:
        pts = np.asarray(centers, dtype=float).reshape(-1, 3)
        if len(pts) == 0:
            raise RenderError("a camera path needs at least one camera")
        self.centers = pts
        # Phantom end points, mirrored, so the first and last segments are as smooth as the middle ones.
        if len(pts) >= 2:
            self._padded = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
        else:
            self._padded = np.vstack([pts, pts, pts])

    @property
    def count(self) -> int:
        return len(self.centers)

    def clamp(self, s: float) -> float:
        return min(max(float(s), 1.0), float(self.count))

    def segment(self, s: float) -> tuple[int, float]:
        """(i, u): the 0-based index of the camera that starts the segment holding ``s``, and the fraction."""
        s = self.clamp(s)
        if self.count == 1:
            return 0, 0.0
        i = min(int(math.floor(s)), self.count - 1) - 1
        return i, s - (i + 1)

    def point(self, s: float) -> F64:
        """The virtual camera centre at view position ``s`` (clamped to [1, N])."""
        if self.count == 1:
            return self.centers[0].copy()
        i, u = self.segment(s)
        if u == 0.0:
            return self.centers[i].copy()
        if u == 1.0:
            return self.centers[i + 1].copy()
        p = self._padded
        return _catmull_rom(p[i], p[i + 1], p[i + 2], p[i + 3], u)

    def locate(self, point: F64, samples_per_segment: int = 64) -> float:
        """The view position s whose centre is closest to ``point`` (for a held-out or extra camera)."""
        if self.count == 1:
            return 1.0
        target = np.asarray(point, float).reshape(3)
        grid = np.linspace(1.0, float(self.count), (self.count - 1) * samples_per_segment + 1)
        dist = np.array([np.linalg.norm(self.point(s) - target) for s in grid])
        k = int(np.argmin(dist))
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
        for _ in range(40):  # golden-section search on the bracketing interval
            m1 = hi - (hi - lo) / 1.618033988749895
            m2 = lo + (hi - lo) / 1.618033988749895
            if np.linalg.norm(self.point(m1) - target) < np.linalg.norm(self.point(m2) - target):
                hi = m2
            else:
                lo = m1
        return float((lo + hi) / 2)
