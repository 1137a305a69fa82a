"""Rig folders in the COLMAP text format: read and write ``cameras.txt``, ``images.txt``, ``points3D.txt``.

This is what COLMAP, Metashape and RealityCapture export, and what ``fvreplay sim export`` writes.
COLMAP's pose is the same as ours (``x_cam = R X + t``, the quaternion QW QX QY QZ is R), but its
pixel coordinates put (0, 0) at the *corner* of the top-left pixel where OpenCV puts it at that
pixel's centre: principal points are shifted by half a pixel on the way in and out.

Supported camera models: SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV, and FULL_OPENCV
when its rational terms k4 k5 k6 are zero. Each image becomes one :class:`CameraModel` named after
the image file without its extension (``images/cam03.png`` → ``cam03``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import numpy.typing as npt

from plugin.errors import CalibrationError
from plugin.freeview.camera import CameraModel, quaternion_to_rotation, rotation_to_quaternion

__all__ = ["SUPPORTED_MODELS", "ColmapModel", "read_colmap_model", "write_colmap_model"]

#: Parameter names of each supported model, in COLMAP's order.
SUPPORTED_MODELS: dict[str, tuple[str, ...]] = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fx", "fy", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
    "OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2"),
    "FULL_OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"),
}


@dataclass
class ColmapModel:
    """A rig read from a COLMAP text model; cameras are ordered by image name."""

    path: Path
    cameras: list[CameraModel]
    image_paths: dict[str, Path]  # camera name → image file (may not exist)
    image_names: dict[str, str]  # camera name → NAME as written in images.txt
    points: npt.NDArray[np.float64] | None = None  # (N, 3) world points, if points3D.txt has any
    point_colors: npt.NDArray[np.uint8] | None = None  # (N, 3) RGB
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = [c.name for c in self.cameras]

    def camera(self, name: str) -> CameraModel:
        """A camera by its name (``cam03``) or its image name (``cam03.png``)."""
        for cam in self.cameras:
            if name in (cam.name, self.image_names[cam.name]):
                return cam
        raise CalibrationError(f"{self.path}: no image named {name!r} (images: {', '.join(self.names)})")


@dataclass(frozen=True)
class _Intrinsics:
    model: str
    width: int
    height: int
    K: npt.NDArray[np.float64]
    dist: npt.NDArray[np.float64]


def _model_dir(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_file():
        path = path.parent
    for cand in (path, path / "sparse" / "0", path / "sparse"):
        if (cand / "cameras.txt").is_file():
            return cand
        if (cand / "cameras.bin").is_file():
            raise CalibrationError(
                f"{cand}: a binary COLMAP model; convert it to text with "
                f"`colmap model_converter --input_path {cand} --output_path {cand} --output_type TXT`"
            )
    raise CalibrationError(f"{path}: no COLMAP model here (expected cameras.txt and images.txt, or sparse/0/)")


def _data_lines(file: Path) -> list[tuple[int, str]]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{file}: cannot read: {exc.strerror}") from exc
    return [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())]


def _floats(file: Path, lineno: int, tokens: Sequence[str], what: str) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise CalibrationError(f"{file}:{lineno}: {what} must be numbers, got {' '.join(tokens)!r}") from None


def _int(file: Path, lineno: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise CalibrationError(f"{file}:{lineno}: {what} must be an integer, got {token!r}") from None


def _read_cameras(file: Path) -> dict[int, _Intrinsics]:
    out: dict[int, _Intrinsics] = {}
    for lineno, line in _data_lines(file):
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 4:
            raise CalibrationError(f"{file}:{lineno}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', got {line!r}")
        cam_id = _int(file, lineno, tok[0], "CAMERA_ID")
        model = tok[1].upper()
        if model not in SUPPORTED_MODELS:
            raise CalibrationError(
                f"{file}:{lineno}: camera model {tok[1]} is not supported (supported: {', '.join(SUPPORTED_MODELS)})"
            )
        width = _int(file, lineno, tok[2], "WIDTH")
        height = _int(file, lineno, tok[3], "HEIGHT")
        names = SUPPORTED_MODELS[model]
        if len(tok) - 4 != len(names):
            raise CalibrationError(
                f"{file}:{lineno}: {model} takes {len(names)} parameters ({' '.join(names)}), got {len(tok) - 4}"
            )
        v = dict(zip(names, _floats(file, lineno, tok[4:], "camera parameters"), strict=True))
        fx = v.get("fx", v.get("f", 0.0))
        fy = v.get("fy", v.get("f", 0.0))
        if fx <= 0 or fy <= 0 or width <= 0 or height <= 0:
            raise CalibrationError(f"{file}:{lineno}: focal lengths and image size must be positive")
        if model == "FULL_OPENCV" and any(v[k] != 0 for k in ("k4", "k5", "k6")):
            raise CalibrationError(
                f"{file}:{lineno}: FULL_OPENCV with rational terms k4 k5 k6 is not supported; "
                "re-run the calibration with the OPENCV model"
            )
        dist = np.array(
            [v.get("k1", v.get("k", 0.0)), v.get("k2", 0.0), v.get("p1", 0.0), v.get("p2", 0.0), v.get("k3", 0.0)]
        )
        # COLMAP measures pixels from the top-left corner, OpenCV from the top-left pixel's centre.
        K = np.array([[fx, 0.0, v["cx"] - 0.5], [0.0, fy, v["cy"] - 0.5], [0.0, 0.0, 1.0]])
        if cam_id in out:
            raise CalibrationError(f"{file}:{lineno}: CAMERA_ID {cam_id} appears twice")
        out[cam_id] = _Intrinsics(model, width, height, K, dist)
    return out


def _read_images(file: Path, cameras: dict[int, _Intrinsics]) -> list[tuple[str, CameraModel]]:
    lines = _data_lines(file)
    out: list[tuple[str, CameraModel]] = []
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        i += 1
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 10:
            raise CalibrationError(
                f"{file}:{lineno}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {line!r}"
            )
        q = _floats(file, lineno, tok[1:5], "QW QX QY QZ")
        t = _floats(file, lineno, tok[5:8], "TX TY TZ")
        cam_id = _int(file, lineno, tok[8], "CAMERA_ID")
        name = " ".join(tok[9:])
        if cam_id not in cameras:
            raise CalibrationError(f"{file}:{lineno}: image {name} uses CAMERA_ID {cam_id}, which cameras.txt lacks")
        if np.linalg.norm(q) < 1e-9:
            raise CalibrationError(f"{file}:{lineno}: image {name} has a zero quaternion")
        # The next physical line lists the image's 2D points (it may be empty).
        if i < len(lines):
            pl, points_line = lines[i]
            if points_line and not points_line.startswith("#") and len(points_line.split()) % 3:
                raise CalibrationError(
                    f"{file}:{pl}: expected the 2D points of image {name} (X Y POINT3D_ID triples, or an "
                    f"empty line), got {points_line[:60]!r}"
                )
            i += 1
        intr = cameras[cam_id]
        cam_name = str(PurePosixPath(name).with_suffix(""))
        out.append(
            (
                name,
                CameraModel(
                    cam_name, intr.width, intr.height, intr.K, quaternion_to_rotation(*q), np.array(t), intr.dist
                ),
            )
        )
    return out


def _read_points(file: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]] | None:
    if not file.is_file():
        return None
    pts, cols = [], []
    for lineno, line in _data_lines(file):
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 8:
            raise CalibrationError(f"{file}:{lineno}: expected 'POINT3D_ID X Y Z R G B ERROR TRACK...', got {line!r}")
        xyz = _floats(file, lineno, tok[1:4], "X Y Z")
        rgb = [_int(file, lineno, c, "R G B") for c in tok[4:7]]
        pts.append(xyz)
        cols.append(rgb)
    if not pts:
        return None
    return np.array(pts, float), np.clip(np.array(cols), 0, 255).astype(np.uint8)


def read_colmap_model(path: str | Path) -> ColmapModel:
    """Read a COLMAP text model (a folder with cameras.txt and images.txt, or its parent with sparse/0/)."""
    folder = _model_dir(Path(path))
    cameras = _read_cameras(folder / "cameras.txt")
    if not (folder / "images.txt").is_file():
        raise CalibrationError(f"{folder}: images.txt is missing")
    images = sorted(_read_images(folder / "images.txt", cameras), key=lambda item: item[0])
    if not images:
        raise CalibrationError(f"{folder / 'images.txt'}: no images")
    names = [cam.name for _, cam in images]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CalibrationError(f"{folder / 'images.txt'}: image names repeat: {', '.join(dupes)}")
    image_dir = folder / "images"
    for cand in (folder / "images", folder.parent / "images", folder.parent.parent / "images"):
        if (cand / images[0][0]).is_file():
            image_dir = cand
            break
    pts = _read_points(folder / "points3D.txt")
    return ColmapModel(
        path=folder,
        cameras=[cam for _, cam in images],
        image_paths={cam.name: image_dir / name for name, cam in images},
        image_names={cam.name: name for name, cam in images},
        points=None if pts is None else pts[0],
        point_colors=None if pts is None else pts[1],
    )


def _g(x: float) -> str:
    return f"{float(x):.17g}"


def write_colmap_model(
    path: str | Path,
    cameras: Sequence[CameraModel],
    points: npt.NDArray[np.float64] | None = None,
    colors: npt.NDArray[np.uint8] | None = None,
    *,
    image_names: Sequence[str] | None = None,
) -> None:
    """Write a COLMAP text model: one OPENCV camera per image (FULL_OPENCV when k3 is set).

    ``image_names`` default to ``<camera name>.png``; images are expected in ``path/images/``.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(image_names) if image_names is not None else [f"{c.name}.png" for c in cameras]
    if len(names) != len(cameras):
        raise CalibrationError(f"write_colmap_model: {len(cameras)} cameras but {len(names)} image names")
    cam_lines = [
        "# Camera list with one line of data per camera:",
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        f"# Number of cameras: {len(cameras)}",
    ]
    img_lines = [
        "# Image list with two lines of data per image:",
        "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
        "#   POINTS2D[] as (X, Y, POINT3D_ID)",
        f"# Number of images: {len(cameras)}, mean observations per image: 0",
    ]
    for i, (cam, name) in enumerate(zip(cameras, names, strict=True), start=1):
        k1, k2, p1, p2, k3 = cam.dist
        params = [cam.fx, cam.fy, cam.K[0, 2] + 0.5, cam.K[1, 2] + 0.5, k1, k2, p1, p2]
        model = "OPENCV"
        if k3 != 0:
            model = "FULL_OPENCV"
            params += [k3, 0.0, 0.0, 0.0]
        cam_lines.append(f"{i} {model} {cam.width} {cam.height} " + " ".join(_g(v) for v in params))
        q = rotation_to_quaternion(cam.R)
        img_lines.append(f"{i} " + " ".join(_g(v) for v in (*q, *cam.t)) + f" {i} {name}")
        img_lines.append("")
    (folder / "cameras.txt").write_text("\n".join(cam_lines) + "\n")
    (folder / "images.txt").write_text("\n".join(img_lines) + "\n")
    pt_lines = ["# 3D point list with one line of data per point:",
                "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)"]
    if points is not None:
        pts = np.asarray(points, float).reshape(-1, 3)
        cols = np.full(pts.shape, 128, np.uint8) if colors is None else np.asarray(colors).reshape(-1, 3)
        pt_lines.append(f"# Number of points: {len(pts)}, mean track length: 0")
        pt_lines += [
            f"{i} {x:.6f} {y:.6f} {z:.6f} {int(r)} {int(g)} {int(b)} 0"
            for i, ((x, y, z), (r, g, b)) in enumerate(zip(pts, cols, strict=True), start=1)
        ]
    (folder / "points3D.txt").write_text("\n".join(pt_lines) + "\n")
