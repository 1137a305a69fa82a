"""Exact ray casting of the synthetic venue in torch (CPU or CUDA): RGB, depth (z_cam) and object ids.

A render has two parts. The *static layer* (ground, boards, stands, goals) depends only on the
camera: it is cast once per camera, supersampled at its edges, and cached. Each frame then casts
only the moving bodies (players, ball), each primitive only at the pixels of its own screen-space
bounding box, z-tested against the static depth; their sun shadows re-shade the ground pixels in
each primitive's shadow box; and the pixels on the moving bodies' edges (another surface or a
colour step at one sample per pixel) are supersampled, with samples that miss every body taking
the pixel's static colour (its own, already anti-aliased).

Rays go through the undistorted direction of each pixel centre (``CameraModel.pixel_rays``), so
any OpenCV camera renders exactly, distortion included. Depth is the hit distance along the
optical axis at the pixel centre (never averaged); colour is the average of the samples.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from io_adapters.sim.scene import (
    AD_TEX_H,
    AD_TEX_W,
    ID_BALL,
    ID_GOAL,
    ID_PITCH,
    ID_PLAYER0,
    ID_SKY,
    ID_STANDS,
    KIND_BALL,
    KIND_HEAD,
    KIND_SHIRT,
    Arena,
    Body,
    Scene,
    board_atlas,
    number_atlas,
)
from plugin.frames import rgb_to_uyvy
from plugin.freeview.camera import CameraModel

#: Bumped whenever a change alters pixels: part of every cache key.
RENDER_VERSION = "1"

Tensor = torch.Tensor
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

# Surface codes (finer than object ids: they find edges between parts of one object).
CODE_SKY = 0
CODE_GROUND = 1
CODE_BOARD = 2  # 2..5, one per board
CODE_FRONT_WALL = 6
CODE_STAND = 7
CODE_BACK_WALL = 8
CODE_BODY = 64  # + uid * 32 + primitive index
PRIMS_PER_BODY = 32
CODE_DYNAMIC = CODE_BODY + 2 * PRIMS_PER_BODY  # uids 0 and 1 are the (static) goals

AMBIENT = 0.38
DIFFUSE = 0.62
INF = float("inf")
_LUMA = (0.2126, 0.7152, 0.0722)

# Rotated-grid patterns: no two samples share a row or a column.
AA_PATTERNS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((0.0, 0.0),),
    4: ((-0.125, -0.375), (0.375, -0.125), (0.125, 0.375), (-0.375, 0.125)),
    8: (
        (-0.4375, -0.0625), (-0.3125, 0.3125), (-0.1875, -0.3125), (-0.0625, 0.1875),
        (0.0625, -0.1875), (0.1875, 0.4375), (0.3125, -0.4375), (0.4375, 0.0625),
    ),
}


@dataclass
class SimImage:
    """One rendered picture: RGB (H, W, 3) uint8, depth z_cam (H, W) float32 (inf = sky), ids (H, W) int32."""

    rgb: U8
    depth: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int32]


def uid_to_id(uid: int) -> int:
    """Object id of a body's uid: goals 0-1, the ball 2, players 3+i."""
    if uid < 2:
        return ID_GOAL
    if uid == 2:
        return ID_BALL
    return ID_PLAYER0 + uid - 3


# --- noise and hashing (integer arithmetic: identical on CPU and CUDA) -----------------------------


def _hash(ix: Tensor, iy: Tensor, salt: int) -> Tensor:
    """A well-mixed hash of two integer lattice coordinates to [0, 1)."""
    m = 0xFFFFFFFF
    h = (ix * 374761393 + iy * 668265263 + salt * 1442695041) & m
    h = ((h ^ (h >> 13)) * 1274126177) & m
    h = ((h ^ (h >> 16)) * 2246822519) & m
    h = h ^ (h >> 15)
    return (h & 0xFFFFFF).to(torch.float32) / float(1 << 24)


def _value_noise(x: Tensor, y: Tensor, salt: int) -> Tensor:
    """Smooth value noise in [0, 1) with unit lattice spacing."""
    fx, fy = torch.floor(x), torch.floor(y)
    ix, iy = fx.to(torch.int64), fy.to(torch.int64)
    ux, uy = x - fx, y - fy
    ux = ux * ux * (3 - 2 * ux)
    uy = uy * uy * (3 - 2 * uy)
    a = _hash(ix, iy, salt)
    b = _hash(ix + 1, iy, salt)
    c = _hash(ix, iy + 1, salt)
    d = _hash(ix + 1, iy + 1, salt)
    return a + (b - a) * ux + (c - a) * uy + (a - b - c + d) * ux * uy


