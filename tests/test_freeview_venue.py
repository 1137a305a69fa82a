"""The venue depth: splatting, the cross-check, the median, its estimate from clean plates, and its use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plugin.freeview.background import BackgroundPlates
from plugin.freeview.evaluate import psnr
from plugin.freeview.path import VirtualView
from plugin.freeview.render import DepthRenderer
from plugin.freeview.render.common import PixelGrid, ground_depth, view_rays
from plugin.freeview.render.venue import cross_check, extend_surface, median_inverse_depth, splat_depth, world_points
from plugin.freeview.rig import Rig
from plugin.freeview.testscene import TestScene, arc_cameras

W, H = 320, 180

pytestmark = pytest.mark.usefixtures("two_torch_threads")


@pytest.fixture(scope="module")
def empty_venue() -> tuple[TestScene, Rig, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The test venue without players: its rig, pictures (the plates) and true depths by camera."""
    scene = TestScene(players=0)
    cams = arc_cameras(5, width=W, height_px=H)
    shots = {c.name: scene.render(c, supersample=1) for c in cams}
    return scene, Rig(cams), {n: s[0] for n, s in shots.items()}, {n: s[1] for n, s in shots.items()}


def _depth(d: np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(d, np.float32))
    return torch.where(torch.isfinite(t), t, torch.full_like(t, float("inf")))


