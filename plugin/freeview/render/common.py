"""Shared torch machinery for the renderers: devices, image tensors, camera projection into sampling grids.

Everything here is device-generic: the same code runs on the CPU and on CUDA. Sampling grids are float32
(fp16 grids are off by half a pixel at 1080p); images may be float16 on CUDA where a renderer allows.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from plugin.errors import RenderError
from plugin.freeview.camera import CameraModel

#: What the labels of ``stage`` begin with (``fvreplay bench stages`` sums the profiler's ranges by them).
STAGE_PREFIX = "fvreplay."


def stage(name: str) -> contextlib.AbstractContextManager[object]:
    """A labelled range of a render (``STAGE_PREFIX`` + ``name``) for torch's profiler, which ``fvreplay bench
    stages`` reads to say where a frame's time goes, on the host and on the GPU. Nothing when no profiler
    runs (a render labels a dozen stages; a profiler range costs microseconds even then)."""
    if not torch.autograd._profiler_enabled():
        return contextlib.nullcontext()
    return torch.profiler.record_function(STAGE_PREFIX + name)


@functools.cache
def keep_freed_memory() -> bool:
    """Let the C allocator keep big freed blocks for reuse (glibc: no mmap below 256 MB, no trimming
    below 1 GB), once per process; False where that is not glibc. The CPU depth sweep frees and
    allocates tens of megabytes per step: handed back to the system and faulted in again each time,
    they cost a fifth of a 640x360 frame (677 -> 545 ms measured with clean plates)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 256 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when present, else the CPU; 'cuda' without a GPU is an error that says so."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RenderError(f"renderer device {device!r}: no CUDA GPU is available here (use 'cpu' or 'auto')")
    if device != "cpu" and not device.startswith("cuda"):
        raise RenderError(f"renderer device {device!r} must be 'cpu', 'cuda' or 'auto'")
    return torch.device(device)


def image_stack(
    images: list[np.ndarray], device: torch.device, dtype: torch.dtype = torch.float32, *, alpha: bool = False
) -> torch.Tensor:
    """n (H, W, 3) uint8 RGB images of one size -> (n, 3 or 4, H, W) in [0, 1] on ``device``: the bytes
    travel as they are and are converted there, in one pass. With ``alpha`` a fourth channel of 1:
    sampled with zero padding, it says how much of a sample came from inside the frame."""
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise RenderError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    h, w = images[0].shape[:2]
    raw = torch.empty((len(images), h, w, 3), dtype=torch.uint8, device=device)
    for k, image in enumerate(images):
        raw[k].copy_(torch.from_numpy(np.ascontiguousarray(image)), non_blocking=True)
    out = torch.empty((len(images), 4 if alpha else 3, h, w), dtype=dtype, device=device)
    out[:, :3].copy_(raw.permute(0, 3, 1, 2)).div_(255.0)
    if alpha:
        out[:, 3].fill_(1.0)
    return out


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> (H, W, 3) uint8 RGB on the host."""
    img = image.reshape(3, image.shape[-2], image.shape[-1])
    out = img.float().mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    if not out.is_cuda:
        return out.numpy()
    # Through page-locked memory (torch keeps a cache of it): several times faster than a pageable copy.
    host = torch.empty(out.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(out, non_blocking=True)
    torch.cuda.current_stream(out.device).synchronize()
    return host.numpy()


def constant(data: object, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Host numbers (a camera's constants, one per source) as a tensor on ``device``. On CUDA they go
    through pinned memory without waiting: a plain copy from pageable memory synchronises the stream,
    so the host would stop queueing work until the GPU had done everything before it (a render makes
    a few dozen such small copies; each would drain the queue)."""
    host = torch.as_tensor(np.asarray(data), dtype=dtype)
    if device.type != "cuda":
        return host.to(device)
    return host.pin_memory().to(device, non_blocking=True)


def box_filter(x: torch.Tensor, radius: int, radius_x: int | None = None) -> torch.Tensor:
    """Mean over a (2r+1)^2 window of (N, C, H, W), zero-padded; separable. With ``radius_x`` the window is
    (2 radius + 1) rows by (2 radius_x + 1) columns."""
    ry, rx = radius, radius if radius_x is None else radius_x
    if ry <= 0 and rx <= 0:
        return x
    ky, kx = 2 * ry + 1, 2 * rx + 1
    if x.dtype != torch.float64 and (x.is_cuda or x.dtype != torch.float32):
        return F.avg_pool2d(x, (ky, kx), stride=1, padding=(ry, rx))
    # Running sums: O(1) per pixel however wide the window, and the fastest box on the CPU (avg_pool2d is
    # 2x slower there); exact enough in float64 on any device, not in half precision.
    y = F.pad(x, (rx + 1, rx, 0, 0)).cumsum(-1)
    y = y[..., kx:] - y[..., :-kx]
    y = F.pad(y, (0, 0, ry + 1, ry)).cumsum(-2)
    y = y[..., ky:, :] - y[..., :-ky, :]
    return y / (kx * ky)