def _smoothstep(e0: float | Tensor, e1: float | Tensor, x: Tensor) -> Tensor:
    t = torch.clamp((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1)


def _dot3(a: Tensor, b: Tensor) -> Tensor:
    """Dot products of (3, M) component rows."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _squash(v: Tensor, axis: Tensor, sigma: Tensor) -> Tensor:
    """Multiply by S = I + (sigma - 1) axis axisᵀ: the squash that makes a capsule elliptic."""
    return v + ((sigma - 1) * _dot(v, axis))[..., None] * axis


def _bilinear(tex: Tensor, layer: Tensor | None, u: Tensor, v: Tensor) -> Tensor:
    """Sample texture (H, W, C) or atlas (L, H, W, C) at u, v in 0..1 (row 0 at v = 0)."""
    h, w = tex.shape[-3], tex.shape[-2]
    x = torch.clamp(u * w - 0.5, 0, w - 1)
    y = torch.clamp(v * h - 0.5, 0, h - 1)
    x0 = torch.clamp(torch.floor(x).long(), 0, w - 2)
    y0 = torch.clamp(torch.floor(y).long(), 0, h - 2)
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    if layer is None:
        t00, t01, t10, t11 = tex[y0, x0], tex[y0, x0 + 1], tex[y0 + 1, x0], tex[y0 + 1, x0 + 1]
    else:
        t00, t01 = tex[layer, y0, x0], tex[layer, y0, x0 + 1]
        t10, t11 = tex[layer, y0 + 1, x0], tex[layer, y0 + 1, x0 + 1]
    return (t00 * (1 - ax) + t01 * ax) * (1 - ay) + (t10 * (1 - ax) + t11 * ax) * ay


# --- primitives ------------------------------------------------------------------------------------


class Prims:
    """A list of bodies flattened into capsules (a sphere is a capsule of length 0), on the device.

    Everything per primitive: geometry (squashed frame), material, the body's frame and number,
    and its surface code ``CODE_BODY + uid * 32 + index in body``.
    """

    def __init__(self, bodies: Sequence[Body], device: torch.device) -> None:
        a, b, r, axis, sigma, col_a, col_b, split, kind, frame, number, ncol, code = ([] for _ in range(13))
        for body in bodies:
            nc = body.n_caps
            a.append(body.cap_a)
            b.append(body.cap_b)
            r.append(body.cap_r)
            axis.append(body.cap_axis)
            sigma.append(body.cap_sigma)
            col_a.append(body.cap_col_a)
            col_b.append(body.cap_col_b)
            split.append(body.cap_split)
            kind.append(body.cap_kind)
            frame.append(np.repeat(body.frame[None], nc, 0))
            a.append(body.sph_c)
            b.append(body.sph_c)
            r.append(body.sph_r)
            axis.append(np.zeros((body.n_spheres, 3)))
            sigma.append(np.ones(body.n_spheres))
            col_a.append(body.sph_col)
            col_b.append(body.sph_col2)
            split.append(np.zeros(body.n_spheres))
            kind.append(body.sph_kind)
            frame.append(body.sph_frame)
            n = nc + body.n_spheres
            number.append(np.full(n, body.number))
            ncol.append(np.repeat(body.number_col[None], n, 0))
            code.append(CODE_BODY + body.uid * PRIMS_PER_BODY + np.arange(n))

        def cat(parts: list[npt.NDArray[Any]], shape: tuple[int, ...]) -> npt.NDArray[Any]:
            return np.concatenate(parts).reshape(shape) if parts else np.zeros(shape)

        self.n = int(sum(len(x) for x in r))
        n = self.n
        self.a_np = cat(a, (n, 3))
        self.b_np = cat(b, (n, 3))
        self.r_np = cat(r, (n,))

        def f32(x: npt.NDArray[Any]) -> Tensor:
            return torch.as_tensor(x, dtype=torch.float32, device=device)

        self.a = f32(self.a_np)
        self.axis = f32(cat(axis, (n, 3)))
        self.sigma = f32(cat(sigma, (n,)))
        self.ba = _squash(f32(self.b_np - self.a_np), self.axis, self.sigma)
        self.centre = f32(0.5 * (self.a_np + self.b_np))
        self.r = f32(self.r_np)
        self.col_a = f32(cat(col_a, (n, 3)))
        self.col_b = f32(cat(col_b, (n, 3)))
        self.split = f32(cat(split, (n,)))
        self.kind = torch.as_tensor(cat(kind, (n,)).astype(np.int64), device=device)
        self.frame = f32(cat(frame, (n, 3, 3)))
        self.number = torch.as_tensor(cat(number, (n,)).astype(np.int64), device=device)
        self.number_col = f32(cat(ncol, (n, 3)))
        self.code = torch.as_tensor(cat(code, (n,)).astype(np.int32), device=device)
        # Transposed copies (3, n) for the component-wise ray casting.
        self.a_t = self.a.T.contiguous()
        self.ba_t = self.ba.T.contiguous()
        self.axis_t = self.axis.T.contiguous()
        self.centre_t = self.centre.T.contiguous()
        self.baba = _dot(self.ba, self.ba)
        self.r2 = self.r * self.r
        self.body_slices: list[slice] = []
        s = 0
        for body in bodies:
            k = body.n_caps + body.n_spheres
            self.body_slices.append(slice(s, s + k))
            s += k

    # --- screen-space bounds (numpy: a few hundred points per frame) ----------------------------

    def rects(self, camera: CameraModel, margin: float = 2.0) -> I64:
        """Pixel box (x0, y0, x1, y1), end exclusive, holding each primitive's projection; empty = x0 == x1."""
        return _capsule_rects(camera, self.a_np, self.b_np, self.r_np, margin)

    def shadow_rects(self, camera: CameraModel, sun: npt.NDArray[np.float64]) -> I64:
        """Pixel box of each primitive's sun shadow (with its penumbra) on the ground plane."""
        a, b, r = self.a_np, self.b_np, self.r_np
        ag = a - (a[:, 2:3] / sun[2]) * sun
        bg = b - (b[:, 2:3] / sun[2]) * sun
        height = np.maximum(a[:, 2], b[:, 2]) / sun[2]
        ext = (r / sun[2] + 0.02 + 0.01 * height + 0.03)[:, None]
        lo = np.minimum(ag, bg)[:, :2] - ext
        hi = np.maximum(ag, bg)[:, :2] + ext
        corners = np.stack(
            [
                np.stack([lo[:, 0], lo[:, 1]], 1),
                np.stack([hi[:, 0], lo[:, 1]], 1),
                np.stack([lo[:, 0], hi[:, 1]], 1),
                np.stack([hi[:, 0], hi[:, 1]], 1),
            ],
            1,
        )
        pts = np.concatenate([corners, np.zeros((*corners.shape[:2], 1))], 2)
        return _points_rects(camera, pts, 2.0)

    # --- ray casting on (ray, primitive) pairs ------------------------------------------------

    def hit(self, o: Tensor, d: Tensor, idx: Tensor) -> Tensor:
        """First-hit distance of ray i = (o, d[i]) with primitive idx[i]; inf where it misses.

        Component-wise (structure of arrays): every operation runs on contiguous (M,) vectors.
        """
        dt = d.T.contiguous()
        oo = o[:, None] if o.dim() == 1 else o.T
        c = self.centre_t[:, idx]
        # Start each ray next to its primitive: keeps the float32 quadratics well conditioned.
        t0 = torch.clamp(_dot3(c - oo, dt), min=0.0)
        w = oo + t0 * dt - self.a_t[:, idx]
        axis, sg = self.axis_t[:, idx], self.sigma[idx] - 1
        oa = w + (sg * _dot3(w, axis)) * axis  # squash elliptic capsules (sg = 0 for round ones)
        dl = dt + (sg * _dot3(dt, axis)) * axis
        ba = self.ba_t[:, idx]
        baba, r2 = self.baba[idx], self.r2[idx]
        bard, baoa = _dot3(dl, ba), _dot3(oa, ba)
        rdoa, oaoa, rdrd = _dot3(dl, oa), _dot3(oa, oa), _dot3(dl, dl)
        A = baba * rdrd - bard * bard
        B = baba * rdoa - baoa * bard
        C = baba * oaoa - baoa * baoa - r2 * baba
        h = B * B - A * C
        tube = (h >= 0) & (A > 1e-10)
        tb = (-B - torch.sqrt(torch.clamp(h, min=0.0))) / torch.where(tube, A, torch.ones_like(A))
        y = baoa + tb * bard
        t = torch.where(tube & (y > 0) & (y < baba), tb, INF)
        # The rounded ends: a capsule is the union of its tube and two balls, so the min is exact.
        # Ball at a: oc = oa; ball at b: oc = oa - ba (dot products expanded, no new vectors).
        for b2, cc in ((rdoa, oaoa), (rdoa - bard, oaoa - 2 * baoa + baba)):
            h2 = b2 * b2 - rdrd * (cc - r2)
            ts = (-b2 - torch.sqrt(torch.clamp(h2, min=0.0))) / rdrd
            t = torch.minimum(t, torch.where(h2 >= 0, ts, INF))
        t = t + t0
        return torch.where(t > 1e-4, t, INF)

    def occlusion(self, p: Tensor, sun: Tensor, idx: Tensor) -> Tensor:
        """How much primitive idx[i] hides the sun from point p[i] (0..1, soft-edged penumbra)."""
        axis, sg = self.axis_t[:, idx], self.sigma[idx] - 1
        w = p.T - self.a_t[:, idx]
        w0 = w + (sg * _dot3(w, axis)) * axis
        su = sun[:, None]
        u = su + (sg * _dot3(su, axis)) * axis
        ba = self.ba_t[:, idx]
        aa, bb, cc = _dot3(u, u), _dot3(u, ba), self.baba[idx]
        dd, ee = _dot3(w0, u), _dot3(w0, ba)
        den = torch.clamp(aa * cc - bb * bb, min=1e-9)
        s = torch.clamp((bb * ee - cc * dd) / den, min=0.0)
        hh = torch.where(cc > 1e-12, torch.clamp((ee + s * bb) / torch.clamp(cc, min=1e-12), 0.0, 1.0), 0.0)
        s = torch.clamp((hh * bb - dd) / aa, min=0.0)
        diff = w0 + s * u - hh * ba
        dist = torch.sqrt(_dot3(diff, diff))
        r = self.r[idx]
        pw = 0.012 + 0.01 * s
        return 1 - _smoothstep(r - pw, r + pw, dist)


def _points_rects(camera: CameraModel, pts: npt.NDArray[np.float64], margin: float) -> I64:
    """Pixel boxes of groups of world points (P, K, 3), clipped to the picture."""
    P, K = pts.shape[:2]
    pc = camera.world_to_camera(pts.reshape(-1, 3)).reshape(P, K, 3)
    z = pc[..., 2]
    w, h = camera.width, camera.height
    out = np.zeros((P, 4), np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = pc[..., :2] / z[..., None]
    behind = np.any(z < 0.05, axis=1)
    # Far outside the field of view the distortion polynomial is meaningless: bound coarsely there.
    wild = behind | np.any(np.abs(n) > 1.5, axis=(1, 2))
    uv = camera.distort_normalized(np.where(np.isfinite(n), n, 0.0)) @ camera.K[:2, :2].T + camera.K[:2, 2]
    x0 = np.floor(uv[..., 0].min(1) - margin)
    y0 = np.floor(uv[..., 1].min(1) - margin)
    x1 = np.ceil(uv[..., 0].max(1) + margin) + 1
    y1 = np.ceil(uv[..., 1].max(1) + margin) + 1
    out[:, 0] = np.clip(x0, 0, w)
    out[:, 1] = np.clip(y0, 0, h)
    out[:, 2] = np.clip(x1, 0, w)
    out[:, 3] = np.clip(y1, 0, h)
    if np.any(wild):
        # Entirely beyond one edge of the view (in front of the camera): nothing to cast.
        fx_lim = (np.array([0.0, w]) - camera.K[0, 2]) / camera.fx
        fy_lim = (np.array([0.0, h]) - camera.K[1, 2]) / camera.fy
        off = ~behind & (
            np.all(n[..., 0] < fx_lim[0] * 1.2 - 0.05, 1)
            | np.all(n[..., 0] > fx_lim[1] * 1.2 + 0.05, 1)
            | np.all(n[..., 1] < fy_lim[0] * 1.2 - 0.05, 1)
            | np.all(n[..., 1] > fy_lim[1] * 1.2 + 0.05, 1)
        )
        out[wild] = (0, 0, w, h)
        out[wild & off] = 0
    empty = (out[:, 0] >= out[:, 2]) | (out[:, 1] >= out[:, 3])
    out[empty] = 0
    return out


def _capsule_rects(
    camera: CameraModel, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], r: npt.NDArray[np.float64],
    margin: float,
) -> I64:
    """Pixel boxes of capsules, from the projection of each capsule's world bounding box."""
    P = a.shape[0]
    if P == 0:
        return np.zeros((0, 4), np.int64)
    lo = np.minimum(a, b) - r[:, None]
    hi = np.maximum(a, b) + r[:, None]
    sel = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], bool)
    corners = np.where(sel[None], hi[:, None, :], lo[:, None, :])
    return _points_rects(camera, corners, margin)


