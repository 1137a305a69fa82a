"""The shipped demo profile carries the sim venue's exact calibration, so renderers are scored fairly."""

from __future__ import annotations

import numpy as np

from io_adapters.sim.venue import venue_cameras
from plugin.freeview.pivot import convergence_pivot
from plugin.freeview.rig import Rig
from profiles import load_profile


def test_demo_calibration_is_the_venues_exact_calibration() -> None:
    profile = load_profile("demo")
    rig = Rig.from_profile(profile)
    exact = {c.name: c for c in venue_cameras("arena", profile.format.width, profile.format.height)}
    assert rig.names == [c.name for c in profile.cameras] == list(exact)
    for cam in rig:
        ref = exact[cam.name]
        np.testing.assert_allclose(cam.K, ref.K, atol=1e-6)
        np.testing.assert_allclose(cam.R, ref.R, atol=1e-9)
        np.testing.assert_allclose(cam.t, ref.t, atol=1e-6)
        np.testing.assert_allclose(cam.dist, ref.dist, atol=1e-12)


def test_demo_pivot_is_where_the_rig_is_aimed() -> None:
    profile = load_profile("demo")
    assert profile.scene.pivot == [0.0, 0.0, 1.0]
    np.testing.assert_allclose(convergence_pivot(list(Rig.from_profile(profile))), [0.0, 0.0, 1.0], atol=0.05)
