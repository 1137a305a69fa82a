"""Free-viewpoint geometry and rendering: cameras, rigs, pivots, moves and view synthesis."""
