"""The OSC server: UDP in, ``plugin.commands`` to the engine, state changes out to subscribed clients.

Three threads and one listener, none of which blocks the engine:

* the receive thread parses each datagram (bundles included, timetags exact), translates every message
  into a command and submits it, or hands it to the :class:`SlotScheduler` when its bundle names a time;
* the engine's state listener (engine thread, after each tick) releases held commands whose slot is
  next and queues the channel keys that changed;
* the feedback thread sends those changes to subscribers and drops the ones that went away.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import queue
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from control.osc.codec import OscPacketError, TimedMessage, encode_message, parse_packet, timetag_to_tai_ns
from plugin.clips import lsm_id_or_none
from plugin.commands import (
    ClearMarks,
    Command,
    CommandResult,
    CueClip,
    CueTimecode,
    GoLive,
    Jog,
    Lever,
    MarkIn,
    MarkOut,
    Play,
    PlayMove,
    PlayPlaylist,
    SaveClip,
    SelectCamera,
    SetPivot,
    SetSpeed,
    Stop,
    Take,
    result_of,
    set_view,
)
from plugin.errors import ControlError, ReplayError
from timing import slot_at

log = logging.getLogger("fvreplay.control.osc")

ROOT = "/fvr"
#: A subscriber that sent nothing (no /fvr/ping, no command) for this long is dropped.
KEEPALIVE_S = 60.0
#: Commands held for a future slot, at most (more are refused and counted).
MAX_HELD = 4096
#: How far ahead a bundle may schedule, in seconds (a timetag further out is almost surely a clock error).
MAX_AHEAD_S = 3600
#: Channel state keys sent as feedback, and the address suffix each goes out under.
FEEDBACK_KEYS = {
    "state": "state",
    "speed": "speed",
    "timecode": "timecode",
    "camera": "camera",
    "clip": "clip",
    "view_s": "view/s",
    "tally": "tally",
    "mark_in": "mark/in",
    "mark_out": "mark/out",
    "repeated": "repeated",
    "late": "late",
}

Builder = Callable[[str, tuple[Any, ...]], Command | None]


class BadArguments(ValueError):
    """An OSC message whose arguments do not fit its address."""


# --- holding commands until their slot ------------------------------------------------------------------


class SlotScheduler:
    """Holds commands for a future slot and submits each one on the tick just before it.

    The engine applies what is submitted at the *next* slot boundary, so a command for slot ``n`` is
    submitted from the state listener that runs right after tick ``n − 1``: it is applied at ``n``,
    exactly. A command whose slot is the next one or already past is submitted at once (a past one is
    counted as late). The engine's current slot is the ``engine.slot`` state key.
    """

    def __init__(self, engine: Any, on_submit: Callable[[Command, Future[CommandResult]], None]) -> None:
        self.engine = engine
        self.on_submit = on_submit
        self._heap: list[tuple[int, int, Command]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.current: int | None = None
        self.held = 0
        self.late = 0
        self.refused = 0

    def now(self) -> int:
        """The slot the engine ticked last (from its state map), else the reference clock's slot."""
        if self.current is not None:
            return self.current
        get = getattr(self.engine.state, "get", None)
        slot = get("engine.slot") if get is not None else None
        if isinstance(slot, int):
            return slot
        return slot_at(self.engine.clock.now_ns(), self.engine.rate)

    def schedule(self, slot: int | None, command: Command) -> str:
        """Submit now (``slot`` None or next), hold, or refuse; returns "now", "late", "held" or "refused"."""
        if slot is None:
            self._submit(command)
            return "now"
        now = self.now()
        if slot <= now + 1:
            if slot <= now:
                self.late += 1
            self._submit(command)
            return "late" if slot <= now else "now"
        with self._lock:
            if len(self._heap) >= MAX_HELD or slot - now > MAX_AHEAD_S * float(self.engine.rate):
                self.refused += 1
                return "refused"
            heapq.heappush(self._heap, (slot, next(self._seq), command))
            self.held += 1
        return "held"

    def on_tick(self, slot: int) -> None:
        """After tick ``slot``: submit everything due at ``slot + 1`` (engine thread; never blocks)."""
        self.current = slot
        due: list[Command] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= slot + 1:
                due.append(heapq.heappop(self._heap)[2])
        for command in due:
            self._submit(command)

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def _submit(self, command: Command) -> None:
        future: Future[CommandResult] = self.engine.submit(command)
        self.on_submit(command, future)


