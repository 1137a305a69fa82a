"""The renderers: cut, switch (rotation homography), crossfade and depth, on a small ray-cast venue.

Every test runs on the CPU; the same tests run on CUDA where there is a GPU (skipped otherwise).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plugin.errors import RenderError
from plugin.freeview.background import BackgroundPlates
from plugin.freeview.camera import CameraModel
from plugin.freeview.evaluate import psnr
from plugin.freeview.path import VirtualView
from plugin.freeview.render import DepthRenderer, ViewRenderer, make_renderer
from plugin.freeview.rig import Rig
from plugin.freeview.testscene import TestScene, arc_cameras

W, H = 320, 180
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.cuda),
]


pytestmark = pytest.mark.usefixtures("two_torch_threads")


def test_make_renderer_gives_every_mode_the_engine_interface() -> None:
    rig = Rig(arc_cameras(5, width=W, height_px=H))
    view = VirtualView(2.5, rig.default_pivot)
    counts = {}
    for mode in ("cut", "switch", "depth", "crossfade", "oracle"):
        r = make_renderer(mode, rig, device="cpu", near=5.0, far=90.0)
        assert isinstance(r, ViewRenderer) and r.mode == mode
        counts[mode] = len(r.sources_for(view))
    assert counts["cut"] == counts["switch"] == 1
    assert 2 <= counts["depth"] <= 4
    assert make_renderer("depth", rig, device="cpu", quality="draft", near=5.0, far=90.0).sources_for(view) == ["cam02", "cam03"]
    with pytest.raises(RenderError, match="mode 'warp' is unknown"):
        make_renderer("warp", rig, near=5.0, far=90.0)
    with pytest.raises(RenderError, match="near < far"):
        make_renderer("depth", rig, near=50.0, far=5.0)
    if not torch.cuda.is_available():
        with pytest.raises(RenderError, match="no CUDA GPU"):
            make_renderer("switch", rig, device="cuda", near=5.0, far=90.0)


@pytest.mark.parametrize("device", DEVICES)
def test_cut_shows_the_nearest_camera(venue, device: str) -> None:  # type: ignore[no-untyped-def]
    _, rig, images = venue
    r = make_renderer("cut", rig, device=device, near=5.0, far=90.0)
    view = VirtualView(3.4, rig.default_pivot)
    assert r.sources_for(view) == ["cam03"]
    np.testing.assert_array_equal(r.render(view, images, W, H), images["cam03"])
    half = r.render(VirtualView(3.5, rig.default_pivot), images, W // 2, H // 2)
    assert half.shape == (H // 2, W // 2, 3) and half.dtype == np.uint8


@pytest.mark.parametrize("device", DEVICES)
def test_switch_at_integer_s_is_the_rotation_homography(device: str) -> None:
    # Cameras aimed off the pivot and rolled a little, so re-aiming really turns them.
    pivot = np.array([0.0, 0.0, 1.0])
    scene = TestScene()
    cams = []
    for cam in arc_cameras(4, spacing_deg=10, width=W, height_px=H, focal_px=330):
        aim = pivot + np.array([2.5, -1.0, 0.8]) * (1 if cam.name in ("cam01", "cam03") else -1)
        c = CameraModel.look_at(cam.name, cam.center, aim, width=W, height=H, focal_px=330 + 10 * len(cams))
        roll = cv2.Rodrigues(np.array([0.0, 0.0, 0.03]))[0]
        cams.append(c.with_pose(roll @ c.R, roll @ c.t))
    rig = Rig(cams)
    images = {c.name: scene.render(c, supersample=1)[0] for c in cams}
    r = make_renderer("switch", rig, device=device, near=5.0, far=90.0)
    for s in (2, 3):
        view = VirtualView(s, pivot)
        got = r.render(view, images, W, H)
        v, c = rig.view_camera(view, W, H), cams[s - 1]
        Hmat = v.K @ v.R @ c.R.T @ np.linalg.inv(c.K)
        want = cv2.warpPerspective(
            images[c.name], Hmat, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        diff = np.abs(got.astype(int) - want.astype(int))
        assert np.mean(diff) < 0.6, f"s={s}: mean difference {np.mean(diff):.2f} levels"
        inner = diff[4:-4, 4:-4]
        assert np.percentile(inner, 99.5) <= 3
        assert np.mean(np.abs(got.astype(int) - images[c.name].astype(int))) > 10  # it did turn


@pytest.mark.parametrize("device", DEVICES)
def test_switch_turns_about_the_pivot_with_matched_scale(venue, device: str) -> None:  # type: ignore[no-untyped-def]
    scene, rig, images = venue
    r = make_renderer("switch", rig, device=device, near=5.0, far=90.0)
    pivot = np.array([4.0, 2.0, 0.0])  # off-centre: every camera has to turn to it
    for s, source in ((1.6, "cam02"), (2.4, "cam02"), (4.0, "cam04")):
        view = VirtualView(s, pivot)
        v = rig.view_camera(view, W, H)
        seen_from = r.reaimed_camera(rig.camera(source), v, pivot)  # type: ignore[attr-defined]
        # The re-aimed camera stands where the real one does, looks at the pivot with a level horizon,
        # and shows the pivot at the virtual view's size (a 1 m bar at the pivot spans the same pixels).
        np.testing.assert_allclose(seen_from.center, rig.camera(source).center, atol=1e-9)
        uv_v, _ = v.project(np.array([pivot, pivot + v.R[0]]))  # a 1 m bar across each line of sight
        uv_s, _ = seen_from.project(np.array([pivot, pivot + seen_from.R[0]]))
        np.testing.assert_allclose(uv_s[0], [(W - 1) / 2, (H - 1) / 2], atol=1e-6)
        assert np.linalg.norm(uv_s[1] - uv_s[0]) == pytest.approx(np.linalg.norm(uv_v[1] - uv_v[0]), rel=1e-9)
        assert abs(seen_from.R[0, 2]) < 1e-12
        # And the picture is that camera's view, re-aimed: compare with the venue seen from it.
        truth, _ = scene.render(seen_from)
        out = r.render(view, images, W, H)
        covered = out.sum(axis=2) > 0
        assert covered.mean() > 0.6
        assert psnr(out[covered], truth[covered]) > 27


@pytest.mark.parametrize("device", DEVICES)
def test_depth_beats_crossfade_between_cameras(venue, device: str) -> None:  # type: ignore[no-untyped-def]
    scene, rig, images = venue
    pivot = rig.default_pivot
    depth = make_renderer("depth", rig, device=device, near=5.0, far=90.0)
    fade = make_renderer("crossfade", rig, device=device, near=5.0, far=90.0)
    switch = make_renderer("switch", rig, device=device, near=5.0, far=90.0)
    view = VirtualView(2.5, pivot)
    truth, _ = scene.render(rig.view_camera(view, W, H))
    p_depth = psnr(depth.render(view, images, W, H), truth)
    p_fade = psnr(fade.render(view, images, W, H), truth)
    p_switch = psnr(switch.render(view, images, W, H), truth)
    assert p_depth >= 24.0, f"depth {p_depth:.2f} dB"
    assert p_fade < 22.0 and p_switch < 20.0, f"crossfade {p_fade:.2f} dB, switch {p_switch:.2f} dB"
    assert p_depth >= p_fade + 4.0


@pytest.mark.parametrize("device", DEVICES)
def test_depth_at_integer_s_is_the_cameras_own_reaimed_image(venue, device: str) -> None:  # type: ignore[no-untyped-def]
    _, rig, images = venue
    pivot = rig.default_pivot + np.array([1.5, -1.0, 0.0])
    depth = make_renderer("depth", rig, device=device, near=5.0, far=90.0)
    switch = make_renderer("switch", rig, device=device, near=5.0, far=90.0)
    view = VirtualView(3, pivot)
    a, b = depth.render(view, images, W, H), switch.render(view, images, W, H)
    # Where the re-aimed camera sees the view (turning it leaves wedges it does not see, which the
    # depth renderer fills from its neighbours), the two agree.
    white = {name: np.full_like(img, 255) for name, img in images.items()}
    seen = cv2.erode((switch.render(view, white, W, H)[..., 0] == 255).astype(np.uint8), np.ones((5, 5)))
    assert seen.mean() > 0.8
    assert psnr(a[seen > 0], b[seen > 0]) > 45
    assert a[seen == 0].mean() > 20  # the wedges are filled, not black
    # Just off a camera the picture moves on smoothly (no pop): close to the camera's own.
    near_view = depth.render(VirtualView(3.02, pivot), images, W, H)
    assert psnr(near_view[seen > 0], b[seen > 0]) > 28


@pytest.mark.parametrize("device", DEVICES)
def test_depth_sweep_finds_the_scene_depth(venue, device: str) -> None:  # type: ignore[no-untyped-def]
    scene, rig, images = venue
    r = DepthRenderer(rig, device=device, near=5.0, far=90.0)
    target = rig.view_camera(VirtualView(2.5, rig.default_pivot), W, H)
    _, truth = scene.render(target)
    with torch.inference_mode():
        srcs = r.load(images, r.sources_at(2.5), alpha=True)
        est = r.estimate_depth(target, srcs).cpu().numpy()
    ok = np.isfinite(truth)
    rel = np.abs(est[ok] / truth[ok] - 1)
    assert np.median(rel) < 0.005
    assert np.mean(rel < 0.03) > 0.85


def test_crossfade_on_the_cpu_blends_instead_of_switching(venue) -> None:  # type: ignore[no-untyped-def]
    # Regression: crossfade inherited the switch's CPU fast path (cv2.remap of the nearest camera), so on
    # the CPU it showed the switch picture and never blended.
    from plugin.freeview.render.common import to_uint8

    _, rig, images = venue
    fade = make_renderer("crossfade", rig, device="cpu", near=5.0, far=90.0)
    switch = make_renderer("switch", rig, device="cpu", near=5.0, far=90.0)
    view = VirtualView(2.4, rig.default_pivot)
    got = fade.render(view, images, W, H)
    assert np.mean(np.abs(got.astype(int) - switch.render(view, images, W, H).astype(int))) > 2
    with torch.inference_mode():
        own = to_uint8(fade.render_camera(rig.view_camera(view, W, H), view.s, np.asarray(view.pivot, float), images))  # type: ignore[attr-defined]
    assert np.abs(got.astype(int) - own.astype(int)).max() <= 1


def test_a_wall_where_the_pitch_ends_is_tried_straight_above_its_foot() -> None:
    """The boards and the stand's front wall: above the first pitch pixel below it, a pixel tries the point
    on its ray standing straight over that pitch point (and a couple of disparity steps around it)."""
    rig = Rig(arc_cameras(5, width=W, height_px=H))
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    target = rig.view_camera(VirtualView(2.5, rig.default_pivot), W, H)
    with torch.inference_mode():
        lvl = r.pyramid(target, r.load({c.name: np.zeros((H, W, 3), np.uint8) for c in rig}, r.sources_at(2.5), alpha=True), None)[-1]
        row0 = 120  # the pitch ends here (by the coarser depth); above it, something far away
        rows = torch.arange(H).view(-1, 1).expand(H, W)
        depth = torch.where(rows >= row0, lvl.ground, torch.full_like(lvl.ground, 80.0))
        walls, rows = r._at_the_pitch_edge(lvl, depth, 1e-4)
    assert len(walls) == 5
    assert rows is not None and row0 - int(0.08 * H) <= rows[0] < rows[1] == row0  # the band just above the edge
    middle = walls[2].numpy()
    rays, ground = lvl.rays.numpy(), lvl.ground.numpy()
    for y, x in [(row0 - 1, 40), (row0 - 5, 160), (row0 - 12, 300)]:
        foot = target.center + ground[row0, x] * rays[row0, x]
        point = target.center + middle[y, x] * rays[y, x]
        along = rays[y, x, :2] / np.linalg.norm(rays[y, x, :2])
        assert abs(np.dot(point[:2] - foot[:2], along)) < 1e-3  # as far out as the foot, seen along the ray
        assert np.linalg.norm(point[:2] - foot[:2]) < 0.1  # and (nearly) straight above it, at 30 m
        assert point[2] > 0.05  # and above the pitch
    # Far above the pitch's edge, or on the pitch, nothing new is tried.
    assert middle[10, 100] == 80.0
    assert middle[row0 + 10, 100] == pytest.approx(float(lvl.ground[row0 + 10, 100]))


def test_badly_matched_depth_off_the_pitch_takes_its_neighbours(venue) -> None:  # type: ignore[no-untyped-def]
    """A patch of the stands put 15 % too far (a wrong period of the seat rows, say): the pixels that match
    worst take the depth of the well-matched stands around them; the pitch and the rest of the stands
    are left as they were."""
    scene, rig, images = venue
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    target = rig.view_camera(VirtualView(2.5, rig.default_pivot), W, H)
    _, truth = scene.render(target)
    truth_t = torch.as_tensor(np.where(np.isfinite(truth), truth, np.inf).astype(np.float32))
    with torch.inference_mode():
        lvl = r.pyramid(target, r.load(images, r.sources_at(2.5), alpha=True), None)[-1]
        stands = torch.isfinite(truth_t) & ~((truth_t / lvl.ground - 1).abs() < 0.003)
        patch = torch.zeros_like(stands)
        patch[25:35, 150:160] = True  # the crowd, well above the players' heads
        assert bool(stands[patch].all())
        wrong = torch.where(patch, truth_t * 1.15, truth_t)
        cost = r._cost(lvl, torch.where(torch.isfinite(wrong), wrong, torch.full_like(wrong, r.far)).unsqueeze(0))[0]
        fixed = r._fill_unreliable(lvl, wrong, cost)
    rel = (fixed / truth_t - 1).abs()
    changed = patch & (fixed != wrong)
    assert int(changed.sum()) >= 30  # the worst matched of the 100
    assert float(rel[changed].max()) < 0.1  # each one nearer the truth than 15 %
    assert float(rel[patch].mean()) < 0.6 * 0.15
    pitch = torch.isfinite(truth_t) & ~stands
    assert torch.equal(fixed[pitch], wrong[pitch])
    assert float((fixed[stands & ~patch] == wrong[stands & ~patch]).float().mean()) > 0.9


def test_the_pitch_beyond_the_depth_range_is_not_a_hypothesis() -> None:
    """Above the stands' front a ray meets the pitch plane only far behind them: with no other evidence
    (no pair of sources sees the point) the pitch must not win there on its bonus."""
    rig = Rig(arc_cameras(5, width=W, height_px=H))
    r = DepthRenderer(rig, device="cpu", near=5.0, far=60.0)
    ground = torch.tensor([[30.0, 70.0, float("inf")]])
    hyp = torch.stack([ground, torch.full_like(ground, 40.0), torch.full_like(ground, 45.0)])
    flat = torch.full_like(hyp, r.settings.truncate)  # every hypothesis equally unsupported
    cost = r._priors(flat, hyp, ground)
    assert int(cost[:, 0, 0].argmin()) == 0  # within range: the pitch's small bonus decides
    assert int(cost[:, 0, 1].argmin()) != 0  # at 70 m, beyond far = 60 m: not the pitch
    assert int(cost[:, 0, 2].argmin()) != 0  # the ray never meets the pitch
    assert float(cost[1, 0, 0]) > r.settings.truncate  # 40 m lies below the pitch seen at 30 m


def test_a_frozen_moment_uploads_its_frames_once(venue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An orbit of one moment renders every view from the same frames: the renderer uploads them once
    (and makes their masks and silhouettes once), and new frames, even with the same pixels, are uploaded anew."""
    _, rig, images = venue
    r = DepthRenderer(rig, device="cpu", quality="draft", near=5.0, far=90.0)
    r.background = BackgroundPlates({c.name: TestScene(players=0).render(c)[0] for c in rig})
    uploads, masks, undistorted = [], [], []
    upload, foregrounds, undistort = r._upload, r._foregrounds, r._undistorted_masks
    monkeypatch.setattr(r, "_upload", lambda *a, **k: uploads.append(1) or upload(*a, **k))
    monkeypatch.setattr(r, "_foregrounds", lambda *a, **k: masks.append(1) or foregrounds(*a, **k))
    monkeypatch.setattr(r, "_undistorted_masks", lambda *a: undistorted.append(1) or undistort(*a))
    first = r.render(VirtualView(2.4, rig.default_pivot), images, W, H)
    r.render(VirtualView(2.6, rig.default_pivot), images, W, H)
    assert (len(uploads), len(masks), len(undistorted)) == (1, 1, 1)
    copies = {name: img.copy() for name, img in images.items()}
    again = r.render(VirtualView(2.4, rig.default_pivot), copies, W, H)
    assert (len(uploads), len(masks)) == (2, 2)
    assert np.array_equal(first, again)
    r.background = BackgroundPlates(dict(r.background.plates))  # rebuilt plates: the same frames, new masks
    r.render(VirtualView(2.4, rig.default_pivot), copies, W, H)
    assert (len(uploads), len(masks)) == (2, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize(("radius", "radius_x"), [(2, None), (1, 4), (3, 0)])
def test_the_box_filter_is_the_zero_padded_window_mean(dtype: torch.dtype, radius: int, radius_x: int | None) -> None:
    """Running sums (float32 on the CPU, float64 anywhere) and average pooling (the rest) give the same
    means, square windows and rectangular ones."""
    from plugin.freeview.render.common import box_filter

    x = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ry, rx = radius, radius if radius_x is None else radius_x
    padded = F.pad(x, (rx, rx, ry, ry))
    want = torch.stack(
        [torch.stack([padded[..., i : i + 2 * ry + 1, j : j + 2 * rx + 1].mean((-2, -1)) for j in range(13)], -1) for i in range(9)], -2
    )
    got = box_filter(x.to(dtype), radius, radius_x)
    assert got.dtype == dtype and got.shape == x.shape
    assert torch.allclose(got.double(), want, atol=2e-3 if dtype == torch.float16 else 1e-6)


def test_a_placed_players_depth_is_the_median_of_the_placed_pixels_around_it() -> None:
    rig = Rig(arc_cameras(5, width=W, height_px=H))
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    depth = torch.full((12, 14), 50.0)
    depth[2:9, 3:8] = 20.0  # a player, 7 x 5 pixels, at 20 m in front of the stands at 50 m
    depth[5, 5] = 25.0  # one pixel's own choice off
    depth[3, 4] = 16.0
    ys, xs = torch.meshgrid(torch.arange(2, 9), torch.arange(3, 8), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    found = torch.ones_like(ys, dtype=torch.bool)
    found[(ys == 8) & (xs == 7)] = False  # not placed: keeps its depth, and is no vote
    depth[8, 7] = 40.0
    out = r._player_median(depth, ys, xs, found, 2)
    expect = torch.where(found, torch.full_like(out, 20.0), torch.full_like(out, 40.0))
    assert torch.allclose(out, expect)  # the odd ones out are voted down; the stands behind never vote
    # A pixel of a one-pixel-wide line keeps the line's median, not its neighbours' background.
    line = torch.full((9, 9), 50.0)
    line[:, 4] = torch.tensor([30.0, 30.0, 31.0, 30.0, 29.0, 30.0, 30.0, 30.0, 30.0])
    ly, lx = torch.arange(9), torch.full((9,), 4)
    out = r._player_median(line, ly, lx, torch.ones(9, dtype=torch.bool), 2)
    assert torch.allclose(out, torch.full((9,), 30.0))


def test_a_half_size_depth_comes_back_exact_on_a_plane_and_keeps_its_edges() -> None:
    """``upsample_depth``: a plane's inverse depth is affine across the picture, so where the pixels around
    agree it is interpolated (exact at the full-size pixel centres); across a depth edge and next to the
    sky each pixel takes the nearest half-size pixel's depth, never one in between."""
    from plugin.freeview.render.depth import upsample_depth

    h, w = 20, 30
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    a, b, c = 1 / 40.0, 2e-5, 5e-5  # a slanted plane (the stands, the pitch): 0.1-0.2 % a pixel
    plane = (1.0 / (a + b * u + c * v)).float()
    got = upsample_depth(plane, (2 * h, 2 * w)).double()
    V, U = torch.meshgrid(torch.arange(2 * h, dtype=torch.float64), torch.arange(2 * w, dtype=torch.float64), indexing="ij")
    want = 1.0 / (a + b * ((U + 0.5) / 2 - 0.5) + c * ((V + 0.5) / 2 - 0.5))
    inner = (slice(1, -1), slice(1, -1))  # the outermost half pixel has nothing beyond it to interpolate to
    assert torch.allclose(got[inner], want[inner], rtol=1e-5)
    nearest = F.interpolate(plane[None, None], size=(2 * h, 2 * w), mode="nearest")[0, 0].double()
    assert (nearest[inner] / want[inner] - 1).abs().max() > 2e-4  # what nearest gives: a quarter pixel off

    step = plane.clone()
    step[:, 15:] = 12.0  # something in front of the plane
    step[:3] = float("inf")  # and sky above
    got = upsample_depth(step, (2 * h, 2 * w))
    assert torch.isinf(got[:6]).all() and torch.isfinite(got[6:]).all()
    edge = got[8:, 26:34]  # the columns each side of the edge: one side's depth or the other's
    assert ((edge == 12.0) | (edge > 20.0)).all() and (edge == 12.0).any() and (edge > 20.0).any()
    assert torch.equal(got[6:8], F.interpolate(step[None, None], size=(2 * h, 2 * w), mode="nearest")[0, 0][6:8])  # by the sky
    assert torch.allclose(got[12:-1, 4:20].double(), want[12:-1, 4:20], rtol=1e-5)  # the plane away from both
