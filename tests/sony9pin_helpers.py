"""Shared by the 9-pin and OSC tests: a fake engine implementing the documented engine API
(docs/engine-api.md), ``h``/``cmd`` to write bytes and 9-pin blocks as hex text, and ``Controller``, the
controller end of a pty.

The fake engine records every submitted command, applies the transport ones at ``tick()`` with simple semantics, and
answers channel_status/resolve_channel/clips/state/timecode_of/slot_of_timecode. The 9-pin and OSC tests
use it to check which command a wire message becomes; tests against the real engine live beside them.
"""

from __future__ import annotations

import os
import select
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from control.sony9pin import protocol as p
from plugin import commands as c
from plugin.clips import Clip
from plugin.engine import resolve_name
from plugin.errors import ClipError, CommandError
from plugin.state import StateMap
from timing import FrameRate, frames_to_timecode, timecode_to_frames

RATE = FrameRate.parse("25")
NOW = 25 * 3600 * 10  # slot 900000 = 10:00:00:00 in the fake's labels (slot = frame count of the day)


@dataclass(frozen=True)
class FakeStatus:
    name: str
    state: str = "LIVE"
    speed: float = 1.0
    camera: str = "cam01"
    slot: int = NOW
    timecode: str = "10:00:00:00"
    mark_in: int | None = None
    mark_out: int | None = None
    clip_id: str | None = None
    playlist_id: str | None = None
    cue_complete: bool = False
    view_s: float | None = None
    zoom: float = 1.0
    pivot: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tally: str = ""
    frames_out: int = 0
    repeated: int = 0
    late: int = 0


@dataclass
class FakePlaylist:
    playlist_id: str
    name: str
    elements: list[tuple[str, float]]


@dataclass
class Clips:
    clips: dict[str, Clip] = field(default_factory=dict)
    playlists_: dict[str, FakePlaylist] = field(default_factory=dict)

    def list(self) -> list[Clip]:
        return [self.clips[k] for k in sorted(self.clips)]

    def get(self, clip_id: str) -> Clip:
        if clip_id not in self.clips:
            raise ClipError(f"no clip {clip_id}")
        return self.clips[clip_id]

    def delete(self, clip_id: str) -> None:
        self.get(clip_id)
        del self.clips[clip_id]

    def update(self, clip_id: str, **fields: Any) -> Clip:
        clip = replace(self.get(clip_id), **fields)
        self.clips[clip_id] = clip
        return clip

    def create_playlist(self, name: str, elements: list[tuple[str, float]], playlist_id: str | None = None) -> Any:
        pid = playlist_id or f"PL{len(self.playlists_) + 1:02d}"
        self.playlists_[pid] = FakePlaylist(pid, name, [(self.get(cid).clip_id, s) for cid, s in elements])
        return self.playlists_[pid]

    def delete_playlist(self, playlist_id: str) -> None:
        self.playlists_.pop(playlist_id, None)

    def get_playlist(self, playlist_id: str) -> FakePlaylist:
        if playlist_id not in self.playlists_:
            raise ClipError(f"no playlist {playlist_id}")
        return self.playlists_[playlist_id]


class FakeRecorder:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def range(self, camera: str) -> tuple[int, int] | None:
        return (self.engine.now - 250, self.engine.now) if camera in self.engine.camera_names else None


