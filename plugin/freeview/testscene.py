"""A small analytic test venue for the renderers' tests and benchmarks: a textured pitch (z = 0), a ring of
textured stands and a few box "players", ray-cast exactly with ground-truth depth.

It is deliberately tiny and self-contained (the plugin may not import the sim adapter); the sim venue
(`io_adapters/sim`) is the realistic ground truth used by ``fvreplay eval``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from plugin.freeview.camera import F64, CameraModel

SKY = np.array([0.55, 0.70, 0.90])


@functools.lru_cache(maxsize=4)
def _noise(seed: int, size: int = 512) -> np.ndarray:
    """A smooth random RGB texture in 0..1 (a few octaves of blurred noise), tileable enough for tests."""
    rng = np.random.default_rng(seed)
    tex = np.zeros((size, size, 3), np.float32)
    for octave, weight in ((4, 0.5), (16, 0.3), (64, 0.2)):
        small = rng.random((octave, octave, 3)).astype(np.float32)
        tex += weight * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(tex, 0, 1)


def _lookup(tex: np.ndarray, u: np.ndarray, v: np.ndarray, texel: float) -> np.ndarray:
    """Bilinear, wrapping texture lookup at world coordinates (u, v) metres, ``texel`` metres per texel."""
    size = tex.shape[0]
    x = np.nan_to_num(np.asarray(u, float).ravel() / texel)
    y = np.nan_to_num(np.asarray(v, float).ravel() / texel)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0i, y0i = x0.astype(np.int64) % size, y0.astype(np.int64) % size
    x1i, y1i = (x0i + 1) % size, (y0i + 1) % size
    top = tex[y0i, x0i] * (1 - fx) + tex[y0i, x1i] * fx
    bottom = tex[y1i, x0i] * (1 - fx) + tex[y1i, x1i] * fx
    return np.asarray(top * (1 - fy) + bottom * fy)


class TestScene:
    """Pitch + stands ring + box players. ``render(camera)`` -> (uint8 RGB, float32 depth z_cam)."""

    __test__ = False  # not a pytest class

    def __init__(self, seed: int = 0, stand_radius: float = 45.0, stand_height: float = 14.0, players: int = 6) -> None:
        rng = np.random.default_rng(seed)
        self.stand_radius = stand_radius
        self.stand_height = stand_height
        boxes = []
        for _ in range(6):
            x, y = rng.uniform(-8, 8), rng.uniform(-5, 5)
            w, d, h = rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.5), rng.uniform(1.7, 1.95)
            boxes.append(((x - w / 2, y - d / 2, 0.0), (x + w / 2, y + d / 2, h)))
        # players=0 is the empty venue (a clean plate); the same seed places the same players.
        self.box_lo = np.array([b[0] for b in boxes]).reshape(-1, 3)[:players]
        self.box_hi = np.array([b[1] for b in boxes]).reshape(-1, 3)[:players]
        self.box_color = rng.uniform(0.1, 0.95, (len(boxes), 3))[:players]
        self.grass = _noise(seed + 1)
        self.crowd = _noise(seed + 2)
        self.kit = _noise(seed + 3)

    def _trace(self, origin: F64, dirs: F64) -> tuple[np.ndarray, np.ndarray]:
        """Colours (N, 3) and ray parameter t (N,) of the first hit along unit-free directions (N, 3)."""
        n = len(dirs)
        t_best = np.full(n, np.inf)
        col = np.tile(SKY, (n, 1))
        # The pitch: mown stripes over noise, and white lines every 10 m.
        with np.errstate(divide="ignore", invalid="ignore"):
            tg = -origin[2] / dirs[:, 2]
        hit = np.isfinite(tg) & (tg > 0)
        p = origin + tg[:, None] * dirs
        g = _lookup(self.grass, p[:, 0], p[:, 1], 0.08)
        stripe = 0.85 + 0.15 * (np.floor(p[:, 0] / 4.0) % 2)
        grass = np.stack([0.25 + 0.3 * g[:, 0], 0.45 + 0.35 * g[:, 1], 0.2 + 0.2 * g[:, 2]], -1) * stripe[:, None]
        line = (np.abs(np.mod(p[:, 0] + 5, 10) - 5) < 0.06) | (np.abs(p[:, 1]) > 9.94) & (np.abs(p[:, 1]) < 10.06)
        grass[line] = 0.92
        take = hit & (tg < t_best)
        t_best[take], col[take] = tg[take], grass[take]
        # The stands: the inside of a vertical cylinder around the origin.
        a = dirs[:, 0] ** 2 + dirs[:, 1] ** 2
        b = 2 * (origin[0] * dirs[:, 0] + origin[1] * dirs[:, 1])
        c = origin[0] ** 2 + origin[1] ** 2 - self.stand_radius**2
        disc = b * b - 4 * a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            ts = (-b + np.sqrt(np.maximum(disc, 0))) / (2 * a)
        ps = origin + ts[:, None] * dirs
        hit = (disc > 0) & (ts > 0) & (ps[:, 2] >= 0) & (ps[:, 2] <= self.stand_height) & (ts < t_best)
        ang = np.arctan2(ps[:, 1], ps[:, 0]) * self.stand_radius
        crowd = _lookup(self.crowd, ang, ps[:, 2], 0.05)
        t_best[hit], col[hit] = ts[hit], crowd[hit]
        # Players: axis-aligned boxes (slab test), a coloured kit with texture.
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / dirs
            for k in range(len(self.box_lo)):
                t0 = (self.box_lo[k] - origin) * inv
                t1 = (self.box_hi[k] - origin) * inv
                tmin = np.nanmax(np.minimum(t0, t1), axis=1)
                tmax = np.nanmin(np.maximum(t0, t1), axis=1)
                hit = (tmax >= tmin) & (tmin > 0) & (tmin < t_best)
                if not np.any(hit):
                    continue
                ph = origin + tmin[hit, None] * dirs[hit]
                tex = _lookup(self.kit, ph[:, 0] + ph[:, 1], ph[:, 2], 0.02)
                t_best[hit] = tmin[hit]
                col[hit] = 0.55 * self.box_color[k] + 0.45 * tex
        return col, t_best

    def render(self, cam: CameraModel, supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """The camera's picture (H, W, 3) uint8 RGB and depth z_cam (H, W) float32 (inf: sky)."""
        W, H = cam.width, cam.height
        ss = supersample
        off = (np.arange(ss) + 0.5) / ss - 0.5
        u = (np.arange(W)[None, :, None, None] + off[None, None, None, :]).repeat(H, 0).repeat(ss, 2)
        v = (np.arange(H)[:, None, None, None] + off[None, None, :, None]).repeat(W, 1).repeat(ss, 3)
        uv = np.stack([u, v], -1).reshape(-1, 2)
        origin, dirs = cam.pixel_rays(uv)
        col, _ = self._trace(origin, dirs)
        img = col.reshape(H, W, ss, ss, 3).mean(axis=(2, 3))
        vv, uu = np.mgrid[0:H, 0:W]
        origin, dirs = cam.pixel_rays(np.stack([uu.ravel(), vv.ravel()], -1).astype(float))
        _, t = self._trace(origin, dirs)
        depth = (t * (dirs @ cam.forward)).reshape(H, W).astype(np.float32)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), depth


def arc_cameras(
    count: int = 5,
    *,
    spacing_deg: float = 7.5,
    radius: float = 30.0,
    height: float = 8.0,
    width: int = 320,
    height_px: int = 180,
    focal_px: float | None = None,
    pivot: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> list[CameraModel]:
    """``count`` cameras on a horizontal arc around ``pivot``, ``spacing_deg`` apart, aimed at it, level."""
    f = focal_px if focal_px is not None else 1.2 * width
    out = []
    start = -spacing_deg * (count - 1) / 2
    for k in range(count):
        a = np.deg2rad(start + k * spacing_deg)
        c = np.array([pivot[0] + radius * np.sin(a), pivot[1] - radius * np.cos(a), height])
        out.append(CameraModel.look_at(f"cam{k + 1:02d}", c, pivot, width=width, height=height_px, focal_px=f))
    return out
