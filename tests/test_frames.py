"""Pixel conversions: the fast OpenCV paths agree with the exact BT.709 maths; known colours land right."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plugin.frames import Frame, PixelFormat, rgb_to_uyvy, uyvy_to_rgb


@pytest.fixture
def picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(0, 256, (72, 128, 3), dtype=np.uint8), (0, 0), 2)


def test_round_trip_is_within_a_level_or_two(picture: np.ndarray) -> None:
    assert np.abs(uyvy_to_rgb(rgb_to_uyvy(picture)).astype(int) - picture).mean() < 1.5


@pytest.mark.parametrize(
    ("rgb", "ycbcr"),
    [
        ((0, 0, 0), (16, 128, 128)),
        ((255, 255, 255), (235, 128, 128)),
        ((255, 0, 0), (63, 102, 240)),  # BT.709 red: Y 63, Cb 102, Cr 240
        ((0, 255, 0), (173, 42, 26)),
        ((0, 0, 255), (32, 240, 118)),
    ],
)
def test_bt709_limited_range_colour_bars(rgb: tuple[int, int, int], ycbcr: tuple[int, int, int]) -> None:
    img = np.full((2, 4, 3), rgb, np.uint8)
    u = rgb_to_uyvy(img)
    y, cb, cr = int(u[0, 0, 1]), int(u[0, 0, 0]), int(u[0, 1, 0])
    assert abs(y - ycbcr[0]) <= 1 and abs(cb - ycbcr[1]) <= 1 and abs(cr - ycbcr[2]) <= 1
    assert np.abs(uyvy_to_rgb(u).astype(int) - np.array(rgb)).max() <= 3


def test_frame_formats_round_trip(picture: np.ndarray) -> None:
    for fmt in (PixelFormat.RGB, PixelFormat.UYVY, PixelFormat.BGRX):
        f = Frame.from_rgb(picture, camera="cam01", slot=7, tai_ns=0, pixel_format=fmt)
        assert f.data.shape == fmt.shape(128, 72)
        assert (f.width, f.height) == (128, 72)
        assert np.abs(f.to_rgb().astype(int) - picture).mean() < 2.5
    assert PixelFormat.P216.nbytes(1920, 1080) == 1920 * 1080 * 4


def test_p216_round_trips_through_uyvy_exactly(picture: np.ndarray) -> None:
    from plugin.frames import p216_to_uyvy, uyvy_to_p216

    u = rgb_to_uyvy(picture)
    p = uyvy_to_p216(u)
    assert p.shape == (2 * 72, 128) and p.dtype == np.uint16
    assert np.array_equal(p216_to_uyvy(p), u)
    # 10-bit values left-aligned round to the nearest 8-bit code
    assert np.array_equal(p216_to_uyvy(p + 0x7F), u) and np.array_equal(p216_to_uyvy(p + 0x80)[:, :, 1], np.minimum(u[:, :, 1] + 1, 255))


def test_converted_covers_every_pair(picture: np.ndarray) -> None:
    uyvy = Frame.from_rgb(picture, camera="c", slot=0, tai_ns=0, pixel_format=PixelFormat.UYVY)
    for src in PixelFormat:
        base = Frame(uyvy.converted(src), src, "c", 0, 0)
        for fmt in PixelFormat:
            data = base.converted(fmt)
            assert data.shape == fmt.shape(128, 72) and data.dtype == fmt.dtype, (src, fmt)
            back = Frame(data, fmt, "c", 0, 0)
            assert np.abs(back.to_rgb().astype(int) - picture).mean() < 2.5, (src, fmt)
