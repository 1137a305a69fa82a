"""The COLMAP text reader against literal files, every supported camera model, and malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin.errors import CalibrationError
from plugin.freeview.camera import CameraModel, quaternion_to_rotation
from plugin.freeview.colmap import read_colmap_model, write_colmap_model

CAMERAS = """\
# Camera list with one line of data per camera:
#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]
1 SIMPLE_PINHOLE 640 480 500 320 240
2 PINHOLE 640 480 510 505 321 241
3 SIMPLE_RADIAL 640 480 520 322 242 -0.03
4 RADIAL 640 480 530 323 243 -0.04 0.01
5 OPENCV 1280 720 1800 1790 640.5 360.25 -0.05 0.02 0.001 -0.002
6 FULL_OPENCV 1280 720 1800 1790 640 360 -0.05 0.02 0.001 -0.002 0.003 0 0 0
"""

IMAGES = """\
# Image list with two lines of data per image:
#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME
#   POINTS2D[] as (X, Y, POINT3D_ID)
6 1 0 0 0 0 0 10 6 f.jpg

5 0.7071067811865476 0 0.7071067811865476 0 1 2 3 5 e.jpg
100.5 200.25 -1 101 201 7
1 1 0 0 0 0 0 5 1 a.jpg

2 1 0 0 0 0 0 5 2 b.jpg

3 1 0 0 0 0 0 5 3 c.jpg

4 1 0 0 0 0 0 5 4 d.jpg

