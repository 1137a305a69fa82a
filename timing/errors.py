"""The errors timing raises: a bad rate, a timecode that does not exist, a slot or clock problem.

``timing`` imports nothing outside the standard library, so these live here; ``plugin.errors``
re-exports them so the engine keeps one exception tree.
"""

from __future__ import annotations


class TimingError(Exception):
    """A frame rate, slot, or reference clock problem."""


class TimecodeError(TimingError, ValueError):
    """A timecode label (or its wire form) that does not exist at its rate, or cannot be parsed."""


class FrameRateError(TimingError, ValueError):
    """A frame rate that cannot be parsed, or that an operation does not support."""
