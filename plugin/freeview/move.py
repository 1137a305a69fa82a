"""Moves: keyed flights of the virtual camera along the rig, frozen (bullet time) or playing at a speed.

A move is a list of keys (time in seconds from the start of the move, view position s, zoom). Between two
keys the view follows an easing curve; each segment eases on its own, so an ease-in-out move settles on
every key. In ``frozen`` mode the recorded time stays on one slot while the camera flies; in ``play`` mode
it advances at ``speed`` (1.0 = real time, 0.5 = half speed). Moves round-trip through JSON (clips are
stored in SQLite as JSON and sent over REST).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from plugin.errors import RenderError


def _linear(x: float) -> float:
    return x


def _ease_in(x: float) -> float:
    return x * x * x


def _ease_out(x: float) -> float:
    return 1 - (1 - x) ** 3


def _ease_in_out(x: float) -> float:
    return 4 * x**3 if x < 0.5 else 1 - (-2 * x + 2) ** 3 / 2


def _sine(x: float) -> float:
    return (1 - math.cos(math.pi * x)) / 2


def _smootherstep(x: float) -> float:
    return x * x * x * (x * (6 * x - 15) + 10)


#: Easing curves by name: f(0) = 0, f(1) = 1, monotonic (no overshoot past a key).
EASINGS: dict[str, Callable[[float], float]] = {
    "linear": _linear,
    "ease-in": _ease_in,
    "ease-out": _ease_out,
    "ease-in-out": _ease_in_out,
    "sine": _sine,
    "smootherstep": _smootherstep,
}

TimeMode = Literal["frozen", "play"]


@dataclass(frozen=True)
class MoveKey:
    """One key of a move: at ``time`` seconds into the move, the view is at ``s`` with ``zoom``."""

    time: float
    s: float
    zoom: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {"time": self.time, "s": self.s, "zoom": self.zoom}


def _key(value: Any, index: int) -> MoveKey:
    try:
        if isinstance(value, MoveKey):
            key = value
        elif isinstance(value, dict):
            key = MoveKey(float(value["time"]), float(value["s"]), float(value.get("zoom", 1.0)))
        else:
            items = list(value)
            if len(items) not in (2, 3):
                raise ValueError("needs 2 or 3 numbers")
            key = MoveKey(float(items[0]), float(items[1]), float(items[2]) if len(items) == 3 else 1.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise RenderError(f"move keys[{index}] = {value!r}: write (time, s[, zoom]) or {{'time': …, 's': …, 'zoom': …}}") from exc
    for field, v in (("time", key.time), ("s", key.s), ("zoom", key.zoom)):
        if not math.isfinite(v):
            raise RenderError(f"move keys[{index}].{field} = {v!r} is not a finite number")
    if key.time < 0:
        raise RenderError(f"move keys[{index}].time = {key.time} is negative (times are seconds from the start)")
    if key.zoom <= 0:
        raise RenderError(f"move keys[{index}].zoom = {key.zoom} must be positive")
    return key


@dataclass(frozen=True)
class Move:
    """A flight of the virtual camera: keys (time s, view position s, zoom), easing, and a time mode.

    ``time_mode``: "frozen" holds the recorded instant (bullet time); "play" advances it at ``speed``.
    Keys may be given as MoveKey, (time, s[, zoom]) tuples or dicts; they are stored sorted by time.
    """

    keys: tuple[MoveKey, ...]
    easing: str = "ease-in-out"
    time_mode: TimeMode = "frozen"
    speed: float = 1.0

    def __post_init__(self) -> None:
        raw = list(self.keys) if not isinstance(self.keys, (str, bytes)) else []
        keys = tuple(sorted((_key(k, i) for i, k in enumerate(raw)), key=lambda k: k.time))
        if not keys:
            raise RenderError("a move needs at least one key (time, s, zoom)")
        for a, b in itertools.pairwise(keys):
            if b.time <= a.time:
                raise RenderError(f"move keys: two keys at time {a.time} s; key times must differ")
        if self.easing not in EASINGS:
            raise RenderError(f"move easing {self.easing!r} is unknown (known: {', '.join(EASINGS)})")
        if self.time_mode not in ("frozen", "play"):
            raise RenderError(f"move time_mode {self.time_mode!r} must be 'frozen' or 'play'")
        if not (math.isfinite(self.speed) and self.speed >= 0):
            raise RenderError(f"move speed {self.speed!r} must be a number ≥ 0 (1.0 = real time)")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "speed", float(self.speed))

    @property
    def duration(self) -> float:
        """Seconds from the start of the move to its last key."""
        return self.keys[-1].time

    def view_at(self, t: float) -> tuple[float, float]:
        """(s, zoom) at ``t`` seconds into the move; before the first key and after the last, held."""
        keys = self.keys
        if t <= keys[0].time:
            return keys[0].s, keys[0].zoom
        if t >= keys[-1].time:
            return keys[-1].s, keys[-1].zoom
        times = [k.time for k in keys]
        j = bisect.bisect_right(times, t)
        a, b = keys[j - 1], keys[j]
        x = EASINGS[self.easing]((t - a.time) / (b.time - a.time))
        # Zoom interpolates geometrically so a 1x -> 4x zoom feels even, like a lens.
        return a.s + (b.s - a.s) * x, a.zoom * (b.zoom / a.zoom) ** x

    def media_time(self, t: float) -> float:
        """Seconds of recorded time elapsed at ``t`` seconds into the move (0 when frozen)."""
        return 0.0 if self.time_mode == "frozen" else max(t, 0.0) * self.speed

    def to_dict(self) -> dict[str, Any]:
        return {
            "keys": [k.to_dict() for k in self.keys],
            "easing": self.easing,
            "time_mode": self.time_mode,
            "speed": self.speed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Move:
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise RenderError(f"move {data!r}: needs 'keys', a list of {{time, s, zoom}}")
        unknown = set(data) - {"keys", "easing", "time_mode", "speed"}
        if unknown:
            raise RenderError(f"move: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            speed = float(data.get("speed", 1.0))
        except (TypeError, ValueError) as exc:
            raise RenderError(f"move speed {data.get('speed')!r} is not a number") from exc
        return cls(
            keys=tuple(data["keys"]),
            easing=str(data.get("easing", "ease-in-out")),
            time_mode=data.get("time_mode", "frozen"),
            speed=speed,
        )


def orbit(
    s_from: float,
    s_to: float,
    seconds: float,
    easing: str = "ease-in-out",
    *,
    zoom: float = 1.0,
    time_mode: TimeMode = "frozen",
    speed: float = 1.0,
) -> Move:
    """A move from view position ``s_from`` to ``s_to`` in ``seconds`` (bullet time by default)."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise RenderError(f"orbit: duration {seconds!r} s must be positive")
    keys: Sequence[MoveKey] = (MoveKey(0.0, float(s_from), zoom), MoveKey(float(seconds), float(s_to), zoom))
    return Move(tuple(keys), easing=easing, time_mode=time_mode, speed=speed)
