"""Pictures for the web: a frame (any pixel format) scaled to a thumbnail and encoded as JPEG or PNG."""

from __future__ import annotations

from typing import Annotated, Any

import cv2
import numpy as np
import numpy.typing as npt
from fastapi import Query, Response

from plugin.frames import Frame, PixelFormat, uyvy_to_rgb

U8 = npt.NDArray[np.uint8]

#: The query parameters of a JPEG preview route.
PreviewWidth = Annotated[int | None, Query(ge=16, le=7680, description="scale to this width (thumbnails)")]
PreviewQuality = Annotated[int, Query(ge=10, le=100)]


def _decimated_rgb(frame: Frame, width: int) -> U8:
    """RGB at no less than ``width`` pixels across, skipping rows and pixel pairs of big UYVY frames first.

    Converting a whole 1080p UYVY frame costs tens of milliseconds; a 320-wide thumbnail needs a sixth of it.
    """
    if frame.pixel_format is PixelFormat.UYVY:
        k = max(1, frame.width // max(width, 1))
        if k > 1:
            data = frame.data
            h, w = data.shape[:2]
            pairs = data.reshape(h, w // 2, 2, 2)[::k, ::k]
            return uyvy_to_rgb(np.ascontiguousarray(pairs.reshape(pairs.shape[0], pairs.shape[1] * 2, 2)))
    return frame.to_rgb()


def scaled_rgb(frame: Frame, width: int | None = None) -> U8:
    """The frame as RGB, scaled to ``width`` (aspect kept; the frame's own size when None or larger)."""
    if width is None or width >= frame.width:
        return frame.to_rgb()
    rgb = _decimated_rgb(frame, width)
    return resize_rgb(rgb, width, frame.width / frame.height)


def resize_rgb(rgb: U8, width: int | None, aspect: float | None = None) -> U8:
    if width is None or width == rgb.shape[1]:
        return rgb
    aspect = aspect or rgb.shape[1] / rgb.shape[0]
    height = max(1, round(width / aspect))
    interp = cv2.INTER_AREA if width < rgb.shape[1] else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgb, (width, height), interpolation=interp), dtype=np.uint8)


def encode(rgb: U8, kind: str, quality: int = 80) -> bytes:
    """RGB (H, W, 3) uint8 → JPEG (``kind="jpeg"``) or PNG bytes."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    params: list[Any]
    if kind == "jpeg":
        ext, params = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    else:
        ext, params = ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ValueError(f"cv2.imencode could not encode a {rgb.shape} picture as {kind}")
    return bytes(buf.tobytes())


def frame_jpeg(frame: Frame, width: int | None = None, quality: int = 80) -> bytes:
    return encode(scaled_rgb(frame, width), "jpeg", quality)


def jpeg_response(frame: Frame, width: int | None = None, quality: int = 80) -> Response:
    """A preview route's answer: the frame as JPEG, never cached, with the slot it shows in ``X-Slot``."""
    return Response(frame_jpeg(frame, width, quality), media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Slot": str(frame.slot)})
