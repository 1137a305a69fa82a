"""The one command vocabulary: every control surface (9-pin, OSC, REST, web) translates into these.

A command names its channel and is applied by the engine at the next slot boundary (a fixed latency of
one frame period at most), then answered with a :class:`CommandResult`. Transport commands to a channel
replace any transport command still pending for it: the newest wins and none is applied stale.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the engine imports this module
    from plugin.engine import ChannelStatus


@dataclass(frozen=True)
class Command:
    """Base of every command. ``transport`` commands supersede each other while pending."""

    channel: str
    transport: ClassVar[bool] = False

    @property
    def verb(self) -> str:
        """The command's verb as control surfaces and metrics name it (``play``, ``cue_timecode`` …)."""
        out: list[str] = []
        for ch in type(self).__name__:
            if ch.isupper() and out:
                out.append("_")
            out.append(ch.lower())
        return "".join(out)


# --- transport ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Play(Command):
    """Play at the channel's play speed (1.0 unless a speed/lever was set)."""

    speed: float | None = None
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class Stop(Command):
    """Still on the current frame (speed 0)."""

    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class SetSpeed(Command):
    """Play at a signed speed in −4.0 … +4.0 (1.0 = 100 %, 0 = still): shuttle, var, 9-pin var/shuttle."""

    speed: float
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class Lever(Command):
    """An LSM-style T-bar at absolute position 0..1, mapped to 0..1× by the channel's lever curve."""

    position: float
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class Jog(Command):
    """Still, then step ±frames from the current position."""

    frames: int
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class GoLive(Command):
    """E-E: show the newest slot of a camera's record train (default: the channel's current camera)."""

    camera: str | None = None
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class SelectCamera(Command):
    """Show another angle at the same slot: a camera by name, or ``step`` ±n along the rig."""

    camera: str | None = None
    step: int = 0


@dataclass(frozen=True)
class CueTimecode(Command):
    """Cue (still) the record train at a time-of-day timecode label ``HH:MM:SS:FF`` / ``HH:MM:SS;FF``."""

    timecode: str
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class CueSlot(Command):
    """Cue (still) the record train at a slot."""

    slot: int
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class CueClip(Command):
    """Cue a saved clip at its IN (or at ``timecode`` inside it), on its first angle unless named."""

    clip_id: str
    timecode: str | None = None
    camera: str | None = None
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class PlayPlaylist(Command):
    """Play a playlist from its first element (each element at its own speed)."""

    playlist_id: str
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class Take(Command):
    """Play what is cued (a clip, a playlist element or a train position) at its default speed."""

    transport: ClassVar[bool] = True


# --- marks and clips ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkIn(Command):
    """Mark IN on what the channel shows (or at ``slot``)."""

    slot: int | None = None


@dataclass(frozen=True)
class MarkOut(Command):
    """Mark OUT on what the channel shows (or at ``slot``); OUT is exclusive."""

    slot: int | None = None


@dataclass(frozen=True)
class ClearMarks(Command):
    """Forget the channel's IN and OUT marks."""


@dataclass(frozen=True)
class SaveClip(Command):
    """Save IN..OUT (all cameras) as a clip; ``clip_id`` an LSM ID such as ``114A/00`` (default: next free)."""

    name: str = ""
    clip_id: str | None = None


# --- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetView(Command):
    """Put the virtual camera at position ``s`` along the rig (1 = first camera), with zoom.

    ``s = None`` clears the view: the channel shows its camera as it is again.
    """

    s: float | None
    zoom: float = 1.0


def set_view(
    channel: str, status: ChannelStatus, cameras: Sequence[str], s: float | None = None, zoom: float | None = None
) -> SetView:
    """A SetView that changes only what is given: s defaults to the channel's view (its camera's rig
    position when none is set), zoom to the channel's zoom."""
    if s is None:
        s = status.view_s if status.view_s is not None else (
            float(list(cameras).index(status.camera) + 1) if status.camera in cameras else 1.0)
    return SetView(channel, float(s), zoom=float(status.zoom if zoom is None else zoom))


@dataclass(frozen=True)
class SetPivot(Command):
    """Set the world point the virtual camera orbits (metres, Z up)."""

    x: float
    y: float
    z: float = 0.0


@dataclass(frozen=True)
class PlayMove(Command):
    """Fly a free-viewpoint move: a saved clip's move (``clip_id``) or one given as a dict (Move.to_dict)."""

    clip_id: str | None = None
    move: dict[str, Any] | None = None
    transport: ClassVar[bool] = True


@dataclass(frozen=True)
class CommandResult:
    """What the engine answered: ok, a message for a person, and data (e.g. the saved clip's ID)."""

    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    slot: int | None = None

    @property
    def refused(self) -> bool:
        """Not applied, and not because a newer transport command replaced it while pending (that is no refusal)."""
        return not self.ok and "superseded_by" not in self.data


def result_of(future: Future[CommandResult]) -> CommandResult:
    """A done future's result; one the engine failed (or that was cancelled) is a refusal naming the exception."""
    try:
        return future.result()
    except Exception as exc:
        return CommandResult(False, f"{type(exc).__name__}: {exc}")


@dataclass
class PendingCommand:
    """A command waiting for the next slot boundary, with the future its submitter waits on."""

    command: Command
    future: Future[CommandResult]
    submitted_ns: int = field(default_factory=time.monotonic_ns)


ALL_COMMANDS: tuple[type[Command], ...] = (
    Play, Stop, SetSpeed, Lever, Jog, GoLive, SelectCamera, CueTimecode, CueSlot, CueClip, PlayPlaylist, Take,
    MarkIn, MarkOut, ClearMarks, SaveClip, SetView, SetPivot, PlayMove,
)