def _points(cam, depth: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return world_points(cam, depth)[torch.isfinite(depth)]


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.mark.parametrize("device", DEVICES)
def test_a_depth_map_splatted_into_its_own_camera_is_itself(empty_venue, device: str) -> None:  # type: ignore[no-untyped-def]
    _, rig, _, depths = empty_venue
    cam = rig.camera("cam02")
    truth = _depth(depths["cam02"]).to(device)
    out = splat_depth(cam, [_points(cam, truth)])
    finite = torch.isfinite(truth)
    assert torch.equal(torch.isfinite(out), finite)
    assert torch.allclose(out[finite], truth[finite], rtol=1e-4)


def test_a_neighbours_depth_splatted_into_a_view_is_the_views_depth(empty_venue) -> None:  # type: ignore[no-untyped-def]
    scene, rig, _, depths = empty_venue
    view = VirtualView(2.5, rig.default_pivot)
    target = rig.view_camera(view, W, H)
    _, true_depth = scene.render(target, supersample=1)
    out = splat_depth(target, [_points(rig.camera(n), _depth(depths[n])) for n in ("cam02", "cam03")]).numpy()
    both = np.isfinite(out) & np.isfinite(true_depth)
    assert both.mean() > 0.8  # the sky is nobody's; the rest lands
    assert np.mean(np.abs(out[both] / true_depth[both] - 1) < 0.01) > 0.97


def test_the_cross_check_keeps_agreeing_depth_and_drops_the_rest(empty_venue) -> None:  # type: ignore[no-untyped-def]
    _, rig, _, depths = empty_venue
    cams = {n: rig.camera(n) for n in ("cam02", "cam03", "cam04")}
    truth = {n: _depth(depths[n]) for n in cams}
    kept = cross_check(cams["cam03"], truth["cam03"], [(cams[n], truth[n]) for n in ("cam02", "cam04")])
    finite = torch.isfinite(truth["cam03"])
    assert torch.isfinite(kept)[finite].float().mean() > 0.95
    wrong = truth["cam03"].clone()
    wrong[40:80, 100:200] *= 0.9  # a block 10 % too near: several pixels off in the neighbours
    checked = cross_check(cams["cam03"], wrong, [(cams[n], truth[n]) for n in ("cam02", "cam04")])
    assert torch.isfinite(checked[40:80, 100:200]).float().mean() < 0.05
    assert torch.isfinite(checked[100:, :])[finite[100:, :]].float().mean() > 0.95


def test_the_median_of_inverse_depth_drops_outliers_and_keeps_edges() -> None:
    depth = torch.full((30, 40), 20.0)
    depth[:, 20:] = 40.0  # a step: two surfaces
    depth[10, 5] = 5.0  # an outlier
    depth[25:, 30:] = float("inf")  # sky
    out = median_inverse_depth(depth, radius=2)
    assert float(out[10, 5]) == pytest.approx(20.0)
    assert torch.equal(out[:20, :20], torch.full((20, 20), 20.0))
    assert torch.equal(out[:20, 20:], torch.full((20, 20), 40.0))  # the edge stays where it was
    assert bool(torch.isinf(out[25:, 30:]).all())


@pytest.mark.parametrize("width", [W, 1280])  # 1280: fitted on every other pixel
def test_a_plane_is_carried_over_the_unknown_edge_of_the_picture(width: int) -> None:
    """Inverse depth is affine across the picture for a plane: the fit continues one exactly, slope and all,
    where continuing each row's last known depth would not."""
    cam = arc_cameras(5, width=width, height_px=width * 9 // 16)[2]
    w, h = cam.width, cam.height
    rays = view_rays(cam, PixelGrid()(w, h, torch.device("cpu"))).double()
    normal = torch.tensor([0.3, 0.9, 0.2], dtype=torch.float64)  # a tilted wall 40 m off, facing the camera
    truth = (40.0 / (rays @ normal)).float()
    assert bool((truth > 0).all())
    holed = truth.clone()
    holed[:, 3 * w // 4 :] = float("inf")  # the right quarter: seen by no neighbour
    holed[: h // 9, :] = float("inf")  # and the top rows
    out = extend_surface(cam, holed, far=90.0, ground_plane=False)
    assert torch.equal(out[h // 9 :, : 3 * w // 4], truth[h // 9 :, : 3 * w // 4])  # what was known stays
    assert torch.allclose(out, truth, rtol=3e-3)
    rows = holed.clone()
    rows[:, 3 * w // 4 :] = holed[:, 3 * w // 4 - 1 : 3 * w // 4]
    assert float((rows[h // 9 :] / truth[h // 9 :] - 1).abs().max()) > 0.03  # the slope mattered


def test_the_venue_is_carried_over_with_the_pitch_in_front(empty_venue) -> None:  # type: ignore[no-untyped-def]
    """An end camera's strip that no neighbour sees: the pitch there is the pitch, exactly; the stands, a
    curved ring, are continued as planes from the stands beside them; nothing is left unknown."""
    _, rig, _, depths = empty_venue
    cam = rig.camera("cam03")
    truth = _depth(depths["cam03"])
    holed = truth.clone()
    holed[:, : W // 4] = float("inf")
    out = extend_surface(cam, holed, far=90.0)
    ground = ground_depth(cam, view_rays(cam, PixelGrid()(W, H, torch.device("cpu"))))
    strip, true_strip = out[:, : W // 4], truth[:, : W // 4]
    pitch = (true_strip / ground[:, : W // 4] - 1).abs() < 1e-4
    assert 0.3 < float(pitch.float().mean()) < 0.95
    assert bool(torch.isfinite(strip).all())
    assert torch.allclose(strip[pitch], true_strip[pitch], rtol=1e-3)
    stands = (strip[~pitch] / true_strip[~pitch] - 1).abs()
    assert float(stands.median()) < 0.08 and float(stands.max()) < 0.25  # planes, a ring curves away from them
    assert torch.equal(out[:, W // 4 :], truth[:, W // 4 :])
    without = extend_surface(cam, holed, far=90.0, ground_plane=False)  # no pitch: its rows are fitted too
    assert bool(torch.isfinite(without[:, : W // 4]).all())


def test_the_venue_depth_from_plates_is_the_venues_depth(empty_venue) -> None:  # type: ignore[no-untyped-def]
    """Each camera's plate against its neighbours' plates: the empty venue's depth, more of it within
    0.3 % than the live sweep finds for that camera from the same neighbours (no reference picture)."""
    _, rig, plates, depths = empty_venue
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    venue = r.estimate_venue(BackgroundPlates(plates))
    truth = depths["cam03"]
    got = venue.checked("cam03").numpy()
    known = np.isfinite(got) & np.isfinite(truth)
    assert known.sum() > 0.9 * np.isfinite(truth).sum()
    close = np.abs(got[known] / truth[known] - 1)
    assert np.mean(close < 0.01) > 0.95
    assert venue.known() > 0.8
    # What the check dropped is carried over; what it kept stays.
    whole = venue.depth("cam03").numpy()
    assert np.isfinite(whole).all()
    assert np.array_equal(whole[np.isfinite(got)], got[np.isfinite(got)])

    loo = rig.without("cam03")
    live = DepthRenderer(loo, device="cpu", near=5.0, far=90.0)
    cam = rig.camera("cam03")
    with torch.inference_mode():
        srcs = live.load(plates, live.sources_at(loo.locate(cam.center)), alpha=True)
        swept = live.estimate_depth(cam, srcs).numpy()
    both = np.isfinite(swept) & np.isfinite(truth)
    assert np.mean(close < 0.003) > np.mean(np.abs(swept[both] / truth[both] - 1) < 0.003) + 0.05

    assert venue.made_for(BackgroundPlates(plates))
    smaller = {n: p[::2, ::2].copy() for n, p in plates.items()}
    assert not venue.made_for(BackgroundPlates(smaller))  # other sizes: another venue depth


def test_a_left_out_cameras_plate_is_never_used(empty_venue) -> None:  # type: ignore[no-untyped-def]
    """Leave-one-out evaluation is honest: the venue depth of a rig without a camera is the same whether
    or not the plates include that camera's."""
    _, rig, plates, _ = empty_venue
    loo = rig.without("cam03")
    r = DepthRenderer(loo, device="cpu", near=5.0, far=90.0)
    noise = np.random.default_rng(1).integers(0, 256, plates["cam03"].shape, dtype=np.uint8)
    with_it = r.estimate_venue(BackgroundPlates({**plates, "cam03": noise}))
    without = r.estimate_venue(BackgroundPlates({n: p for n, p in plates.items() if n != "cam03"}))
    assert "cam03" not in with_it
    assert torch.equal(with_it.depth("cam02"), without.depth("cam02"))


@pytest.mark.parametrize("device", DEVICES)
def test_the_venue_depth_sharpens_an_in_between_view_and_keeps_the_players(venue, empty_venue, device: str) -> None:  # type: ignore[no-untyped-def]
    scene, rig, images = venue
    _, _, plates, _ = empty_venue
    view = VirtualView(3.25, rig.default_pivot)
    target = rig.view_camera(view, W, H)
    truth, _ = scene.render(target)
    _, with_players = scene.render(target, supersample=1)
    _, without_players = TestScene(players=0).render(target, supersample=1)
    players = with_players < without_players - 0.05
    assert players.sum() > 100

    r = DepthRenderer(rig, device=device, near=5.0, far=90.0)
    r.background = BackgroundPlates(plates)
    plates_only = r.render(view, images, W, H)
    r.venue = r.estimate_venue(r.background)
    with_venue = r.render(view, images, W, H)
    venue_pixels = ~players & np.isfinite(without_players)
    assert psnr(with_venue[venue_pixels], truth[venue_pixels]) > psnr(plates_only[venue_pixels], truth[venue_pixels]) + 3.0
    assert psnr(with_venue[players], truth[players]) > psnr(plates_only[players], truth[players]) - 0.5
    assert psnr(with_venue, truth) > psnr(plates_only, truth) + 3.0


def test_carrying_the_venue_over_sharpens_the_views_at_the_ends_of_the_rig(venue, empty_venue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Between an end camera and its neighbour the view shows what only the end camera sees: with the
    venue's surfaces carried over it, not just the pitch, those views gain; one mid-rig loses nothing."""
    import plugin.freeview.render.venue as venue_module

    scene, rig, images = venue
    _, _, plates, _ = empty_venue
    scores = {}
    for name, scales in (("pitch only", ()), ("surfaces", venue_module.EXTEND_SCALES)):
        monkeypatch.setattr(venue_module, "EXTEND_SCALES", scales)
        r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
        r.background = BackgroundPlates(plates)
        r.venue = r.estimate_venue(r.background)
        for s in (1.5, 3.25, 4.5):
            view = VirtualView(s, rig.default_pivot)
            truth, _ = scene.render(rig.view_camera(view, W, H))
            scores[name, s] = psnr(r.render(view, images, W, H), truth)
    assert scores["surfaces", 1.5] > scores["pitch only", 1.5] + 1.0
    assert scores["surfaces", 4.5] > scores["pitch only", 4.5] + 1.0
    assert scores["surfaces", 3.25] > scores["pitch only", 3.25] - 0.1


def test_a_view_held_still_splats_the_venue_once(empty_venue) -> None:  # type: ignore[no-untyped-def]
    _, rig, plates, _ = empty_venue
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    r.venue = r.estimate_venue(BackgroundPlates(plates))

    def view(s: float):  # type: ignore[no-untyped-def]
        return rig.view_camera(VirtualView(s, rig.default_pivot), W, H)  # a new camera object every time

    first = r.venue_view(view(2.5), 2.5)
    assert r.venue_view(view(2.5), 2.5) is first
    assert r.venue_view(view(2.6), 2.6) is not first
    r.venue = r.estimate_venue(BackgroundPlates(plates))  # new plates' venue depth: splatted again
    again = r.venue_view(view(2.5), 2.5)
    assert again is not first and torch.equal(again, first)


def test_on_a_cpu_wide_plates_are_worked_on_halved(empty_venue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Plates wider than ``_VENUE_CPU_WIDTH`` are estimated at half size (a quarter of the work) and the depth
    scaled back up to the plate's size (``upsample_depth``: smooth on surfaces, nearest across edges)."""
    import plugin.freeview.render.depth as depth_module

    _, rig, plates, depths = empty_venue
    monkeypatch.setattr(depth_module, "_VENUE_CPU_WIDTH", W // 2)
    venue = DepthRenderer(rig, device="cpu", near=5.0, far=90.0).estimate_venue(BackgroundPlates(plates))
    got = venue.depth("cam03").numpy()
    assert got.shape == (H, W)
    truth = depths["cam03"]
    known = np.isfinite(got) & np.isfinite(truth)
    assert known.sum() > 0.8 * np.isfinite(truth).sum()
    assert np.mean(np.abs(got[known] / truth[known] - 1) < 0.01) > 0.9


def test_making_the_venue_depth_can_be_stopped_between_cameras(empty_venue) -> None:  # type: ignore[no-untyped-def]
    _, rig, plates, _ = empty_venue
    venue = DepthRenderer(rig, device="cpu", near=5.0, far=90.0).estimate_venue(BackgroundPlates(plates))
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return True

    assert venue.complete(cancelled=cancelled) is None
    assert asked == [1] and venue.known() == 0.0  # asked before the first camera, which was not made


@pytest.fixture(scope="module")
def wide(venue, empty_venue) -> tuple[DepthRenderer, DepthRenderer]:  # type: ignore[no-untyped-def]
    """Depth renderers of the venue that work out a 320 x 180 view's depth at full size and at half size,
    with its clean plates and its venue depth."""
    from dataclasses import replace

    _, rig, _ = venue
    _, _, plates, _ = empty_venue
    full = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    full.settings = replace(full.settings, half_depth_above=0)
    half = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    half.settings = replace(half.settings, half_depth_above=W // 2)
    full.background = half.background = BackgroundPlates(plates)
    full.venue = half.venue = full.estimate_venue(full.background)  # the cameras' own, whatever the view's size
    full.venue.complete()
    return full, half


def test_a_wide_view_works_out_its_depth_at_half_size(venue, wide, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A view wider than ``half_depth_above`` (960: 720p, 1080p, 4K) sweeps, places players and takes the
    venue at half size and blends at full size from that depth: on this rig within 1.0 dB of doing it all
    at full size (at 160 x 90, where a player is a few pixels: 0.85 dB at s = 3.25, 1.03 before the players'
    edges were placed at full size, ``_sharpen``; at 640 x 360 and more it loses nothing, see
    ``fvreplay eval``)."""
    from plugin.freeview.render.depth import _HULL_GROW

    scene, rig, images = venue
    full, half = wide
    assert [DepthRenderer(rig, device="cpu", near=5.0, far=90.0).depth_factor(w) for w in (640, 960, 1280, 1920, 3840)] == [1, 1, 2, 2, 2]
    assert DepthRenderer(rig, device="cpu", quality="high", near=5.0, far=90.0).depth_factor(3840) == 1
    assert full.depth_factor(W) == 1 and half.depth_factor(W) == 2
    widths: list[int] = []
    estimate = DepthRenderer.estimate_depth

    def spy(self, target, *args, **kwargs):  # type: ignore[no-untyped-def]
        widths.append(target.width)
        return estimate(self, target, *args, **kwargs)

    monkeypatch.setattr(DepthRenderer, "estimate_depth", spy)
    for s in (2.5, 3.25):
        view = VirtualView(s, rig.default_pivot)
        truth, _ = scene.render(rig.view_camera(view, W, H))
        widths.clear()
        out = half.render(view, images, W, H)
        assert widths == [W // 2] and out.shape == truth.shape
        # The half-size masks: a pixel is foreground where any of the 2 x 2 it covers is (a player's rim,
        # hair, a hand: a thresholded average lost them). The sources' own stay, for ``_sharpen``.
        (names, others, base), _, (masks, _, _, own) = half._memos["masks"]
        assert base == 2 and len(names) == 4 and others == tuple(half.hull_at(s)) and len(others) == 1  # 5 cameras
        assert tuple(own.silhouettes.shape) == (4, 1, H, W)
        for name in [*names, *others]:  # the judges beyond the sources too, grown more (at the depth's size)
            more = _HULL_GROW * 2 if name in others else 0
            whole = torch.as_tensor(half.background.foreground(name, images[name], half.background.grow + more))[None, None]
            grown = F.max_pool2d(whole[..., : whole.shape[-2] // 2 * 2, : whole.shape[-1] // 2 * 2], 2)[0, 0]
            assert torch.equal(torch.as_tensor(masks[name]), grown) and 0 < float(grown.mean()) < 0.5
        p_half, p_full = psnr(out, truth), psnr(full.render(view, images, W, H), truth)
        assert widths == [W // 2, W]
        assert p_half > p_full - 1.0, (s, p_half, p_full)


def test_a_wide_views_players_edges_are_placed_at_its_own_size(venue, empty_venue, wide, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Scaled up from half size, a player's edge is a staircase of whole small pixels: rim pixels take the
    pitch's depth and the pitch around takes the player's. ``_sharpen`` chooses for each pixel there among
    the small pixels around it by the sources' silhouettes at full size. The boxes' rims (2 px either
    side of the edge) score higher than with the depth scaled up as it was (measured: +1.45 dB at s = 2.5,
    +0.63 dB at s = 3.25), and the whole picture does too."""
    scene, rig, images = venue
    empty, _, _, _ = empty_venue
    _, half = wide
    for s in (2.5, 3.25):
        view = VirtualView(s, rig.default_pivot)
        cam = rig.view_camera(view, W, H)
        truth, _ = scene.render(cam)
        box = torch.as_tensor(scene.render(cam, supersample=1)[1] < empty.render(cam, supersample=1)[1] - 0.05)
        grown = F.max_pool2d(box[None, None].float(), 5, stride=1, padding=2)[0, 0] > 0.5
        core = -F.max_pool2d(-box[None, None].float(), 5, stride=1, padding=2)[0, 0] > 0.5
        rim = (grown & ~core).numpy()
        assert 500 < rim.sum() < 0.2 * rim.size
        sharp = half.render(view, images, W, H)
        with monkeypatch.context() as m:
            m.setattr(DepthRenderer, "_sharpen", lambda self, *args: (args[4], args[5]))  # the depth and trust as scaled up
            plain = half.render(view, images, W, H)
        assert psnr(sharp, truth, rim) > psnr(plain, truth, rim) + 0.3, s
        assert psnr(sharp, truth) > psnr(plain, truth), s


def test_the_sources_silhouettes_as_they_are_see_what_the_undistorted_ones_see() -> None:
    """``_sharpen`` looks the sources' full-size silhouettes up as they are, distortion and all
    (``_as_seen``), instead of undistorted as the half-size hull test does (a grid kept per set of sources
    at full size would be 2 GB at 4K over an orbit). On the demo rig's distorted lenses both say the same
    of random points in a view: foreground or not, in frame or not (the few that differ lie on a mask's or
    the frame's edge, where the undistorted mask is resampled)."""
    from plugin.cli.freeview import _eval_rig
    from profiles import load_profile

    rig = _eval_rig(load_profile("demo"), 960, 540)
    r = DepthRenderer(rig, device="cpu", near=12.0, far=60.0)
    rng = np.random.default_rng(0)
    masks = {}
    for cam in rig.cameras[3:7]:
        mask = np.zeros((540, 960), np.float32)
        for y, x in zip(rng.integers(0, 540, 40), rng.integers(0, 960, 40)):
            mask[max(y - 20, 0) : y + 20, max(x - 8, 0) : x + 8] = 1
        masks[cam.name] = mask
    seen, undistorted = r._as_seen(masks), r._hull(masks)
    assert all(cam.has_distortion for cam in seen.cams) and tuple(seen.silhouettes.shape) == (4, 1, 540, 960)
    target = rig.view_camera(VirtualView(5.3, rig.default_pivot), 960, 540)
    rays = view_rays(target, r.pixels(960, 540, r.device))
    ys, xs = (torch.as_tensor(rng.integers(0, n, 20000)) for n in (540, 960))
    hyp = torch.as_tensor(rng.uniform(12.0, 60.0, (9, 1, 20000)), dtype=torch.float32)
    fg, in_frame = r._seen_at(seen, target, rays[ys, xs].unsqueeze(0), hyp)
    want_fg, want_in_frame = r._masks_at(undistorted.level(target, rays[ys, xs].unsqueeze(0)), undistorted.silhouettes, hyp)
    assert float(fg.float().mean()) > 0.02 and 0.5 < float(in_frame.float().mean()) < 0.95
    assert float((fg == want_fg).float().mean()) > 0.999
    assert float((in_frame == want_in_frame).float().mean()) > 0.995
