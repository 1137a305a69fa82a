"""Frames as they arrived from a camera, the set of all cameras at one slot, and pixel conversions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]


class PixelFormat(str, enum.Enum):
    """How a frame's pixels are laid out; frames are stored as they arrived and converted when used."""

    UYVY = "uyvy"  # 8-bit 4:2:2, shape (H, W, 2): U0 Y0 V0 Y1 …
    BGRX = "bgrx"  # 8-bit 4:4:4 with a padding byte, shape (H, W, 4)
    RGB = "rgb"  # 8-bit 4:4:4, shape (H, W, 3)
    P216 = "p216"  # 16-bit 4:2:2 semi-planar (10-bit sources left-aligned), shape (2H, W) uint16

    def shape(self, width: int, height: int) -> tuple[int, ...]:
        return {
            PixelFormat.UYVY: (height, width, 2),
            PixelFormat.BGRX: (height, width, 4),
            PixelFormat.RGB: (height, width, 3),
            PixelFormat.P216: (2 * height, width),
        }[self]

    @property
    def dtype(self) -> type[np.generic]:
        return np.uint16 if self is PixelFormat.P216 else np.uint8

    def nbytes(self, width: int, height: int) -> int:
        return int(np.prod(self.shape(width, height))) * np.dtype(self.dtype).itemsize


# ITU-R BT.709, limited ("video") range: the colour space of HD and of NDI's UYVY.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB
_RGB_TO_YCBCR = np.array(
    [
        [_KR, _KG, _KB],
        [-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5],
        [0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))],
    ],
    dtype=np.float32,
)

# Affine forms for cv2.transform (SIMD, float32): RGB 0..255 → [Y', Cb', Cr'] code values, and back.
_ENC = np.zeros((3, 4), np.float32)
_ENC[:, :3] = _RGB_TO_YCBCR * (np.array([219.0, 224.0, 224.0], np.float32)[:, None] / 255.0)
_ENC[:, 3] = (16.0, 128.0, 128.0)
_DEC = np.zeros((3, 4), np.float32)
_DEC[:, :3] = np.linalg.inv(_ENC[:, :3].astype(np.float64)).astype(np.float32)
_DEC[:, 3] = -_DEC[:, :3] @ _ENC[:, 3]


def rgb_to_uyvy(rgb: U8) -> U8:
    """Convert (H, W, 3) RGB to (H, W, 2) UYVY, BT.709 limited range, chroma averaged per pair."""
    h, w, _ = rgb.shape
    if w % 2:
        raise ValueError(f"UYVY needs an even width, got {w}")
    # cv2.transform on 8-bit pictures computes in float and saturates/rounds back to 8 bits.
    ycc = np.asarray(cv2.transform(np.ascontiguousarray(rgb, dtype=np.uint8), _ENC), dtype=np.uint8)
    out = np.empty((h, w, 2), dtype=np.uint8)
    out[:, :, 1] = ycc[:, :, 0]
    pair: npt.NDArray[np.uint16] = ycc[:, 0::2, 1:].astype(np.uint16) + ycc[:, 1::2, 1:]
    chroma = np.right_shift(pair + 1, 1).astype(np.uint8)
    out[:, 0::2, 0] = chroma[:, :, 0]
    out[:, 1::2, 0] = chroma[:, :, 1]
    return out


def uyvy_to_rgb(uyvy: U8) -> U8:
    """Convert (H, W, 2) UYVY (BT.709 limited range) to (H, W, 3) RGB (chroma repeated per pair)."""
    h, w, _ = uyvy.shape
    ycc = np.empty((h, w, 3), np.uint8)
    ycc[:, :, 0] = uyvy[:, :, 1]
    ycc[:, 0::2, 1] = uyvy[:, 0::2, 0]
    ycc[:, 1::2, 1] = uyvy[:, 0::2, 0]
    ycc[:, 0::2, 2] = uyvy[:, 1::2, 0]
    ycc[:, 1::2, 2] = uyvy[:, 1::2, 0]
    return np.asarray(cv2.transform(ycc, _DEC), dtype=np.uint8)


