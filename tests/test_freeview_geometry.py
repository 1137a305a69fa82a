"""Free-viewpoint geometry: cameras, rigs from profiles / JSON / COLMAP, ordering, pivots, paths and moves."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from plugin.errors import CalibrationError, RenderError
from plugin.freeview.camera import CameraModel
from plugin.freeview.move import EASINGS, Move, MoveKey, orbit
from plugin.freeview.path import VirtualView
from plugin.freeview.pivot import convergence_pivot, pick_pivot
from plugin.freeview.rig import Rig, order_along_arc, read_camera_json
from plugin.freeview.testscene import arc_cameras
from profiles import load_profile

PIVOT = np.array([0.0, 0.0, 1.0])


def arc(count: int = 5, **kw: float) -> list[CameraModel]:
    return arc_cameras(count, width=320, height_px=180, **kw)  # type: ignore[arg-type]


# --- camera model ------------------------------------------------------------------------------


def test_projection_round_trips_through_distortion() -> None:
    cam = CameraModel.look_at(
        "c",
        [20.0, -25.0, 9.0],
        PIVOT,
        width=640,
        height=360,
        focal_px=700,
        dist=(-0.04, 0.006, 2e-4, -1e-4, 0.0),
        principal=(322.0, 178.5),
    )
    rng = np.random.default_rng(1)
    pts = rng.uniform([-8, -5, 0], [8, 5, 2.5], (200, 3))
    uv, z = cam.project(pts)
    back = cam.unproject(uv, z)
    np.testing.assert_allclose(back, pts, atol=1e-6)
    origin, rays = cam.pixel_rays(uv)
    along = (pts - origin) / np.linalg.norm(pts - origin, axis=1, keepdims=True)
    np.testing.assert_allclose(rays, along, atol=1e-7)


# --- rigs ----------------------------------------------------------------------------------------


def _inline_block(cam: CameraModel, name: str, scale: float = 1.0) -> str:
    K = cam.scaled(round(cam.width * scale), round(cam.height * scale)).K
    rot = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in cam.R)
    return f"""