def _rect_pairs(rects: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Every (pixel, primitive) pair with the pixel inside the primitive's box: (linear pixel, primitive)."""
    w = rects[:, 2] - rects[:, 0]
    h = rects[:, 3] - rects[:, 1]
    counts = w * h
    total = int(counts.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=rects.device)
        return empty, empty
    prim = torch.repeat_interleave(torch.arange(rects.shape[0], device=rects.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(total, device=rects.device) - start[prim]
    wp = w[prim]
    x = rects[prim, 0] + local % wp
    y = rects[prim, 1] + local // wp
    return y * width + x, prim


def _point_pairs(px: Tensor, py: Tensor, rects: Tensor) -> tuple[Tensor, Tensor]:
    """Every (point, primitive) pair with the pixel (px, py) inside the primitive's box."""
    empty = torch.zeros(0, dtype=torch.int64, device=px.device)
    if rects.shape[0] == 0 or px.shape[0] == 0:
        return empty, empty
    live = torch.nonzero(rects[:, 2] > rects[:, 0], as_tuple=True)[0]
    if live.numel() == 0:
        return empty, empty
    r = rects[live]
    lo, hi = r[:, :2].amin(0), r[:, 2:].amax(0)
    # Most points lie outside every box: keep only those inside their union before pairing.
    cand = torch.nonzero((px >= lo[0]) & (px < hi[0]) & (py >= lo[1]) & (py < hi[1]), as_tuple=True)[0]
    if cand.numel() == 0:
        return empty, empty
    x, y = px[cand, None], py[cand, None]
    inside = (x >= r[None, :, 0]) & (x < r[None, :, 2]) & (y >= r[None, :, 1]) & (y < r[None, :, 3])
    i, p = torch.nonzero(inside, as_tuple=True)
    return cand[i], live[p]


def _nearest(key: Tensor, t: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Per key (0..n-1): the smallest t, and a boolean over pairs marking the one pair that holds it."""
    tmin = torch.full((n,), INF, device=t.device).scatter_reduce(0, key, t, reduce="amin", include_self=True)
    win = torch.isfinite(t) & (t == tmin[key])
    # Break exact ties deterministically: the lowest pair index per key wins.
    order = torch.arange(t.shape[0], device=t.device)
    first = torch.full((n,), t.shape[0], dtype=torch.int64, device=t.device)
    first = first.scatter_reduce(0, key[win], order[win], reduce="amin", include_self=True)
    win = win & (first[key] == order)
    return tmin, win


# --- the static layer ----------------------------------------------------------------------------


@dataclass
class StaticLayer:
    """Everything about one camera that does not move: rays, and the anti-aliased static picture."""

    camera: CameraModel
    origin: Tensor  # (3,)
    forward: Tensor  # (3,)
    dirs: Tensor  # (H·W, 3) unit world directions through pixel centres
    dz: Tensor  # (H·W,) cosine to the optical axis: depth = t · dz
    rgb: Tensor  # (H·W, 3) uint8
    rgbf: Tensor  # (H·W, 3) float32 in 0..1 (the quantised colours)
    depth: Tensor  # (H·W,) float32, inf for sky
    trange: Tensor  # (H·W,) distance along the ray
    code: Tensor  # (H·W,) int32 surface codes
    sun_vis: Tensor  # (H·W,) static sun visibility of ground pixels
    uyvy: U8  # the static picture as UYVY (H, W, 2)


def pixel_directions(camera: CameraModel, device: torch.device | str = "cpu") -> Tensor:
    """Unit world directions (H·W, 3) through every pixel centre, row by row: the distortion polynomial
    inverted by the same fixed-point iteration as ``CameraModel.undistort_normalized``, in float64
    until it converges to 1e-14 (a few iterations for broadcast lenses)."""
    f64 = torch.float64
    w, h = camera.width, camera.height
    K = camera.K
    u = torch.arange(w, dtype=f64, device=device)[None, :].expand(h, w).reshape(-1)
    v = torch.arange(h, dtype=f64, device=device)[:, None].expand(h, w).reshape(-1)
    yd = (v - K[1, 2]) / K[1, 1]
    xd = (u - K[0, 2] - K[0, 1] * yd) / K[0, 0]
    x, y = xd, yd
    k1, k2, p1, p2, k3 = (float(c) for c in camera.dist)
    if camera.has_distortion:
        for i in range(50):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            xn = (xd - (2 * p1 * x * y + p2 * (r2 + 2 * x * x))) / radial
            yn = (yd - (p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)) / radial
            done = i % 4 == 3 and float(torch.maximum((xn - x).abs().max(), (yn - y).abs().max())) < 1e-14
            x, y = xn, yn
            if done:
                break
    rt = torch.as_tensor(camera.R.T, dtype=f64, device=device)
    d = torch.stack([x, y, torch.ones_like(x)], 1) @ rt.T
    d = d / torch.linalg.vector_norm(d, dim=1, keepdim=True)
    return d.to(torch.float32)


def _camera_key(camera: CameraModel) -> bytes:
    return b"".join(
        [
            np.array([camera.width, camera.height], np.int64).tobytes(),
            camera.K.tobytes(),
            camera.R.tobytes(),
            camera.t.tobytes(),
            camera.dist.tobytes(),
        ]
    )


class SimRenderer:
    """Renders a :class:`Scene` from any camera at any time. Static layers are cached per camera."""

    def __init__(
        self,
        scene: Scene,
        device: str | torch.device = "cpu",
        *,
        aa_samples: int = 4,
        static_aa_samples: int = 8,
        max_cached_cameras: int = 16,
        chunk: int = 1 << 17,
    ) -> None:
        for n in (aa_samples, static_aa_samples):
            if n not in AA_PATTERNS:
                raise ValueError(f"anti-aliasing samples must be one of {sorted(AA_PATTERNS)}, got {n}")
        self.scene = scene
        self.arena: Arena = scene.arena
        self.device = torch.device(device)
        self.aa = torch.tensor(AA_PATTERNS[aa_samples], dtype=torch.float32, device=self.device)
        self.static_aa = torch.tensor(AA_PATTERNS[static_aa_samples], dtype=torch.float32, device=self.device)
        self.max_cached = max_cached_cameras
        self.chunk = chunk
        self._layers: OrderedDict[bytes, StaticLayer] = OrderedDict()
        self._static_prims = Prims(scene.static_bodies, self.device)
        self._ads = torch.as_tensor(board_atlas(), device=self.device)
        self._numbers = torch.as_tensor(number_atlas(), device=self.device)[..., None]
        self._sun_np = self.arena.sun_direction
        self._sun = torch.as_tensor(self._sun_np, dtype=torch.float32, device=self.device)
        boards = torch.as_tensor(self.arena.boards(), dtype=torch.float32, device=self.device)
        self._box_lo, self._box_hi = boards[:, :3], boards[:, 3:]
        self._segs = torch.as_tensor(self.arena.line_segments(), dtype=torch.float32, device=self.device)
        self._arcs = torch.as_tensor(self.arena.line_arcs(), dtype=torch.float32, device=self.device)
        self._spots = torch.as_tensor(self.arena.line_spots(), dtype=torch.float32, device=self.device)
        arcs = self.arena.line_arcs()
        self._arc_full = [bool(a[4] - a[3] >= 2 * math.pi - 1e-9) for a in arcs]
        self._ico = _icosahedron().to(self.device)
        self._luma = torch.tensor(_LUMA, device=self.device)
        max_uid = 3 + scene.n_players
        lut = np.zeros(CODE_BODY + (max_uid + 1) * PRIMS_PER_BODY, np.int32)
        lut[CODE_SKY] = ID_SKY
        lut[CODE_GROUND] = ID_PITCH
        lut[CODE_BOARD : CODE_BACK_WALL + 1] = ID_STANDS
        for uid in range(max_uid + 1):
            lut[CODE_BODY + uid * PRIMS_PER_BODY : CODE_BODY + (uid + 1) * PRIMS_PER_BODY] = uid_to_id(uid)
        self._id_lut = torch.as_tensor(lut, device=self.device)

    # --- public API ----------------------------------------------------------------------------

    def render(self, camera: CameraModel, t: float) -> SimImage:
        """The picture, depth and ids of the scene at time ``t`` (seconds) seen by ``camera``."""
        layer = self.static_layer(camera)
        rgb, depth, code, _ = self._dynamic(layer, t)
        return self._image(camera, rgb, depth, code)

    def render_static(self, camera: CameraModel) -> SimImage:
        """The empty venue (no players, no ball) seen by ``camera``."""
        layer = self.static_layer(camera)
        return self._image(camera, layer.rgb, layer.depth, layer.code)

    def render_uyvy(self, camera: CameraModel, t: float, out: U8 | None = None) -> U8:
        """The picture as UYVY (BT.709): the cached static UYVY with only the changed boxes converted."""
        layer = self.static_layer(camera)
        rgb, _, _, rects = self._dynamic(layer, t)
        if out is None:
            out = np.empty_like(layer.uyvy)
        out[...] = layer.uyvy
        rgb_np = rgb.reshape(camera.height, camera.width, 3).cpu().numpy()
        for x0, y0, x1, y1 in _merge_rects(rects):
            x0 -= x0 % 2
            x1 += x1 % 2
            out[y0:y1, x0:x1] = rgb_to_uyvy(rgb_np[y0:y1, x0:x1])
        return out

    def static_layer(self, camera: CameraModel) -> StaticLayer:
        """The camera's static layer, built on first use and kept (least recently used first out)."""
        key = _camera_key(camera)
        layer = self._layers.get(key)
        if layer is None:
            layer = self._build_static(camera)
            self._layers[key] = layer
            while len(self._layers) > self.max_cached:
                self._layers.popitem(last=False)
        else:
            self._layers.move_to_end(key)
        return layer

    # --- internals -----------------------------------------------------------------------------

    def _image(self, camera: CameraModel, rgb: Tensor, depth: Tensor, code: Tensor) -> SimImage:
        h, w = camera.height, camera.width
        ids = self._id_lut[code.long()]
        return SimImage(
            rgb=rgb.reshape(h, w, 3).cpu().numpy().copy(),
            depth=depth.reshape(h, w).cpu().numpy().astype(np.float32, copy=True),
            ids=ids.reshape(h, w).cpu().numpy().astype(np.int32, copy=True),
        )

    def _build_static(self, camera: CameraModel) -> StaticLayer:
        dev = self.device
        w, h = camera.width, camera.height
        dirs = pixel_directions(camera, dev)
        origin = torch.as_tensor(camera.center, dtype=torch.float32, device=dev)
        fwd = torch.as_tensor(camera.forward, dtype=torch.float32, device=dev)
        dz = dirs @ fwd
        prims = self._static_prims
        rects = torch.as_tensor(prims.rects(camera), device=dev)
        srects = torch.as_tensor(prims.shadow_rects(camera, self._sun_np), device=dev)
        lin = torch.arange(w * h, device=dev)
        px = (lin % w).to(torch.float32)
        py = (lin // w).to(torch.float32)
        n = dirs.shape[0]
        rgb = torch.empty((n, 3), device=dev)
        trange = torch.empty(n, device=dev)
        code = torch.empty(n, dtype=torch.int32, device=dev)
        vis = torch.ones(n, device=dev)
        for s in range(0, n, self.chunk):
            e = min(n, s + self.chunk)
            tt, cc, pp = self._trace(origin, dirs[s:e], px[s:e], py[s:e], prims, rects)
            col, v = self._shade(origin, dirs[s:e], tt, cc, pp, prims, px[s:e], py[s:e], srects)
            rgb[s:e], trange[s:e], code[s:e], vis[s:e] = col, tt, cc, v
        # Supersample the static picture at surface edges and colour steps.
        edges = self._edges(code.reshape(h, w), rgb.reshape(h, w, 3), None).reshape(-1)
        crowd = code == CODE_STAND
        for pattern, mask in ((self.static_aa, edges & ~crowd), (self.aa, edges & crowd)):
            sel = torch.nonzero(mask, as_tuple=True)[0]
            step = max(1, self.chunk // pattern.shape[0])
            for s in range(0, sel.shape[0], step):
                lin = sel[s : s + step]
                acc = torch.zeros((lin.shape[0], 3), device=dev)
                for off in pattern:
                    d = _sub_dirs(dirs, w, h, lin, off)
                    pxs, pys = px[lin], py[lin]
                    tt, cc, pp = self._trace(origin, d, pxs, pys, prims, rects)
                    col, _ = self._shade(origin, d, tt, cc, pp, prims, pxs, pys, srects)
                    acc += col
                rgb[lin] = acc / pattern.shape[0]
        rgb8 = torch.clamp(rgb * 255 + 0.5, 0, 255).to(torch.uint8)
        return StaticLayer(
            camera=camera,
            origin=origin,
            forward=fwd,
            dirs=dirs,
            dz=dz,
            rgb=rgb8,
            rgbf=rgb8.to(torch.float32) / 255,
            depth=(trange * dz).to(torch.float32),
            trange=trange,
            code=code,
            sun_vis=vis,
            uyvy=rgb_to_uyvy(rgb8.reshape(h, w, 3).cpu().numpy()),
        )

    def _edges(self, code: Tensor, rgb: Tensor, involve: Tensor | None) -> Tensor:
        """Pixels to supersample: a 4-neighbour on another surface, or a strong colour step."""
        lum = rgb @ self._luma
        edge = torch.zeros_like(code, dtype=torch.bool)
        for dim in (0, 1):
            n = code.shape[dim]
            if n < 2:
                continue
            a, b = code.narrow(dim, 0, n - 1), code.narrow(dim, 1, n - 1)
            la, lb = lum.narrow(dim, 0, n - 1), lum.narrow(dim, 1, n - 1)
            step = (a != b) | ((la - lb).abs() > 0.09)
            if involve is not None:
                step &= involve.narrow(dim, 0, n - 1) | involve.narrow(dim, 1, n - 1)
            edge.narrow(dim, 0, n - 1).logical_or_(step)
            edge.narrow(dim, 1, n - 1).logical_or_(step)
        return edge

    def _trace(
        self, o: Tensor, d: Tensor, px: Tensor, py: Tensor, prims: Prims, rects: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Nearest hit of rays with the static surfaces and the primitives (culled by their boxes)."""
        t, code = self._static_surfaces(o, d)
        prim = torch.full(t.shape, -1, dtype=torch.int64, device=d.device)
        ri, pi = _point_pairs(px, py, rects)
        if ri.numel():
            tp = prims.hit(o, d[ri], pi)
            keep = tp < t[ri]
            ri, pi, tp = ri[keep], pi[keep], tp[keep]
            tmin, win = _nearest(ri, tp, t.shape[0])
            ri, pi = ri[win], pi[win]
            t[ri] = tmin[ri]
            prim[ri] = pi
            code[ri] = prims.code[pi]
        return t, code, prim

    def _static_surfaces(self, o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        ar = self.arena
        n = d.shape[0]
        ox, oy, oz = o[0], o[1], o[2]
        dx, dy, dzz = d[:, 0], d[:, 1], d[:, 2]
        code = torch.zeros(n, dtype=torch.int32, device=d.device)
        down = dzz < -1e-9
        t = torch.where(down, -oz / torch.where(down, dzz, -torch.ones_like(dzz)), INF)
        code = torch.where(down, CODE_GROUND, code)
        # Boards (slab test against each box).
        inv = 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        for k in range(self._box_lo.shape[0]):
            t1 = (self._box_lo[k] - o) * inv
            t2 = (self._box_hi[k] - o) * inv
            tmin = torch.minimum(t1, t2).amax(dim=1)
            tmax = torch.maximum(t1, t2).amin(dim=1)
            hit = (tmax >= tmin) & (tmin > 0) & (tmin < t)
            t = torch.where(hit, tmin, t)
            code = torch.where(hit, CODE_BOARD + k, code)
        # The bowl: front wall (elliptic cylinder), stand (elliptic cone), back wall (elliptic cylinder).
        # From a camera above the stand's (convex) surface and inside the back wall, a ray that lands
        # on the ground well inside the front wall stays above that surface all the way: skip it.
        a0, b0, k_ = ar.stand_a, ar.stand_b, ar.stand_k
        lam1 = ar.stand_lambda1
        rho_o = float(torch.sqrt((ox / a0) ** 2 + (oy / b0) ** 2))
        inside = float(oz) >= ar.stand_z0 + k_ * (rho_o - 1) and rho_o < lam1
        sub = torch.arange(n, device=d.device)
        if inside:
            gx, gy = ox + t * dx, oy + t * dy
            inner = down & ((gx / a0) ** 2 + (gy / b0) ** 2 <= (1 - ar.stand_z0 / k_) ** 2 * 0.98)
            sub = torch.nonzero(~inner, as_tuple=True)[0]
        if sub.numel() == 0:
            return t, code
        ts, cs = t[sub], code[sub]
        dx, dy, dzz = dx[sub], dy[sub], dzz[sub]
        for scale, z_lo, z_hi, c in (
            (1.0, 0.0, ar.stand_z0, CODE_FRONT_WALL),
            (lam1, ar.stand_z1, ar.wall_top, CODE_BACK_WALL),
        ):
            ea, eb = a0 * scale, b0 * scale
            A = (dx / ea) ** 2 + (dy / eb) ** 2
            B = ox * dx / ea**2 + oy * dy / eb**2
            C = (ox / ea) ** 2 + (oy / eb) ** 2 - 1
            ts, cs = _quadric_roots(A, B, C, oz, dzz, z_lo, z_hi, ts, cs, c)
        lam_o = 1 + (oz - ar.stand_z0) / k_
        A = (dx / a0) ** 2 + (dy / b0) ** 2 - (dzz / k_) ** 2
        B = ox * dx / a0**2 + oy * dy / b0**2 - lam_o * dzz / k_
        C = (ox / a0) ** 2 + (oy / b0) ** 2 - lam_o**2
        ts, cs = _quadric_roots(A, B, C, oz, dzz, ar.stand_z0, ar.stand_z1, ts, cs, CODE_STAND)
        t[sub], code[sub] = ts, cs
        return t, code

    # --- shading -------------------------------------------------------------------------------

    def _shade(
        self,
        o: Tensor,
        d: Tensor,
        t: Tensor,
        code: Tensor,
        prim: Tensor,
        prims: Prims,
        px: Tensor,
        py: Tensor,
        shadow_rects: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Colour (N, 3) in 0..1 of each hit, and the sun visibility of ground hits (1 elsewhere)."""
        n = d.shape[0]
        col = torch.zeros((n, 3), device=d.device)
        vis_out = torch.ones(n, device=d.device)
        p = o + torch.where(torch.isfinite(t), t, torch.zeros_like(t))[:, None] * d
        sky = torch.nonzero(code == CODE_SKY, as_tuple=True)[0]
        if sky.numel():
            col[sky] = self._sky(d[sky])
        g = torch.nonzero(code == CODE_GROUND, as_tuple=True)[0]
        if g.numel():
            pg = p[g]
            vis = self._board_shadow(pg)
            gi, pi = _point_pairs(px[g], py[g], shadow_rects)
            if gi.numel():
                lit = torch.ones(g.shape[0], device=d.device)
                lit = lit.scatter_reduce(0, gi, 1 - prims.occlusion(pg[gi], self._sun, pi), reduce="prod")
                vis = vis * lit
            light = AMBIENT + DIFFUSE * self._sun[2] * vis
            col[g] = self._ground_albedo(pg) * light[:, None]
            vis_out[g] = vis
        bd = torch.nonzero((code >= CODE_BOARD) & (code < CODE_BOARD + 4), as_tuple=True)[0]
        if bd.numel():
            col[bd] = self._boards(p[bd], (code[bd] - CODE_BOARD).long())
        for c, fn in ((CODE_FRONT_WALL, self._front_wall), (CODE_STAND, self._stand), (CODE_BACK_WALL, self._back_wall)):
            sel = torch.nonzero(code == c, as_tuple=True)[0]
            if sel.numel():
                col[sel] = fn(p[sel])
        bsel = torch.nonzero(code >= CODE_BODY, as_tuple=True)[0]
        if bsel.numel():
            col[bsel] = self._shade_prims(p[bsel], prim[bsel], prims)
        return col, vis_out

    def _lit(self, albedo: Tensor, normal: Tensor) -> Tensor:
        lam = torch.clamp(_dot(normal, self._sun), min=0.0)
        light = AMBIENT + 0.12 * normal[:, 2] + DIFFUSE * lam
        return albedo * light[:, None]

    def _sky(self, d: Tensor) -> Tensor:
        e = torch.clamp(d[:, 2], min=0.0)
        horizon = torch.tensor([0.80, 0.86, 0.93], device=d.device)
        zenith = torch.tensor([0.33, 0.52, 0.84], device=d.device)
        k = torch.clamp(e * 2.2, 0, 1)[:, None]
        base = horizon * (1 - k) + zenith * k
        cz = torch.clamp(d[:, 2], min=0.03)
        cx, cy = d[:, 0] / cz * 2.5, d[:, 1] / cz * 2.5
        cloud = 0.6 * _value_noise(cx, cy, 91) + 0.4 * _value_noise(cx * 2.7, cy * 2.7, 92)
        cover = _smoothstep(0.55, 0.8, cloud)[:, None] * 0.8
        return base * (1 - cover) + torch.tensor([0.97, 0.97, 0.98], device=d.device) * cover

    def _board_shadow(self, p: Tensor) -> Tensor:
        """1 where the sun reaches a ground point, 0 where a board blocks it."""
        s = self._sun
        inv = 1.0 / torch.where(s.abs() < 1e-12, torch.full_like(s, 1e-12), s)
        vis = torch.ones(p.shape[0], device=p.device)
        for k in range(self._box_lo.shape[0]):
            t1 = (self._box_lo[k] - p) * inv
            t2 = (self._box_hi[k] - p) * inv
            tmin = torch.minimum(t1, t2).amax(dim=1)
            tmax = torch.maximum(t1, t2).amin(dim=1)
            vis = torch.where((tmax >= tmin) & (tmax > 0), torch.zeros_like(vis), vis)
        return vis

    def _line_distance(self, x: Tensor, y: Tensor) -> Tensor:
        """Distance from ground points to the nearest pitch marking's centre line."""
        best = torch.full_like(x, INF)
        for s in self._segs:
            ax, ay, bx, by = s[0], s[1], s[2], s[3]
            vx, vy = bx - ax, by - ay
            h = torch.clamp(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy), 0, 1)
            best = torch.minimum(best, torch.hypot(x - ax - h * vx, y - ay - h * vy))
        for arc, full in zip(self._arcs, self._arc_full, strict=True):
            cx, cy, r, a0, a1 = arc[0], arc[1], arc[2], arc[3], arc[4]
            dx, dy = x - cx, y - cy
            ring = (torch.hypot(dx, dy) - r).abs()
            if full:
                best = torch.minimum(best, ring)
                continue
            c0, s0, c1, s1 = torch.cos(a0), torch.sin(a0), torch.cos(a1), torch.sin(a1)
            on = (c0 * dy - s0 * dx >= 0) & (dx * s1 - dy * c1 >= 0)  # between the end rays (span <= pi)
            e0 = torch.hypot(dx - r * c0, dy - r * s0)
            e1 = torch.hypot(dx - r * c1, dy - r * s1)
            best = torch.minimum(best, torch.where(on, ring, torch.minimum(e0, e1)))
        return best

    def _ground_albedo(self, p: Tensor) -> Tensor:
        ar = self.arena
        x, y = p[:, 0], p[:, 1]
        dev = p.device
        grass = (x.abs() < ar.board_x) & (y.abs() < ar.board_y)
        stripe = torch.remainder(torch.floor((x + ar.half_length) / ar.stripe_width), 2)
        light = torch.tensor([0.30, 0.57, 0.21], device=dev)
        dark = torch.tensor([0.23, 0.47, 0.16], device=dev)
        base = light * (1 - stripe)[:, None] + dark * stripe[:, None]
        n1 = _value_noise(x / 3.1, y / 3.1, 11)
        n2 = _value_noise(x / 0.55, y / 0.55, 12)
        n3 = _value_noise(x / 0.09, y / 0.09, 13)
        shade = 0.86 + 0.14 * n1 + 0.08 * n2 + 0.12 * n3
        tint = torch.tensor([0.06, 0.02, -0.02], device=dev) * (n1 - 0.5)[:, None]
        grass_col = base * shade[:, None] + tint
        dist = self._line_distance(x, y)
        spot = torch.full_like(x, INF)
        for s in self._spots:
            spot = torch.minimum(spot, torch.hypot(x - s[0], y - s[1]) - s[2])
        line = (dist < ar.line_width / 2) | (spot < 0)
        white = torch.tensor([0.95, 0.95, 0.92], device=dev) * (0.94 + 0.06 * n3)[:, None]
        grass_col = torch.where(line[:, None], white, grass_col)
        concrete = torch.tensor([0.45, 0.45, 0.47], device=dev) * (0.8 + 0.15 * n2 + 0.1 * n3)[:, None]
        return torch.where(grass[:, None], grass_col, concrete)

    def _boards(self, p: Tensor, k: Tensor) -> Tensor:
        ar = self.arena
        lo, hi = self._box_lo[k], self._box_hi[k]
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        # Which face: the board's inner face carries the adverts; the rest is grey frame.
        inner_val = torch.stack([lo[:, 1], hi[:, 1], lo[:, 0], hi[:, 0]], 1).gather(1, k[:, None])[:, 0]
        along_x = k < 2
        coord = torch.where(along_x, y, x)
        inner = (coord - inner_val).abs() < 2e-3
        top = (z - ar.board_height).abs() < 2e-3
        u = torch.where(k == 0, x + ar.board_x, torch.where(k == 1, ar.board_x - x,
                        torch.where(k == 2, ar.board_y - y, y + ar.board_y)))
        panel = torch.floor(u / ar.ad_width)
        idx = torch.remainder(panel + k * 3, self._ads.shape[0]).long()
        tu = u / ar.ad_width - panel
        tv = 1 - z / ar.board_height
        ad = _bilinear(self._ads, idx, tu, tv)
        ad = ad * 0.92 + 0.04  # LED panels glow: not shaded by the sun
        back = torch.tensor([0.18, 0.19, 0.21], device=p.device) * (
            0.85 + 0.3 * (torch.remainder(u, 1.0) < 0.04).to(torch.float32)
        )[:, None]
        back = torch.where(top[:, None], torch.full_like(back, 0.1), back)
        return torch.where(inner[:, None], ad, back)

    def _wall_normal(self, p: Tensor, a: float, b: float, cone: bool) -> Tensor:
        ar = self.arena
        nx, ny = -p[:, 0] / a**2, -p[:, 1] / b**2
        if cone:
            lam = 1 + (p[:, 2] - ar.stand_z0) / ar.stand_k
            nz = lam / ar.stand_k
        else:
            nz = torch.zeros_like(nx)
        nrm = torch.stack([nx, ny, nz], 1)
        return nrm / torch.linalg.vector_norm(nrm, dim=1, keepdim=True)

    def _bowl_u(self, p: Tensor, scale: Tensor | float) -> Tensor:
        ar = self.arena
        theta = torch.atan2(p[:, 1] / ar.stand_b, p[:, 0] / ar.stand_a)
        return theta * scale * 0.5 * (ar.stand_a + ar.stand_b)

    def _front_wall(self, p: Tensor) -> Tensor:
        """The stand's front wall: a ribbon of LED adverts on navy concrete."""
        ar = self.arena
        u = -self._bowl_u(p, 1.0)  # increases to the right of someone on the pitch facing the stand
        z = p[:, 2]
        top, bottom = ar.stand_z0 - 0.12, ar.stand_z0 - 0.92
        panel_w = (top - bottom) * AD_TEX_W / AD_TEX_H
        panel = torch.floor(u / panel_w)
        idx = torch.remainder(panel * 5 + 3, self._ads.shape[0]).long()
        ribbon = _bilinear(self._ads, idx, u / panel_w - panel, (top - z) / (top - bottom)) * 0.85 + 0.03
        base = torch.tensor([0.10, 0.13, 0.26], device=p.device).expand(p.shape[0], 3)
        wall = self._lit(base, self._wall_normal(p, ar.stand_a, ar.stand_b, cone=False))
        return torch.where(((z < top) & (z > bottom))[:, None], ribbon, wall)

    def _stand(self, p: Tensor) -> Tensor:
        """A crowd: staggered rows of people in team colours and everything else, some empty blue seats."""
        ar = self.arena
        dev = p.device
        z = p[:, 2]
        v = (z - ar.stand_z0) / 0.45
        row = torch.floor(v)
        # Seats per radian grow with the row's size, fixed within a row (so cells stay upright).
        lam_row = 1 + (row + 0.5) * 0.45 / ar.stand_k
        u = self._bowl_u(p, lam_row) / 0.5 + 0.5 * torch.remainder(row, 2)
        seat = torch.floor(u)
        fu, fv = u - seat, v - row
        ir, iseat = row.to(torch.int64), seat.to(torch.int64)
        taken = _hash(iseat, ir, 21) < 0.82
        aisle = torch.remainder(iseat + 3 * torch.remainder(ir, 2), 30) == 0
        palette = torch.tensor(
            [
                [0.80, 0.07, 0.11], [0.80, 0.07, 0.11], [0.80, 0.07, 0.11], [0.98, 0.80, 0.08],
                [0.98, 0.80, 0.08], [0.95, 0.95, 0.95], [0.10, 0.10, 0.12], [0.15, 0.30, 0.70],
                [0.30, 0.50, 0.30], [0.50, 0.33, 0.22], [0.60, 0.60, 0.65], [0.20, 0.20, 0.25],
            ],
            device=dev,
        )
        skins = torch.tensor(
            [[0.92, 0.74, 0.62], [0.78, 0.58, 0.43], [0.55, 0.38, 0.26], [0.38, 0.25, 0.17]], device=dev
        )
        hairs = torch.tensor([[0.08, 0.06, 0.05], [0.30, 0.18, 0.09], [0.70, 0.55, 0.30], [0.5, 0.5, 0.5]], device=dev)

        def pick(table: Tensor, salt: int) -> Tensor:
            return table[(_hash(iseat, ir, salt) * table.shape[0]).long().clamp(max=table.shape[0] - 1)]

        shirt = pick(palette, 22) * (0.7 + 0.4 * _hash(iseat, ir, 25))[:, None]
        bx = fu - 0.5 - (_hash(iseat, ir, 24) - 0.5) * 0.2
        width = 0.2 + 0.08 * _hash(iseat, ir, 26)
        shoulders = 0.55 + 0.12 * _hash(iseat, ir, 27)
        body = (bx.abs() < width) & (fv > 0.06) & (fv < shoulders)
        hy = fv - shoulders - 0.13
        head = torch.hypot(bx * 1.1, hy) < 0.14
        hair = head & (hy > 0.03)
        seat_back = (fu > 0.15) & (fu < 0.85) & (fv > 0.08) & (fv < 0.5)
        col = torch.where(seat_back[:, None], torch.tensor([0.10, 0.20, 0.55], device=dev),
                          torch.tensor([0.06, 0.07, 0.10], device=dev))
        col = torch.where((taken & body)[:, None], shirt, col)
        col = torch.where((taken & head)[:, None], pick(skins, 23), col)
        col = torch.where((taken & hair)[:, None], pick(hairs, 28), col)
        riser = torch.tensor([0.34, 0.34, 0.36], device=dev)
        col = torch.where((fv < 0.05)[:, None], riser, col)
        col = torch.where(aisle[:, None], riser * (0.75 + 0.35 * (fv > 0.5).to(torch.float32))[:, None], col)
        return self._lit(col, self._wall_normal(p, ar.stand_a, ar.stand_b, cone=True))

    def _back_wall(self, p: Tensor) -> Tensor:
        ar = self.arena
        lam = ar.stand_lambda1
        u = self._bowl_u(p, lam)
        v = p[:, 2] - ar.stand_z1
        glass = (v > 0.7) & (v < 2.6) & (torch.remainder(u, 3.0) > 0.12)
        n = _value_noise(u / 6.0, v, 31)
        col = torch.where(
            glass[:, None],
            torch.stack([0.16 + 0.1 * n, 0.22 + 0.1 * n, 0.30 + 0.12 * n], 1),
            torch.tensor([0.62, 0.62, 0.64], device=p.device).expand(p.shape[0], 3),
        )
        fascia = v > 3.0
        col = torch.where(fascia[:, None], torch.tensor([0.10, 0.13, 0.26], device=p.device), col)
        scale = ar.stand_lambda1
        return self._lit(col, self._wall_normal(p, ar.stand_a * scale, ar.stand_b * scale, cone=False))

    def _shade_prims(self, p: Tensor, idx: Tensor, prims: Prims) -> Tensor:
        """Colour of points p on primitives idx: kit colours, shirt numbers, hair, the ball's patches."""
        axis, sigma, ba = prims.axis[idx], prims.sigma[idx], prims.ba[idx]
        pl = _squash(p - prims.a[idx], axis, sigma)
        baba = _dot(ba, ba)
        h = torch.where(baba > 0, torch.clamp(_dot(pl, ba) / torch.clamp(baba, min=1e-12), 0, 1), 0.0)
        nw = _squash(pl - h[:, None] * ba, axis, sigma)
        normal = nw / torch.linalg.vector_norm(nw, dim=1, keepdim=True).clamp(min=1e-9)
        kind = prims.kind[idx]
        col = torch.where((h < prims.split[idx])[:, None], prims.col_a[idx], prims.col_b[idx])
        shirt = torch.nonzero(kind == KIND_SHIRT, as_tuple=True)[0]
        if shirt.numel():
            col[shirt] = self._shirt_number(p[shirt], idx[shirt], h[shirt], col[shirt], prims)
        round_ = torch.nonzero((kind == KIND_HEAD) | (kind == KIND_BALL), as_tuple=True)[0]
        if round_.numel():
            i = idx[round_]
            local = torch.einsum("nij,nj->ni", prims.frame[i], normal[round_])
            head = kind[round_] == KIND_HEAD
            hair = head & ((local[:, 2] > 0.3) | ((local[:, 0] < -0.25) & (local[:, 2] > -0.5)))
            patch = ~head & ((local @ self._ico.T).amax(dim=1) > 0.93)
            col[round_] = torch.where((hair | patch)[:, None], prims.col_b[i], prims.col_a[i])
        return self._lit(col, normal)

    def _shirt_number(self, p: Tensor, idx: Tensor, h: Tensor, base: Tensor, prims: Prims) -> Tensor:
        """The player's number, large on the back and small on the chest."""
        frame = prims.frame[idx]
        fwd, right = frame[:, 0], frame[:, 1]
        b = prims.a[idx] + (prims.centre[idx] - prims.a[idx]) * 2
        q = p - (prims.a[idx] + h[:, None] * (b - prims.a[idx]))
        lat, depth = _dot(q, right), _dot(q, fwd)
        back = depth < 0
        u = torch.where(back, (lat / 0.17 + 1) / 2, (-lat / 0.09 + 1) / 2)
        v = torch.where(back, (0.98 - h) / 0.75, (0.95 - h) / 0.32)
        inside = (u > 0) & (u < 1) & (v > 0) & (v < 1)
        cov = torch.zeros_like(h)
        sel = torch.nonzero(inside, as_tuple=True)[0]
        if sel.numel():
            cov[sel] = _bilinear(self._numbers, prims.number[idx[sel]], u[sel], v[sel])[:, 0]
        ncol = prims.number_col[idx]
        return base * (1 - cov[:, None]) + ncol * cov[:, None]

    # --- the moving part -------------------------------------------------------------------------

    def _dynamic(self, layer: StaticLayer, t: float) -> tuple[Tensor, Tensor, Tensor, list[tuple[int, int, int, int]]]:
        """Compose the moving bodies over the static layer: (rgb uint8, depth, code, changed boxes)."""
        cam = layer.camera
        w, h = cam.width, cam.height
        dev = self.device
        bodies = self.scene.bodies_at(t)
        prims = Prims(bodies, dev)
        rects_np = prims.rects(cam)
        srects_np = prims.shadow_rects(cam, self._sun_np)
        rects = torch.as_tensor(rects_np, device=dev)
        srects = torch.as_tensor(srects_np, device=dev)
        rgb = layer.rgb.clone()
        depth = layer.depth.clone()
        code = layer.code.clone()
        o = layer.origin
        changed: list[tuple[int, int, int, int]] = []
        for sl in prims.body_slices:
            for boxes in (rects_np[sl], srects_np[sl]):
                live = boxes[boxes[:, 2] > boxes[:, 0]]
                if live.shape[0]:
                    changed.append((int(live[:, 0].min()), int(live[:, 1].min()),
                                    int(live[:, 2].max()), int(live[:, 3].max())))
        # 1. Sun shadows of the moving bodies on the ground.
        key, pi = _rect_pairs(srects, w)
        if key.numel():
            ground = layer.code[key] == CODE_GROUND
            key, pi = key[ground], pi[ground]
            pts = o + layer.dirs[key] * layer.trange[key][:, None]
            occ = prims.occlusion(pts, self._sun, pi)
            hit = occ > 1e-3
            key, occ = key[hit], occ[hit]
            if key.numel():
                px_, inv = torch.unique(key, return_inverse=True)
                vis = torch.ones(px_.shape[0], device=dev).scatter_reduce(0, inv, 1 - occ, reduce="prod")
                sv = layer.sun_vis[px_]
                diff = DIFFUSE * self._sun[2]
                ratio = (AMBIENT + diff * sv * vis) / (AMBIENT + diff * sv)
                rgb[px_] = torch.clamp(layer.rgbf[px_] * ratio[:, None] * 255 + 0.5, 0, 255).to(torch.uint8)
        background = rgb.clone() if self.aa.shape[0] > 1 else rgb
        # 2. The bodies, each primitive cast only in its own box, z-tested against the static depth.
        key, pi = _rect_pairs(rects, w)
        all_key, all_pi = key, pi
        if key.numel():
            d = layer.dirs[key]
            tp = prims.hit(o, d, pi)
            dp = tp * layer.dz[key]
            front = dp < layer.depth[key]
            key, pi, tp, dp, d = key[front], pi[front], tp[front], dp[front], d[front]
            _, win = _nearest(key, dp, w * h)
            key, pi, tp, dp, d = key[win], pi[win], tp[win], dp[win], d[win]
            depth[key] = dp
            code[key] = prims.code[pi]
            colour = self._shade_prims(o + tp[:, None] * d, pi, prims)
            rgb[key] = torch.clamp(colour * 255 + 0.5, 0, 255).to(torch.uint8)
        # 3. Supersample the moving bodies' edges; samples that miss every body see the static colour.
        if self.aa.shape[0] > 1 and changed:
            dynamic = code >= CODE_DYNAMIC
            picks = []
            for sl in prims.body_slices:
                boxes = rects_np[sl]
                live = boxes[boxes[:, 2] > boxes[:, 0]]
                if live.shape[0] == 0:
                    continue
                x0, y0 = max(0, int(live[:, 0].min()) - 1), max(0, int(live[:, 1].min()) - 1)
                x1, y1 = min(w, int(live[:, 2].max()) + 1), min(h, int(live[:, 3].max()) + 1)
                changed.append((x0, y0, x1, y1))
                lin = (torch.arange(y0, y1, device=dev)[:, None] * w + torch.arange(x0, x1, device=dev)).reshape(-1)
                bw, bh = x1 - x0, y1 - y0
                e = self._edges(
                    code[lin].reshape(bh, bw),
                    rgb[lin].reshape(bh, bw, 3).to(torch.float32) / 255,
                    dynamic[lin].reshape(bh, bw),
                )
                picks.append(lin[e.reshape(-1)])
            lin = torch.unique(torch.cat(picks)) if picks else torch.zeros(0, dtype=torch.int64, device=dev)
            if lin.numel():
                rgb[lin] = self._supersample_bodies(layer, lin, prims, all_key, all_pi, background)
        return rgb, depth, code, changed

    def _supersample_bodies(
        self, layer: StaticLayer, lin: Tensor, prims: Prims, key: Tensor, prim: Tensor, background: Tensor
    ) -> Tensor:
        """Average ``aa`` samples in each pixel ``lin``; (key, prim) are the (pixel, primitive) box pairs."""
        cam = layer.camera
        w, h = cam.width, cam.height
        ns = self.aa.shape[0]
        n = lin.shape[0]
        # Every sample of every pixel in one batch: sample s of pixel i is row s * n + i.
        d = torch.cat([_sub_dirs(layer.dirs, w, h, lin, off) for off in self.aa])
        row = torch.full((w * h,), -1, dtype=torch.int64, device=lin.device)
        row[lin] = torch.arange(n, device=lin.device)
        e = row[key]
        mine = e >= 0
        e, p = e[mine], prim[mine]
        si = (torch.arange(ns, device=lin.device)[:, None] * n + e[None, :]).reshape(-1)
        pi = p.repeat(ns)
        acc = background[lin].to(torch.float32).repeat(ns, 1) / 255
        if si.numel():
            ds = d[si]
            tp = prims.hit(layer.origin, ds, pi)
            dp = tp * (ds @ layer.forward)
            front = dp < layer.depth[lin.repeat(ns)[si]]
            si, pi, tp, dp, ds = si[front], pi[front], tp[front], dp[front], ds[front]
            _, win = _nearest(si, dp, ns * n)
            si, pi, tp, ds = si[win], pi[win], tp[win], ds[win]
            acc[si] = self._shade_prims(layer.origin + tp[:, None] * ds, pi, prims)
        col = acc.reshape(ns, n, 3).mean(0)
        return torch.clamp(col * 255 + 0.5, 0, 255).to(torch.uint8)


def _quadric_roots(
    A: Tensor, B: Tensor, C: Tensor, oz: Tensor, dz: Tensor, z_lo: float, z_hi: float,
    t: Tensor, code: Tensor, c: int,
) -> tuple[Tensor, Tensor]:
    """Update (t, code) with the nearest positive root of A t² + 2 B t + C = 0 whose z is in range."""
    disc = B * B - A * C
    sq = torch.sqrt(torch.clamp(disc, min=0.0))
    ok_a = A.abs() > 1e-12
    safe = torch.where(ok_a, A, torch.ones_like(A))
    for root in ((-B - sq) / safe, (-B + sq) / safe):
        z = oz + root * dz
        ok = (disc >= 0) & ok_a & (root > 1e-4) & (z >= z_lo) & (z <= z_hi) & (root < t)
        t = torch.where(ok, root, t)
        code = torch.where(ok, c, code)
    return t, code


def _sub_dirs(dirs: Tensor, w: int, h: int, lin: Tensor, off: Tensor) -> Tensor:
    """Unit directions at pixel + offset, interpolated from the pixel-centre directions (H·W, 3)."""
    fx = (lin % w).to(torch.float32) + off[0]
    fy = (lin // w).to(torch.float32) + off[1]
    x0 = torch.clamp(torch.floor(fx).long(), 0, max(0, w - 2))
    y0 = torch.clamp(torch.floor(fy).long(), 0, max(0, h - 2))
    x1 = torch.clamp(x0 + 1, max=w - 1)
    y1 = torch.clamp(y0 + 1, max=h - 1)
    ax = (fx - x0)[:, None]
    ay = (fy - y0)[:, None]
    d = (dirs[y0 * w + x0] * (1 - ax) + dirs[y0 * w + x1] * ax) * (1 - ay) + (
        dirs[y1 * w + x0] * (1 - ax) + dirs[y1 * w + x1] * ax
    ) * ay
    return d / torch.linalg.vector_norm(d, dim=-1, keepdim=True)


def _merge_rects(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Merge overlapping boxes so no pixel is converted twice."""
    out = [list(r) for r in rects]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return [(a[0], a[1], a[2], a[3]) for a in out]


def _icosahedron() -> Tensor:
    g = (1 + 5**0.5) / 2
    v = []
    for a in (-1, 1):
        for b in (-g, g):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    arr = np.array(v, float)
    arr /= np.linalg.norm(arr, axis=1, keepdims=True)
    return torch.as_tensor(arr, dtype=torch.float32)