@dataclass(frozen=True)
class Projection:
    """Several cameras' projection constants, batched: a point on a ray of another camera -> each one's
    grid_sample coordinates, in one set of tensor operations for all of them."""

    R: torch.Tensor  # (n, 3, 3) world -> camera
    t: torch.Tensor  # (n, 3)
    A: torch.Tensor  # (n, 3, 3) normalised coordinates -> grid (the last row 0, 0, 1)
    dist: torch.Tensor | None  # (n, 5) k1 k2 p1 p2 k3; None when no camera has distortion

    @classmethod
    def of(cls, cams: list[CameraModel], device: torch.device) -> Projection:
        A = []
        for cam in cams:
            # grid = 2 * pixel / (size - 1) - 1 (align_corners=True: pixel centres at integer coordinates).
            N = np.array([[2.0 / max(cam.width - 1, 1), 0.0, -1.0], [0.0, 2.0 / max(cam.height - 1, 1), -1.0], [0.0, 0.0, 1.0]])
            A.append(N @ cam.K)
        distorted = any(cam.has_distortion for cam in cams)
        return cls(
            R=constant([cam.R for cam in cams], device),
            t=constant([cam.t for cam in cams], device),
            A=constant(A, device),
            dist=constant([cam.dist for cam in cams], device) if distorted else None,
        )

    def fold(self, rays: torch.Tensor, center: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel coefficients for ``grid``: the point ``center + z * rays`` (rays (h, w, 3)) is
        ``o + z * a`` in each camera, a (n, h, w, 3) and o (n, 3). Without distortion K is folded in, so
        the first two coordinates divided by the third are the grid straight away."""
        return self._with_k(torch.einsum("nij,hwj->nhwi", self.R, rays), self.R @ center + self.t)

    def points(self, points: torch.Tensor) -> torch.Tensor:
        """Grids (n, h, w, 2) of points given in each camera's own frame, (n, h, w, 3) or (h, w, 3)."""
        points = points.expand(self.R.shape[0], *points.shape[-3:])
        a, o = self._with_k(points, torch.zeros_like(self.t))
        return self.grid(a, o, torch.ones_like(points[0, ..., 0]).unsqueeze(0))[0][:, 0]

    def _with_k(self, a: torch.Tensor, o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``a`` and ``o`` with K folded in when no camera has distortion (``grid`` then only divides)."""
        if self.dist is not None:
            return a, o
        return torch.einsum("nij,nhwj->nhwi", self.A, a), (self.A @ o.unsqueeze(-1)).squeeze(-1)

    def grid(self, a: torch.Tensor, o: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Grids (n, K, h, w, 2) and depths z_cam (n, K, h, w) in each camera of the points at depths
        ``z`` (K, h, w) along the rays that ``fold`` made ``a`` and ``o`` of. The depth sweep's hot path:
        three multiply-adds, a reciprocal and two multiplies per hypothesis and camera (no distortion)."""
        normalized, Z = pinhole_grid(a, o, z)  # with distortion, fold left K out: normalised coordinates
        if self.dist is None:
            return normalized, Z
        n = a.shape[0]
        x, y = normalized[..., 0], normalized[..., 1]
        out = torch.empty_like(normalized)
        k1, k2, p1, p2, k3 = (self.dist[:, i].view(n, 1, 1, 1) for i in range(5))
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        # The distortion polynomial folds back far outside the frame: keep such points outside.
        far = (r2 > 4.0) | (Z <= 1e-6)
        A = self.A.view(n, 1, 1, 1, 3, 3)
        gx = xd * A[..., 0, 0] + yd * A[..., 0, 1] + A[..., 0, 2]
        gy = yd * A[..., 1, 1] + A[..., 1, 2]
        torch.where(far, torch.full_like(gx, 4.0), gx, out=out[..., 0])
        torch.where(far, torch.full_like(gy, 4.0), gy, out=out[..., 1])
        return out, Z


def pinhole_grid(a: torch.Tensor, o: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Projection.grid`` for pinhole cameras (K folded into ``a`` and ``o``): grids (n, K, h, w, 2) and
    depths (n, K, h, w) of the points at depths ``z`` (K, h, w)."""
    n = a.shape[0]
    o = o.view(n, 1, 1, 1, 3)
    a = a.unsqueeze(1)
    X = torch.addcmul(o[..., 0], z, a[..., 0])
    Y = torch.addcmul(o[..., 1], z, a[..., 1])
    Z = torch.addcmul(o[..., 2], z, a[..., 2])
    # Behind the camera: Z clamps to a tiny positive number, which throws the point far outside.
    inv = torch.reciprocal(Z.clamp(min=1e-6))
    out = torch.empty((*Z.shape, 2), dtype=Z.dtype, device=Z.device)
    torch.mul(X, inv, out=out[..., 0])
    torch.mul(Y, inv, out=out[..., 1])
    return out, Z


def sample_many(images: torch.Tensor | list[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of n images at n stacks of grids (n, K, h, w, 2) -> (n, C, K, h, w); outside reads 0.

    ``images``: (n, C, H, W), one grid_sample for all; or a list of (1, C, H, W), stacked when they
    share a size, else sampled one by one."""
    n, k, h, w, _ = grid.shape
    flat = grid.reshape(n, k * h, w, 2)
    if isinstance(images, list):
        whole = stacked(images)
        images = whole if whole is not None else images
    if isinstance(images, torch.Tensor):
        out = F.grid_sample(images, flat.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)
    else:
        out = torch.cat([
            F.grid_sample(img, flat[j : j + 1].to(img.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)
            for j, img in enumerate(images)
        ])
    return out.view(n, out.shape[1], k, h, w)


def stacked(images: list[torch.Tensor]) -> torch.Tensor | None:
    """(n, C, H, W) of (1, C, H, W) images of one size and dtype (None when they differ): no copy when
    they are the consecutive slices of one tensor, as ``BaseRenderer.load`` makes them."""
    first = images[0]
    if any(img.shape != first.shape or img.dtype != first.dtype for img in images):
        return None
    base = first._base
    if (
        base is not None
        and base.dim() == 4
        and base.shape[0] == len(images)
        and base.shape[1:] == first.shape[1:]
        and all(img.data_ptr() == base[k].data_ptr() for k, img in enumerate(images))
    ):
        return base
    return torch.cat(images)


class PixelGrid:
    """Homogeneous pixel coordinates of an image size on a device, made once and reused."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def __call__(self, width: int, height: int, device: torch.device) -> torch.Tensor:
        """(H, W, 3) tensor of (u, v, 1)."""
        key = (width, height, str(device))
        if key not in self._cache:
            v, u = torch.meshgrid(
                torch.arange(height, device=device, dtype=torch.float32),
                torch.arange(width, device=device, dtype=torch.float32),
                indexing="ij",
            )
            self._cache[key] = torch.stack([u, v, torch.ones_like(u)], dim=-1)
        return self._cache[key]


def view_rays(cam: CameraModel, pixels: torch.Tensor) -> torch.Tensor:
    """World-frame ray directions scaled to z_cam = 1 for every pixel of a camera: (H, W, 3).

    A point at depth z along pixel p is ``center + z * rays[p]``. Distortion, if any, is undone
    numerically, on the host, on every call (nothing caches the result; a virtual view has none).
    """
    if cam.has_distortion:
        uv = pixels[..., :2].reshape(-1, 2).cpu().double().numpy()
        xy = cam.pixel_to_normalized(uv)
        d = np.concatenate([xy, np.ones((len(xy), 1))], axis=1) @ cam.R
        return torch.as_tensor(d.reshape(*pixels.shape[:2], 3), dtype=torch.float32, device=pixels.device)
    M = constant(cam.R.T @ np.linalg.inv(cam.K), pixels.device)
    return pixels @ M.T


def ground_depth(cam: CameraModel, rays: torch.Tensor, height: float = 0.0) -> torch.Tensor:
    """Depth z_cam at which each pixel's ray meets the plane z = height; +inf where it never does: (H, W)."""
    cz = float(cam.center[2]) - height
    dz = rays[..., 2]
    with torch.no_grad():
        z = -cz / torch.where(dz.abs() > 1e-9, dz, torch.full_like(dz, 1e-9))
    return torch.where(z > 0, z, torch.full_like(z, float("inf")))


def sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a (1, C, H, W) image at grids (N, h, w, 2) -> (N, C, h, w); outside reads 0."""
    n = grid.shape[0]
    g = grid.to(image.dtype)
    return F.grid_sample(image.expand(n, -1, -1, -1), g, mode="bilinear", padding_mode="zeros", align_corners=True)


def check_images(images: Mapping[str, np.ndarray], names: list[str]) -> None:
    missing = [n for n in names if n not in images]
    if missing:
        raise RenderError(f"renderer needs images of {', '.join(missing)}; got {', '.join(images) or 'none'}")
