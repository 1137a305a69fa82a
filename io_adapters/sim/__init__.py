"""``sim://``: the synthetic venue. An arena with moving players and a ball, ray cast exactly from any camera.

It is the demo's camera rig (``sim://arena/cam01`` … ``cam10``), a test rig for integrators and the
ground truth (pictures, depth, object ids, calibration) that renderer tests are measured against.

* :mod:`~io_adapters.sim.scene`: what is there, as a function of seed and time (periodic).
* :mod:`~io_adapters.sim.render`: exact ray casting in torch (CPU or CUDA): RGB, depth, ids.
* :mod:`~io_adapters.sim.venue`: the camera rigs (``arena``: 10 on a 120° arc; ``ring``: 16 around).
* :mod:`~io_adapters.sim.source`: :class:`SimSource`, the ``sim://`` camera, genlocked to the reference.
* :mod:`~io_adapters.sim.cache`: the loop rendered once to disk and played back.
* :mod:`~io_adapters.sim.export`: one instant as a COLMAP rig with images and depth.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimSource"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing io_adapters.sim.cli for the command line's parser stays cheap.
    if name == "SimSource":
        from io_adapters.sim.source import SimSource

        return SimSource
    raise AttributeError(name)
