"""Clean plates: each camera's view of the venue without the players, and the foreground against it.

A plate is the per-pixel median of a camera's frames spread over time (players move, the venue does
not), the way sports free-viewpoint systems separate players from the venue. The depth renderer uses
the foreground masks to find the players: a point on a player lies inside the foreground of every
camera that sees it (a visual-hull test), which a photo-consistency window alone misses on something
a few pixels wide. Someone who stands still for the whole span the plate was made from stays in the
plate; the renderer then treats them as venue (the depth sweep still places them).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from plugin.errors import RenderError

#: Fewest frames a plate is made from: with fewer, a player passing slowly survives the median.
MIN_FRAMES = 3

_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)

#: A player's shadow is venue, not foreground: a pixel darker than its plate by a factor between these in
#: every channel, and by much the same factor in each (the colour kept: the factors within
#: ``SHADOW_TINT``), is the plate in shade. Plates no brighter than ``_SHADOW_LIT`` (8-bit) are not judged.
#: Left in the foreground, shadows widen the players' visual hull across the pitch.
SHADOW_DARKEST = 0.3
SHADOW_LIGHTEST = 0.92
SHADOW_TINT = 0.12
_SHADOW_LIT = 24


class BackgroundPlates:
    """Per-camera clean plates (uint8 RGB) and the foreground of a frame against its camera's plate.

    ``threshold``: the colour difference (0..1, the largest of R, G, B) above which a pixel is
    foreground. Lone foreground pixels are dropped (sensor noise) and the mask is grown by ``grow`` pixels (the
    anti-aliased rim of a player belongs to the player). With ``shadows`` (the default) the shade a player
    casts on the venue is not foreground (``SHADOW_DARKEST``).
    """

    def __init__(
        self, plates: Mapping[str, np.ndarray], *, threshold: float = 0.08, grow: int = 1, shadows: bool = True
    ) -> None:
        for name, plate in plates.items():
            if plate.ndim != 3 or plate.shape[2] != 3 or plate.dtype != np.uint8:
                raise RenderError(f"plate of {name}: need (H, W, 3) uint8 RGB, got {plate.shape} {plate.dtype}")
        if not 0 < threshold < 1:
            raise RenderError(f"foreground threshold must be in (0, 1), got {threshold}")
        self.plates = dict(plates)
        self.threshold = float(threshold)
        self.grow = int(grow)
        self.shadows = bool(shadows)
        self._on_device: dict[tuple[str, int, int, str], torch.Tensor] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_frames(cls, frames: Mapping[str, Sequence[np.ndarray]], **kwargs: float) -> BackgroundPlates:
        """Plates as the per-pixel median of each camera's frames ((H, W, 3) uint8 RGB, the same size)."""
        plates = {}
        for name, seq in frames.items():
            if len(seq) < MIN_FRAMES:
                raise RenderError(f"plate of {name}: need at least {MIN_FRAMES} frames spread over time, got {len(seq)}")
            shapes = {f.shape for f in seq}
            if len(shapes) != 1:
                raise RenderError(f"plate of {name}: frames differ in size: {sorted(shapes)}")
            plates[name] = np.median(np.stack(seq), axis=0).round().astype(np.uint8)
        return cls(plates, **kwargs)  # type: ignore[arg-type]

    def __contains__(self, name: object) -> bool:
        return name in self.plates

    @property
    def names(self) -> list[str]:
        return list(self.plates)

    def plate(self, name: str, width: int, height: int) -> np.ndarray:
        """Camera ``name``'s plate at ``width`` x ``height`` (area-resampled when it was made at another size)."""
        plate = self.plates[name]
        if plate.shape[:2] != (height, width):
            plate = cv2.resize(plate, (width, height), interpolation=cv2.INTER_AREA)
        return plate

    def foreground(self, name: str, image: np.ndarray, grow: int | None = None) -> np.ndarray:
        """(H, W) float32 mask, 1 where ``image`` (camera ``name``'s (H, W, 3) uint8 RGB) differs from the plate;
        grown by ``grow`` pixels (None: the plates' ``grow``)."""
        grow = self.grow if grow is None else grow
        h, w = image.shape[:2]
        plate = self.plate(name, w, h)
        d = cv2.absdiff(image, plate)
        diff = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])  # 25x faster than d.max(axis=2)
        mask: np.ndarray = (diff > self.threshold * 255).astype(np.uint8)
        if self.shadows:  # judged only where the difference made foreground (a few per cent of the picture)
            ys, xs = np.nonzero(mask)
            shade = _in_shade(image[ys, xs], plate[ys, xs])
            mask[ys[shade], xs[shade]] = 0
        # Lone pixels (sensor noise, compression) go: a pixel stays when a 4-neighbour is foreground too.
        neighbours = cv2.filter2D(mask, -1, _CROSS, borderType=cv2.BORDER_CONSTANT)
        mask &= (neighbours > 0).astype(np.uint8)
        if grow > 0:
            mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        return mask.astype(np.float32)

    def foregrounds(self, names: list[str], images: torch.Tensor, grow: int | None = None) -> torch.Tensor:
        """``foreground`` of several cameras at once, in torch where the images are (the renderer's GPU,
        against plates kept there): (n, H, W) float32 masks of ``images`` ((n, 3 or more, H, W) RGB in
        [0, 1], from 8-bit) of cameras ``names``. The same masks as ``foreground``; on a CPU that one
        (OpenCV) is several times faster. ``grow``: as ``foreground``'s."""
        grow = self.grow if grow is None else grow
        h, w = images.shape[-2:]
        plates = torch.stack([self._plate_tensor(name, w, h, images.device) for name in names])
        diff = (images[:, :3].float() - plates).abs_().amax(dim=1, keepdim=True)
        # Compared in 8-bit steps (the images were 8-bit): exactly the uint8 |a - b| > 255 t.
        mask = diff.mul_(255.0).round_() > self.threshold * 255.0
        if self.shadows:
            # As ``_in_shade``, on the same 8-bit values: the same float32 quotients, bit for bit.
            ratio = images[:, :3].float().mul(255.0).round_() / plates.mul(255.0).round_().clamp_(min=8.0)
            hi, lo = ratio.amax(dim=1, keepdim=True), ratio.amin(dim=1, keepdim=True)
            lit = plates.amax(dim=1, keepdim=True).mul(255.0).round_() > _SHADOW_LIT
            mask &= ~((lo > SHADOW_DARKEST) & (hi < SHADOW_LIGHTEST) & (hi - lo < SHADOW_TINT) & lit)
        mask = mask.float()
        # Lone pixels (sensor noise, compression) go: a pixel stays when a 4-neighbour is foreground too.
        cross = torch.from_numpy(_CROSS).to(images.device).view(1, 1, 3, 3)
        mask = mask * (F.conv2d(mask, cross, padding=1) > 0.5)
        if grow > 0:
            mask = F.max_pool2d(mask, 2 * grow + 1, stride=1, padding=grow)
        return mask[:, 0]

    def _plate_tensor(self, name: str, width: int, height: int, device: torch.device) -> torch.Tensor:
        """Camera ``name``'s plate as a (3, H, W) float tensor in [0, 1] on ``device`` (made once)."""
        key = (name, width, height, str(device))
        with self._lock:
            if key not in self._on_device:
                plate = torch.from_numpy(np.ascontiguousarray(self.plate(name, width, height)))
                self._on_device[key] = plate.to(device).permute(2, 0, 1).float().div_(255.0).contiguous()
            return self._on_device[key]


def _in_shade(image: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """(...) bool: where ``image`` is ``plate`` in shade (``SHADOW_DARKEST``; both (..., 3) uint8 RGB)."""
    ratio = image.astype(np.float32) / np.maximum(plate, 8).astype(np.float32)
    r, g, b = ratio[..., 0], ratio[..., 1], ratio[..., 2]
    hi, lo = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    lit = np.maximum(np.maximum(plate[..., 0], plate[..., 1]), plate[..., 2]) > _SHADOW_LIT
    darker = (lo > np.float32(SHADOW_DARKEST)) & (hi < np.float32(SHADOW_LIGHTEST))
    shade: np.ndarray = darker & (hi - lo < np.float32(SHADOW_TINT)) & lit
    return shade
