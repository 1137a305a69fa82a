"""Channels and transport: what one replay output shows on each tick, with EVS-style semantics.

A channel is LIVE (E-E on a camera: the newest slot of its record train), CUED (parked on a position of
a train or a clip, cue complete), or PLAYING at a signed speed from −4× to +4× (0 = still). The position
is an exact rational slot number, so 0.5× shows each slot exactly twice and 0.25× four times, with no
drift. On each tick the engine first applies commands, then the channel shows ``floor(position)``, then
advances by its speed for the next tick. Clips bound playback to [IN, OUT): playback stops on the frame
before OUT; playlists continue with the next element at its own speed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from plugin.clips import Clip, Playlist

State = Literal["LIVE", "CUED", "PLAYING"]
MAX_SPEED = 4.0


def lever_to_speed(position: float, curve: str = "evs") -> float:
    """Map an absolute lever (T-bar) position 0..1 to a speed 0..1×.

    ``linear``: speed = position. ``square``: finer control at slow motion. ``evs``: the LSM-like feel:
    a 3 % dead zone at the bottom (a resting lever is a still), full speed above 97 %, and a quadratic
    between, so most of the travel is slow motion.
    """
    p = min(1.0, max(0.0, float(position)))
    if curve == "linear":
        return p
    if curve == "square":
        return p * p
    if p <= 0.03:
        return 0.0
    if p >= 0.97:
        return 1.0
    x = (p - 0.03) / 0.94
    return round(x * x, 4)


def exact_speed(speed: float) -> Fraction:
    """A speed as an exact fraction (0.5 → 1/2, 0.333… → 1/3), clamped to ±4×."""
    s = max(-MAX_SPEED, min(MAX_SPEED, float(speed)))
    return Fraction(s).limit_denominator(1000)


@dataclass
class Segment:
    """What the channel plays from: the live record trains, or a saved clip (with playlist context)."""

    clip: Clip | None = None
    playlist: Playlist | None = None
    element: int = 0

    def bounds(self, train_range: tuple[int, int] | None) -> tuple[int, int] | None:
        """Inclusive (first, last) slot playable; for a clip the frame before OUT is the last."""
        if self.clip is not None:
            return self.clip.in_slot, self.clip.out_slot - 1
        return train_range


@dataclass
class Transport:
    """The state of one channel's transport; only the engine thread changes it."""

    name: str
    camera: str
    lever_curve: str = "evs"
    state: State = "LIVE"
    position: Fraction = Fraction(0)
    speed: Fraction = Fraction(0)
    play_speed: Fraction = Fraction(1)
    segment: Segment = field(default_factory=Segment)
    mark_in: int | None = None
    mark_out: int | None = None
    view_s: float | None = None
    zoom: float = 1.0
    pivot: tuple[float, float, float] = (0.0, 0.0, 0.0)
    move: Any = None  # plugin.freeview.move.Move while a move flies
    move_t: Fraction = Fraction(0)
    move_id: str | None = None
    #: While a move's first frames render ahead, nothing moves: the channel holds its picture.
    move_preparing: bool = False

    # --- what is shown -----------------------------------------------------------------------------

    @property
    def slot(self) -> int:
        return math.floor(self.position)

    @property
    def clip(self) -> Clip | None:
        return self.segment.clip

    @property
    def cue_complete(self) -> bool:
        return self.state == "CUED"

    # --- transitions (the engine validates before calling) ------------------------------------------

    def go_live(self, camera: str, newest: int) -> None:
        # E-E is the camera as it is: live clears any virtual view, as a replay server's RETURN does.
        self.state, self.camera, self.segment = "LIVE", camera, Segment()
        self.position, self.speed, self.move = Fraction(newest), Fraction(0), None
        self.view_s, self.zoom, self.move_preparing = None, 1.0, False

    def cue(self, slot: int, *, segment: Segment | None = None, camera: str | None = None) -> None:
        self.state = "CUED"
        self.segment = segment or Segment()
        self.position, self.speed, self.move = Fraction(slot), Fraction(0), None
        if camera is not None:
            self.camera = camera

    def play(self, speed: float | None = None) -> None:
        if speed is not None:
            self.play_speed = exact_speed(speed)
        self.state, self.speed = "PLAYING", self.play_speed

    def set_speed(self, speed: float) -> None:
        self.state, self.speed = "PLAYING", exact_speed(speed)
        if self.speed != 0:
            self.play_speed = self.speed

    def lever(self, position: float) -> None:
        self.set_speed(lever_to_speed(position, self.lever_curve))

    def still(self) -> None:
        # Stopping E-E freezes the live picture where it is, as a replay server does; a cue stays cued.
        if self.state == "LIVE":
            self.state = "PLAYING"
        self.speed, self.move = Fraction(0), None

    def jog(self, frames: int, bounds: tuple[int, int] | None) -> None:
        if self.state == "LIVE":
            self.state = "PLAYING"
        self.speed, self.move = Fraction(0), None
        self.position = Fraction(self._clamp(self.slot + frames, bounds))

    # --- the clock ----------------------------------------------------------------------------------

    def advance(self, bounds: tuple[int, int] | None, newest: int | None, rate: Fraction) -> bool:
        """Move to the next tick's position. Returns True when a clip's end was reached (for playlists)."""
        if self.move is not None and self.move_preparing:
            return False
        if self.move is not None:
            self.move_t += 1 / rate
            if self.move_t > Fraction(self.move.duration).limit_denominator(100000):
                # The flight is over: stay on its last view rather than jump back to a camera.
                self.view_s, self.zoom = (float(v) for v in self.move.view_at(float(self.move.duration)))
                self.move = None
        if self.state == "LIVE":
            if newest is not None:
                self.position = Fraction(newest)
            return False
        if self.state != "PLAYING" or self.speed == 0:
            return False
        nxt = self.position + self.speed
        if bounds is not None:
            first, last = bounds
            if nxt > last + 1 - Fraction(1, 10**6) or nxt < first:
                self.position = Fraction(last if nxt > last else first)
                self.speed = Fraction(0)
                return self.segment.clip is not None and nxt > last
        self.position = nxt
        return False

    def plan(self, ticks: int, bounds: tuple[int, int] | None, rate: Fraction) -> list[tuple[int, float | None, float]]:
        """The next ``ticks`` (slot, view s, zoom) this channel will show if no command arrives."""
        probe = copy.copy(self)
        probe.segment = copy.copy(self.segment)
        probe.move_preparing = False
        out = []
        for _ in range(ticks):
            s, zoom = probe.view()
            out.append((probe.slot, s, zoom))
            probe.advance(bounds, None, rate)
        return out

    def view(self) -> tuple[float | None, float]:
        """The view position and zoom now: a flying move's, else the one set."""
        if self.move is not None:
            s, zoom = self.move.view_at(float(self.move_t))
            return float(s), float(zoom)
        return self.view_s, self.zoom

    def _clamp(self, slot: int, bounds: tuple[int, int] | None) -> int:
        if bounds is None:
            return slot
        return max(bounds[0], min(bounds[1], slot))
