"""The Triton kernel of ``fused.pair_cost``, imported only where it runs (nothing else needs Triton).

Compiled for the GPU on first launch; with ``TRITON_INTERPRET=1`` set before Triton is imported, run by
Triton's interpreter on CPU tensors instead (the tests).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def pair_cost(
    a_ptr, o_ptr, z_ptr, img_ptr, out_ptr, total, hw, n, height, width, tau,
    LEAVE_OUT: tl.constexpr, NP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One block of (hypothesis, pixel) elements; see ``fused.pair_cost``."""
    e = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = e < total
    e = tl.where(live, e, 0)
    p = e % hw
    z = tl.load(z_ptr + e, mask=live, other=1.0)
    src = tl.arange(0, NP)
    has = src < n
    m2 = live[:, None] & has[None, :]
    # The point at depth z on the pixel's ray, in each source: o + z * a (K folded in: x/z, y/z is the grid).
    at = (src[None, :].to(tl.int64) * hw + p[:, None]) * 3
    ax = tl.load(a_ptr + at, mask=m2, other=0.0)
    ay = tl.load(a_ptr + at + 1, mask=m2, other=0.0)
    az = tl.load(a_ptr + at + 2, mask=m2, other=1.0)
    ox = tl.load(o_ptr + src * 3, mask=has, other=0.0)
    oy = tl.load(o_ptr + src * 3 + 1, mask=has, other=0.0)
    oz = tl.load(o_ptr + src * 3 + 2, mask=has, other=1.0)
    zz = z[:, None]
    inv = 1.0 / tl.maximum(oz[None, :] + zz * az, 1e-6)  # behind the camera: thrown far outside
    # grid_sample, align_corners=True: grid -1..1 spans pixel centres 0..size-1. Clamped just outside
    # the frame first, so a point far off converts to an integer safely and still reads zeros.
    ix = ((ox[None, :] + zz * ax) * inv + 1.0) * (0.5 * (width - 1))
    iy = ((oy[None, :] + zz * ay) * inv + 1.0) * (0.5 * (height - 1))
    ix = tl.minimum(tl.maximum(ix, -2.0), width + 1.0)
    iy = tl.minimum(tl.maximum(iy, -2.0), height + 1.0)
    x0f = tl.floor(ix)
    y0f = tl.floor(iy)
    wx = ix - x0f
    wy = iy - y0f
    x0 = x0f.to(tl.int32)
    y0 = y0f.to(tl.int32)
    plane = height * width
    base = src[None, :].to(tl.int64) * (4 * plane)
    r = tl.zeros((BLOCK, NP), dtype=tl.float32)
    g = tl.zeros((BLOCK, NP), dtype=tl.float32)
    b = tl.zeros((BLOCK, NP), dtype=tl.float32)
    alpha = tl.zeros((BLOCK, NP), dtype=tl.float32)
    for dy in tl.static_range(2):
        for dx in tl.static_range(2):
            xx = x0 + dx
            yy = y0 + dy
            wgt = (wx if dx == 1 else 1.0 - wx) * (wy if dy == 1 else 1.0 - wy)
            inside = m2 & (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
            off = base + yy * width + xx
            r += wgt * tl.load(img_ptr + off, mask=inside, other=0.0).to(tl.float32)
            g += wgt * tl.load(img_ptr + off + plane, mask=inside, other=0.0).to(tl.float32)
            b += wgt * tl.load(img_ptr + off + 2 * plane, mask=inside, other=0.0).to(tl.float32)
            alpha += wgt * tl.load(img_ptr + off + 3 * plane, mask=inside, other=0.0).to(tl.float32)
    valid = tl.where(m2 & (alpha > 0.5), 1.0, 0.0)
    # Every pair of different sources: truncated mean colour difference where both see the point.
    diff = tl.abs(r[:, :, None] - r[:, None, :]) + tl.abs(g[:, :, None] - g[:, None, :]) + tl.abs(b[:, :, None] - b[:, None, :])
    other = (src[:, None] != src[None, :])[None, :, :]
    ok = tl.where(other, valid[:, :, None] * valid[:, None, :], 0.0)
    num = tl.sum(tl.minimum(diff * (1.0 / 3.0), tau) * ok, axis=2)  # (BLOCK, NP): each pair for both sources
    den = tl.sum(ok, axis=2)
    total_num = 0.5 * tl.sum(num, axis=1)
    total_den = 0.5 * tl.sum(den, axis=1)
    cost = total_num / tl.maximum(total_den, 1e-6)
    support = total_den
    if LEAVE_OUT:
        rest_den = total_den[:, None] - den
        rest = (total_num[:, None] - num) / tl.maximum(rest_den, 1e-6)
        rest = tl.where(has[None, :] & (rest_den > 0.5), rest, 1.0e30)  # never the lowest: no source to leave out
        lowest = tl.min(rest, axis=1)
        j = tl.argmin(rest, axis=1)
        left = tl.sum(tl.where(src[None, :] == j[:, None], rest_den, 0.0), axis=1)
        better = lowest < cost
        cost = tl.where(better, lowest, cost)
        support = tl.where(better, left, support)
    seen = tl.where(support > 0.5, 1.0, 0.0)
    out = (e // hw) * (2 * hw) + p
    tl.store(out_ptr + out, cost * seen, mask=live)
    tl.store(out_ptr + out + hw, seen, mask=live)