[[cameras]]
name = "{name}"
source = "mem://{name}"
[cameras.calibration]
fx = {float(K[0, 0])!r}
fy = {float(K[1, 1])!r}
cx = {float(K[0, 2])!r}
cy = {float(K[1, 2])!r}
rotation = [{rot}]
translation = [{", ".join(repr(float(v)) for v in cam.t)}]
width = {round(cam.width * scale)}
height = {round(cam.height * scale)}
"""


HEADER = """
name = "rigtest"
[format]
width = 320
height = 180
rate = "50"
[[channels]]
name = "PGM1"
outputs = ["mem://PGM1"]
"""


def test_rig_from_profile_inline_scales_to_the_format(write_profile) -> None:  # type: ignore[no-untyped-def]
    cams = arc(4)
    # cam02 was calibrated at twice the house format: the rig must bring it to 320x180.
    text = HEADER + "".join(_inline_block(c, c.name, 2.0 if c.name == "cam02" else 1.0) for c in cams)
    rig = Rig.from_profile(load_profile(write_profile(text)))
    assert rig.names == ["cam01", "cam02", "cam03", "cam04"]
    assert all((c.width, c.height) == (320, 180) for c in rig)
    np.testing.assert_allclose(rig.camera("cam02").K, cams[1].K, atol=1e-9)
    np.testing.assert_allclose(rig.camera("cam03").center, cams[2].center, atol=1e-9)


def test_rig_from_profile_names_the_uncalibrated_camera(write_profile) -> None:  # type: ignore[no-untyped-def]
    cams = arc(2)
    text = HEADER + _inline_block(cams[0], "cam01") + '\n[[cameras]]\nname = "cam02"\nsource = "mem://cam02"\n'
    with pytest.raises(CalibrationError, match=r"cameras\[1\] \(cam02\): no calibration"):
        Rig.from_profile(load_profile(write_profile(text)))


@pytest.mark.parametrize("form", ["list", "map"])
def test_rig_from_profile_reads_opencv_json(write_profile, tmp_path: Path, form: str) -> None:  # type: ignore[no-untyped-def]
    cams = arc(3)
    entries = [c.to_dict() for c in cams]
    data = entries if form == "list" else {e.pop("name"): e for e in entries}
    (tmp_path / "calib.json").write_text(json.dumps(data))
    text = HEADER + "".join(
        f'\n[[cameras]]\nname = "{n}"\nsource = "mem://{n}"\n[cameras.calibration]\nrig = "calib.json"\nimage = "{c}"\n'
        for n, c in (("left", "cam01"), ("mid", "cam02"), ("right", "cam03"))
    )
    rig = Rig.from_profile(load_profile(write_profile(text)))
    assert rig.names == ["left", "mid", "right"]
    np.testing.assert_allclose(rig.camera("right").R, cams[2].R)
    assert set(read_camera_json(tmp_path / "calib.json")) == {"cam01", "cam02", "cam03"}


def test_rig_json_errors_say_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        read_camera_json(bad)
    bad.write_text(json.dumps([{"name": "a", "width": 10}]))
    with pytest.raises(CalibrationError, match="calibration a"):
        read_camera_json(bad)


def test_rig_from_colmap_folder(tmp_path: Path) -> None:
    from plugin.freeview.colmap import write_colmap_model

    cams = arc(5)
    shuffled = [cams[i] for i in (3, 0, 4, 1, 2)]
    write_colmap_model(tmp_path, shuffled, points=np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5]]))
    rig = Rig.load(tmp_path)
    assert rig.names == [c.name for c in cams]  # ordered along the arc, not by file order
    np.testing.assert_allclose(rig.camera("cam04").center, cams[3].center, atol=1e-6)
    assert rig.points is not None and rig.points.shape == (2, 3)
    assert rig.image_paths["cam02"].name == "cam02.png"


def test_order_along_arc() -> None:
    cams = arc(8)
    shuffled = cams[:]
    random.Random(3).shuffle(shuffled)
    assert [shuffled[i].name for i in order_along_arc(shuffled)] == [c.name for c in cams]
    # Listed right to left on purpose: the direction given is kept.
    backwards = cams[::-1]
    assert order_along_arc(backwards) == list(range(8))
    # A straight rig aimed straight ahead (parallel axes): ordered left to right.
    line = [
        CameraModel.look_at(f"l{i}", [x, -30.0, 5.0], [x, 0.0, 5.0], width=64, height=36, focal_px=60)
        for i, x in enumerate([3.0, -6.0, 0.0, 9.0, -3.0])
    ]
    assert [line[i].name for i in order_along_arc(line)] == ["l1", "l4", "l2", "l0", "l3"]


def test_rig_rejects_duplicate_names() -> None:
    cams = arc(2)
    with pytest.raises(CalibrationError, match="repeated: cam01"):
        Rig([cams[0], cams[0]])


# --- pivots --------------------------------------------------------------------------------------


def test_convergence_pivot_recovers_the_aim_point() -> None:
    target = np.array([3.0, -2.0, 1.5])
    cams = arc_cameras(6, spacing_deg=15, width=320, height_px=180, pivot=tuple(target))  # type: ignore[arg-type]
    np.testing.assert_allclose(convergence_pivot(cams), target, atol=1e-9)
    np.testing.assert_allclose(Rig(cams).default_pivot, target, atol=1e-9)


def test_convergence_pivot_refuses_parallel_axes() -> None:
    cams = [
        CameraModel.look_at(f"p{i}", [x, -30.0, 5.0], [x, 0.0, 5.0], width=64, height=36, focal_px=60)
        for i, x in enumerate([0.0, 4.0, 8.0])
    ]
    with pytest.raises(CalibrationError, match="parallel"):
        convergence_pivot(cams)


def test_pixel_pick_hits_the_ground_plane() -> None:
    cam = arc(3)[1]
    ground_point = np.array([4.0, 2.5, 0.0])
    uv, _ = cam.project(ground_point[None])
    np.testing.assert_allclose(pick_pivot(cam, uv[0]), ground_point, atol=1e-9)
    ball = np.array([-2.0, 1.0, 1.8])
    uv, _ = cam.project(ball[None])
    np.testing.assert_allclose(pick_pivot(cam, uv[0], height=1.8), ball, atol=1e-9)
    with pytest.raises(RenderError, match="never meets"):
        pick_pivot(cam, (160.0, -400.0))  # far above the horizon


# --- the camera path ------------------------------------------------------------------------------


def test_view_camera_at_integer_s_is_that_camera() -> None:
    cams = arc(5)
    rig = Rig(cams)
    for i, cam in enumerate(cams, start=1):
        v = rig.view_camera(VirtualView(i, PIVOT), 320, 180)
        np.testing.assert_allclose(v.center, cam.center, atol=1e-9)
        np.testing.assert_allclose(v.R, cam.R, atol=1e-9)
        np.testing.assert_allclose(v.K, cam.K, atol=1e-9)


def test_view_camera_between_cameras_is_level_smooth_and_interpolates_focal() -> None:
    cams = [c.with_intrinsics(c.K * np.array([[1 + 0.1 * i], [1 + 0.1 * i], [1]])) for i, c in enumerate(arc(5))]
    rig = Rig(cams)
    v = rig.view_camera(VirtualView(3.5, PIVOT), 320, 180)
    assert abs(v.R[0, 2]) < 1e-12  # level horizon: the camera's x axis has no world-z component
    assert v.R[1, 2] < 0  # and image-down points down in the world
    assert v.fx == pytest.approx((cams[2].fx + cams[3].fx) / 2)
    np.testing.assert_allclose(v.forward, (PIVOT - v.center) / np.linalg.norm(PIVOT - v.center), atol=1e-12)
    # On the arc between the two centres, at the same distance from the pivot (a circle).
    radius = np.linalg.norm(cams[2].center[:2] - PIVOT[:2])
    assert np.linalg.norm(v.center[:2] - PIVOT[:2]) == pytest.approx(radius, rel=2e-3)
    zoomed = rig.view_camera(VirtualView(3.5, PIVOT, zoom=2.0), 640, 360)
    assert zoomed.fx == pytest.approx(4 * v.fx)  # twice the width, twice the zoom
    # Path is continuous: small steps in s make small steps in space.
    centres = np.array([rig.path.point(s) for s in np.linspace(1, 5, 401)])
    assert np.max(np.linalg.norm(np.diff(centres, axis=0), axis=1)) < 0.1
    assert rig.locate(rig.path.point(2.3)) == pytest.approx(2.3, abs=1e-4)


def test_match_scale_keeps_the_pivot_size() -> None:
    cams = arc(4)
    near = CameraModel.look_at("cam05", PIVOT + (cams[3].center - PIVOT) * 0.7, PIVOT, width=320, height=180, focal_px=cams[0].fx)
    rig = Rig([*cams, near], match_scale=True)
    sizes = [rig.view_camera(VirtualView(s, PIVOT), 320, 180) for s in (1, 4.5, 5)]
    mags = [c.fx / np.linalg.norm(c.center - PIVOT) for c in sizes]
    assert max(mags) == pytest.approx(min(mags), rel=1e-9)


def test_virtual_view_validates_and_round_trips() -> None:
    v = VirtualView(2.5, np.array([1.0, 2.0, 0.0]), zoom=1.5)
    assert v.pivot == (1.0, 2.0, 0.0)
    assert VirtualView.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    with pytest.raises(RenderError, match="zoom"):
        VirtualView(1, (0, 0, 0), zoom=0)
    with pytest.raises(RenderError, match="pivot"):
        VirtualView(1, (0, 0))


# --- moves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("easing", sorted(EASINGS))
def test_move_easing_hits_its_keys_and_never_overshoots(easing: str) -> None:
    move = Move(((0.0, 1.0, 1.0), (2.0, 4.0, 2.0), (3.0, 2.0, 1.0)), easing=easing)
    assert move.duration == 3.0
    assert move.view_at(0.0) == (1.0, 1.0)
    assert move.view_at(2.0) == pytest.approx((4.0, 2.0))
    assert move.view_at(3.0) == (2.0, 1.0)
    assert move.view_at(-1.0) == (1.0, 1.0) and move.view_at(10.0) == (2.0, 1.0)
    ss = [move.view_at(t)[0] for t in np.linspace(0, 2, 101)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(ss))
    assert max(ss) <= 4.0 + 1e-12


def test_ease_in_out_is_gentle_at_the_ends_and_halfway_in_the_middle() -> None:
    move = orbit(1, 5, 2.0, "ease-in-out")
    assert move.view_at(1.0)[0] == pytest.approx(3.0)
    assert move.view_at(0.02)[0] - 1 < 0.01  # starts slowly
    linear = orbit(1, 5, 2.0, "linear")
    assert linear.view_at(0.5)[0] == pytest.approx(2.0)


def test_move_json_round_trip_and_time_modes() -> None:
    move = Move((MoveKey(0, 2, 1), MoveKey(1.5, 6.5, 1.2)), easing="sine", time_mode="play", speed=0.5)
    again = Move.from_dict(json.loads(json.dumps(move.to_dict())))
    assert again == move
    assert again.media_time(2.0) == pytest.approx(1.0)
    assert orbit(1, 3, 1.0).media_time(0.7) == 0.0  # frozen: bullet time at one slot


@pytest.mark.parametrize(
    "data, message",
    [
        ({"keys": []}, "at least one key"),
        ({"keys": [{"time": 0, "s": 1}, {"time": 0, "s": 2}]}, "key times must differ"),
        ({"keys": [{"time": 0, "s": 1}], "easing": "bounce"}, "easing 'bounce' is unknown"),
        ({"keys": [{"time": 0, "s": 1}], "time_mode": "rewind"}, "time_mode"),
        ({"keys": [{"time": -1, "s": 1}]}, "negative"),
        ({"keys": [{"time": 0}]}, r"keys\[0\]"),
        ({"keys": [{"time": 0, "s": 1}], "colour": "red"}, "unknown field"),
    ],
)
def test_move_rejects_bad_input_clearly(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RenderError, match=message):
        Move.from_dict(data)
