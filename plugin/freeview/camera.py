"""The OpenCV camera model (pinhole + k1 k2 p1 p2 k3), world frame Z-up in metres.

A world point X maps to camera coordinates ``x_cam = R @ X + t`` (x right, y down, z forward),
then to normalised image coordinates, through the distortion polynomial, and through K to pixels.
Depth everywhere in fvreplay means z_cam: metres along the optical axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from plugin.errors import CalibrationError

F64 = npt.NDArray[np.float64]

WORLD_UP: F64 = np.array([0.0, 0.0, 1.0])


def look_at_rotation(center: F64, target: F64, up: F64 = WORLD_UP) -> F64:
    """World→camera rotation for a camera at ``center`` looking at ``target`` with a level horizon."""
    forward = np.asarray(target, float) - np.asarray(center, float)
    norm = np.linalg.norm(forward)
    if norm == 0:
        raise CalibrationError("look_at: camera centre and target coincide")
    z = forward / norm
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise CalibrationError("look_at: camera looks straight along the up axis; horizon undefined")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


@dataclass(frozen=True, eq=False)
class CameraModel:
    """One calibrated camera: image size, intrinsics K, distortion (k1, k2, p1, p2, k3), pose R, t."""

    name: str
    width: int
    height: int
    K: F64
    R: F64
    t: F64
    dist: F64 = field(default_factory=lambda: np.zeros(5))

    def __post_init__(self) -> None:
        object.__setattr__(self, "K", np.asarray(self.K, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "R", np.asarray(self.R, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "t", np.asarray(self.t, dtype=np.float64).reshape(3))
        d = np.zeros(5)
        given = np.asarray(self.dist, dtype=np.float64).ravel()
        if given.size > 5:
            raise CalibrationError(f"camera {self.name}: distortion has {given.size} terms; at most 5 (k1 k2 p1 p2 k3)")
        d[: given.size] = given
        object.__setattr__(self, "dist", d)
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-6):
            raise CalibrationError(f"camera {self.name}: rotation is not orthonormal")

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def look_at(
        cls,
        name: str,
        center: Any,
        target: Any,
        *,
        width: int,
        height: int,
        focal_px: float,
        dist: Any = (0.0, 0.0, 0.0, 0.0, 0.0),
        principal: tuple[float, float] | None = None,
    ) -> CameraModel:
        """A camera at ``center`` aimed at ``target`` with a level horizon (world Z up)."""
        R = look_at_rotation(np.asarray(center, float), np.asarray(target, float))
        cx, cy = principal if principal is not None else ((width - 1) / 2.0, (height - 1) / 2.0)
        K = np.array([[focal_px, 0, cx], [0, focal_px, cy], [0, 0, 1.0]])
        return cls(name, width, height, K, R, -R @ np.asarray(center, float), np.asarray(dist, float))

    def with_pose(self, R: F64, t: F64) -> CameraModel:
        return replace(self, R=R, t=t)

    def with_intrinsics(self, K: F64, width: int | None = None, height: int | None = None) -> CameraModel:
        return replace(self, K=K, width=width or self.width, height=height or self.height)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera delivering a different resolution (pixel-centre convention kept)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return replace(self, K=K, width=width, height=height)

    # --- properties ---------------------------------------------------------------------------

    @property
    def center(self) -> F64:
        """Camera centre in world coordinates."""
        return np.asarray(-self.R.T @ self.t)

    @property
    def forward(self) -> F64:
        """Optical axis direction in world coordinates."""
        return np.asarray(self.R[2])

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.dist != 0))

    # --- projection ---------------------------------------------------------------------------

    def world_to_camera(self, points: F64) -> F64:
        return np.asarray(np.asarray(points, float) @ self.R.T + self.t)

    def distort_normalized(self, xy: F64) -> F64:
        """Apply the OpenCV distortion polynomial to normalised coordinates (N, 2)."""
        k1, k2, p1, p2, k3 = self.dist
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def undistort_normalized(self, xy_d: F64, iterations: int = 20) -> F64:
        """Invert the distortion polynomial by fixed-point iteration (as cv2.undistortPoints does)."""
        if not self.has_distortion:
            return np.asarray(xy_d, float)
        k1, k2, p1, p2, k3 = self.dist
        xy = np.array(xy_d, dtype=float)
        for _ in range(iterations):
            x, y = xy[..., 0], xy[..., 1]
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            xy = np.stack([(xy_d[..., 0] - dx) / radial, (xy_d[..., 1] - dy) / radial], axis=-1)
        return xy

    def project(self, points: F64) -> tuple[F64, F64]:
        """World points (N, 3) → pixels (N, 2) and depth z_cam (N,). Points behind get NaN pixels."""
        pc = self.world_to_camera(points)
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = pc[..., :2] / z[..., None]
        xy = self.distort_normalized(xy)
        uv = xy @ self.K[:2, :2].T + self.K[:2, 2]
        uv[z <= 0] = np.nan
        return uv, z

    def pixel_to_normalized(self, uv: F64) -> F64:
        """Pixels (N, 2) → undistorted normalised coordinates (N, 2)."""
        uv = np.asarray(uv, float)
        xy_d = (uv - self.K[:2, 2]) @ np.linalg.inv(self.K[:2, :2]).T
        return self.undistort_normalized(xy_d)

    def unproject(self, uv: F64, depth: F64) -> F64:
        """Pixels (N, 2) at depth z_cam (N,) → world points (N, 3)."""
        xy = self.pixel_to_normalized(uv)
        pc = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1) * np.asarray(depth, float)[..., None]
        return np.asarray((pc - self.t) @ self.R)

    def pixel_rays(self, uv: F64) -> tuple[F64, F64]:
        """Rays through pixels: (origin (3,), unit directions in world (N, 3))."""
        xy = self.pixel_to_normalized(uv)
        d_cam = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)
        d = d_cam @ self.R
        return self.center, d / np.linalg.norm(d, axis=-1, keepdims=True)

    # --- serialisation (OpenCV-style JSON) -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """OpenCV-style calibration: K, dist (k1 k2 p1 p2 k3), R (world→camera), t, image size."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "dist": self.dist.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> CameraModel:
        """Read OpenCV-style JSON: ``K`` or ``fx fy cx cy``; ``R`` or ``rvec`` (Rodrigues); ``t``/``tvec``."""
        try:
            if "K" in data or "camera_matrix" in data:
                K = np.asarray(data.get("K", data.get("camera_matrix")), float).reshape(3, 3)
            else:
                K = np.array([[data["fx"], 0, data["cx"]], [0, data["fy"], data["cy"]], [0, 0, 1.0]], float)
            if "R" in data:
                R = np.asarray(data["R"], float).reshape(3, 3)
            else:
                R = rodrigues(np.asarray(data["rvec"], float).ravel())
            t = np.asarray(data.get("t", data.get("tvec")), float).ravel()
            dist = np.asarray(data.get("dist", data.get("distortion", [0, 0, 0, 0, 0])), float).ravel()
            return cls(str(name or data.get("name", "camera")), int(data["width"]), int(data["height"]), K, R, t, dist)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"calibration {name or data.get('name', '?')}: {exc!s} missing or malformed") from exc


def rodrigues(rvec: F64) -> F64:
    """Rotation vector → rotation matrix (the OpenCV convention)."""
    theta = float(np.linalg.norm(rvec))
    if theta < 1e-12:
        return np.eye(3)
    k = rvec / theta
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.asarray(np.eye(3) + np.sin(theta) * Kx + (1 - np.cos(theta)) * Kx @ Kx)


def quaternion_to_rotation(qw: float, qx: float, qy: float, qz: float) -> F64:
    """Unit quaternion (COLMAP's QW QX QY QZ) → rotation matrix."""
    q = np.array([qw, qx, qy, qz], float)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_quaternion(R: F64) -> tuple[float, float, float, float]:
    """Rotation matrix → unit quaternion (QW, QX, QY, QZ) with QW ≥ 0."""
    m = np.asarray(R, float)
    tr = np.trace(m)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    q = np.array([w, x, y, z])
    if q[0] < 0:
        q = -q
    q /= np.linalg.norm(q)
    return float(q[0]), float(q[1]), float(q[2]), float(q[3])
