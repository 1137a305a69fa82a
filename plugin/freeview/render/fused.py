"""The depth sweep's hot path as one kernel (Triton) on CUDA: project, sample and cost in registers.

``DepthRenderer._cost`` in plain torch makes, for every hypothesis of every pixel, each source's grid
coordinates, its bilinear samples and every pair's colour difference as whole tensors in memory: about
60 % of the bytes a 1080p frame moves (counted: 28 of 49 GB in float32) and a few hundred tensor
operations to dispatch. This kernel does the same per element in registers and writes only what the
window needs: per hypothesis and pixel, the cost where it has support and the support flag (``(K, 2, h, w)``,
as ``box_filter`` takes it). Grid coordinates stay in float32 whatever the images' precision.

The arithmetic is ``photo_cost`` without a reference (pairs of sources, truncated mean colour difference,
the source that disagrees most left out where that lowers the cost) over ``grid_sample``'s bilinear
sampling with ``align_corners=True`` and zero padding; the tests hold the two to each other with Triton's
interpreter on the CPU. The torch code stays the path on CPUs, for the reference-image cost (``fvreplay
depth``, the venue depth) and for sources of different sizes.
"""

from __future__ import annotations

import functools
import os

import torch

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
    """Whether the fused kernel runs on ``device``: CUDA with Triton (``FVREPLAY_FUSED=0`` turns it off)."""
    return device.type == "cuda" and os.environ.get("FVREPLAY_FUSED", "1") != "0" and importable()


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``): then on CPU tensors too."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def pair_cost(a: torch.Tensor, o: torch.Tensor, z: torch.Tensor, images: torch.Tensor, tau: float) -> torch.Tensor:
    """(K, 2, h, w) float32: per hypothesis and pixel, the photo-consistency cost times its support flag, and
    the flag (the sources that see the point give at least one pair), as ``DepthRenderer._cost`` windows it.

    ``a`` (n, h, w, 3) and ``o`` (n, 3): ``Projection.fold`` of the pixels' rays into n pinhole sources with K
    folded in; ``z`` (K, h, w) finite depths; ``images`` (n, 4, H, W): the sources (RGB and in-frame alpha),
    any float dtype; ``tau``: the truncation. CUDA tensors (CPU ones under Triton's interpreter).
    """
    n, h, w, _ = a.shape
    if n > MAX_SOURCES:
        raise ValueError(f"fused pair cost takes at most {MAX_SOURCES} sources, got {n}")
    k = z.shape[0]
    out = torch.empty((k, 2, h, w), dtype=torch.float32, device=z.device)
    total = k * h * w
    if total == 0:
        return out
    interpret = interpreted()
    if z.device.type != "cuda" and not interpret:
        raise ValueError("fused pair cost runs on CUDA tensors (on the CPU only under TRITON_INTERPRET=1)")
    np_ = max(2, 1 << (n - 1).bit_length())
    # The interpreter runs a block as numpy arrays: big blocks, few of them. On the GPU, 128 (or 64 with
    # eight sources: the pair matrices live in registers) elements a block.
    block = 4096 if interpret else (128 if np_ <= 4 else 64)
    grid = ((total + block - 1) // block,)
    from plugin.freeview.render.fused_kernel import pair_cost as kernel

    kernel[grid](
        a.float().contiguous(),
        o.float().contiguous(),
        z.float().contiguous(),
        images.contiguous(),
        out,
        total,
        h * w,
        n,
        images.shape[-2],
        images.shape[-1],
        float(tau),
        LEAVE_OUT=n >= 3,
        NP=np_,
        BLOCK=block,
    )
    return out
