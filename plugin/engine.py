"""The engine loop: on each genlock tick every channel hands its sinks exactly one frame.

On each tick the engine (1) applies the commands that arrived since the last boundary (the newest
transport command of a channel wins), (2) picks each channel's frame by its transport (a camera's
record train or a saved clip, re-rendered by the free-viewpoint renderer when a view is set),
(3) sends it to the channel's sinks, (4) advances the transports and (5) publishes the flat state map.
A frame that is not ready in time (a gap in a train, a render still running) never stalls the output:
the channel's last frame is repeated and counted. Renders slower than a frame run ahead in a worker,
into a bounded cache, because a cued replay's future frames are known (:meth:`Transport.plan`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from plugin import commands as cmd
from plugin.clips import Clip, ClipStore, Playlist
from plugin.errors import ClipError, CommandError, PluginError, ProfileError, RenderError, ReplayError, SinkError
from plugin.frames import Frame, PixelFormat, encode_jpeg, rgb_to_uyvy
from plugin.ports import AdapterContext, Sink, Source, VideoFormat
from plugin.recorder import CaptureThread, MemoryPlan, Recorder, RecordTrain, plan_memory
from plugin.state import StateMap
from plugin.transport import Segment, Transport
from profiles.schema import Profile
from timing import (
    FrameRate,
    ReferenceClock,
    Ticker,
    TimecodeError,
    make_clock,
    slot_for_timecode,
    slot_start_ns,
    time_of_day_timecode,
)

log = logging.getLogger("fvreplay.engine")

#: Render results kept per channel (frames rendered ahead of the tick that needs them).
RENDER_CACHE = 256
#: Seconds of recording (at least) a clean plate is made from: over less, players standing about stay in it.
PLATE_SPAN_S = 3.0


@dataclass(frozen=True)
class ChannelStatus:
    """A snapshot of one channel, cheap to take from any thread (9-pin sense requests read it)."""

    name: str
    state: str
    speed: float
    camera: str
    slot: int
    timecode: str
    mark_in: int | None
    mark_out: int | None
    clip_id: str | None
    playlist_id: str | None
    cue_complete: bool
    view_s: float | None
    zoom: float
    pivot: tuple[float, float, float]
    tally: str
    frames_out: int
    repeated: int
    late: int
    held: int = 0  # ticks that held the picture: a move rendering ahead, a still's new view rendering


@dataclass
class _Channel:
    transport: Transport
    sinks: list[Sink]
    last_frame: Frame | None = None
    frames_out: int = 0
    repeated: int = 0
    late: int = 0
    tally_program: bool = False
    tally_preview: bool = False
    status: ChannelStatus | None = None
    held: int = 0
    black: int = 0
    move_keys: list[tuple[Any, ...]] = field(default_factory=list)
    move_requested: float = 0.0
    move_wait_s: float | None = None
    renders: OrderedDict[tuple[Any, ...], Future[npt.NDArray[np.uint8]]] = field(default_factory=OrderedDict)


class Engine:
    """Record trains, channels, clips and the loop that ties them to the genlock ticker."""

    def __init__(
        self,
        profile: Profile,
        *,
        clock: ReferenceClock | None = None,
        sources: dict[str, Source] | None = None,
        sinks: dict[str, list[Sink]] | None = None,
        storage_root: str | Path | None = None,
        renderer: Any = None,
        rig: Any = None,
    ) -> None:
        self.profile = profile
        self.rate = profile.format.frame_rate
        self.fmt = VideoFormat(profile.format.width, profile.format.height, self.rate, PixelFormat.UYVY)
        self.clock: ReferenceClock = clock or make_clock(profile.reference)
        self.camera_names = [c.name for c in profile.enabled_cameras]
        self.channel_names = [c.name for c in profile.channels]
        self.state = StateMap()
        self.metrics: dict[str, Any] = {
            "commands": defaultdict(int),
            "command_latency_s": deque(maxlen=1000),
            "refused": 0,
        }
        self._lock = threading.Lock()
        self._pending: list[cmd.PendingCommand] = []
        self._ticker: Ticker | None = None
        self._black: Frame | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-save")
        self._render_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self._rgb_frames: OrderedDict[tuple[str, int, str | None], npt.NDArray[np.uint8]] = OrderedDict()
        self._rgb_lock = threading.Lock()
        self.tick_slot: int | None = None
        self.ticks = 0
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self._ticker_stats: dict[str, Any] = {}
        self.tick_overhead_ns: deque[int] = deque(maxlen=2000)
        self._plates_stop = threading.Event()
        self._plates_thread: threading.Thread | None = None
        #: Clean plates built so far, and the record-train span (first, last slot) of the newest.
        self.plates_built = 0
        self.plates_span: tuple[int, int] | None = None
        #: The venue depth made from the plates: when, and what share of the cameras' pixels it knows.
        self.venue_seconds: float | None = None
        self.venue_known: float | None = None

        self.memory: MemoryPlan = plan_memory(
            len(self.camera_names),
            profile.buffer.seconds,
            self.fmt,
            profile.buffer.codec,
            profile.buffer.memory_limit_bytes,
        )
        trains = {
            name: RecordTrain(
                name,
                self.fmt,
                self.memory.frames_per_camera,
                codec=profile.buffer.codec,
                jpeg_quality=profile.buffer.jpeg_quality,
            )
            for name in self.camera_names
        }
        self.recorder = Recorder(trains)
        self.sources = sources if sources is not None else self._build_sources()
        self.captures = {name: CaptureThread(self.sources[name], trains[name]) for name in self.camera_names}
        built_sinks = sinks if sinks is not None else self._build_sinks()
        root = Path(storage_root) if storage_root else _storage_root(profile)
        self.clips = ClipStore(root)
        self.rig = rig
        self.renderer = renderer
        self.channels: dict[str, _Channel] = {}
        for ch in profile.channels:
            camera = ch.camera or self.camera_names[0]
            transport = Transport(ch.name, camera, lever_curve=ch.lever_curve, pivot=self._default_pivot())
            self.channels[ch.name] = _Channel(transport, built_sinks.get(ch.name, []))
        for name, chan in self.channels.items():
            chan.status = self._status(name, chan)
            # The format is settled before the first frame: outputs are configured as the engine is built.
            for sink in chan.sinks:
                sink.configure(self.fmt)

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_profile(cls, profile: Profile, **kwargs: Any) -> Engine:
        """Build an engine from a profile: sources and sinks from their URLs, and, when every camera is
        calibrated, the rig and the profile's renderer (unless ``rig`` / ``renderer`` are given)."""
        if "rig" not in kwargs and profile.enabled_cameras and all(c.calibration for c in profile.enabled_cameras):
            rig, renderer = _rig_and_renderer(profile, renderer_wanted="renderer" not in kwargs)
            kwargs["rig"] = rig
            kwargs.setdefault("renderer", renderer)
        return cls(profile, **kwargs)

    def _context(self, name: str, options: dict[str, Any] | None = None) -> AdapterContext:
        return AdapterContext(name, self.fmt, self.clock, options or {}, self.profile)

    def _build_sources(self) -> dict[str, Source]:
        from plugin import registry

        out: dict[str, Source] = {}
        for cam in self.profile.enabled_cameras:
            try:
                out[cam.name] = registry.build_source(cam.source, self._context(cam.name))
            except PluginError as exc:
                raise ProfileError(f"cameras.{cam.name}.source: {exc}") from exc
        return out

    def _build_sinks(self) -> dict[str, list[Sink]]:
        from plugin import registry

        out: dict[str, list[Sink]] = {}
        for ch in self.profile.channels:
            out[ch.name] = []
            for url in ch.outputs:
                try:
                    out[ch.name].append(registry.build_sink(url, self._context(ch.name)))
                except PluginError as exc:
                    raise ProfileError(f"channels.{ch.name}.outputs: {exc}") from exc
        return out

    def _default_pivot(self) -> tuple[float, float, float]:
        p = self.profile.scene.pivot
        if p is not None:
            return (float(p[0]), float(p[1]), float(p[2]))
        if self.rig is not None:
            try:
                from plugin.freeview.pivot import convergence_pivot

                c = convergence_pivot(list(self.rig))
                return (float(c[0]), float(c[1]), float(c[2]))
            except (ImportError, RenderError) as exc:
                log.warning("no default pivot from the rig: %s", exc)
        return (0.0, 0.0, 0.0)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, ticker: bool = True, open_timeout: float = 600.0) -> None:
        """Open every camera, then start the genlock ticker (unless ``ticker`` is False).

        Sources are opened in parallel by their capture threads; the ticker starts once each has
        opened or failed (a failed one keeps retrying on its own), so the output begins with pictures
        rather than with seconds of repeats while, say, the sim's cache is built.
        """
        for capture in self.captures.values():
            capture.start()
        deadline = time.monotonic() + open_timeout
        for name, capture in self.captures.items():
            if not capture.first_open.wait(max(0.0, deadline - time.monotonic())):
                log.warning("%s: still opening after %.0f s; starting without it", name, open_timeout)
                break
        self.started_at = time.monotonic()
        if ticker:
            self._ticker = Ticker(self.clock, self.rate, self.tick, name="genlock")
            self._ticker.start()
        if self.profile.renderer.plates_every_s > 0 and hasattr(self.renderer, "background"):
            self._plates_stop.clear()
            self._plates_thread = threading.Thread(target=self._plates_loop, name="plates", daemon=True)
            self._plates_thread.start()

    def halt(self) -> None:
        """Stop the genlock ticker: no more output frames (the last stats stay readable)."""
        if self._ticker is not None:
            # Stop first, then read: a tick in flight would otherwise land after the snapshot.
            self._ticker.stop()
            self._ticker_stats = self._ticker.stats()
            self._ticker = None
        if self.started_at is not None and self.stopped_at is None:
            self.stopped_at = time.monotonic()

    def stop(self) -> None:
        self.halt()
        self._plates_stop.set()
        if self._plates_thread is not None:
            self._plates_thread.join(timeout=30.0)
            self._plates_thread = None
        for capture in self.captures.values():
            capture.request_stop()
        deadline = time.monotonic() + 5.0
        for capture in self.captures.values():
            capture.stop(timeout=max(0.1, deadline - time.monotonic()))
        self._render_pool.shutdown(wait=True, cancel_futures=True)
        self._worker.shutdown(wait=True)
        for chan in self.channels.values():
            for sink in chan.sinks:
                try:
                    sink.close()
                except SinkError as exc:
                    log.warning("closing %s: %s", sink.url, exc)
        self.clips.close()

    def ticker_stats(self) -> dict[str, Any]:
        return self._ticker.stats() if self._ticker is not None else dict(self._ticker_stats)

    # --- clean plates -------------------------------------------------------------------------------

    def refresh_plates(self) -> bool:
        """Rebuild the depth renderer's clean plates from the record trains.

        Per camera, the per-pixel median of ``renderer.plate_frames`` frames spread evenly over the
        slots every train holds (players move; the venue does not). The new plates replace the old in
        one assignment, so a render in progress keeps the set it started with. False (nothing changed)
        when the renderer uses no plates or the trains hold less than ``PLATE_SPAN_S`` seconds in
        common (or half the buffer, when that is shorter): over less, players standing about stay in.
        """
        renderer = self.renderer
        if renderer is None or not hasattr(renderer, "background"):
            return False
        span = self.recorder.common_range()
        least = min(PLATE_SPAN_S, 0.5 * self.profile.buffer.seconds) * float(self.rate.fps)
        if span is None or span[1] - span[0] < least:
            return False
        from plugin.freeview.background import MIN_FRAMES, BackgroundPlates

        started = time.monotonic()
        n = self.profile.renderer.plate_frames
        first, last = span
        slots = sorted({first + round(k * (last - first) / (n - 1)) for k in range(n)})
        frames: dict[str, list[npt.NDArray[np.uint8]]] = {}
        for camera in self.camera_names:
            picked = (self.recorder.read(camera, slot) for slot in slots)
            images = [f.to_rgb() for f in picked if f is not None]
            if len(images) >= MIN_FRAMES:
                frames[camera] = images
        if not frames:
            return False
        plates = BackgroundPlates.from_frames(frames)
        log.info("clean plates of %d cameras rebuilt from %d frames each over %.1f s of recording, in %.1f s",
                 len(frames), len(slots), (last - first) / float(self.rate.fps), time.monotonic() - started)
        renderer.background = plates
        self.plates_built += 1
        self.plates_span = span
        self._make_venue(renderer, plates)
        return True

    def _make_venue(self, renderer: Any, plates: Any) -> None:
        """Give the renderer the venue depth of ``plates`` (a renderer that makes one): the one it has
        while the cameras and their sizes are the same (the venue and the locked-off cameras do not
        move), else made now, every camera of it, before it is handed over: seconds to minutes on a CPU,
        here in the plates thread and not in a render, which goes without it meanwhile. ``stop()``
        interrupts it between cameras."""
        estimate = getattr(renderer, "estimate_venue", None)
        current = getattr(renderer, "venue", None)
        if estimate is None or (current is not None and current.made_for(plates)):
            return
        started = time.monotonic()
        venue = estimate(plates).complete(cancelled=self._plates_stop.is_set)
        if venue is None:
            log.info("venue depth: stopped before it was complete")
            return
        renderer.venue = venue
        self.venue_seconds = round(time.monotonic() - started, 2)
        self.venue_known = round(venue.known(), 4)
        log.info("venue depth of %d cameras made from their plates in %.1f s: %.0f %% of their pixels known",
                 len(venue.sizes), self.venue_seconds, 100 * self.venue_known)

    def _plates_loop(self) -> None:
        every = self.profile.renderer.plates_every_s
        wait = 1.0  # until the trains hold enough: then every ``every`` seconds
        while not self._plates_stop.wait(wait):
            try:
                wait = every if self.refresh_plates() else 1.0
            except Exception:  # a failed rebuild keeps the previous plates; the output is not affected
                log.exception("clean plates: rebuild failed; keeping the previous ones")
                wait = every

    # --- commands ----------------------------------------------------------------------------------

    def resolve_channel(self, ref: str | int) -> str:
        """A channel by name (any case) or 1-based index."""
        return resolve_name(ref, self.channel_names, "channel")

    def resolve_camera(self, ref: str | int) -> str:
        """A camera by name (any case) or 1-based index along the rig."""
        return resolve_name(ref, self.camera_names, "camera")

    def submit(self, command: cmd.Command) -> Future[cmd.CommandResult]:
        """Queue a command for the next slot boundary; a newer transport command replaces a pending one."""
        future: Future[cmd.CommandResult] = Future()
        try:
            channel = self.resolve_channel(command.channel)
        except CommandError as exc:
            future.set_result(cmd.CommandResult(False, str(exc)))
            return future
        superseded = []
        with self._lock:
            if command.transport:
                keep = []
                for p in self._pending:
                    if p.command.transport and self.resolve_channel(p.command.channel) == channel:
                        superseded.append(p)
                    else:
                        keep.append(p)
                self._pending = keep
            self._pending.append(cmd.PendingCommand(command, future))
        for p in superseded:
            p.future.set_result(cmd.CommandResult(False, f"superseded by {command.verb}", {"superseded_by": command.verb}))
            self.metrics["commands"]["superseded"] += 1
        return future

    def execute(self, command: cmd.Command, timeout: float = 2.0) -> cmd.CommandResult:
        """Submit and wait for the result (ok=False with the reason when refused)."""
        future = self.submit(command)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            return cmd.CommandResult(False, f"{command.verb}: not applied within {timeout} s (is the engine running?)")

    def _apply_pending(self, slot: int) -> list[tuple[cmd.PendingCommand, cmd.CommandResult]]:
        """Apply what arrived since the last boundary; results are handed out after the tick is published."""
        with self._lock:
            pending, self._pending = self._pending, []
        now = time.monotonic_ns()
        answers = []
        for p in pending:
            name = p.command.verb
            self.metrics["commands"][name] += 1
            try:
                result = self._apply(p.command, slot)
            except (ReplayError, TimecodeError, ValueError) as exc:
                result = cmd.CommandResult(False, f"{name}: {exc}")
            except Exception as exc:  # a bug must not stop the output; report it to the caller
                log.exception("command %s failed", name)
                result = cmd.CommandResult(False, f"{name}: internal error: {exc!r}")
            if not result.ok:
                self.metrics["refused"] += 1
            self.metrics["command_latency_s"].append((now - p.submitted_ns) / 1e9)
            answers.append((p, result))
        return answers

    def _answer(self, answers: list[tuple[cmd.PendingCommand, cmd.CommandResult]], slot: int) -> None:
        for p, result in answers:
            if isinstance(result.data.get("future"), Future):
                # Saving a clip completes in a worker; the caller's future follows it.
                _chain(result.data["future"], p.future)
            elif not p.future.done():
                p.future.set_result(cmd.CommandResult(result.ok, result.message, result.data, slot))

    def _apply(self, c: cmd.Command, slot: int) -> cmd.CommandResult:
        name = self.resolve_channel(c.channel)
        chan = self.channels[name]
        t = chan.transport
        bounds = self._bounds(t)
        if isinstance(c, cmd.Play):
            if c.speed is not None:
                t.play(c.speed)
            else:
                t.play()
            return _ok(f"play at {float(t.speed):g}×")
        if isinstance(c, cmd.Stop):
            t.still()
            return _ok("still")
        if isinstance(c, cmd.SetSpeed):
            t.set_speed(c.speed)
            return _ok(f"speed {float(t.speed):g}×")
        if isinstance(c, cmd.Lever):
            t.lever(c.position)
            return _ok(f"lever {c.position:.3f} → {float(t.speed):g}×")
        if isinstance(c, cmd.Jog):
            t.jog(c.frames, bounds)
            return _ok(f"jog to {self.timecode_of(t.slot)}")
        if isinstance(c, cmd.GoLive):
            camera = self.resolve_camera(c.camera) if c.camera is not None else t.camera
            newest = self.recorder.newest(camera)
            t.go_live(camera, newest if newest is not None else slot)
            return _ok(f"live on {camera}")
        if isinstance(c, cmd.SelectCamera):
            return self._select_camera(t, c)
        if isinstance(c, cmd.CueSlot):
            return self._cue_train(t, c.slot)
        if isinstance(c, cmd.CueTimecode):
            target = self.slot_of_timecode(c.timecode)
            return self._cue_train(t, target, label=c.timecode)
        if isinstance(c, cmd.CueClip):
            return self._cue_clip(t, c)
        if isinstance(c, cmd.PlayPlaylist):
            playlist = self.clips.get_playlist(c.playlist_id)
            if not playlist.elements:
                raise ClipError(f"playlist {playlist.playlist_id} is empty")
            self._cue_element(t, playlist, 0)
            return _ok(f"playing playlist {playlist.playlist_id}")
        if isinstance(c, cmd.Take):
            if t.state == "LIVE":
                raise CommandError("take: nothing is cued (the channel is live)")
            speed = t.segment.clip.speed if t.segment.clip is not None and t.segment.playlist is None else None
            if t.segment.playlist is not None:
                speed = t.segment.playlist.elements[t.segment.element][1]
            t.play(speed)
            return _ok(f"take: play at {float(t.speed):g}×")
        if isinstance(c, cmd.MarkIn):
            t.mark_in = t.slot if c.slot is None else c.slot
            return _ok(f"IN {self.timecode_of(t.mark_in)}", {"slot": t.mark_in})
        if isinstance(c, cmd.MarkOut):
            t.mark_out = t.slot if c.slot is None else c.slot
            return _ok(f"OUT {self.timecode_of(t.mark_out)}", {"slot": t.mark_out})
        if isinstance(c, cmd.ClearMarks):
            t.mark_in = t.mark_out = None
            return _ok("marks cleared")
        if isinstance(c, cmd.SaveClip):
            return self._save_clip(t, c)
        if isinstance(c, cmd.SetView):
            if c.s is None:
                t.view_s, t.zoom, t.move = None, 1.0, None
                return _ok(f"view cleared: {t.camera} as it is")
            if not 1.0 <= c.s <= len(self.camera_names):
                raise CommandError(f"view s = {c.s} is outside the rig (1 … {len(self.camera_names)})")
            if not 0.1 <= c.zoom <= 10.0:
                raise CommandError(f"zoom {c.zoom} outside 0.1 … 10")
            t.view_s, t.zoom = float(c.s), float(c.zoom)
            return _ok(f"view s = {c.s:g}")
        if isinstance(c, cmd.SetPivot):
            if not all(math.isfinite(v) for v in (c.x, c.y, c.z)):
                raise CommandError("pivot must be finite numbers of metres")
            t.pivot = (float(c.x), float(c.y), float(c.z))
            return _ok(f"pivot ({c.x:.2f}, {c.y:.2f}, {c.z:.2f})")
        if isinstance(c, cmd.PlayMove):
            return self._play_move(chan, t, c)
        raise CommandError(f"{c.verb} is not a command this engine knows")

    def _select_camera(self, t: Transport, c: cmd.SelectCamera) -> cmd.CommandResult:
        cameras = t.segment.clip.cameras if t.segment.clip is not None else self.camera_names
        if c.camera is not None:
            camera = self.resolve_camera(c.camera)
            if camera not in cameras:
                raise CommandError(f"{camera} is not an angle of clip {t.segment.clip.clip_id}")  # type: ignore[union-attr]
        else:
            i = cameras.index(t.camera) if t.camera in cameras else 0
            camera = cameras[(i + c.step) % len(cameras)]
        if t.state == "LIVE":
            newest = self.recorder.newest(camera)
            t.go_live(camera, newest if newest is not None else t.slot)
        else:
            t.camera = camera
        return _ok(f"camera {camera}")

    def _cue_train(self, t: Transport, slot: int, label: str | None = None) -> cmd.CommandResult:
        held = self.recorder.range(t.camera)
        if held is None or not held[0] <= slot <= held[1]:
            what = label or self.timecode_of(slot)
            holds = (
                f"it holds {self.timecode_of(held[0])} to {self.timecode_of(held[1])}"
                if held
                else "it holds nothing yet"
            )
            raise CommandError(f"timecode {what} is not in the record train of {t.camera} ({holds})")
        t.cue(slot)
        return _ok(f"cued {t.camera} at {self.timecode_of(slot)}")

    def _cue_clip(self, t: Transport, c: cmd.CueClip) -> cmd.CommandResult:
        clip, camera = self.clips.resolve(c.clip_id)
        if c.camera is not None:
            camera = self.resolve_camera(c.camera)
            if camera not in clip.cameras:
                raise CommandError(f"{camera} is not an angle of clip {clip.clip_id}")
        slot = clip.in_slot
        if c.timecode is not None:
            slot = self.slot_of_timecode(c.timecode, near=clip.in_slot)
            if not clip.in_slot <= slot < clip.out_slot:
                raise CommandError(
                    f"timecode {c.timecode} is not inside clip {clip.clip_id} ({clip.in_tc} to {clip.out_tc})"
                )
        t.cue(slot, segment=Segment(clip), camera=camera)
        if clip.pivot is not None:
            t.pivot = clip.pivot
        return _ok(f"cued clip {clip.angle_id(camera)} at {self.timecode_of(slot)}", {"clip_id": clip.clip_id})

    def _cue_element(self, t: Transport, playlist: Playlist, index: int) -> None:
        clip_id, speed = playlist.elements[index]
        clip = self.clips.get(clip_id)
        camera = t.camera if t.camera in clip.cameras else clip.cameras[0]
        t.cue(clip.in_slot, segment=Segment(clip, playlist, index), camera=camera)
        t.play(speed)

    def _save_clip(self, t: Transport, c: cmd.SaveClip) -> cmd.CommandResult:
        if t.mark_in is None or t.mark_out is None:
            raise CommandError("save: mark IN and OUT first")
        if t.mark_out <= t.mark_in:
            raise CommandError(f"save: OUT ({self.timecode_of(t.mark_out)}) must be after IN ({self.timecode_of(t.mark_in)})")
        in_slot, out_slot = t.mark_in, t.mark_out
        guard = int(round(self.profile.buffer.guardband_seconds * float(self.rate.fps)))
        cameras = list(self.camera_names)
        common = self.recorder.common_range() or self.recorder.range(t.camera)
        if common is None or in_slot < common[0] or out_slot - 1 > common[1]:
            raise CommandError("save: IN..OUT is no longer (or not yet) in the record trains")
        first, last = max(common[0], in_slot - guard), min(common[1], out_slot - 1 + guard)
        pivot, move = t.pivot, (t.move.to_dict() if t.move is not None else None)
        codec = self.profile.storage.clip_codec
        in_tc, out_tc = self.timecode_of(in_slot), self.timecode_of(out_slot)
        t.mark_in = t.mark_out = None

        def work() -> cmd.CommandResult:
            frames, missing = self._frames_for_clip(cameras, first, last, codec)
            clip = self.clips.save(
                frames, in_slot=in_slot, out_slot=out_slot, name=c.name, clip_id=c.clip_id, pivot=pivot,
                move=move, in_tc=in_tc, out_tc=out_tc,
            )
            message = f"saved clip {clip.clip_id}"
            if missing:
                message += (
                    f"; {missing} of {len(cameras) * (last - first + 1)} frames were no longer (or never) in the "
                    "record trains (gaps, or saving slower than the ring: lengthen buffer.seconds)"
                )
                log.warning("%s", message)
            data = {"clip_id": clip.clip_id, "clip": clip.to_dict(), "missing_frames": missing}
            return cmd.CommandResult(True, message, data)

        return cmd.CommandResult(True, "saving", {"future": self._worker.submit(work)})

    def _frames_for_clip(
        self, cameras: list[str], first: int, last: int, codec: str
    ) -> tuple[dict[str, list[tuple[int, int, bytes, str, tuple[int, ...]]]], int]:
        """Copy slots first..last of every camera out of the trains, oldest slot first.

        Slot by slot rather than camera by camera: the oldest frames are the next the rings overwrite,
        so they are saved first. When the trains already hold frames in the clip's coding they are
        copied as they are; otherwise JPEG encoding runs on two threads (OpenCV releases the GIL).
        Returns the frames per camera and how many were missing.
        """
        frames: dict[str, list[tuple[int, int, bytes, str, tuple[int, ...]]]] = {cam: [] for cam in cameras}
        missing = 0
        trains = self.recorder.trains
        if self.profile.buffer.codec == codec:
            for slot in range(first, last + 1):
                for cam in cameras:
                    stored = trains[cam].read_encoded(slot)
                    if stored is None:
                        missing += 1
                    else:
                        frames[cam].append((slot, *stored))
            return frames, missing
        quality = self.profile.buffer.jpeg_quality

        def blob(frame: Frame | None) -> tuple[bytes, str, tuple[int, ...]] | None:
            if frame is None:
                return None
            if codec != "jpeg":
                return frame.data.tobytes(), frame.pixel_format.value, tuple(frame.data.shape)
            jpeg = encode_jpeg(frame.to_rgb(), quality)
            return None if jpeg is None else (jpeg, "jpeg", (frame.height, frame.width, 3))

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="clip-encode") as pool:
            for slot in range(first, last + 1):
                held = [(cam, trains[cam].read(slot)) for cam in cameras]
                for (cam, frame), coded in zip(held, pool.map(lambda cf: blob(cf[1]), held)):
                    if frame is None or coded is None:
                        missing += 1
                    else:
                        frames[cam].append((slot, frame.tai_ns, *coded))
        return frames, missing

    def _play_move(self, chan: _Channel, t: Transport, c: cmd.PlayMove) -> cmd.CommandResult:
        from plugin.freeview.move import Move

        data = c.move
        if data is None and c.clip_id is not None:
            data = self.clips.get(c.clip_id).move
            if data is None:
                raise CommandError(f"clip {c.clip_id} has no move")
        if data is None:
            raise CommandError("play move: give a move or a clip with one")
        move = Move.from_dict(data)
        if move.time_mode == "play":
            t.set_speed(move.speed)
        else:
            t.still()
        t.move, t.move_t, t.move_id = move, Fraction(0), c.clip_id
        if self.renderer is None:
            return _ok(f"move of {move.duration:g} s (views cut to the nearest camera: no renderer)")
        # Render ahead: the move's frames are known now; it flies once its first frames are ready,
        # so a renderer slower than real time delays the start instead of stuttering the flight.
        ticks = int(math.ceil(move.duration * float(self.rate.fps))) + 1
        ahead = min(ticks, self.profile.renderer.render_ahead)
        chan.move_keys = [
            self._render_key(t, slot, s, zoom)
            for slot, s, zoom in t.plan(ahead, self._bounds(t), self.rate.fps)
            if s is not None
        ]
        for key in chan.move_keys:
            self._request_render(chan, t, key)
        t.move_preparing = True
        chan.move_requested, chan.move_wait_s = time.monotonic(), None
        return _ok(f"move of {move.duration:g} s: rendering {len(chan.move_keys)} of {ticks} frames ahead")

    # --- the tick ----------------------------------------------------------------------------------

    def tick(self, slot: int) -> None:
        """One output frame period: commands, one frame per channel, transports, state."""
        started = time.perf_counter_ns()
        self.tick_slot = slot
        self.ticks += 1
        answers = self._apply_pending(slot)
        for name, chan in self.channels.items():
            self._produce(name, chan, slot)
        self._publish(slot)
        # Answered once the state map shows the command's effect, so a caller reading state sees it.
        self._answer(answers, slot)
        self.tick_overhead_ns.append(time.perf_counter_ns() - started)

    def _produce(self, name: str, chan: _Channel, slot: int) -> None:
        t = chan.transport
        if t.state == "LIVE":
            newest = self.recorder.newest(t.camera)
            if newest is not None:
                t.position = Fraction(newest)
        if (
            t.move is not None
            and t.move_preparing
            and all(chan.renders[k].done() for k in chan.move_keys if k in chan.renders)
        ):
            t.move_preparing = False
            chan.move_wait_s = round(time.monotonic() - chan.move_requested, 3)
            log.info("%s: move ready after %.2f s (%d frames rendered ahead)", name, chan.move_wait_s, len(chan.move_keys))
        preparing = t.move is not None and t.move_preparing and chan.last_frame is not None
        late = chan.late
        frame = None if preparing else self._frame_for(chan, t)
        if frame is None and chan.last_frame is not None:
            frame = chan.last_frame
            # Holding the picture is not a repeat while a move renders ahead, or while a still's newly set
            # view renders (the picture was still anyway); anything else missing is.
            if preparing or (chan.late > late and t.state != "LIVE" and t.speed == 0 and t.move is None):
                chan.held += 1
            else:
                chan.repeated += 1
        black = frame is None
        if frame is None:
            # Nothing recorded yet and nothing shown before: video black, as any replay server gives.
            frame = self._black_frame()
            chan.black += 1
        out = Frame(
            frame.data,
            frame.pixel_format,
            t.camera,
            slot,
            slot_start_ns(slot, self.rate),
            self.timecode_of(t.slot),
            {
                "channel": name,
                "source_slot": t.slot,
                "clip": t.segment.clip.angle_id(t.camera) if t.segment.clip and t.camera in t.segment.clip.cameras else "",
                "angle": t.camera,
                "speed": float(t.speed),
                "view_s": t.view()[0],
            },
        )
        if not black:
            chan.last_frame = out
        for sink in chan.sinks:
            try:
                sink.send(out)
            except SinkError as exc:
                log.warning("%s → %s: %s", name, sink.url, exc)
        chan.frames_out += 1
        bounds = self._bounds(t)
        newest = self.recorder.newest(t.camera) if t.state == "LIVE" else None
        if t.advance(bounds, newest, self.rate.fps) and t.segment.playlist is not None:
            nxt = t.segment.element + 1
            if nxt < len(t.segment.playlist.elements):
                self._cue_element(t, t.segment.playlist, nxt)

    def _black_frame(self) -> Frame:
        if self._black is None:
            shape = PixelFormat.UYVY.shape(self.fmt.width, self.fmt.height)
            data = np.empty(shape, np.uint8)
            data[..., 0] = 128  # Cb / Cr
            data[..., 1] = 16  # Y: limited-range black
            self._black = Frame(data, PixelFormat.UYVY, "", 0, 0, "", {})
        return self._black

    def _bounds(self, t: Transport) -> tuple[int, int] | None:
        if t.segment.clip is not None:
            return t.segment.bounds(None)
        return self.recorder.range(t.camera) if t.camera in self.recorder else None

    def _source_frame(self, t: Transport, camera: str, slot: int) -> Frame | None:
        clip = t.segment.clip
        if clip is not None:
            return self.clips.frame(clip, camera, slot) if camera in clip.cameras else None
        return self.recorder.read(camera, slot) if camera in self.recorder else None

    def _frame_for(self, chan: _Channel, t: Transport) -> Frame | None:
        s, zoom = t.view()
        if s is None or self.renderer is None:
            camera = t.camera if s is None else self._nearest_camera(s, t)
            return self._source_frame(t, camera, t.slot)
        # A view is set: the frame is rendered, ahead of time, in the render worker.
        key = self._render_key(t, t.slot, s, zoom)
        self._request_render(chan, t, key)
        for slot_, s_, zoom_ in t.plan(min(self.profile.renderer.render_ahead, 8), self._bounds(t), self.rate.fps)[1:]:
            if s_ is not None:
                self._request_render(chan, t, self._render_key(t, slot_, s_, zoom_))
        future = chan.renders.get(key)
        if future is None or not future.done():
            chan.late += 1
            log.debug("%s: the render of slot %d at s = %g was not ready in time", chan.transport.name, t.slot, s)
            return None
        try:
            uyvy = future.result()
        except ReplayError as exc:
            log.warning("render failed: %s", exc)
            return None
        return Frame(uyvy, PixelFormat.UYVY, t.camera, t.slot, slot_start_ns(t.slot, self.rate))

    @staticmethod
    def _render_key(t: Transport, slot: int, s: float, zoom: float) -> tuple[Any, ...]:
        """What identifies a rendered frame in a channel's render cache and a move's render-ahead list."""
        return (slot, round(s, 4), round(zoom, 4), t.pivot, t.segment.clip.clip_id if t.segment.clip else None)

    def _nearest_camera(self, s: float, t: Transport) -> str:
        cameras = t.segment.clip.cameras if t.segment.clip is not None else self.camera_names
        i = min(len(self.camera_names), max(1, int(math.floor(s + 0.5)))) - 1
        name = self.camera_names[i]
        return name if name in cameras else cameras[0]

    def _request_render(self, chan: _Channel, t: Transport, key: tuple[Any, ...]) -> None:
        if key in chan.renders:
            return
        slot, s, zoom, pivot, _ = key
        segment = Segment(t.segment.clip)
        chan.renders[key] = self._render_pool.submit(self._render_output, segment, slot, s, zoom, pivot)
        while len(chan.renders) > max(RENDER_CACHE, self.profile.renderer.render_ahead + 16):
            _, old = chan.renders.popitem(last=False)
            old.cancel()

    def _render_output(
        self, segment: Segment, slot: int, s: float, zoom: float, pivot: tuple[float, float, float]
    ) -> npt.NDArray[np.uint8]:
        """A channel's rendered frame in the output's UYVY, converted here in the render worker rather
        than on the genlock thread once per sink and per tick it is shown."""
        return rgb_to_uyvy(self._render_job(self.renderer, segment, slot, s, zoom, pivot))

    def _render_job(
        self, renderer: Any, segment: Segment, slot: int, s: float, zoom: float, pivot: tuple[float, float, float]
    ) -> npt.NDArray[np.uint8]:
        from plugin.freeview.path import VirtualView

        view = VirtualView(s=s, pivot=pivot, zoom=zoom)
        probe = Transport("render", self.camera_names[0], segment=segment)
        images = {camera: self._source_rgb(probe, camera, slot) for camera in renderer.sources_for(view)}
        for camera in renderer.helpers_for(view):  # where there is a frame of them
            try:
                images[camera] = self._source_rgb(probe, camera, slot)
            except RenderError:
                continue
        rgb: npt.NDArray[np.uint8] = renderer.render(view, images, self.fmt.width, self.fmt.height)
        return rgb

    def _source_rgb(self, probe: Transport, camera: str, slot: int) -> npt.NDArray[np.uint8]:
        """A source frame as RGB for the renderer, kept for the next views of the same moment: an orbit
        of one slot converts each camera's frame once, and the renderer, given the very same arrays,
        uploads them once (``BaseRenderer.memo``)."""
        key = (camera, slot, probe.segment.clip.clip_id if probe.segment.clip else None)
        with self._rgb_lock:
            rgb = self._rgb_frames.get(key)
            if rgb is not None:
                self._rgb_frames.move_to_end(key)
                return rgb
        frame = self._source_frame(probe, camera, slot)
        if frame is None:
            raise RenderError(f"{camera} has no frame at slot {slot}")
        rgb = frame.to_rgb()
        with self._rgb_lock:
            self._rgb_frames[key] = rgb
            while len(self._rgb_frames) > len(self.camera_names):  # one moment of the whole rig
                self._rgb_frames.popitem(last=False)
        return rgb

    def render_view(
        self, slot: int, s: float, *, pivot: tuple[float, float, float] | None = None, zoom: float = 1.0,
        mode: str | None = None,
    ) -> npt.NDArray[np.uint8]:
        """One view of a recorded slot as RGB (for picking a pivot or previewing a move)."""
        if not 1.0 <= s <= len(self.camera_names):
            raise CommandError(f"s = {s} is outside the rig (1 … {len(self.camera_names)})")
        renderer = self.renderer
        if mode is not None and (renderer is None or renderer.mode != mode):
            renderer = self._make_renderer(mode)
        if renderer is None:
            probe = Transport("render", self.camera_names[0])
            frame = self.recorder.read(self._nearest_camera(s, probe), slot)
            if frame is None:
                raise CommandError(f"no frame at slot {slot} for s = {s}")
            return frame.to_rgb()
        return self._render_job(renderer, Segment(), slot, s, zoom, pivot or self._default_pivot())

    def _make_renderer(self, mode: str) -> Any:
        if self.rig is None:
            raise RenderError(f"renderer {mode!r} needs calibrated cameras; this profile has none")
        return _profile_renderer(self.profile, self.rig, mode)

    # --- state -------------------------------------------------------------------------------------

    def timecode_of(self, slot: int) -> str:
        """The time-of-day timecode label of a slot (the channel timecode operators see)."""
        return time_of_day_timecode(slot, self.rate)

    def slot_of_timecode(self, label: str, near: int | None = None) -> int:
        """The slot whose time-of-day label is ``label``, nearest ``near`` (default: now)."""
        if near is None:
            near = self.tick_slot if self.tick_slot is not None else _now_slot(self.clock, self.rate)
        return slot_for_timecode(label, self.rate, near)

    def channel_status(self, name: str) -> ChannelStatus:
        chan = self.channels[self.resolve_channel(name)]
        status = chan.status
        if status is None:
            raise CommandError(f"channel {name} has no status yet")
        return status

    def latest_frame(self, camera: str) -> Frame | None:
        return self.recorder.latest(self.resolve_camera(camera))

    def channel_frame(self, channel: str) -> Frame | None:
        return self.channels[self.resolve_channel(channel)].last_frame

    def set_tally(self, channel: str, program: bool, preview: bool) -> None:
        chan = self.channels[self.resolve_channel(channel)]
        chan.tally_program, chan.tally_preview = program, preview

    def _status(self, name: str, chan: _Channel) -> ChannelStatus:
        t = chan.transport
        s, zoom = t.view()
        return ChannelStatus(
            name=name,
            state=t.state,
            speed=float(t.speed) if t.state == "PLAYING" else (1.0 if t.state == "LIVE" else 0.0),
            camera=t.camera,
            slot=t.slot,
            timecode=self.timecode_of(t.slot),
            mark_in=t.mark_in,
            mark_out=t.mark_out,
            clip_id=t.segment.clip.clip_id if t.segment.clip else None,
            playlist_id=t.segment.playlist.playlist_id if t.segment.playlist else None,
            cue_complete=t.cue_complete,
            view_s=s,
            zoom=zoom,
            pivot=t.pivot,
            tally="program" if chan.tally_program else ("preview" if chan.tally_preview else ""),
            frames_out=chan.frames_out,
            repeated=chan.repeated,
            late=chan.late,
            held=chan.held,
        )

    def _publish(self, slot: int) -> None:
        values: dict[str, Any] = {"engine.slot": slot, "engine.ticks": self.ticks}
        # Camera health, tally and the reference change slowly: refreshed five times a second.
        slow = self.ticks % max(1, int(self.rate.fps) // 5) == 1 or self.ticks <= 1
        if slow:
            for chan in self.channels.values():
                for sink in chan.sinks:
                    sink_state = sink.state()
                    if "tally_program" in sink_state:
                        chan.tally_program = bool(sink_state["tally_program"])
                        chan.tally_preview = bool(sink_state.get("tally_preview", False))
        for name, chan in self.channels.items():
            st = self._status(name, chan)
            chan.status = st
            p = f"channels.{name}."
            values.update(
                {
                    p + "state": st.state,
                    p + "speed": st.speed,
                    p + "camera": st.camera,
                    p + "timecode": st.timecode,
                    p + "clip": st.clip_id or "",
                    p + "view_s": st.view_s,
                    p + "tally": st.tally,
                    p + "frames_out": st.frames_out,
                    p + "repeated": st.repeated,
                    p + "late": st.late,
                    p + "held": st.held,
                    p + "move_preparing": bool(chan.transport.move is not None and chan.transport.move_preparing),
                    p + "move_wait_s": chan.move_wait_s,
                    p + "mark_in": self.timecode_of(st.mark_in) if st.mark_in is not None else "",
                    p + "mark_out": self.timecode_of(st.mark_out) if st.mark_out is not None else "",
                }
            )
        if slow:
            for cam, capture in self.captures.items():
                train = self.recorder.trains[cam]
                q = f"cameras.{cam}."
                values.update(
                    {
                        q + "state": capture.state,
                        q + "fps": capture.fps(),
                        q + "frames_in": train.frames_in,
                        q + "gaps": train.gaps,
                        q + "last_slot": train.last_slot,
                    }
                )
                for key, value in self.sources[cam].state().items():
                    if isinstance(value, (int, float, str, bool)) and key not in ("frames_in",):
                        values[q + key] = value
            for key, value in self.clock.state().items():
                if isinstance(value, (int, float, str, bool)) or value is None:
                    values[f"reference.{key}"] = value
        self.state.update(values)

    def stats(self) -> dict[str, Any]:
        """The ``--stats-json`` summary: frames out, repeats and lates per channel; frames and gaps per camera."""
        end = self.stopped_at if self.stopped_at is not None else time.monotonic()
        duration = end - self.started_at if self.started_at else 0.0
        return {
            "rate": str(self.rate),
            "duration_s": round(duration, 3),
            "ticks": self.ticks,
            "ticker": self.ticker_stats(),
            "channels": {
                n: {"frames_out": c.frames_out, "repeated": c.repeated, "late": c.late, "held": c.held,
                    "black": c.black, "move_wait_s": c.move_wait_s}
                for n, c in self.channels.items()
            },
            "cameras": {
                n: {"frames_in": self.recorder.trains[n].frames_in, "gaps": self.recorder.trains[n].gaps}
                for n in self.camera_names
            },
            "memory": self.memory.description,
            "plates": {"built": self.plates_built, "span": self.plates_span},
            "venue": {"seconds": self.venue_seconds, "known": self.venue_known},
        }


def _rig_and_renderer(profile: Profile, *, renderer_wanted: bool = True) -> tuple[Any, Any]:
    """The calibrated rig and (when wanted) the profile's renderer; (None, None) with a warning when unavailable."""
    from plugin.errors import CalibrationError

    try:
        from plugin.freeview.rig import Rig

        rig = Rig.from_profile(profile)
        if not renderer_wanted or profile.renderer.mode == "cut":
            return rig, None
        return rig, _profile_renderer(profile, rig, profile.renderer.mode)
    except (ImportError, CalibrationError) as exc:
        log.warning("free-viewpoint rendering unavailable (%s); views cut to the nearest camera", exc)
        return None, None


def _profile_renderer(profile: Profile, rig: Any, mode: str) -> Any:
    """A ``mode`` renderer of ``rig`` with the profile's device, quality and scene."""
    from plugin.freeview import make_renderer

    r, scene = profile.renderer, profile.scene
    return make_renderer(
        mode, rig, device=r.device, quality=r.quality, near=scene.depth_near, far=scene.depth_far,
        ground_plane=scene.ground_plane,
    )


def resolve_name(ref: str | int, names: list[str], what: str) -> str:
    """One of ``names`` by name (any case) or 1-based index, as operators and control surfaces give them."""
    text = str(ref).strip()
    for name in names:
        if name.lower() == text.lower():
            return name
    if text.isdigit() and 1 <= int(text) <= len(names):
        return names[int(text) - 1]
    raise CommandError(f"no {what} {ref!r} ({what}s: {', '.join(names)}, or 1..{len(names)})")


def _ok(message: str, data: dict[str, Any] | None = None) -> cmd.CommandResult:
    return cmd.CommandResult(True, message, data or {})


def _chain(source: Future[cmd.CommandResult], target: Future[cmd.CommandResult]) -> None:
    def done(f: Future[cmd.CommandResult]) -> None:
        if target.done():
            return
        exc = f.exception()
        if exc is not None:
            target.set_result(cmd.CommandResult(False, f"save clip: {exc}"))
        else:
            target.set_result(f.result())

    source.add_done_callback(done)


def _now_slot(clock: ReferenceClock, rate: FrameRate) -> int:
    from timing import slot_at

    return slot_at(clock.now_ns(), rate)


def _storage_root(profile: Profile) -> Path:
    root = Path(profile.storage.root).expanduser()
    if not root.is_absolute():
        root = profile.folder / root
    return root


__all__ = ["ChannelStatus", "Clip", "Engine", "resolve_name"]
