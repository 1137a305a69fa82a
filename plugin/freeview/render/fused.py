"""The depth renderer's hot paths as Triton kernels on CUDA: project, sample, cost and mix in registers.

In plain torch the renderer makes, for every hypothesis of every pixel, each source's grid coordinates, its
bilinear samples and every pair's colour difference as whole tensors in memory, and then the blend's
weights source by source: most of the bytes a frame moves (counted on a 1080p frame in float32: 49 GB,
15.5 GB with these kernels) and hundreds of tensor operations to dispatch. Three kernels do the same per
element in registers and write only what comes next:

- ``pair_cost``: the sweep's photo-consistency cost (``photo_cost`` without a reference: pairs of sources,
  truncated mean colour difference, the source that disagrees most left out where that lowers the cost),
  windowed next by ``box_filter``;
- ``masks_at``: the sources' silhouettes at a depth, a byte per source (foreground, in frame);
- ``blend``: ``depth.mix_sources``, the blend's weighting and mix, in one pass over the pixels.

Sampling is ``grid_sample``'s (bilinear, ``align_corners=True``, zero padding), with grid coordinates in
float32 whatever the images' precision. The tests hold each kernel to the torch path with Triton's
interpreter on the CPU. The torch code stays the path on CPUs, for the reference-image cost (``fvreplay
depth``, the venue depth) and for sources of different sizes; ``available`` turns the kernels off
(``FVREPLAY_FUSED=0``, or where they fail to build or disagree on a first small run) and says why.
"""

from __future__ import annotations

import functools
import logging
import os

import torch

log = logging.getLogger("fvreplay.freeview.fused")

#: Sources handled in one kernel: padded up to a power of two (the pair matrix is NP x NP per element).
MAX_SOURCES = 8


@functools.cache
def importable() -> bool:
    """Whether Triton is installed (the kernel's source needs it, to compile or to interpret)."""
    try:
        import triton  # noqa: F401
    except Exception:  # not installed, or broken
        return False
    return True


def available(device: torch.device) -> bool:
    """Whether the fused kernels run on ``device``: CUDA with Triton, not turned off (``FVREPLAY_FUSED=0``),
    and a first small run of each built and agreed with the torch path (else a warning says why, and the
    renderer keeps to torch: a replay server must not stop over a compiler)."""
    if device.type != "cuda" or os.environ.get("FVREPLAY_FUSED", "1") == "0" or not importable():
        return False
    return _works(str(device))