class FakeEngine:
    """Records commands; ``tick()`` applies them (newest transport command per channel wins)."""

    def __init__(self, channels: tuple[str, ...] = ("PGM1", "PGM2"), cameras: int = 3) -> None:
        self.rate = RATE
        self.camera_names = [f"cam{i:02d}" for i in range(1, cameras + 1)]
        self.channel_names = list(channels)
        self.now = NOW
        self.submitted: list[c.Command] = []
        self.pending: list[tuple[c.Command, Future[c.CommandResult]]] = []
        self.statuses = {n: FakeStatus(n) for n in channels}
        self.clips = Clips()
        self.recorder = FakeRecorder(self)
        self.state = StateMap()
        self.lock = threading.Lock()
        self.applied: list[tuple[int, c.Command]] = []

    # --- the documented API ---------------------------------------------------------------------------

    def resolve_channel(self, ref: str | int) -> str:
        return resolve_name(ref, self.channel_names, "channel")

    def resolve_camera(self, ref: str | int) -> str:
        return resolve_name(ref, self.camera_names, "camera")

    def submit(self, cmd: c.Command) -> Future[c.CommandResult]:
        fut: Future[c.CommandResult] = Future()
        with self.lock:
            self.submitted.append(cmd)
            if cmd.transport:
                keep = []
                for old, f in self.pending:
                    if old.transport and old.channel == cmd.channel:
                        f.set_result(c.CommandResult(False, f"superseded by {cmd.verb}", {"superseded_by": cmd.verb}))
                    else:
                        keep.append((old, f))
                self.pending = keep
            self.pending.append((cmd, fut))
        return fut

    def execute(self, cmd: c.Command, timeout: float = 2.0) -> c.CommandResult:
        return self.submit(cmd).result(timeout)

    def channel_status(self, name: str) -> FakeStatus:
        return self.statuses[self.resolve_channel(name)]

    def timecode_of(self, slot: int) -> str:
        return frames_to_timecode(slot, self.rate)

    def slot_of_timecode(self, label: str, near: int | None = None) -> int:
        return timecode_to_frames(label, self.rate)

    # --- test helpers -------------------------------------------------------------------------------

    def set(self, channel: str = "PGM1", **fields: Any) -> None:
        st = replace(self.statuses[channel], **fields)
        self.statuses[channel] = replace(st, timecode=self.timecode_of(st.slot))

    def take(self) -> list[c.Command]:
        """The commands submitted since the last take()."""
        with self.lock:
            out, self.submitted = self.submitted, []
        return out

    def tick(self) -> None:
        """One slot boundary: apply what is pending, advance playing channels, publish state."""
        self.now += 1
        with self.lock:
            pending, self.pending = self.pending, []
        for cmd, fut in pending:
            try:
                ok, msg = self._apply(cmd), ""
            except (CommandError, ClipError) as exc:
                ok, msg = False, str(exc)
            self.applied.append((self.now, cmd))
            fut.set_result(c.CommandResult(ok, msg, {}, self.now))
        values: dict[str, Any] = {"engine.slot": self.now}
        for name, st in self.statuses.items():
            if st.state == "LIVE":
                self.set(name, slot=self.now)
            elif st.state == "PLAYING" and st.speed:
                self.set(name, slot=st.slot + round(st.speed))
            st = self.statuses[name]
            values.update({f"channels.{name}.{k}": getattr(st, k) for k in ("state", "speed", "camera", "timecode")})
        self.state.update(values)

    def _apply(self, cmd: c.Command) -> bool:
        ch = cmd.channel
        st = self.statuses[ch]
        if isinstance(cmd, c.Play):
            self.set(ch, state="PLAYING", speed=cmd.speed or 1.0, cue_complete=False)
        elif isinstance(cmd, c.Stop):
            self.set(ch, state="PLAYING" if st.state == "LIVE" else st.state, speed=0.0)
        elif isinstance(cmd, c.SetSpeed):
            self.set(ch, state="PLAYING", speed=cmd.speed, cue_complete=False)
        elif isinstance(cmd, c.Lever):
            self.set(ch, state="PLAYING", speed=cmd.position, cue_complete=False)
        elif isinstance(cmd, c.Jog):
            self.set(ch, state="PLAYING", speed=0.0, slot=st.slot + cmd.frames)
        elif isinstance(cmd, c.GoLive):
            self.set(ch, state="LIVE", speed=1.0, camera=cmd.camera or st.camera, clip_id=None, slot=self.now)
        elif isinstance(cmd, c.CueTimecode):
            self.set(ch, state="CUED", speed=0.0, slot=self.slot_of_timecode(cmd.timecode), cue_complete=True)
        elif isinstance(cmd, c.CueSlot):
            self.set(ch, state="CUED", speed=0.0, slot=cmd.slot, cue_complete=True)
        elif isinstance(cmd, c.CueClip):
            clip = self.clips.get(cmd.clip_id)
            slot = self.slot_of_timecode(cmd.timecode) if cmd.timecode else clip.in_slot
            self.set(ch, state="CUED", speed=0.0, slot=slot, clip_id=clip.clip_id, cue_complete=True,
                     camera=cmd.camera or clip.cameras[0])
        elif isinstance(cmd, c.SelectCamera):
            cams = self.camera_names  # as Engine._select_camera: a camera not in the list steps from the first
            i = cams.index(st.camera) if st.camera in cams else 0
            stepped = cams[(i + cmd.step) % len(cams)]
            self.set(ch, camera=cmd.camera or stepped)
        elif isinstance(cmd, c.MarkIn):
            self.set(ch, mark_in=st.slot if cmd.slot is None else cmd.slot)
        elif isinstance(cmd, c.MarkOut):
            self.set(ch, mark_out=st.slot if cmd.slot is None else cmd.slot)
        elif isinstance(cmd, c.ClearMarks):
            self.set(ch, mark_in=None, mark_out=None)
        elif isinstance(cmd, c.SetView):
            self.set(ch, view_s=cmd.s, zoom=cmd.zoom)
        elif isinstance(cmd, c.SetPivot):
            self.set(ch, pivot=(cmd.x, cmd.y, cmd.z))
        elif isinstance(cmd, c.PlayPlaylist):
            pl = self.clips.get_playlist(cmd.playlist_id)
            self.set(ch, state="PLAYING", speed=1.0, clip_id=pl.elements[0][0], playlist_id=pl.playlist_id)
        elif isinstance(cmd, c.SaveClip):
            if st.mark_in is None or st.mark_out is None:
                raise CommandError("save: mark IN and OUT first")
            cid = cmd.clip_id or f"1{len(self.clips.clips) + 11}A/00"
            self.clips.clips[cid] = Clip(cid, cmd.name, st.mark_in, st.mark_out, list(self.camera_names))
        return True

    def add_clip(self, clip_id: str, in_slot: int, out_slot: int, cameras: list[str] | None = None) -> Clip:
        clip = Clip(clip_id, "", in_slot, out_slot, cameras or list(self.camera_names))
        self.clips.clips[clip_id] = clip
        return clip


def h(text: str) -> bytes:
    """Bytes from hex text: ``h("20 01")``."""
    return bytes.fromhex(text)


def cmd(text: str) -> bytes:
    """A 9-pin block from its bytes without checksum: ``cmd("20 01")`` is Play."""
    raw = h(text)
    return p.encode(raw[0] >> 4, raw[1], raw[2:])


class Controller:
    """The master end of a pty, talking 9-pin as a replay controller would."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, raw: bytes) -> None:
        os.write(self.fd, raw)

    def read_reply(self, timeout: float = 0.5) -> bytes:
        first = self._read(1, timeout)
        if not first:
            return b""
        return first + self._read(p.block_length(first[0]) - 1, timeout)

    def _read(self, n: int, timeout: float) -> bytes:
        out = b""
        deadline = time.monotonic() + timeout
        while len(out) < n:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            out += os.read(self.fd, n - len(out))
        return out

    def transact(self, raw: bytes) -> bytes:
        self.send(raw)
        return self.read_reply()

    def quiet(self) -> None:
        """Wait out the device's post-error discard and drop anything left (>10 ms of silence)."""
        time.sleep(0.12)
        while self._read(64, 0.02):
            pass
