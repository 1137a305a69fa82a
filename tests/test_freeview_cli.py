"""``fvreplay synth``, ``depth`` and ``eval`` on small rigs (a COLMAP folder, and the sim venue)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from plugin.cli import main
from plugin.cli.freeview import depth_range
from plugin.freeview.camera import CameraModel
from plugin.freeview.colmap import write_colmap_model
from plugin.freeview.evaluate import psnr, ssim
from plugin.freeview.rig import Rig
from plugin.freeview.testscene import TestScene, arc_cameras

W, H = 320, 180


pytestmark = pytest.mark.usefixtures("two_torch_threads")


@pytest.fixture(scope="module")
def rig_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A 5-camera COLMAP rig of the test venue, with images and points on the pitch and the players."""
    folder = tmp_path_factory.mktemp("rig")
    scene = TestScene()
    cams = arc_cameras(5, width=W, height_px=H)
    (folder / "images").mkdir()
    pictures, depths = {}, {}
    for cam in cams:
        img, depth = scene.render(cam)
        cv2.imwrite(str(folder / "images" / f"{cam.name}.png"), img[:, :, ::-1])
        pictures[cam.name], depths[cam.name] = img, depth
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform([-15, -10, 0], [15, 10, 0], (300, 3)), rng.uniform([-8, -5, 0], [8, 5, 2], (50, 3))])
    write_colmap_model(folder, cams, points=pts)
    return folder, pictures, depths


def test_depth_range_from_points_or_flags() -> None:
    cam = arc_cameras(1, width=W, height_px=H)[0]
    rig = Rig([cam], points=np.array([[0.0, y, 0.0] for y in np.linspace(-8, 8, 50)]))
    near, far = depth_range(rig, cam, None, None)
    z = cam.world_to_camera(rig.points)[:, 2]
    assert near < z.min() * 0.85 and far > z.max() * 1.2
    assert depth_range(rig, cam, 3.0, 40.0) == (3.0, 40.0)
    from plugin.errors import RenderError

    with pytest.raises(RenderError, match="give --near and --far"):
        depth_range(Rig([cam]), cam, None, None)


def test_synth_recreates_a_held_out_camera(rig_folder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, pictures, _ = rig_folder
    out = tmp_path / "cam03.png"
    assert main(["synth", "--rig", str(folder), "--target", "cam03", "--device", "cpu", "--out", str(out)]) == 0
    got = cv2.imread(str(out))[:, :, ::-1]
    assert got.shape == (H, W, 3)
    out_sw = tmp_path / "cam03_switch.png"
    assert (
        main(["synth", "--rig", str(folder), "--target", "cam03", "--mode", "switch", "--device", "cpu", "--out", str(out_sw)])
        == 0
    )
    switched = cv2.imread(str(out_sw))[:, :, ::-1]
    truth = pictures["cam03"]
    assert psnr(got, truth) > 21 and psnr(got, truth) > psnr(switched, truth) + 4
    assert ssim(got, truth) > ssim(switched, truth)


def test_synth_exclude_leaves_cameras_out(rig_folder, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder, _, _ = rig_folder
    out = tmp_path / "x.png"
    assert (
        main(
            [
                "synth",
                "--rig",
                str(folder),
                "--target",
                "cam03",
                "--exclude",
                "cam02",
                "cam04",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    line = capsys.readouterr().out
    assert "cam02" not in line and "cam04" not in line and "cam01" in line and "cam05" in line


def test_depth_command_measures_the_pitch(rig_folder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, _, depths = rig_folder
    out = tmp_path / "cam02.npy"
    assert main(["depth", "--rig", str(folder), "--target", "cam02", "--device", "cpu", "--out", str(out)]) == 0
    est = np.load(out)
    truth = depths["cam02"]
    assert est.dtype == np.float32 and est.shape == truth.shape
    known = np.isfinite(est) & np.isfinite(truth)
    assert known.mean() > 0.6
    assert np.median(np.abs(est[known] / truth[known] - 1)) < 0.01


def test_cli_errors_are_clear(rig_folder, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder, _, _ = rig_folder
    assert main(["synth", "--rig", str(folder), "--target", "cam09", "--out", str(tmp_path / "a.png")]) == 2
    assert "no camera 'cam09'" in capsys.readouterr().err
    assert main(["depth", "--rig", str(tmp_path / "nowhere"), "--target", "cam01", "--out", str(tmp_path / "a.npy")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_eval_scores_against_the_sim(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "eval.json"
    code = main(
        [
            "eval",
            "--profile",
            "demo",
            "--width",
            "256",
            "--height",
            "144",
            "--held-out",
            "cam05",
            "--views",
            "4.5",
            "--modes",
            "switch,crossfade,depth,oracle",
            "--device",
            "cpu",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "mean virtual" in table and "oracle" in table
    data = json.loads(out.read_text())
    means = data["means"]["all"]
    assert means["depth"]["psnr"] > means["switch"]["psnr"] + 4
    assert means["depth"]["psnr"] > means["crossfade"]["psnr"] + 3
    assert means["oracle"]["psnr"] > means["depth"]["psnr"]
    assert {r["kind"] for r in data["rows"]} == {"held-out", "virtual"}
    # The players are scored on their own too: harder than the whole picture, and depth far above switch.
    assert "players only:" in table
    assert all(r["psnr_players"] < r["psnr"] for r in data["rows"])
    assert means["depth"]["psnr_players"] > means["switch"]["psnr_players"] + 6


def test_psnr_and_ssim_are_standard() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    assert psnr(noisy, a) == pytest.approx(10 * np.log10(255**2 / np.mean((noisy.astype(float) - a) ** 2)))
    assert ssim(255 - a, a) < 0 < ssim(noisy, a) < 1
    # Over part of the picture: that part's pixels alone; none at all, no number.
    part = np.zeros((64, 64), bool)
    part[10:20, 5:50] = True
    noisy[part] = np.clip(a[part].astype(int) + 40, 0, 255)
    assert psnr(noisy, a, part) == pytest.approx(psnr(noisy[10:20, 5:50], a[10:20, 5:50]))
    assert psnr(noisy, a, part) < psnr(noisy, a, ~part)
    assert np.isnan(psnr(noisy, a, np.zeros((64, 64), bool)))


def test_read_of_a_camera_round_trips_through_colmap(tmp_path: Path) -> None:
    cam = CameraModel.look_at(
        "cam01", [0.0, -30.0, 8.0], [0.0, 0.0, 1.0], width=W, height=H, focal_px=400, dist=(-0.03, 0.002, 0.0, 0.0, 0.0)
    )
    write_colmap_model(tmp_path, [cam])
    back = Rig.load(tmp_path).camera("cam01")
    np.testing.assert_allclose(back.K, cam.K, atol=1e-9)
    np.testing.assert_allclose(back.dist, cam.dist, atol=1e-12)
    np.testing.assert_allclose(back.R, cam.R, atol=1e-9)
    np.testing.assert_allclose(back.t, cam.t, atol=1e-9)
