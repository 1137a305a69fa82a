"""Free-viewpoint renderers behind one interface: ``make_renderer(mode, rig, ...)`` -> ViewRenderer.

Modes: ``cut`` (nearest camera), ``switch`` (nearest camera re-aimed at the pivot), ``depth`` (in-between
views by a depth sweep), and for evaluation ``crossfade`` and ``oracle`` (true-depth blending).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from plugin.errors import RenderError
from plugin.freeview.path import VirtualView
from plugin.freeview.render.base import BaseRenderer
from plugin.freeview.render.depth import DepthRenderer, OracleRenderer
from plugin.freeview.render.simple import CrossfadeRenderer, CutRenderer, SwitchRenderer
from plugin.freeview.rig import Rig

__all__ = [
    "MODES",
    "BaseRenderer",
    "CrossfadeRenderer",
    "CutRenderer",
    "DepthRenderer",
    "OracleRenderer",
    "SwitchRenderer",
    "ViewRenderer",
    "make_renderer",
]


@runtime_checkable
class ViewRenderer(Protocol):
    """What the engine calls to draw a view."""

    mode: str

    def sources_for(self, view: VirtualView) -> list[str]:
        """Names of the cameras whose images this view needs (cut: 1, switch: 1, depth: 2-4)."""
        ...

    def helpers_for(self, view: VirtualView) -> list[str]:
        """Names of more cameras whose images improve this view where there are frames of them (depth with
        clean plates: the next cameras out, which judge where the players stand); a render goes on without."""
        ...

    def render(self, view: VirtualView, images: Mapping[str, np.ndarray], width: int, height: int) -> np.ndarray:
        """``images``: camera name -> (H, W, 3) uint8 RGB; returns (height, width, 3) uint8 RGB."""
        ...


MODES: dict[str, type[BaseRenderer]] = {
    "cut": CutRenderer,
    "switch": SwitchRenderer,
    "depth": DepthRenderer,
    "crossfade": CrossfadeRenderer,
    "oracle": OracleRenderer,
}


def make_renderer(
    mode: str,
    rig: Rig,
    *,
    device: str = "auto",
    quality: str = "normal",
    near: float,
    far: float,
    ground_plane: bool = True,
) -> ViewRenderer:
    """A renderer for ``mode`` bound to ``rig`` on ``device`` ('cpu', 'cuda' or 'auto').

    ``near``/``far``: the scene's depth range in metres (profile scene.depth_near/far); ``ground_plane``:
    the pitch is z = 0 (the depth renderer's strongest prior).
    """
    cls = MODES.get(mode)
    if cls is None:
        raise RenderError(f"renderer mode {mode!r} is unknown (known: {', '.join(MODES)})")
    return cls(rig, device=device, quality=quality, near=near, far=far, ground_plane=ground_plane)