# --- feedback subscribers ------------------------------------------------------------------------------------


@dataclass
class Subscriber:
    """A client that asked for feedback: a connected UDP socket, so ICMP "port unreachable" is seen."""

    address: tuple[str, int]
    sock: socket.socket
    last_seen: float = field(default_factory=time.monotonic)
    sent: int = 0


class OscServer:
    """Serve the ``/fvr`` address space on a UDP port (see the README section "OSC")."""

    def __init__(self, engine: Any, bind: str = "127.0.0.1", port: int = 8000, *,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.engine = engine
        self.bind = bind
        self.port = port
        self.keepalive_s = keepalive_s
        self.scheduler = SlotScheduler(engine, self._watch)
        self.counters: dict[str, int] = dict.fromkeys(
            ("packets", "messages", "commands", "malformed", "unknown", "rejected", "refused", "feedback_sent",
             "feedback_dropped", "subscribers_dropped"), 0)
        self._sock: socket.socket | None = None
        self._subs: dict[tuple[str, int], Subscriber] = {}
        self._subs_lock = threading.Lock()
        self._feedback: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2048)
        self._running = threading.Event()
        self._threads: list[threading.Thread] = []
        self._token: int | None = None
        self._handlers: dict[str, Builder] = self._build_table()

    # --- lifecycle --------------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens (the real port when it was started with port 0)."""
        if self._sock is not None:
            host, port = self._sock.getsockname()[:2]
            return str(host), int(port)
        return self.bind, self.port

    def start(self) -> None:
        if self._sock is not None:
            return
        try:
            infos = socket.getaddrinfo(self.bind, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, sockaddr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind(sockaddr)
        except OSError as exc:
            raise ControlError(
                f"OSC: cannot listen on UDP {self.bind}:{self.port}: {exc} (is another program on that port? "
                "choose another with --osc PORT or control.osc.port)"
            ) from exc
        self._sock = sock
        self._running.set()
        self._token = self.engine.state.subscribe(self._on_state)
        self._threads = [
            threading.Thread(target=self._receive, name="osc-in", daemon=True),
            threading.Thread(target=self._send_feedback, name="osc-feedback", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("OSC: listening on UDP %s:%d", *self.address)

    def stop(self) -> None:
        self._running.clear()
        if self._token is not None:
            self.engine.state.unsubscribe(self._token)
            self._token = None
        with contextlib.suppress(queue.Full):
            self._feedback.put_nowait(("stop", None))
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._subs_lock:
            for sub in self._subs.values():
                sub.sock.close()
            self._subs.clear()

    def state(self) -> dict[str, Any]:
        """Counters: packets, messages, malformed, unknown addresses, rejected arguments, refused commands,
        held / late timed commands, subscribers, feedback messages sent."""
        with self._subs_lock:
            subscribers = [f"{h}:{p}" for h, p in self._subs]
        return {
            **self.counters,
            "held": self.scheduler.pending(),
            "held_total": self.scheduler.held,
            "late": self.scheduler.late,
            "too_far_ahead": self.scheduler.refused,
            "subscribers": subscribers,
        }

    # --- receiving ------------------------------------------------------------------------------------------

    def _receive(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while self._running.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], 0.25)
                if not ready:
                    continue
                dgram, sender = sock.recvfrom(65536)
            except OSError as exc:
                if self._running.is_set():
                    log.warning("OSC: receive failed: %s", exc)
                    time.sleep(0.1)
                continue
            self.handle_packet(dgram, (str(sender[0]), int(sender[1])))

    def handle_packet(self, dgram: bytes, sender: tuple[str, int]) -> None:
        """Parse one datagram and act on every message in it; a malformed one is counted and ignored."""
        self.counters["packets"] += 1
        try:
            messages = parse_packet(dgram)
        except OscPacketError as exc:
            self.counters["malformed"] += 1
            log.info("OSC: ignored a malformed packet from %s:%d: %s", *sender, exc)
            return
        self._seen(sender[0])
        for msg in messages:
            self.counters["messages"] += 1
            try:
                self._dispatch(msg, sender)
            except (BadArguments, ReplayError) as exc:
                self.counters["rejected"] += 1
                log.info("OSC: %s %s from %s:%d rejected: %s", msg.address, list(msg.args), *sender, exc)

    def _dispatch(self, msg: TimedMessage, sender: tuple[str, int]) -> None:
        parts = msg.address.split("/")
        if len(parts) < 3 or parts[0] != "" or f"/{parts[1]}" != ROOT:
            self.counters["unknown"] += 1
            return
        if len(parts) == 3 and parts[2] in ("subscribe", "unsubscribe", "ping"):
            self._session(parts[2], msg.args, sender)
            return
        builder = self._handlers.get("/".join(parts[3:]))
        if builder is None:
            self.counters["unknown"] += 1
            log.info("OSC: unknown address %s", msg.address)
            return
        channel = self.engine.resolve_channel(parts[2])
        command = builder(channel, msg.args)
        if command is None:
            return  # a button release (argument 0) or a message that asks for nothing
        tai = timetag_to_tai_ns(msg.timetag)
        slot = None if tai is None else slot_at(tai, self.engine.rate)
        if self.scheduler.schedule(slot, command) == "refused":
            self.counters["refused"] += 1
            log.info("OSC: %s for slot %s is too far ahead or too many are held; refused", msg.address, slot)
        else:
            self.counters["commands"] += 1

    def _watch(self, command: Command, future: Future[CommandResult]) -> None:
        future.add_done_callback(lambda f: self._result(command, f))

    def _result(self, command: Command, future: Future[CommandResult]) -> None:
        result = result_of(future)
        if not result.refused:
            return
        self.counters["refused"] += 1
        log.info("OSC: %s on %s refused: %s", command.verb, command.channel, result.message)
        with contextlib.suppress(queue.Full):
            self._feedback.put_nowait(("error", (command.channel, f"{command.verb}: {result.message}")))

    # --- the address space -------------------------------------------------------------------------------

    def _build_table(self) -> dict[str, Builder]:
        return {
            "play": self._play,
            "stop": lambda ch, a: Stop(ch) if _trigger(a) else None,
            "take": lambda ch, a: Take(ch) if _trigger(a) else None,
            "speed": lambda ch, a: SetSpeed(ch, _float(a, 0, "speed")),
            "shuttle": lambda ch, a: SetSpeed(ch, _float(a, 0, "shuttle speed")),
            "lever": lambda ch, a: Lever(ch, min(1.0, max(0.0, _float(a, 0, "lever position")))),
            "jog": self._jog,
            "live": lambda ch, a: self._camera_cmd(ch, a, live=True),
            "camera": lambda ch, a: self._camera_cmd(ch, a, live=False),
            "camera/next": lambda ch, a: SelectCamera(ch, step=1) if _trigger(a) else None,
            "camera/prev": lambda ch, a: SelectCamera(ch, step=-1) if _trigger(a) else None,
            "mark/in": lambda ch, a: MarkIn(ch) if _trigger(a) else None,
            "mark/out": lambda ch, a: MarkOut(ch) if _trigger(a) else None,
            "mark/clear": lambda ch, a: ClearMarks(ch) if _trigger(a) else None,
            "clip/save": self._save,
            "clip/cue": lambda ch, a: CueClip(ch, _str(a, 0, "clip ID"),
                                              timecode=_str(a, 1, "timecode") if len(a) > 1 else None),
            "tc/cue": lambda ch, a: CueTimecode(ch, _str(a, 0, "timecode")),
            "view/s": self._view,
            "view/zoom": self._zoom,
            "view/pivot": lambda ch, a: SetPivot(ch, _float(a, 0, "x"), _float(a, 1, "y"),
                                                 _float(a, 2, "z") if len(a) > 2 else 0.0),
            "move/play": lambda ch, a: PlayMove(ch, clip_id=_str(a, 0, "clip ID")),
            "playlist/play": lambda ch, a: PlayPlaylist(ch, _str(a, 0, "playlist ID")),
        }

    @staticmethod
    def _play(channel: str, args: tuple[Any, ...]) -> Command | None:
        # 100 %, as the PLAY key of a replay controller; a speed given with it plays at that speed instead.
        if not _trigger(args):
            return None
        speed = 1.0
        if args and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
            speed = _float(args, 0, "speed")
        return Play(channel, speed=speed)

    @staticmethod
    def _jog(channel: str, args: tuple[Any, ...]) -> Command | None:
        frames = _float(args, 0, "frames")
        return Jog(channel, round(frames)) if round(frames) else None

    @staticmethod
    def _camera_cmd(channel: str, args: tuple[Any, ...], live: bool) -> Command | None:
        camera: str | None = None
        if args:
            value = args[0]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if value < 1:
                    return None  # a button release; cameras count from 1
                camera = str(round(value))
            elif isinstance(value, str) and value:
                camera = value
            elif value is not None:
                raise BadArguments(f"camera must be a 1-based index or a name, got {value!r}")
        if live:
            return GoLive(channel, camera=camera)
        if camera is None:
            raise BadArguments("/camera needs a 1-based index or a name (or use /camera/next, /camera/prev)")
        return SelectCamera(channel, camera=camera)

    @staticmethod
    def _save(channel: str, args: tuple[Any, ...]) -> Command | None:
        if not args or (isinstance(args[0], (int, float)) and not isinstance(args[0], bool)):
            return SaveClip(channel) if _trigger(args) else None
        text = _str(args, 0, "clip name or ID")
        lsm = lsm_id_or_none(text)
        return SaveClip(channel, clip_id=lsm) if lsm else SaveClip(channel, name=text)

    def _view(self, channel: str, args: tuple[Any, ...]) -> Command:
        s = _float(args, 0, "view position s")
        zoom = _float(args, 1, "zoom") if len(args) > 1 else None
        return set_view(channel, self.engine.channel_status(channel), self.engine.camera_names, s, zoom)

    def _zoom(self, channel: str, args: tuple[Any, ...]) -> Command:
        return set_view(channel, self.engine.channel_status(channel), self.engine.camera_names,
                        zoom=_float(args, 0, "zoom"))

    # --- subscriptions and feedback ---------------------------------------------------------------------

    def _session(self, verb: str, args: tuple[Any, ...], sender: tuple[str, int]) -> None:
        port = sender[1]
        if args:
            try:
                port = int(args[0])
            except (TypeError, ValueError) as exc:
                raise BadArguments(f"/fvr/{verb} takes a UDP port number, got {args[0]!r}") from exc
            if not 0 < port < 65536:
                raise BadArguments(f"/fvr/{verb}: port {port} is not 1..65535")
        key = (sender[0], port)
        if verb == "unsubscribe":
            with self._subs_lock:
                sub = self._subs.pop(key, None)
            if sub is not None:
                sub.sock.close()
            return
        if verb == "ping":
            with contextlib.suppress(queue.Full):
                self._feedback.put_nowait(("pong", key))
            return
        with self._subs_lock:
            if key in self._subs:
                self._subs[key].last_seen = time.monotonic()
                return
        family = socket.AF_INET6 if ":" in key[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.connect(key)
        except OSError as exc:
            sock.close()
            raise BadArguments(f"cannot send feedback to {key[0]}:{key[1]}: {exc}") from exc
        with self._subs_lock:
            self._subs[key] = Subscriber(key, sock)
        log.info("OSC: %s:%d subscribed to feedback", *key)
        with contextlib.suppress(queue.Full):
            self._feedback.put_nowait(("snapshot", key))

    def _seen(self, host: str) -> None:
        """Any packet from a subscriber's host keeps its subscription alive."""
        if not self._subs:
            return
        now = time.monotonic()
        with self._subs_lock:
            for (h, _), sub in self._subs.items():
                if h == host:
                    sub.last_seen = now

    def _on_state(self, changed: dict[str, Any]) -> None:
        # The engine thread, right after a tick: release due commands, queue feedback; never block.
        slot = changed.get("engine.slot")
        if isinstance(slot, int):
            self.scheduler.on_tick(slot)
        if not self._subs:
            return
        channel_keys = {k: v for k, v in changed.items() if k.startswith("channels.")}
        if channel_keys:
            try:
                self._feedback.put_nowait(("changes", channel_keys))
            except queue.Full:
                self.counters["feedback_dropped"] += 1

    def _send_feedback(self) -> None:
        last_sweep = time.monotonic()
        while self._running.is_set():
            try:
                kind, payload = self._feedback.get(timeout=1.0)
            except queue.Empty:
                kind, payload = "", None
            if kind == "changes":
                changes = dict(payload)
                # Coalesce what queued up meanwhile: only the newest value of each key goes out.
                while True:
                    try:
                        k2, p2 = self._feedback.get_nowait()
                    except queue.Empty:
                        break
                    if k2 == "changes":
                        changes.update(p2)
                    else:
                        self._feedback_item(k2, p2)
                self._broadcast(feedback_messages(changes))
            elif kind:
                self._feedback_item(kind, payload)
            now = time.monotonic()
            if now - last_sweep >= 1.0:
                last_sweep = now
                self._expire(now)

    def _feedback_item(self, kind: str, payload: Any) -> None:
        if kind == "snapshot":
            snapshot = self.engine.state.snapshot("channels.")
            self._send_to(payload, feedback_messages(snapshot))
        elif kind == "pong":
            self._send_to(payload, [encode_message(f"{ROOT}/pong")])
        elif kind == "error":
            channel, message = payload
            self._broadcast([encode_message(f"{ROOT}/{channel}/error", message)])

    def _broadcast(self, messages: list[bytes]) -> None:
        with self._subs_lock:
            keys = list(self._subs)
        for key in keys:
            self._send_to(key, messages)

    def _send_to(self, key: tuple[str, int], messages: list[bytes]) -> None:
        with self._subs_lock:
            sub = self._subs.get(key)
        if sub is None:
            return
        try:
            for m in messages:
                sub.sock.send(m)
                sub.sent += 1
                self.counters["feedback_sent"] += 1
        except OSError as exc:  # ICMP port unreachable shows up here as ConnectionRefusedError
            self._drop(key, f"sending failed: {exc}")

    def _expire(self, now: float) -> None:
        with self._subs_lock:
            stale = [k for k, s in self._subs.items() if now - s.last_seen > self.keepalive_s]
        for key in stale:
            self._drop(key, f"nothing heard for {self.keepalive_s:g} s (send /fvr/ping to stay subscribed)")

    def _drop(self, key: tuple[str, int], why: str) -> None:
        with self._subs_lock:
            sub = self._subs.pop(key, None)
        if sub is not None:
            sub.sock.close()
            self.counters["subscribers_dropped"] += 1
            log.info("OSC: dropped feedback subscriber %s:%d: %s", key[0], key[1], why)


def feedback_messages(values: dict[str, Any]) -> list[bytes]:
    """``channels.PGM1.timecode = "10:00:00:00"`` → ``/fvr/PGM1/timecode s``; keys outside FEEDBACK_KEYS skipped."""
    out = []
    for key, value in values.items():
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "channels" or parts[2] not in FEEDBACK_KEYS:
            continue
        suffix = FEEDBACK_KEYS[parts[2]]
        if value is None:
            value = 0.0 if suffix == "view/s" else ""
        elif isinstance(value, float) and not math.isfinite(value):
            value = 0.0
        elif not isinstance(value, (str, int, float)):
            value = str(value)
        out.append(encode_message(f"{ROOT}/{parts[1]}/{suffix}", value))
    return out


# --- argument helpers -------------------------------------------------------------------------------------


def _trigger(args: tuple[Any, ...]) -> bool:
    """A button press: no argument, or a first argument that is not numeric 0 (TouchOSC sends 0 on release)."""
    if not args:
        return True
    first = args[0]
    if isinstance(first, bool):
        return first
    if isinstance(first, (int, float)):
        return first != 0
    return True


def _float(args: tuple[Any, ...], i: int, what: str) -> float:
    if len(args) <= i:
        raise BadArguments(f"missing {what} (argument {i + 1})")
    value = args[i]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise BadArguments(f"{what} must be a number, got {args[i]!r}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadArguments(f"{what} must be a finite number, got {args[i]!r}")
    return float(value)


def _str(args: tuple[Any, ...], i: int, what: str) -> str:
    if len(args) <= i or not isinstance(args[i], (str, int)) or isinstance(args[i], bool) or args[i] == "":
        raise BadArguments(f"missing {what} (argument {i + 1}, a string)")
    return str(args[i])
