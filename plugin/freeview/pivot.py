"""The pivot: the world point a virtual camera looks at, from the rig's optical axes or an operator's pick."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plugin.errors import CalibrationError, RenderError
from plugin.freeview.camera import F64, CameraModel

#: Smallest/largest eigenvalue ratio below which the optical axes do not pin down a point
#: (they are near parallel, e.g. a straight rig all aimed the same way).
_CONDITION = 1e-4


def convergence_pivot(cameras: Sequence[CameraModel]) -> F64:
    """The world point closest to every optical axis in the least-squares sense.

    Minimises sum_i |(I - d_i d_i^T)(p - c_i)|^2 over p, with c_i a camera centre and d_i its
    optical axis. Raises CalibrationError when the axes are (near) parallel and no point is defined.
    """
    if len(cameras) < 2:
        raise CalibrationError("convergence pivot: need at least two cameras whose optical axes cross")
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for cam in cameras:
        d = cam.forward / np.linalg.norm(cam.forward)
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ cam.center
    eig = np.linalg.eigvalsh(A)
    if eig[0] < _CONDITION * eig[-1]:
        raise CalibrationError(
            "convergence pivot: the cameras' optical axes are (near) parallel and meet nowhere; "
            "set scene.pivot in the profile or pick the pivot on a camera"
        )
    p = np.linalg.solve(A, b)
    # Axes that meet behind the cameras are no pivot: every camera must look towards it.
    if any(float((p - cam.center) @ cam.forward) <= 0 for cam in cameras):
        raise CalibrationError("convergence pivot: the optical axes converge behind a camera; set scene.pivot in the profile")
    return np.asarray(p)


def pick_pivot(camera: CameraModel, pixel: Sequence[float], *, height: float = 0.0) -> F64:
    """Where the ray through ``pixel`` (u, v) of ``camera`` meets the horizontal plane z = ``height``.

    This is how an operator picks a pivot: click a player's feet (height 0, the pitch) or the ball
    in the air at a known height.
    """
    uv = np.asarray(pixel, float).reshape(1, 2)
    if not np.all(np.isfinite(uv)):
        raise RenderError(f"pivot pick: pixel {tuple(pixel)} is not a finite (u, v)")
    origin, d = camera.pixel_rays(uv)
    dz = float(d[0, 2])
    if abs(dz) < 1e-9:
        raise RenderError(
            f"pivot pick: the ray through pixel {tuple(pixel)} of {camera.name} is parallel to the plane z = {height}"
        )
    lam = (height - float(origin[2])) / dz
    if lam <= 0:
        raise RenderError(
            f"pivot pick: the ray through pixel {tuple(pixel)} of {camera.name} never meets the plane "
            f"z = {height} in front of the camera (pick below the horizon)"
        )
    return np.asarray(origin + lam * d[0])
