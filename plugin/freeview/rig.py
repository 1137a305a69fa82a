"""A rig: calibrated cameras ordered along the arc, loaded from a profile, a COLMAP folder or OpenCV JSON.

Cameras are numbered 1..N along the arc (view position s = i is camera i). The rig turns a
:class:`~plugin.freeview.path.VirtualView` into a :class:`CameraModel` that renderers draw.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from plugin.errors import CalibrationError
from plugin.freeview.camera import F64, CameraModel, look_at_rotation
from plugin.freeview.path import ArcPath, VirtualView
from plugin.freeview.pivot import convergence_pivot

if TYPE_CHECKING:
    from profiles.schema import Profile

log = logging.getLogger("fvreplay.freeview.rig")


def order_along_arc(cameras: Sequence[CameraModel]) -> list[int]:
    """Indices that put ``cameras`` in order along their arc (or line), keeping the given order where it agrees.

    Centres are ordered by their azimuth about the point the optical axes converge on (an arc or a ring),
    or along their main direction when the axes are parallel (a straight rig). An open arc starts after its
    widest gap. The direction follows the order given when that order clearly runs one way; otherwise it is
    left to right as seen from behind the cameras (counter-clockwise seen from above). A full ring starts at
    the first camera given.
    """
    n = len(cameras)
    if n <= 2:
        return list(range(n))
    centers = np.array([c.center for c in cameras])
    try:
        pivot = convergence_pivot(cameras)
    except CalibrationError:
        pivot = None
    if pivot is not None:
        rel = centers - pivot
        angle = np.arctan2(rel[:, 1], rel[:, 0])
        by_angle = [int(v) for v in np.argsort(angle, kind="stable")]
        sorted_angle = angle[by_angle]
        gaps = np.diff(np.concatenate([sorted_angle, [sorted_angle[0] + 2 * math.pi]]))
        widest = int(np.argmax(gaps))
        ring = gaps[widest] < 1.5 * float(np.median(gaps))
        start = by_angle.index(0) if ring else (widest + 1) % n
        order = by_angle[start:] + by_angle[:start]
        reverse = [order[0], *order[1:][::-1]] if ring else order[::-1]
    else:
        mean = centers.mean(axis=0)
        _, _, vt = np.linalg.svd(centers - mean)
        axis = vt[0] if float(vt[0] @ np.mean([c.R[0] for c in cameras], axis=0)) >= 0 else -vt[0]
        order = [int(v) for v in np.argsort((centers - mean) @ axis, kind="stable")]
        reverse = order[::-1]
    given = np.arange(n)
    agree = float(np.corrcoef(given, np.argsort(order))[0, 1])
    disagree = float(np.corrcoef(given, np.argsort(reverse))[0, 1])
    if disagree - agree > 0.5:
        order = reverse
    return order


class Rig:
    """Calibrated cameras, ordered along the arc; camera i (1-based) sits at view position s = i.

    ``match_scale``: when true the virtual camera keeps the pivot at one apparent size along the whole
    rig (the rig's mean magnification f / distance-to-pivot), instead of interpolating the cameras' own
    focal lengths. ``default_pivot``: the profile's scene.pivot, else where the optical axes converge.
    """

    def __init__(
        self,
        cameras: Sequence[CameraModel],
        *,
        order: bool = True,
        match_scale: bool = False,
        default_pivot: Sequence[float] | F64 | None = None,
        image_paths: dict[str, Path] | None = None,
        points: F64 | None = None,
    ) -> None:
        cams = list(cameras)
        if not cams:
            raise CalibrationError("a rig needs at least one calibrated camera")
        names = [c.name for c in cams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise CalibrationError(f"rig: camera names must be unique; repeated: {', '.join(dupes)}")
        if order:
            idx = order_along_arc(cams)
            if idx != list(range(len(cams))):
                log.warning("rig: cameras reordered along the arc: %s", ", ".join(cams[i].name for i in idx))
            cams = [cams[i] for i in idx]
        self.cameras: list[CameraModel] = cams
        self.match_scale = match_scale
        self.image_paths: dict[str, Path] = dict(image_paths or {})
        self.points = None if points is None else np.asarray(points, float).reshape(-1, 3)
        self._default_pivot = None if default_pivot is None else np.asarray(default_pivot, float).reshape(3)
        self._by_name = {c.name: i for i, c in enumerate(cams)}
        self.path = ArcPath(np.array([c.center for c in cams]))

    # --- lookup -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[CameraModel]:
        return iter(self.cameras)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> CameraModel:
        try:
            return self.cameras[self._by_name[name]]
        except KeyError:
            raise CalibrationError(f"rig has no camera {name!r} (cameras: {', '.join(self.names)})") from None

    def nearest(self, s: float) -> int:
        """0-based index of the camera nearest to view position ``s`` (halves go to the later camera)."""
        s = self.path.clamp(s)
        return min(int(math.floor(s + 0.5)), len(self)) - 1

    def neighbours(self, s: float, count: int) -> list[int]:
        """0-based indices of the ``count`` cameras nearest ``s`` along the arc: the two bracketing first."""
        s = self.path.clamp(s)
        if len(self) == 1 or count <= 1:
            return [self.nearest(s)]
        i, _ = self.path.segment(s)
        picked = [i, i + 1]
        lo, hi = i - 1, i + 2
        while len(picked) < min(count, len(self)):
            left = s - (lo + 1) if lo >= 0 else math.inf
            right = (hi + 1) - s if hi < len(self) else math.inf
            if left <= right:
                picked.append(lo)
                lo -= 1
            else:
                picked.append(hi)
                hi += 1
        return picked

    def locate(self, center: F64) -> float:
        """The view position whose path point is closest to a world point (e.g. a held-out camera)."""
        return self.path.locate(center)

    @property
    def default_pivot(self) -> F64:
        """The profile's pivot, else where the optical axes converge (raises when they do not)."""
        if self._default_pivot is None:
            self._default_pivot = convergence_pivot(self.cameras)
        return self._default_pivot.copy()

    def without(self, *names: str) -> Rig:
        """The same rig less some cameras (leave-one-out evaluation); order kept."""
        for n in names:
            self.camera(n)
        kept = [c for c in self.cameras if c.name not in names]
        return Rig(
            kept,
            order=False,
            match_scale=self.match_scale,
            default_pivot=self._default_pivot,
            image_paths={k: v for k, v in self.image_paths.items() if k not in names},
            points=self.points,
        )

    def scaled(self, width: int, height: int) -> Rig:
        """The same rig delivering another resolution."""
        return Rig(
            [c.scaled(width, height) for c in self.cameras],
            order=False,
            match_scale=self.match_scale,
            default_pivot=self._default_pivot,
            image_paths=self.image_paths,
            points=self.points,
        )

    # --- views --------------------------------------------------------------------------------

    def view_camera(self, view: VirtualView, width: int, height: int) -> CameraModel:
        """The pinhole camera (no distortion) that draws ``view`` at ``width`` x ``height``.

        Centre: the arc path at s (clamped to [1, N]); orientation: looking at the pivot with a level
        horizon; focal: the two bracketing cameras' focal lengths (rescaled to this width) interpolated
        linearly, times ``view.zoom``; principal point: the image centre.
        """
        pivot = np.asarray(view.pivot, float)
        center = self.path.point(view.s)
        R = look_at_rotation(center, pivot)
        i, u = self.path.segment(view.s)
        a = self.cameras[i]
        b = self.cameras[min(i + 1, len(self) - 1)]
        fx = (1 - u) * a.fx * width / a.width + u * b.fx * width / b.width
        fy = (1 - u) * a.fy * height / a.height + u * b.fy * height / b.height
        if self.match_scale:
            mags = [c.fx * width / c.width / np.linalg.norm(c.center - pivot) for c in self.cameras]
            scale = float(np.mean(mags)) * float(np.linalg.norm(center - pivot)) / fx
            fx, fy = fx * scale, fy * scale
        K = np.array([[fx * view.zoom, 0.0, (width - 1) / 2.0], [0.0, fy * view.zoom, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return CameraModel(f"s={view.s:.4f}", width, height, K, R, -R @ center)

    # --- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Rig:
        """A rig from a COLMAP text model folder or an OpenCV-style JSON file."""
        p = Path(path)
        if p.is_dir():
            return cls.from_colmap(p, **kwargs)
        if p.suffix.lower() == ".json":
            return cls(list(read_camera_json(p).values()), **kwargs)
        raise CalibrationError(f"{p}: not a COLMAP model folder or an OpenCV .json calibration file")

    @classmethod
    def from_colmap(cls, folder: str | Path, **kwargs: Any) -> Rig:
        """A rig from a COLMAP text model (cameras.txt, images.txt, optional points3D.txt, images/)."""
        model = _read_colmap(Path(folder))
        paths = {name: Path(p) for name, p in dict(model.image_paths).items()}
        return cls(model.cameras, image_paths=paths, points=model.points, **kwargs)

    @classmethod
    def from_profile(cls, profile: Profile, **kwargs: Any) -> Rig:
        """The enabled cameras of a profile, in the profile's order, each scaled to the profile's format.

        Calibrations come inline, from a COLMAP folder or from an OpenCV JSON file (paths relative to the
        profile's folder). A camera without one raises CalibrationError naming it.
        """
        from profiles.schema import InlineCalibration

        width, height = profile.format.width, profile.format.height
        files: dict[Path, dict[str, CameraModel]] = {}
        cams: list[CameraModel] = []
        for index, cam in enumerate(profile.cameras):
            if not cam.enabled:
                continue
            where = f"cameras[{index}] ({cam.name})"
            cal = cam.calibration
            if cal is None:
                raise CalibrationError(
                    f"{where}: no calibration; free-viewpoint rendering needs every enabled camera calibrated "
                    "(add cameras.calibration inline, or rig = 'folder' / 'file.json')"
                )
            if isinstance(cal, InlineCalibration):
                K = np.array([[cal.fx, 0.0, cal.cx], [0.0, cal.fy, cal.cy], [0.0, 0.0, 1.0]])
                try:
                    model = CameraModel(
                        cam.name,
                        cal.width or width,
                        cal.height or height,
                        K,
                        np.array(cal.rotation),
                        np.array(cal.translation),
                        np.array(cal.dist),
                    )
                except CalibrationError as exc:
                    raise CalibrationError(f"{where}.calibration: {exc}") from exc
            else:
                path = Path(cal.rig)
                if not path.is_absolute():
                    path = profile.folder / path
                if path not in files:
                    files[path] = _read_calibration_file(path)
                entries = files[path]
                model = _pick(entries, cal.image or cam.name, f"{where}.calibration.rig ({path})")
                model = dataclasses.replace(model, name=cam.name)
            if (model.width, model.height) != (width, height):
                model = model.scaled(width, height)
            cams.append(model)
        if not cams:
            raise CalibrationError("profile has no enabled cameras")
        pivot = profile.scene.pivot
        kwargs.setdefault("default_pivot", pivot)
        return cls(cams, **kwargs)


def read_camera_json(path: str | Path) -> dict[str, CameraModel]:
    """OpenCV-style JSON: a list of CameraModel.to_dict() entries, or a map name -> entry (or either under
    a top-level "cameras" key). Returns cameras by name, in file order."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise CalibrationError(f"{p}: cannot read calibration file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if isinstance(data, dict) and "cameras" in data and not _looks_like_camera(data):
        data = data["cameras"]
    out: dict[str, CameraModel] = {}
    if isinstance(data, list):
        for i, entry in enumerate(data):
            if not isinstance(entry, dict) or "name" not in entry:
                raise CalibrationError(f"{p}: entry [{i}] must be an object with a name")
            out[str(entry["name"])] = CameraModel.from_dict(entry, name=str(entry["name"]))
    elif isinstance(data, dict):
        for key, entry in data.items():
            if not isinstance(entry, dict):
                raise CalibrationError(f"{p}: entry {key!r} must be an object (K, dist, R, t, width, height)")
            out[str(key)] = CameraModel.from_dict(entry, name=str(key))
    else:
        raise CalibrationError(f"{p}: expected a list of cameras or a map name -> camera")
    if not out:
        raise CalibrationError(f"{p}: no cameras in the file")
    return out


def _looks_like_camera(entry: dict[str, Any]) -> bool:
    return "width" in entry and ("K" in entry or "fx" in entry)


def _read_colmap(folder: Path) -> Any:
    try:
        from plugin.freeview.colmap import read_colmap_model
    except ImportError as exc:  # pragma: no cover - the reader ships with the package
        raise CalibrationError(f"{folder}: the COLMAP reader is not available ({exc})") from exc
    return read_colmap_model(folder)


def _read_calibration_file(path: Path) -> dict[str, CameraModel]:
    if path.is_dir():
        model = _read_colmap(path)
        return {c.name: c for c in model.cameras}
    if not path.exists():
        raise CalibrationError(f"{path}: no such calibration folder or file")
    return read_camera_json(path)


def _pick(entries: dict[str, CameraModel], key: str, where: str) -> CameraModel:
    """The entry named ``key``, allowing a COLMAP image name's extension or folder to differ."""
    if key in entries:
        return entries[key]
    stem = Path(key).stem
    matches = [v for k, v in entries.items() if Path(k).stem == stem]
    if len(matches) == 1:
        return matches[0]
    raise CalibrationError(f"{where}: no camera {key!r} in the file (it has: {', '.join(entries)})")
