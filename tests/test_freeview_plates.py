"""Clean plates: medians over time, foreground masks, and the depth renderer placing players by them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plugin.errors import RenderError
from plugin.freeview.background import BackgroundPlates
from plugin.freeview.camera import CameraModel
from plugin.freeview.evaluate import psnr
from plugin.freeview.path import VirtualView
from plugin.freeview.render import DepthRenderer
from plugin.freeview.rig import Rig
from plugin.freeview.testscene import TestScene, arc_cameras

W, H = 320, 180

pytestmark = pytest.mark.usefixtures("two_torch_threads")


def test_plate_is_the_median_over_time_and_the_foreground_is_what_moved() -> None:
    venue = np.full((40, 60, 3), 90, np.uint8)
    venue[:, 30:] = 160
    frames = []
    for k in range(5):  # a 6-pixel-wide "player" crossing the frame
        f = venue.copy()
        f[10:30, 5 + 10 * k : 11 + 10 * k] = (250, 20, 20)
        frames.append(f)
    plates = BackgroundPlates.from_frames({"cam01": frames}, threshold=0.08, grow=0)
    assert np.array_equal(plates.plates["cam01"], venue)
    mask = plates.foreground("cam01", frames[2])
    assert mask.dtype == np.float32 and mask.shape == (40, 60)
    expected = np.zeros((40, 60), np.float32)
    expected[10:30, 25:31] = 1
    assert np.array_equal(mask, expected)
    speck = frames[2].copy()
    speck[35, 50] = 255  # one noisy pixel alone is not a player
    assert np.array_equal(plates.foreground("cam01", speck), expected)
    grown = BackgroundPlates(plates.plates, grow=1).foreground("cam01", frames[2])
    assert grown.sum() == 22 * 8  # one pixel all round
    # A plate made at another size is resampled to the frame's.
    assert BackgroundPlates(plates.plates).plate("cam01", 30, 20).shape == (20, 30, 3)


@pytest.mark.parametrize("grow", [0, 1, 2])
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)],
)
def test_masks_in_torch_are_the_opencv_masks(grow: int, device: str) -> None:
    """``foregrounds`` (torch, where the renderer's images are: the GPU) gives exactly ``foreground``'s
    (OpenCV) masks: thresholds on 8-bit steps (a difference of exactly 255 t included), lone pixels, growth."""
    rng = np.random.default_rng(7)
    plates = {f"cam{k}": rng.integers(0, 256, (30, 50, 3), dtype=np.uint8) for k in (1, 2)}
    bg = BackgroundPlates(plates, threshold=20 / 255, grow=grow)
    frames = {}
    for name, plate in plates.items():
        f = plate.astype(np.int16)
        f[5:20, 10:18] += 60  # a player
        f[25, 40] += 90  # a lone speck
        f[2, 2:6] += np.array([19, 20, 21, -21])[:, None]  # at the threshold
        f += rng.integers(-12, 13, f.shape)  # noise under it
        f[22:30, 20:34] = plate[22:30, 20:34] * 0.6 + rng.integers(-8, 9, (8, 14, 3))  # a shadow, on its edges
        frames[name] = np.clip(f, 0, 255).astype(np.uint8)
    rgb = torch.stack([torch.from_numpy(frames[n]).permute(2, 0, 1).float() / 255 for n in plates]).to(device)
    masks = bg.foregrounds(list(plates), rgb).cpu().numpy()
    wider = bg.foregrounds(list(plates), rgb, grow=grow + 2).cpu().numpy()  # grown more than the plates' own
    for k, name in enumerate(plates):
        assert np.array_equal(wider[k], bg.foreground(name, frames[name], grow=grow + 2))
        assert wider[k].sum() > masks[k].sum()
        expected = bg.foreground(name, frames[name])
        assert expected.sum() > 100
        shade = BackgroundPlates(plates, threshold=20 / 255, grow=0).foreground(name, frames[name])[23:29, 21:33]
        assert 0.05 < shade.mean() < 0.6  # most of the shadow is venue; where the colour shifted, not
        assert np.array_equal(masks[k], expected)


def test_a_shadow_on_the_venue_is_not_foreground() -> None:
    """The plate darkened evenly (a player's shade) stays venue; darker than the shade allows, or darkened
    unevenly (another colour: a dark shirt), is foreground; so is the shade with ``shadows=False``."""
    plate = np.full((20, 40, 3), (60, 150, 50), np.uint8)  # grass
    frame = plate.copy()
    frame[2:8, 2:12] = (plate[2:8, 2:12] * 0.55).round()  # shade
    frame[2:8, 20:30] = (plate[2:8, 20:30] * 0.2).round()  # too dark for a shadow
    frame[12:18, 2:12] = (40, 80, 40)  # darker, but not by one factor
    frame[12:18, 20:30] = (200, 40, 40)  # a red shirt
    mask = BackgroundPlates({"cam01": plate}, grow=0).foreground("cam01", frame)
    assert not mask[2:8, 2:12].any()
    assert mask[2:8, 20:30].all() and mask[12:18, 2:12].all() and mask[12:18, 20:30].all()
    assert mask.sum() == 3 * 60
    plain = BackgroundPlates({"cam01": plate}, grow=0, shadows=False).foreground("cam01", frame)
    assert plain[2:8, 2:12].all() and plain.sum() == 4 * 60


def test_plates_refuse_too_few_or_mismatched_frames() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(RenderError, match="at least 3 frames"):
        BackgroundPlates.from_frames({"cam01": [img, img]})
    with pytest.raises(RenderError, match="differ in size"):
        BackgroundPlates.from_frames({"cam01": [img, img, np.zeros((8, 9, 3), np.uint8)]})
    with pytest.raises(RenderError, match="threshold"):
        BackgroundPlates({"cam01": img}, threshold=1.5)


def _player_pixels(scene: TestScene, empty: TestScene, cam: CameraModel) -> np.ndarray:
    _, with_players = scene.render(cam, supersample=1)
    _, without = empty.render(cam, supersample=1)
    return np.asarray(with_players < without - 0.05)


def test_depth_places_players_on_their_silhouettes(venue) -> None:  # type: ignore[no-untyped-def]
    """The players (1.8 m boxes, ~8 px wide here) are lost by the coarse sweep; with clean plates of the
    empty venue the renderer finds them, and the in-between view gets much closer to the truth there."""
    scene, rig, images = venue
    empty = TestScene(players=0)
    plates = BackgroundPlates({c.name: empty.render(c)[0] for c in rig})
    view = VirtualView(2.5, rig.default_pivot)
    target = rig.view_camera(view, W, H)
    truth, true_depth = scene.render(target)
    players = _player_pixels(scene, empty, target)
    assert players.sum() > 300

    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    plain = r.render(view, images, W, H)
    with torch.inference_mode():
        srcs = r.load(images, r.sources_at(2.5), alpha=True)
        levels = r.pyramid(target, srcs, None)
        swept = r.estimate_depth(target, srcs, levels=levels)
        masks = {name: plates.foreground(name, images[name]) for name in r.sources_at(2.5)}
        placed = r.place_players(levels[-1], swept, masks).numpy()
    swept_np = swept.numpy()
    rel_swept = np.abs(swept_np[players] / true_depth[players] - 1)
    rel_placed = np.abs(placed[players] / true_depth[players] - 1)
    assert np.mean(rel_placed < 0.01) > 0.8
    assert np.mean(rel_placed < 0.01) > np.mean(rel_swept < 0.01) + 0.3
    # Away from the players the sweep's depth stands.
    far_from = ~players & np.isfinite(true_depth)
    assert np.mean(placed[far_from] == swept_np[far_from]) > 0.97

    r.background = plates
    with_plates = r.render(view, images, W, H)
    assert psnr(with_plates[players], truth[players]) > psnr(plain[players], truth[players]) + 3.0
    assert psnr(with_plates, truth) > psnr(plain, truth)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_cameras_beyond_the_sources_judge_where_the_players_stand(device: str) -> None:
    """The cameras next out from the sources (``hull_at``: six in all at normal quality) only judge where a
    player stands: a point one of them has in frame outside its (grown) silhouette is no player's. Two
    players 0.8 m apart leave a phantom in the gap for four sources 7.5 degrees apart (every source sees a
    player there); the judges 15 degrees further out see the pitch and carve it away, and no player's
    pixel is lost. A judge that sees nobody leaves nothing placed; the engine is asked for the
    judges' frames only when there are plates."""
    import cv2

    from plugin.freeview.render.depth import _HULL_GROW

    scene = TestScene(players=2)
    scene.box_lo = np.array([[-1.0, -0.2, 0.0], [0.4, -0.2, 0.0]])
    scene.box_hi = np.array([[-0.4, 0.2, 1.8], [1.0, 0.2, 1.8]])
    empty = TestScene(players=0)
    rig = Rig(arc_cameras(7, width=W, height_px=H))
    images = {c.name: scene.render(c)[0] for c in rig}
    plates = BackgroundPlates({c.name: empty.render(c)[0] for c in rig})
    r = DepthRenderer(rig, device=device, near=5.0, far=90.0)
    view = VirtualView(3.5, rig.default_pivot)
    assert r.hull_at(3.5) == [] and r.helpers_for(view) == []  # no plates: no judges
    r.background = plates
    names, judges = r.sources_at(3.5), r.hull_at(3.5)
    assert len(names) == 4 and sorted(judges) == ["cam01", "cam06"] and r.helpers_for(view) == judges
    target = rig.view_camera(view, W, H)
    _, true_depth = scene.render(target, supersample=1)
    players = true_depth < empty.render(target, supersample=1)[1] - 0.05
    beside = cv2.distanceTransform((~players).astype(np.uint8), cv2.DIST_L2, 3) > 2.5  # not a player's rim (masks are grown)
    with torch.inference_mode():
        srcs = r.load(images, names, alpha=True)
        levels = r.pyramid(target, srcs, None)
        swept = r.estimate_depth(target, srcs, levels=levels)
        masks = {n: plates.foreground(n, images[n]) for n in names}
        seen = {n: plates.foreground(n, images[n], grow=plates.grow + _HULL_GROW) for n in judges}  # as rendering does
        four = r.place_players(levels[-1], swept, masks).cpu().numpy()
        six = r.place_players(levels[-1], swept, masks, seen).cpu().numpy()
        blind = r.place_players(levels[-1], swept, masks, {n: np.zeros_like(m) for n, m in seen.items()})
    swept_np = swept.cpu().numpy()

    def placed(depth: np.ndarray) -> tuple[int, int]:
        """Phantom pixels (placed, off the players and their rims, depth 5 % off) and players' pixels within 1 %."""
        moved = depth != swept_np
        rel = np.abs(depth / true_depth - 1)
        return int((moved & beside & (rel > 0.05)).sum()), int((moved & players & (rel < 0.01)).sum())

    (ph4, ok4), (ph6, ok6) = placed(four), placed(six)
    assert ok4 > 0.95 * players.sum() and ok6 >= ok4
    assert ph4 >= 15 and ph6 <= ph4 // 5, (ph4, ph6)
    assert torch.equal(blind, swept)


def test_a_player_in_front_of_another_takes_the_front_ones_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where two players overlap in the view the ray meets the one in front: a pixel of the front player
    takes a depth near the front of the hull (``_PLAYER_FRONT``), not the rear player's. With plain kits
    alike, photo-consistency cannot tell the two apart: without the rule half the front player's pixels
    took the rear one's depth. The front is the nearest depth that also matches about as well as the best
    (``_FRONT_RATIO``, ``_FRONT_MARGIN``), so with textured kits the rear player's pixels beside the front
    one keep theirs (42 of 57 within 1 %, with the rule as without; 29 taking the hull's first depth alone)."""
    import plugin.freeview.render.depth as depth_module

    fraction = depth_module._PLAYER_FRONT
    lo = np.array([[-0.3, -0.2, 0.0], [0.0, 2.3, 0.0]])  # the second 2.5 m behind the first, half hidden
    hi = np.array([[0.3, 0.2, 1.8], [0.6, 2.7, 1.8]])
    empty, front_only = TestScene(players=0), TestScene(players=1)
    front_only.box_lo, front_only.box_hi = lo[:1], hi[:1]
    rig = Rig(arc_cameras(7, width=W, height_px=H))
    plates = BackgroundPlates({c.name: empty.render(c)[0] for c in rig})
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    r.background = plates
    target = rig.view_camera(VirtualView(3.5, rig.default_pivot), W, H)
    names, judges = r.sources_at(3.5), r.hull_at(3.5)
    venue = empty.render(target, supersample=1)[1]
    front_depth = front_only.render(target, supersample=1)[1]

    def placed(kit_contrast: float) -> dict[bool, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Without the rule and with it: the placed depth's relative error on the front player's pixels and
        on the rear one's, and whether each front pixel took a depth as far as the rear player's."""
        scene = TestScene(players=2)
        scene.box_lo, scene.box_hi = lo, hi
        scene.box_color[:] = scene.box_color[0]
        scene.kit = 0.5 + kit_contrast * (scene.kit - 0.5)
        images = {c.name: scene.render(c)[0] for c in rig}
        _, true_depth = scene.render(target, supersample=1)
        front = (front_depth < venue - 0.05) & (np.abs(front_depth - true_depth) < 1e-3)
        rear = (true_depth < venue - 0.05) & ~front
        out = {}
        with torch.inference_mode():
            srcs = r.load(images, names, alpha=True)
            levels = r.pyramid(target, srcs, None)
            swept = r.estimate_depth(target, srcs, levels=levels)
            masks = {n: plates.foreground(n, images[n]) for n in names}
            seen = {n: plates.foreground(n, images[n], grow=plates.grow + depth_module._HULL_GROW) for n in judges}
            for rule in (False, True):
                monkeypatch.setattr(depth_module, "_PLAYER_FRONT", fraction if rule else float("inf"))
                got = r.place_players(levels[-1], swept, masks, seen).numpy()
                rel = np.abs(got / true_depth - 1)
                out[rule] = (rel[front], rel[rear], got[front] > 1.04 * true_depth[front])
        return out

    plain = placed(0.0)
    assert plain[False][2].mean() > 0.3  # the rear player's depth on the front one
    front, _, behind = plain[True]
    assert behind.mean() < 0.05 and len(front) > 150
    textured = placed(1.0)
    front_before, rear_before, _ = textured[False]
    front, rear, behind = textured[True]
    assert (front < 0.01).mean() >= (front_before < 0.01).mean() > 0.9 and behind.mean() < 0.02
    assert (rear < 0.01).mean() >= (rear_before < 0.01).mean() - 0.05 and (rear_before < 0.01).mean() > 0.7


def test_depth_without_a_plate_for_every_source_renders_as_before() -> None:
    scene = TestScene()
    cams = arc_cameras(5, width=W, height_px=H)
    rig = Rig(cams)
    images = {c.name: scene.render(c, supersample=1)[0] for c in cams}
    view = VirtualView(2.5, rig.default_pivot)
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    plain = r.render(view, images, W, H)
    assert len(r.sources_at(2.5)) == 4
    r.background = BackgroundPlates({"cam01": images["cam01"]})  # one of the four sources has a plate
    assert np.array_equal(r.render(view, images, W, H), plain)


def test_the_blend_takes_colour_only_from_sources_that_see_the_same_kind_of_thing() -> None:
    """With clean plates, a pixel of the venue takes no colour from a source that sees a player in front of
    it there (and a player's pixel none from one that sees the venue); where no visible source is trusted,
    the blend is as without."""
    from plugin.freeview.render.depth import Sampled

    cams = arc_cameras(3, width=40, height_px=20)
    rig = Rig(cams)
    r = DepthRenderer(rig, device="cpu", near=5.0, far=90.0)
    s = 2.5  # between cam02 and cam03: half each, cam01 nothing
    idx = rig.neighbours(s, 3)
    assert idx == [1, 2, 0]
    target = rig.view_camera(VirtualView(s, rig.default_pivot), 40, 20)
    srcs = [(cams[i], torch.zeros(1, 4, 20, 20)) for i in idx]
    v, u = torch.meshgrid(torch.linspace(-1, 1, 20), torch.linspace(-1, 1, 40), indexing="ij")
    grid = torch.stack([u, v], dim=-1).expand(3, 20, 40, 2).contiguous()  # every pixel its own spot
    colors = torch.zeros(3, 3, 20, 40)
    colors[0, 0], colors[1, 1], colors[2, 2] = 1.0, 1.0, 1.0  # cam02 red, cam03 green, cam01 blue
    sampled = Sampled(colors=colors, alpha=torch.ones(3, 20, 40), zsrc=torch.full((3, 20, 40), 10.0), grids=grid)
    trust = torch.ones(3, 20, 40)
    trust[1, :, :20] = 0.0  # cam03 sees a player in front of the left half
    trust[:2, :, 30:] = 0.0  # neither bracketing camera is trusted on the right
    with torch.inference_mode():
        plain = r.blend(target, s, idx, srcs, sampled)[0]
        trusted = r.blend(target, s, idx, srcs, sampled, trust)[0]
    assert torch.allclose(plain[:, :, :20], torch.tensor([0.5, 0.5, 0.0]).view(3, 1, 1).expand(3, 20, 20), atol=1e-3)
    assert torch.allclose(trusted[:, :, :20], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 20, 20), atol=1e-3)
    assert torch.equal(trusted[:, :, 20:30], plain[:, :, 20:30])
    # On the right only cam01 is trusted: the nearest trusted source that sees it, as a hole would be.
    assert torch.allclose(trusted[:, :, 30:], torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 20, 10), atol=1e-3)