def p216_to_uyvy(p216: npt.NDArray[np.uint16]) -> U8:
    """(2H, W) P216 (16-bit Y plane, then interleaved CbCr) to (H, W, 2) UYVY, each sample rounded to 8 bits."""
    h = p216.shape[0] // 2
    top = np.minimum((p216 >> 8) + ((p216 >> 7) & 1), 255).astype(np.uint8)  # round(v / 256) without overflow
    out = np.empty((h, p216.shape[1], 2), np.uint8)
    out[:, :, 1] = top[:h]
    out[:, :, 0] = top[h:]
    return out


def uyvy_to_p216(uyvy: U8) -> npt.NDArray[np.uint16]:
    """(H, W, 2) UYVY to (2H, W) P216: the 8-bit values left-aligned in 16 bits."""
    h = uyvy.shape[0]
    out = np.empty((2 * h, uyvy.shape[1]), np.uint16)
    out[:h] = uyvy[:, :, 1].astype(np.uint16) << 8
    out[h:] = uyvy[:, :, 0].astype(np.uint16) << 8
    return out


def p216_to_rgb(p216: npt.NDArray[np.uint16]) -> U8:
    """Convert (2H, W) P216 to (H, W, 3) RGB."""
    return uyvy_to_rgb(p216_to_uyvy(p216))


def rgb_to_bgrx(rgb: U8) -> U8:
    """(H, W, 3) RGB to (H, W, 4) BGRX (the padding byte 255)."""
    return np.concatenate([rgb[:, :, ::-1], np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)


def encode_jpeg(rgb: U8, quality: int) -> bytes | None:
    """(H, W, 3) RGB as JPEG bytes, or None when the encoder refuses it."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return bytes(buf) if ok else None


def decode_jpeg(blob: bytes) -> U8 | None:
    """JPEG bytes as (H, W, 3) RGB, or None when they are not a readable JPEG."""
    bgr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
    return None if bgr is None else np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


@dataclass(slots=True)
class Frame:
    """One camera's picture for one slot, with its pixels exactly as the source delivered them."""

    data: npt.NDArray[Any]
    pixel_format: PixelFormat
    camera: str
    slot: int
    tai_ns: int
    timecode: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.data.shape[0] // 2 if self.pixel_format is PixelFormat.P216 else self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    def to_rgb(self) -> U8:
        """The picture as (H, W, 3) RGB uint8 (a view, not a copy, when it already is RGB)."""
        if self.pixel_format is PixelFormat.RGB:
            return self.data
        if self.pixel_format is PixelFormat.UYVY:
            return uyvy_to_rgb(self.data)
        if self.pixel_format is PixelFormat.BGRX:
            return np.ascontiguousarray(self.data[:, :, 2::-1])
        return p216_to_rgb(self.data)

    def to_uyvy(self) -> U8:
        """The picture as (H, W, 2) UYVY, the format of NDI and SDI outputs."""
        if self.pixel_format is PixelFormat.UYVY:
            return self.data
        if self.pixel_format is PixelFormat.P216:
            return p216_to_uyvy(self.data)
        return rgb_to_uyvy(self.to_rgb())

    def converted(self, pixel_format: PixelFormat) -> npt.NDArray[Any]:
        """The pixels in another format (the same array when it already is that format)."""
        if pixel_format is self.pixel_format:
            return self.data
        if pixel_format is PixelFormat.UYVY:
            return self.to_uyvy()
        if pixel_format is PixelFormat.RGB:
            return self.to_rgb()
        if pixel_format is PixelFormat.BGRX:
            return rgb_to_bgrx(self.to_rgb())
        return uyvy_to_p216(self.to_uyvy())

    @classmethod
    def from_rgb(
        cls,
        rgb: U8,
        *,
        camera: str,
        slot: int,
        tai_ns: int,
        pixel_format: PixelFormat = PixelFormat.RGB,
        timecode: str = "",
    ) -> Frame:
        """Wrap an RGB picture, converting it to ``pixel_format``."""
        data = cls(rgb, PixelFormat.RGB, camera, slot, tai_ns).converted(pixel_format)
        return cls(data, pixel_format, camera, slot, tai_ns, timecode)


@dataclass(slots=True)
class FrameSet:
    """Every camera's frame for one slot: "all cameras at this instant" in one lookup."""

    slot: int
    frames: dict[str, Frame]

    def __getitem__(self, camera: str) -> Frame:
        return self.frames[camera]

    def __contains__(self, camera: object) -> bool:
        return camera in self.frames

    @property
    def cameras(self) -> list[str]:
        return list(self.frames)
