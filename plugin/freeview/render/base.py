"""What every renderer shares: the rig on a device, per-camera constants made once, source images as tensors."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from plugin.errors import RenderError
from plugin.freeview.camera import CameraModel, look_at_rotation
from plugin.freeview.path import VirtualView
from plugin.freeview.render.common import (
    PixelGrid,
    Projection,
    check_images,
    image_stack,
    resolve_device,
    stage,
    to_uint8,
    view_rays,
)
from plugin.freeview.rig import Rig

QUALITIES = ("draft", "normal", "high")

T = TypeVar("T")


class BaseRenderer:
    """A renderer bound to one rig and device. Subclasses implement ``sources_for`` and ``render_camera``.

    ``render(view, images, width, height)`` draws ``rig.view_camera(view, width, height)``; ``render_camera``
    draws any camera (a held-out real camera, for evaluation) given its view position ``s`` on the rig.
    """

    mode = "base"

    def __init__(
        self,
        rig: Rig,
        *,
        device: str = "auto",
        quality: str = "normal",
        near: float,
        far: float,
        ground_plane: bool = True,
    ) -> None:
        if quality not in QUALITIES:
            raise RenderError(f"renderer quality {quality!r} must be one of {', '.join(QUALITIES)}")
        if not (0 < near < far):
            raise RenderError(f"renderer depth range: need 0 < near < far, got near={near}, far={far}")
        self.rig = rig
        self.device = resolve_device(device)
        self.quality = quality
        self.near = float(near)
        self.far = float(far)
        self.ground_plane = ground_plane
        self.pixels = PixelGrid()
        self._cams: dict[tuple[str, int, int], CameraModel] = {}
        self._projections: dict[tuple[tuple[str, int, int], ...], Projection] = {}
        self._memos: dict[str, tuple[Hashable, list[object], Any]] = {}

    # --- the interface the engine calls -------------------------------------------------------

    def sources_for(self, view: VirtualView) -> list[str]:
        """Names of the cameras whose images ``view`` needs."""
        return self.sources_at(view.s)

    def sources_at(self, s: float) -> list[str]:
        """Names of the cameras needed at view position ``s``."""
        raise NotImplementedError

    def helpers_for(self, view: VirtualView) -> list[str]:
        """Names of more cameras whose images improve ``view`` where they are given (none here)."""
        return []

    def render(self, view: VirtualView, images: Mapping[str, np.ndarray], width: int, height: int) -> np.ndarray:
        """(height, width, 3) uint8 RGB of ``view`` from ``images`` (camera name -> (H, W, 3) uint8 RGB)."""
        target = self.rig.view_camera(view, width, height)
        with torch.inference_mode():
            out = self.render_camera(target, view.s, np.asarray(view.pivot, float), images)
            with stage("to_host"):
                return to_uint8(out)

    def render_camera(self, target: CameraModel, s: float, pivot: np.ndarray, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        """(1, 3, H, W) float image of camera ``target`` standing at view position ``s`` of the rig."""
        raise NotImplementedError

    # --- helpers --------------------------------------------------------------------------------

    def names(self, indices: list[int]) -> list[str]:
        return [self.rig.cameras[i].name for i in indices]

    def source_camera(self, name: str, width: int, height: int) -> CameraModel:
        """The rig camera ``name`` as it delivers ``width`` x ``height`` images (cached)."""
        key = (name, width, height)
        if key not in self._cams:
            cam = self.rig.camera(name)
            self._cams[key] = cam if (cam.width, cam.height) == (width, height) else cam.scaled(width, height)
        return self._cams[key]

    def projection(self, cams: list[CameraModel]) -> Projection:
        """The batched projection of ``cams`` on this renderer's device (cached by their names and sizes)."""
        key = tuple((cam.name, cam.width, cam.height) for cam in cams)
        if key not in self._projections:
            self._projections[key] = Projection.of(cams, self.device)
        return self._projections[key]

    def load(
        self,
        images: Mapping[str, np.ndarray],
        names: list[str],
        dtype: torch.dtype = torch.float32,
        *,
        alpha: bool = False,
    ) -> list[tuple[CameraModel, torch.Tensor]]:
        """The named source images as (camera at the image's size, (1, 3 or 4, H, W) tensor) pairs."""
        check_images(images, names)
        frames = [images[n] for n in names]
        return self.memo("upload", (dtype, alpha, *names), frames, lambda: self._upload(images, names, dtype, alpha))

    def memo(self, kind: str, key: Hashable, given: Sequence[object], make: Callable[[], T]) -> T:
        """``make()``, or what it gave last time for ``kind`` when ``key`` is equal and ``given`` are the very
        same objects as then (one value kept per kind). A frozen replay (an orbit of one moment) renders
        every frame from the same source frames: their upload and what is derived from them are done once.
        Frames are never changed in place."""
        last = self._memos.get(kind)
        if last is not None and last[0] == key and len(last[1]) == len(given) and all(a is b for a, b in zip(last[1], given)):
            return last[2]  # type: ignore[no-any-return]
        value = make()
        self._memos[kind] = (key, list(given), value)
        return value

    def _upload(
        self, images: Mapping[str, np.ndarray], names: list[str], dtype: torch.dtype, alpha: bool
    ) -> list[tuple[CameraModel, torch.Tensor]]:
        cams = [self.source_camera(name, int(images[name].shape[1]), int(images[name].shape[0])) for name in names]
        if len({images[name].shape for name in names}) == 1:
            # One size: the slices of one (n, C, H, W) tensor, which the renderers use whole (``stacked``).
            stack = image_stack([images[name] for name in names], self.device, dtype, alpha=alpha)
            return [(cam, stack[k : k + 1]) for k, cam in enumerate(cams)]
        return [(cam, image_stack([images[name]], self.device, dtype, alpha=alpha)) for cam, name in zip(cams, names)]

    def reaimed_camera(self, source: CameraModel, target: CameraModel, pivot: np.ndarray) -> CameraModel:
        """``source`` re-aimed at the pivot: its own centre, looking at the pivot with a level horizon, with
        ``target``'s picture size and intrinsics, the focal length scaled so the pivot keeps the apparent
        size it has in ``target`` (the scale match of a switch). At integer s it is ``target`` itself."""
        d_target = float(np.linalg.norm(target.center - pivot))
        d_source = float(np.linalg.norm(source.center - pivot))
        scale = d_source / d_target if d_target > 1e-9 else 1.0
        K = target.K.copy()
        K[0, 0] *= scale
        K[1, 1] *= scale
        K[0, 1] *= scale
        R = look_at_rotation(source.center, np.asarray(pivot, float))
        return CameraModel(target.name, target.width, target.height, K, R, -R @ source.center)

    def rotation_grid(self, source: CameraModel, target: CameraModel) -> torch.Tensor:
        """Sampling grid (1, H, W, 2) that re-aims ``source``'s image to ``target`` (same centre):
        the rotation homography H = K_t R_t R_s^T K_s^-1, with ``source``'s distortion applied."""
        rays = view_rays(target, self.pixels(target.width, target.height, self.device))  # world frame
        proj = self.projection([source])
        return proj.points(rays @ proj.R[0].T)
