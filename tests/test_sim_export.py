"""``fvreplay sim export``: a rig instant as a COLMAP model, images and depth, exact and round-tripping."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from io_adapters.sim.export import export_rig
from io_adapters.sim.render import SimRenderer
from io_adapters.sim.scene import Scene
from io_adapters.sim.venue import interpolate_camera, profile_cameras_toml, venue_cameras
from plugin.cli import main
from plugin.freeview.camera import CameraModel
from plugin.freeview.colmap import read_colmap_model
from profiles.schema import Camera

W, H = 160, 90


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("simx")
    export_rig(out, time=1.25, width=W, height=H, between=1, sheet=True, max_points=2000)
    return out


def _same_camera(a: CameraModel, b: CameraModel) -> None:
    assert (a.width, a.height) == (b.width, b.height)
    for x, y in ((a.K, b.K), (a.R, b.R), (a.t, b.t), (a.dist, b.dist)):
        assert np.allclose(x, y, atol=1e-6, rtol=0), (a.name, x, y)


def test_export_round_trips_through_the_colmap_reader(exported: Path) -> None:
    model = read_colmap_model(exported)
    real = venue_cameras("arena", W, H)
    by_name = {c.name: c for c in model.cameras}
    assert len(model.cameras) == 10 + 9
    assert [c.name for c in model.cameras] == sorted(by_name)
    for cam in real:
        _same_camera(by_name[cam.name], cam)
    for cam in model.cameras:
        assert model.image_paths[cam.name].is_file()
        depth = np.load(exported / "depth" / f"{cam.name}.npy")
        assert depth.dtype == np.float32 and depth.shape == (H, W)
        assert np.isfinite(depth).mean() > 0.9
    assert model.points is not None and model.point_colors is not None and len(model.points) > 1000
    assert model.points[:, 2].min() > -1e-3  # nothing below the pitch
    assert (exported / "sheet.png").is_file()


def test_depth_files_and_points_are_the_scene_as_the_cameras_see_it(exported: Path) -> None:
    model = read_colmap_model(exported)
    cam = model.camera("cam05")
    depth = np.load(exported / "depth" / "cam05.npy")
    direct = SimRenderer(Scene(0, 3.0)).render(venue_cameras("arena", W, H)[4], 1.25)
    assert np.array_equal(depth, direct.depth)  # the depth file is the render's exact depth
    assert cv2.imread(str(model.image_paths["cam05"])).shape == (H, W, 3)
    # points3D lie on surfaces: none of those in cam05's frame is in front of what cam05 sees there, and
    # most are on it (within 3 %: a point comes from some camera of the rig, at its pixel centre).
    assert model.points is not None
    uv, z = cam.project(model.points)
    u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    inside = (z > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    seen = depth[v[inside], u[inside]]
    zin = z[inside]
    assert inside.sum() > 200
    assert np.mean(zin >= seen * 0.97) > 0.98
    assert np.mean(np.abs(zin / seen - 1) < 0.03) > 0.8


def test_virtual_cameras_render_like_direct_renders(exported: Path) -> None:
    model = read_colmap_model(exported)
    real = venue_cameras("arena", W, H)
    virtual = model.camera("cam03_v1of1")
    expect = interpolate_camera(real[2], real[3], 0.5, Scene(0).pivot, "cam03_v1of1")
    _same_camera(virtual, expect)
    assert not virtual.has_distortion
    direct = SimRenderer(Scene(0, 3.0)).render(expect, 1.25)
    png = cv2.imread(str(model.image_paths["cam03_v1of1"]))[:, :, ::-1]
    assert np.array_equal(png, direct.rgb)
    assert np.array_equal(np.load(exported / "depth" / "cam03_v1of1.npy"), direct.depth)
    # halfway along the arc: the same distance from the pivot as its neighbours, between them in angle
    pivot = Scene(0).pivot
    r = [np.linalg.norm((c.center - pivot)[:2]) for c in (real[2], virtual, real[3])]
    assert min(r[0], r[2]) - 1e-9 <= r[1] <= max(r[0], r[2]) + 1e-9


def test_cli_export_writes_the_rig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    code = main(["sim", "export", "--profile", "demo", "--time", "0.5", "--out", str(out),
                 "--width", "96", "--height", "54", "--venue", "arena"])
    assert code == 0
    assert "10 cameras" in capsys.readouterr().out
    assert len(read_colmap_model(out).cameras) == 10


def test_profile_camera_blocks_carry_exact_calibration() -> None:
    text = profile_cameras_toml("arena", 1280, 720)
    data = tomllib.loads(text)
    cams = venue_cameras("arena", 1280, 720)
    assert [c["name"] for c in data["cameras"]] == [c.name for c in cams]
    for block, cam in zip(data["cameras"], cams, strict=True):
        parsed = Camera.model_validate(block)
        cal = parsed.calibration
        assert parsed.source == f"sim://arena/{cam.name}"
        K = np.array([[cal.fx, 0, cal.cx], [0, cal.fy, cal.cy], [0, 0, 1]])  # type: ignore[union-attr]
        back = CameraModel(cam.name, 1280, 720, K, np.array(cal.rotation), np.array(cal.translation),  # type: ignore[union-attr]
                           np.array(cal.dist))  # type: ignore[union-attr]
        _same_camera(back, cam)