@functools.cache
def _works(device: str) -> bool:
    from plugin.freeview.render.common import pinhole_grid, sample_many
    from plugin.freeview.render.depth import mix_sources, windowed_cost

    try:
        g = torch.Generator().manual_seed(0)
        n, h, w, k = 3, 6, 8, 2
        a = torch.cat([torch.randn(n, h, w, 2, generator=g) * 0.3, torch.ones(n, h, w, 1)], -1).to(device)
        o = torch.tensor([[0.0, 0.0, 0.1]] * n, device=device)
        z = (1 + torch.rand(k, h, w, generator=g)).to(device)
        images = torch.rand(n, 4, 12, 16, generator=g).to(device)
        images[:, 3] = 1.0
        grid = pinhole_grid(a, o, z)[0]
        want = windowed_cost(sample_many(images, grid), None, 0.12)
        ok = bool(torch.allclose(pair_cost(a, o, z, images, 0.12), want, atol=1e-4))
        ok &= bool(torch.equal(masks_at(a, o, z, images[:, 2:]) & 1, (sample_many(images[:, 2:], grid)[:, 0] > 0.5).byte()))
        mix = (images[:, :3, :h, :w], images[:, 3, :h, :w], images[:, 0, :h, :w] > 0.3, None)
        rest = (torch.tensor([0.5, 0.5, 0.0], device=device), torch.ones(n, device=device), images[:1, :3, :h, :w], 0.2)
        ok &= bool(torch.allclose(blend(*mix, *rest), mix_sources(*mix, *rest), atol=1e-4))
    except Exception as exc:  # no compiler, no driver support, ...
        log.warning("fused kernels off on %s: a first run failed (%s: %s); torch renders", device, type(exc).__name__, exc)
        return False
    if not ok:
        log.warning("fused kernels off on %s: a first run disagreed with the torch path", device)
    return ok


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``): then on CPU tensors too."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _launch(name: str, n: int, total: int, args: tuple[object, ...], **constants: object) -> None:
    """Run kernel ``name`` of ``fused_kernel`` over ``total`` (hypothesis, pixel) elements of ``n`` sources."""
    interpret = interpreted()
    # The interpreter runs a block as numpy arrays: big blocks, few of them. On the GPU, 128 (or 64 with
    # eight sources: the pair matrices live in registers) elements a block.
    padded = max(2, 1 << (n - 1).bit_length())
    block = 4096 if interpret else (128 if padded <= 4 else 64)
    from plugin.freeview.render import fused_kernel

    kernel = getattr(fused_kernel, name)
    kernel[((total + block - 1) // block,)](*args, NP=padded, BLOCK=block, **constants)


def _check(n: int, device: torch.device, images: int) -> None:
    """What every kernel needs: at most ``MAX_SOURCES`` sources, one image each, on CUDA (or interpreted)."""
    if n > MAX_SOURCES:
        raise ValueError(f"fused kernels take at most {MAX_SOURCES} sources, got {n}")
    if device.type != "cuda" and not interpreted():
        raise ValueError("fused kernels run on CUDA tensors (on the CPU only under TRITON_INTERPRET=1)")
    if images != n:
        raise ValueError(f"{images} source images for {n} sources")


def pair_cost(a: torch.Tensor, o: torch.Tensor, z: torch.Tensor, images: torch.Tensor, tau: float) -> torch.Tensor:
    """(K, 2, h, w) float32: per hypothesis and pixel, the photo-consistency cost times its support flag, and
    the flag (the sources that see the point give at least one pair), as ``DepthRenderer._cost`` windows it.

    ``a`` (n, h, w, 3) and ``o`` (n, 3): ``Projection.fold`` of the pixels' rays into n pinhole sources with K
    folded in; ``z`` (K, h, w) finite depths; ``images`` (n, 4, H, W): the sources (RGB and in-frame alpha),
    any float dtype; ``tau``: the truncation. CUDA tensors (CPU ones under Triton's interpreter).
    """
    n, h, w, _ = a.shape
    _check(n, z.device, images.shape[0])
    k = z.shape[0]
    out = torch.empty((k, 2, h, w), dtype=torch.float32, device=z.device)
    if k * h * w:
        args = (*_inputs(a, o, z), images.contiguous(), out, k * h * w, h * w, n, images.shape[-2], images.shape[-1])
        _launch("pair_cost", n, k * h * w, (*args, float(tau)), LEAVE_OUT=n >= 3)
    return out


def masks_at(a: torch.Tensor, o: torch.Tensor, z: torch.Tensor, silhouettes: torch.Tensor) -> torch.Tensor:
    """(n, K, h, w) uint8: for each source and each depth of ``z`` (K, h, w) along the pixels' rays, bit 0 set
    where the point is foreground in the source's silhouette and bit 1 where it is in its frame (each
    bilinearly sampled above 0.5, as ``DepthRenderer._masks_at`` reads them), without making the grids.
    ``silhouettes``: (n, 2, H, W) mask and "in frame"; ``a``, ``o`` as ``pair_cost`` takes them."""
    n, h, w, _ = a.shape
    _check(n, z.device, silhouettes.shape[0])
    k = z.shape[0]
    out = torch.empty((n, k, h, w), dtype=torch.uint8, device=z.device)
    if k * h * w:
        args = (*_inputs(a, o, z), silhouettes.float().contiguous(), out, k * h * w, h * w, n)
        _launch("masks_at", n, k * h * w, (*args, silhouettes.shape[-2], silhouettes.shape[-1]))
    return out


def blend(
    colors: torch.Tensor,
    alpha: torch.Tensor,
    seen: torch.Tensor,
    trust: torch.Tensor | None,
    tent: torch.Tensor,
    near: torch.Tensor,
    edge: torch.Tensor,
    agreement: float,
) -> torch.Tensor:
    """(1, 3, H, W) float32: ``DepthRenderer.blend``'s weighting and mix in one pass over the pixels.

    ``colors`` (n, 3, H, W) and ``alpha`` (n, H, W): the sources sampled at the pixels' points; ``seen`` (n, H,
    W) bool: geometric visibility; ``trust`` (n, H, W) 0/1 or None; ``tent`` and ``near`` (n,): the weights
    by closeness along the rig and the nearest-camera fallback's; ``edge`` (1, 3, H, W): the nearest camera's
    frame edge continued, for pixels no source sees; ``agreement``: the photometric check's sigma (0: off;
    it needs three sources)."""
    n, _, h, w = colors.shape
    _check(n, colors.device, alpha.shape[0])
    out = torch.empty((1, 3, h, w), dtype=torch.float32, device=colors.device)
    if h * w:
        weights = alpha.float().contiguous()
        args = (
            colors.float().contiguous(),
            weights,
            seen.contiguous().view(torch.uint8),
            weights if trust is None else trust.float().contiguous(),
            tent.float().contiguous(),
            near.float().contiguous(),
            edge.float().contiguous(),
            out,
            h * w,
            n,
            float(agreement) if agreement > 0 else 1.0,
        )
        _launch("blend", n, h * w, args, TRUST=trust is not None, AGREE=agreement > 0 and n >= 3)
    return out


def _inputs(a: torch.Tensor, o: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return a.float().contiguous(), o.float().contiguous(), z.float().contiguous()
