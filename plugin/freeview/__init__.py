"""Free-viewpoint geometry and rendering: cameras, rigs, pivots, moves and view synthesis.

``make_renderer(mode, rig, …)`` builds a renderer (``cut``, ``switch``, ``depth``; ``crossfade`` and
``oracle`` for evaluation) that the engine calls through the ``ViewRenderer`` protocol.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: importing plugin.freeview for its geometry must not load torch.
    if name in ("make_renderer", "ViewRenderer"):
        from plugin.freeview import render

        return getattr(render, name)
    raise AttributeError(name)


__all__ = ["ViewRenderer", "make_renderer"]
