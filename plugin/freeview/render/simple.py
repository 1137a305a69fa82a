"""The renderers that need no depth: cut (nearest camera), switch (re-aimed at the pivot), crossfade (baseline)."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from plugin.freeview.camera import CameraModel
from plugin.freeview.path import VirtualView
from plugin.freeview.render.base import BaseRenderer
from plugin.freeview.render.common import check_images, sample

#: On the CPU the re-aim map is computed on a grid this many times coarser and interpolated: the map
#: (a rotation homography through the lens distortion) is smooth, so this costs < 0.01 px.
COARSE = 4


class CutRenderer(BaseRenderer):
    """The nearest real camera, as it is (resized to the output when the sizes differ)."""

    mode = "cut"

    def sources_at(self, s: float) -> list[str]:
        return self.names([self.rig.nearest(s)])

    def render_camera(self, target: CameraModel, s: float, pivot: np.ndarray, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        [(_, img)] = self.load(images, self.names([self.rig.nearest(s)]))
        if img.shape[-2:] != (target.height, target.width):
            img = F.interpolate(img, size=(target.height, target.width), mode="bilinear", align_corners=False)
        return img


class SwitchRenderer(BaseRenderer):
    """The nearest camera re-aimed at the pivot by a rotation homography, horizon level, scale matched.

    The re-aimed camera keeps its own centre, takes the virtual view's orientation (looking at the
    pivot, level) and a focal length scaled so the pivot appears at the virtual view's size: switching
    from camera to camera turns about the pivot. Between cameras it switches at the half-way point.
    """

    mode = "switch"

    def sources_at(self, s: float) -> list[str]:
        return self.names([self.rig.nearest(s)])

    def reaim(self, source: CameraModel, image: torch.Tensor, target: CameraModel, pivot: np.ndarray) -> torch.Tensor:
        """(1, 3, H, W) ``image`` of ``source`` re-aimed to ``target``'s orientation from its own centre."""
        grid = self.rotation_grid(source, self.reaimed_camera(source, target, pivot))
        return sample(image, grid)

    def render_camera(self, target: CameraModel, s: float, pivot: np.ndarray, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        [(cam, img)] = self.load(images, self.names([self.rig.nearest(s)]))
        return self.reaim(cam, img, target, pivot)

    def render(self, view: VirtualView, images: Mapping[str, np.ndarray], width: int, height: int) -> np.ndarray:
        """On the CPU: the re-aim map on a coarse grid, interpolated, then ``cv2.remap`` on the 8-bit image.

        About ten times faster than building the full-resolution grid and sampling in float (720p: ~10 ms
        against ~160 ms on two cores), which lets a CPU engine switch at 50p. CUDA keeps the tensor path.
        """
        if self.device.type != "cpu":
            return super().render(view, images, width, height)
        [name] = self.names([self.rig.nearest(view.s)])
        check_images(images, [name])
        img = images[name]
        target = self.rig.view_camera(view, width, height)
        source = self.source_camera(name, int(img.shape[1]), int(img.shape[0]))
        reaimed = self.reaimed_camera(source, target, np.asarray(view.pivot, float))
        coarse = reaimed.scaled(max(2, -(-width // COARSE)), max(2, -(-height // COARSE)))
        with torch.inference_mode():
            grid = self.rotation_grid(source, coarse)  # (1, h, w, 2), align_corners=True normalised
            full = F.interpolate(grid.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=False)
        xy = full[0].numpy()
        map_x = ((xy[0] + 1.0) * 0.5 * (img.shape[1] - 1)).astype(np.float32)
        map_y = ((xy[1] + 1.0) * 0.5 * (img.shape[0] - 1)).astype(np.float32)
        return np.asarray(cv2.remap(np.ascontiguousarray(img), map_x, map_y, cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0), dtype=np.uint8)


class CrossfadeRenderer(BaseRenderer):
    """Baseline for evaluation: the two bracketing cameras, each re-aimed, blended by position s."""

    mode = "crossfade"

    def sources_at(self, s: float) -> list[str]:
        return self.names(self.rig.neighbours(s, 2))

    def render_camera(self, target: CameraModel, s: float, pivot: np.ndarray, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        idx = self.rig.neighbours(s, 2)
        loaded = self.load(images, self.names(idx), alpha=True)
        total = torch.zeros(1, 4, target.height, target.width, device=self.device)
        s = self.rig.path.clamp(s)
        for i, (cam, img) in zip(idx, loaded):
            w_s = max(0.0, 1.0 - abs(s - (i + 1)))
            if w_s <= 0 and len(idx) > 1:
                continue
            # Alpha says where the re-aimed camera sees anything: there the other one fills in alone
            # (no black wedges in the fade).
            total += sample(img, self.rotation_grid(cam, self.reaimed_camera(cam, target, pivot))) * w_s
        return total[:, :3] / total[:, 3:].clamp(min=1e-6)
