"""The Triton kernel of ``fused.pair_cost``, imported only where it runs (nothing else needs Triton).

Compiled for the GPU on first launch; with ``TRITON_INTERPRET=1`` set before Triton is imported, run by
Triton's interpreter on CPU tensors instead (the tests).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _elements(total, n, NP: tl.constexpr, BLOCK: tl.constexpr):
    """This block's elements (flat indices below ``total``: into (K, h, w), or pixels), whether each is
    real, the sources (padded to NP), which are real, and which of the (BLOCK, NP) pairs are."""
    e = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    live = e < total
    e = tl.where(live, e, 0)
    src = tl.arange(0, NP)
    has = src < n
    return e, live, src, has, live[:, None] & has[None, :]


@triton.jit
def _pixel_coordinates(a_ptr, o_ptr, z, p, hw, src, has, m2, height, width):
    """Where the point at depth ``z`` on pixel ``p``'s ray lands in each source, in its pixels (BLOCK, NP):
    o + z * a with K folded in (x/z, y/z is grid_sample's grid, align_corners=True: -1..1 spans pixel
    centres 0..size-1). Clamped just outside the frame, so a point far off (or behind the camera, thrown
    far off) converts to an integer safely and still reads zeros."""
    at = (src[None, :].to(tl.int64) * hw + p[:, None]) * 3
    ax = tl.load(a_ptr + at, mask=m2, other=0.0)
    ay = tl.load(a_ptr + at + 1, mask=m2, other=0.0)
    az = tl.load(a_ptr + at + 2, mask=m2, other=1.0)
    ox = tl.load(o_ptr + src * 3, mask=has, other=0.0)
    oy = tl.load(o_ptr + src * 3 + 1, mask=has, other=0.0)
    oz = tl.load(o_ptr + src * 3 + 2, mask=has, other=1.0)
    zz = z[:, None]
    inv = 1.0 / tl.maximum(oz[None, :] + zz * az, 1e-6)
    ix = ((ox[None, :] + zz * ax) * inv + 1.0) * (0.5 * (width - 1))
    iy = ((oy[None, :] + zz * ay) * inv + 1.0) * (0.5 * (height - 1))
    ix = tl.minimum(tl.maximum(ix, -2.0), width + 1.0)
    iy = tl.minimum(tl.maximum(iy, -2.0), height + 1.0)
    return ix, iy


@triton.jit
def _bilinear(img_ptr, ix, iy, m2, height, width):
    """grid_sample's bilinear sample (zero padding) of one channel at pixel coordinates (BLOCK, NP);
    ``img_ptr`` points at each source's channel plane (a (BLOCK, NP) tensor of pointers)."""
    x0f = tl.floor(ix)
    y0f = tl.floor(iy)
    wx = ix - x0f
    wy = iy - y0f
    x0 = x0f.to(tl.int32)
    y0 = y0f.to(tl.int32)
    acc = tl.zeros(ix.shape, dtype=tl.float32)
    for dy in tl.static_range(2):
        for dx in tl.static_range(2):
            xx = x0 + dx
            yy = y0 + dy
            wgt = (wx if dx == 1 else 1.0 - wx) * (wy if dy == 1 else 1.0 - wy)
            inside = m2 & (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
            acc += wgt * tl.load(img_ptr + yy * width + xx, mask=inside, other=0.0).to(tl.float32)
    return acc


@triton.jit
def pair_cost(
    a_ptr, o_ptr, z_ptr, img_ptr, out_ptr, total, hw, n, height, width, tau,
    LEAVE_OUT: tl.constexpr, NP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One block of (hypothesis, pixel) elements; see ``fused.pair_cost``."""
    e, live, src, has, m2 = _elements(total, n, NP, BLOCK)
    z = tl.load(z_ptr + e, mask=live, other=1.0)
    p = e % hw
    ix, iy = _pixel_coordinates(a_ptr, o_ptr, z, p, hw, src, has, m2, height, width)
    plane = height * width
    rgba = img_ptr + src[None, :].to(tl.int64) * (4 * plane)
    r = _bilinear(rgba, ix, iy, m2, height, width)
    g = _bilinear(rgba + plane, ix, iy, m2, height, width)
    b = _bilinear(rgba + 2 * plane, ix, iy, m2, height, width)
    alpha = _bilinear(rgba + 3 * plane, ix, iy, m2, height, width)
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


@triton.jit
def masks_at(
    a_ptr, o_ptr, z_ptr, img_ptr, out_ptr, total, hw, n, height, width,
    NP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One block of (hypothesis, pixel) elements; see ``fused.masks_at``."""
    e, live, src, has, m2 = _elements(total, n, NP, BLOCK)
    z = tl.load(z_ptr + e, mask=live, other=1.0)
    ix, iy = _pixel_coordinates(a_ptr, o_ptr, z, e % hw, hw, src, has, m2, height, width)
    plane = height * width
    two = img_ptr + src[None, :].to(tl.int64) * (2 * plane)
    fg = _bilinear(two, ix, iy, m2, height, width) > 0.5
    seen = _bilinear(two + plane, ix, iy, m2, height, width) > 0.5
    bits = tl.where(fg, 1, 0) + tl.where(seen, 2, 0)
    tl.store(out_ptr + src[None, :].to(tl.int64) * total + e[:, None], bits.to(tl.uint8), mask=m2)


@triton.jit
def _lower_median(v, seen, count, middle, src, has):
    """(BLOCK,) the value of ``v`` (BLOCK, NP) whose rank among the ``seen`` ones (ties broken by source
    order) is ``middle``; ``v`` of the first source where none is seen."""
    hidden = tl.where(seen, v, 1.0e30)
    earlier = (src[:, None] < src[None, :])[None, :, :]  # [., j, i]: j comes before i
    before = (hidden[:, :, None] < hidden[:, None, :]) | ((hidden[:, :, None] == hidden[:, None, :]) & earlier)
    rank = tl.sum(tl.where(before & has[None, :, None], 1, 0), axis=1)  # (BLOCK, NP): real sources ranked before i
    median = tl.sum(tl.where((rank == middle[:, None]) & seen, hidden, 0.0), axis=1)
    return tl.where(count > 0, median, tl.sum(tl.where(src[None, :] == 0, v, 0.0), axis=1))


@triton.jit
def blend(
    col_ptr, alpha_ptr, seen_ptr, trust_ptr, tent_ptr, near_ptr, edge_ptr, out_ptr, hw, n, sigma,
    TRUST: tl.constexpr, AGREE: tl.constexpr, NP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One block of pixels; see ``fused.blend``."""
    p, live, src, has, m2 = _elements(hw, n, NP, BLOCK)
    at = src[None, :].to(tl.int64) * hw + p[:, None]
    rgb = col_ptr + src[None, :].to(tl.int64) * (3 * hw) + p[:, None]
    r = tl.load(rgb, mask=m2, other=0.0)
    g = tl.load(rgb + hw, mask=m2, other=0.0)
    b = tl.load(rgb + 2 * hw, mask=m2, other=0.0)
    alpha = tl.load(alpha_ptr + at, mask=m2, other=0.0)
    vis = tl.where(tl.load(seen_ptr + at, mask=m2, other=0) != 0, alpha, 0.0)
    if TRUST:
        trusted = vis * tl.load(trust_ptr + at, mask=m2, other=0.0)
        vis = tl.where((tl.sum(trusted, axis=1) > 0.5)[:, None], trusted, vis)
    tent = tl.load(tent_ptr + src, mask=has, other=0.0)[None, :]
    near = tl.load(near_ptr + src, mask=has, other=0.0)[None, :]
    w = tent * vis
    if AGREE:
        # The lower median of each channel over the sources that see the pixel; the first source's colour
        # where none does.
        seen = m2 & (vis > 0.5)
        count = tl.sum(tl.where(seen, 1, 0), axis=1)
        middle = tl.maximum(count - 1, 0) // 2
        med_r = _lower_median(r, seen, count, middle, src, has)
        med_g = _lower_median(g, seen, count, middle, src, has)
        med_b = _lower_median(b, seen, count, middle, src, has)
        off = (tl.abs(r - med_r[:, None]) + tl.abs(g - med_g[:, None]) + tl.abs(b - med_b[:, None])) / 3.0
        agree = tl.exp(-((off / sigma) * (off / sigma)))
        weighed = w * agree
        w = tl.where((tl.sum(weighed, axis=1) > 1e-3)[:, None], weighed, w)
    total = tl.sum(w, axis=1)
    w = tl.where((total > 1e-3)[:, None], w, near * vis)
    total = tl.sum(w, axis=1)
    w = tl.where((total > 1e-9)[:, None], w, near * alpha)
    total = tl.sum(w, axis=1)
    share = w / tl.maximum(total, 1e-12)[:, None]
    drawn = total > 1e-12
    for c in tl.static_range(3):
        v = r if c == 0 else (g if c == 1 else b)
        edge = tl.load(edge_ptr + c * hw + p, mask=live, other=0.0)
        tl.store(out_ptr + c * hw + p, tl.where(drawn, tl.sum(v * share, axis=1), edge), mask=live)
