"""The synthetic venue renders what the scene says: ids where bodies are, exact depth, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from io_adapters.sim.render import SimRenderer
from io_adapters.sim.scene import ARENA, BALL_RADIUS, ID_BALL, ID_PITCH, ID_PLAYER0, ID_SKY, ID_STANDS, Scene
from io_adapters.sim.venue import venue_cameras
from plugin.frames import rgb_to_uyvy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(seed=0, loop=3.0)


@pytest.fixture(scope="module")
def renderer(scene: Scene) -> SimRenderer:
    return SimRenderer(scene, "cpu")


@pytest.fixture(scope="module")
def cams() -> list:  # type: ignore[type-arg]
    return venue_cameras("arena", 320, 180)


def _ray_depth_to_plane(cam, uv, normal, offset):  # type: ignore[no-untyped-def]
    """Depth (z_cam) where pixel rays meet the plane normal·X = offset, in float64."""
    c, d = cam.pixel_rays(uv)
    t = (offset - c @ normal) / (d @ normal)
    return t * (d @ cam.R[2])


@pytest.mark.parametrize("t", [0.4, 1.7])
def test_torso_centres_project_onto_their_player(renderer: SimRenderer, scene: Scene, cams: list, t: float) -> None:  # type: ignore[type-arg]
    for cam in (cams[0], cams[4], cams[9]):
        img = renderer.render(cam, t)
        direct = 0
        for i in range(scene.n_players):
            centre = scene.torso_centre(i, t)
            uv, z = cam.project(centre[None])
            u, v = np.round(uv[0]).astype(int)
            if not (0 <= u < cam.width and 0 <= v < cam.height):
                continue
            got = img.ids[v, u]
            if got == ID_PLAYER0 + i:
                direct += 1
            else:  # only another body standing in front may hide a torso
                assert got >= ID_PLAYER0 or got == ID_BALL, (cam.name, i, got)
                assert img.depth[v, u] < z[0] - 0.05
        assert direct >= scene.n_players - 3, (cam.name, direct)


def test_pitch_line_points_land_on_white(scene: Scene) -> None:
    cam = venue_cameras("arena", 640, 360)[4]
    img = SimRenderer(scene).render_static(cam)
    for point in ([0.0, 8.5, 0.0], [0.0, -8.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 3.0, 0.0]):
        uv, _ = cam.project(np.array([point]))
        u, v = np.round(uv[0]).astype(int)
        assert img.ids[v, u] == ID_PITCH, point
        patch = img.rgb[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
        assert patch.min(axis=1).max() > 170, (point, patch)  # a white-ish pixel on the line
    grass = img.rgb[img.ids == ID_PITCH].astype(int)
    assert np.median(grass[:, 1] - grass[:, 0]) > 40  # and the pitch around it is green


def test_ground_depth_is_the_ray_plane_distance(renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    cam = cams[2]
    assert cam.has_distortion
    img = renderer.render(cam, 1.0)
    vs, us = np.nonzero(img.ids == ID_PITCH)
    expect = _ray_depth_to_plane(cam, np.stack([us, vs], -1).astype(float), np.array([0.0, 0.0, 1.0]), 0.0)
    assert len(us) > 0.3 * cam.width * cam.height
    assert np.max(np.abs(img.depth[vs, us] - expect)) < 1e-3


def test_board_depth_is_its_face(renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    cam = cams[4]
    img = renderer.render(cam, 1.0)
    vs, us = np.nonzero(img.ids == ID_STANDS)
    uv = np.stack([us, vs], -1).astype(float)
    y = ARENA.board_y
    depth = _ray_depth_to_plane(cam, uv, np.array([0.0, 1.0, 0.0]), y)
    hit = cam.unproject(uv, depth)
    on_face = (np.abs(hit[:, 0]) < ARENA.board_x - 0.1) & (hit[:, 2] > 0.05) & (hit[:, 2] < ARENA.board_height - 0.05)
    assert on_face.sum() > 100
    assert np.max(np.abs(img.depth[vs, us][on_face] - depth[on_face])) < 1e-3


def test_ball_depth_is_its_sphere(scene: Scene) -> None:
    cam = venue_cameras("arena", 640, 360)[5]
    t = 0.3
    img = SimRenderer(scene).render(cam, t)
    centre, _ = scene.ball_state(t)
    vs, us = np.nonzero(img.ids == ID_BALL)
    assert len(us) >= 5
    c, d = cam.pixel_rays(np.stack([us, vs], -1).astype(float))
    oc = c - centre
    b = d @ oc
    disc = b * b - (oc @ oc - BALL_RADIUS**2)
    assert np.all(disc >= 0)
    expect = (-b - np.sqrt(disc)) * (d @ cam.R[2])
    assert np.max(np.abs(img.depth[vs, us] - expect)) < 2e-3


def test_sky_has_no_depth(cams: list) -> None:  # type: ignore[type-arg]
    low = venue_cameras("ring", 160, 90)[0]
    from plugin.freeview.camera import CameraModel

    up = CameraModel.look_at("up", low.center, low.center + np.array([30.0, 0.0, 12.0]), width=160, height=90,
                             focal_px=150)
    img = SimRenderer(Scene(0)).render(up, 0.0)
    sky = img.ids == ID_SKY
    assert sky.mean() > 0.2
    assert np.all(np.isinf(img.depth[sky])) and np.all(np.isfinite(img.depth[~sky]))


def test_same_seed_and_time_give_the_same_picture(cams: list) -> None:  # type: ignore[type-arg]
    a = SimRenderer(Scene(3)).render(cams[1], 0.9)
    b = SimRenderer(Scene(3)).render(cams[1], 0.9)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth) and np.array_equal(a.ids, b.ids)


def test_time_moves_players_and_seeds_differ(renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    a = renderer.render(cams[4], 1.0)
    b = renderer.render(cams[4], 1.2)
    moved = (a.ids >= ID_PLAYER0) != (b.ids >= ID_PLAYER0)
    assert moved.sum() > 50
    other = SimRenderer(Scene(seed=1)).render(cams[4], 1.0)
    assert ((a.ids >= ID_PLAYER0) != (other.ids >= ID_PLAYER0)).sum() > 50


def test_motion_is_periodic(scene: Scene, renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    a = renderer.render(cams[7], 0.25)
    b = renderer.render(cams[7], 0.25 + scene.loop)
    assert np.array_equal(a.ids, b.ids)
    assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1


def test_uyvy_path_equals_full_conversion(renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    for t in (0.0, 1.1):
        full = rgb_to_uyvy(renderer.render(cams[3], t).rgb)
        assert np.array_equal(renderer.render_uyvy(cams[3], t), full)


def test_edges_are_antialiased(scene: Scene, renderer: SimRenderer, cams: list) -> None:  # type: ignore[type-arg]
    img = renderer.render(cams[4], 1.0)
    plain = SimRenderer(scene, "cpu", aa_samples=1).render(cams[4], 1.0)  # one sample per pixel
    body = img.ids >= ID_PLAYER0
    edge = body & ~np.roll(body, 1, axis=1)
    inner = body & np.roll(body, 1, axis=0) & np.roll(body, -1, axis=0) & np.roll(body, 1, axis=1) & np.roll(body, -1, axis=1)
    change = np.abs(img.rgb.astype(int) - plain.rgb).max(axis=2)
    # Silhouette pixels blend body and background, so they change most with the samples (inside a body
    # only the texture and shading move a little).
    assert edge.sum() > 20 and inner.sum() > 20
    assert np.median(change[edge]) >= 10
    assert np.median(change[edge]) > 3 * np.median(change[inner])


@pytest.mark.cuda
def test_cuda_agrees_with_the_cpu(scene: Scene, cams: list) -> None:  # type: ignore[type-arg]
    ref = SimRenderer(scene, "cpu").render(cams[6], 2.2)
    got = SimRenderer(scene, "cuda").render(cams[6], 2.2)
    assert (ref.ids != got.ids).mean() < 1e-3
    finite = np.isfinite(ref.depth) & np.isfinite(got.depth)
    assert np.abs(ref.depth[finite] - got.depth[finite]).max() < 1e-2