"""

POINTS = """\
# 3D point list with one line of data per point:
1 0.5 1.5 -2.0 255 0 10 0.3 1 0 5 0
7 1 2 3 1 2 3 0.1
"""


def _model(tmp_path: Path, cameras: str = CAMERAS, images: str = IMAGES, points: str | None = POINTS) -> Path:
    (tmp_path / "cameras.txt").write_text(cameras)
    (tmp_path / "images.txt").write_text(images)
    if points is not None:
        (tmp_path / "points3D.txt").write_text(points)
    (tmp_path / "images").mkdir(exist_ok=True)
    for name in "abcdef":
        (tmp_path / "images" / f"{name}.jpg").write_bytes(b"")
    return tmp_path


def test_every_supported_model(tmp_path: Path) -> None:
    model = read_colmap_model(_model(tmp_path))
    assert [c.name for c in model.cameras] == ["a", "b", "c", "d", "e", "f"]  # ordered by image name
    a, b, c, d, e, f = model.cameras
    # COLMAP's principal point is measured from the pixel corner: OpenCV's is half a pixel less.
    assert np.allclose(a.K, [[500, 0, 319.5], [0, 500, 239.5], [0, 0, 1]])
    assert not a.has_distortion
    assert np.allclose(b.K, [[510, 0, 320.5], [0, 505, 240.5], [0, 0, 1]])
    assert np.allclose(c.dist, [-0.03, 0, 0, 0, 0]) and c.fx == c.fy == 520
    assert np.allclose(d.dist, [-0.04, 0.01, 0, 0, 0])
    assert np.allclose(e.K, [[1800, 0, 640.0], [0, 1790, 359.75], [0, 0, 1]])
    assert np.allclose(e.dist, [-0.05, 0.02, 0.001, -0.002, 0])
    assert np.allclose(e.R, quaternion_to_rotation(0.7071067811865476, 0, 0.7071067811865476, 0))
    assert np.allclose(e.t, [1, 2, 3]) and (e.width, e.height) == (1280, 720)
    assert np.allclose(f.dist, [-0.05, 0.02, 0.001, -0.002, 0.003])
    assert np.allclose(f.center, [0, 0, -10])
    assert model.image_paths["e"] == tmp_path / "images" / "e.jpg"
    assert model.image_names["e"] == "e.jpg" and model.camera("e.jpg") is e
    assert model.points is not None and model.point_colors is not None
    assert np.allclose(model.points, [[0.5, 1.5, -2.0], [1, 2, 3]])
    assert model.point_colors.tolist() == [[255, 0, 10], [1, 2, 3]]


def test_sparse_layout_and_missing_points(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse" / "0"
    sparse.mkdir(parents=True)
    (sparse / "cameras.txt").write_text(CAMERAS)
    (sparse / "images.txt").write_text(IMAGES)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    model = read_colmap_model(tmp_path)
    assert model.points is None
    assert model.image_paths["a"] == tmp_path / "images" / "a.jpg"  # images/ two levels up, as COLMAP lays it out


def test_write_then_read_is_exact(tmp_path: Path) -> None:
    cams = [
        CameraModel.look_at("left", [10, -20, 8], [0, 0, 1], width=1920, height=1080, focal_px=2100.25,
                            dist=(-0.04, 0.01, 1e-4, -2e-4, 0.0), principal=(955.3, 541.7)),
        CameraModel.look_at("right", [-12, -18, 9], [0, 0, 1], width=1920, height=1080, focal_px=1999,
                            dist=(-0.04, 0.01, 0, 0, 0.002)),
    ]
    pts = np.array([[0.0, 1.0, 2.0], [3.5, -1.25, 0.0]])
    write_colmap_model(tmp_path, cams, pts, np.array([[1, 2, 3], [250, 251, 252]], np.uint8))
    assert "FULL_OPENCV" in (tmp_path / "cameras.txt").read_text()  # k3 needs the full model
    model = read_colmap_model(tmp_path)
    for got, want in zip(model.cameras, cams, strict=True):
        for x, y in ((got.K, want.K), (got.R, want.R), (got.t, want.t), (got.dist, want.dist)):
            assert np.allclose(x, y, atol=1e-9, rtol=0)
    assert np.allclose(model.points, pts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cameras", "images", "message"),
    [
        ("1 PINHOLE 640 480 500 500 320\n", "", r"cameras.txt:1: PINHOLE takes 4 parameters"),
        ("# c\n1 OPENCV_FISHEYE 640 480 1 1 1 1 0 0 0 0\n", "", r"cameras.txt:2: camera model OPENCV_FISHEYE"),
        ("1 PINHOLE 640 480 500 five 320 240\n", "", r"cameras.txt:1: camera parameters must be numbers"),
        ("1 PINHOLE wide 480 500 500 320 240\n", "", r"cameras.txt:1: WIDTH must be an integer"),
        ("1 FULL_OPENCV 640 480 1 1 1 1 0 0 0 0 0 0.1 0 0\n", "", r"cameras.txt:1: FULL_OPENCV with rational"),
        ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 5 2 a.jpg\n\n", r"images.txt:1: .*CAMERA_ID 2"),
        ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 0 0 0 0 5 1\n", r"images.txt:1: expected 'IMAGE_ID"),
        (
            "1 PINHOLE 640 480 500 500 320 240\n",
            "1 1 0 0 0 0 0 5 1 a.jpg\n2 1 0 0 0 0 0 6 1 b.jpg\n",
            r"images.txt:2: expected the 2D points of image a.jpg",
        ),
        ("1 PINHOLE 640 480 500 500 320 240\n", "1 1 0 x 0 0 0 5 1 a.jpg\n", r"images.txt:1: QW QX QY QZ"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, cameras: str, images: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        read_colmap_model(_model(tmp_path, cameras, images, None))


def test_no_model_and_binary_model(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no COLMAP model here"):
        read_colmap_model(tmp_path)
    (tmp_path / "cameras.bin").write_bytes(b"\0")
    with pytest.raises(CalibrationError, match="model_converter"):
        read_colmap_model(tmp_path)


def test_malformed_points(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"points3D.txt:1: X Y Z must be numbers"):
        read_colmap_model(_model(tmp_path, points="1 a b c 1 2 3 0\n"))
