"""One channel served as a VTR / Odetics disk recorder on one serial port (RS-422, 38400 8O1).

The port thread reads a block, answers it and goes back to reading; nothing on that path waits for the
engine. Transport, cue and preset commands become ``plugin.commands`` objects handed to
``engine.submit`` (applied at the next slot boundary: a fixed one-frame latency) and are ACKed at once;
sense requests are answered from ``engine.channel_status`` (a snapshot) and a cached clip list. Work that
may be slow (clip store writes, playlists for auto mode) goes to a worker thread after the ACK.

Errors follow the protocol: a wrong checksum gets NAK 04, an unknown command NAK 01, more than 10 ms
between the bytes of a block NAK 80 (time-out); after any error the rest of the burst is discarded.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import serial

from control.sony9pin import protocol as p
from control.sony9pin.library import ClipLibrary, Entry
from plugin.clips import lsm_id_or_none
from plugin.commands import (
    ClearMarks,
    Command,
    CommandResult,
    CueClip,
    CueSlot,
    CueTimecode,
    GoLive,
    Jog,
    MarkIn,
    MarkOut,
    Play,
    PlayPlaylist,
    SaveClip,
    SelectCamera,
    SetSpeed,
    Stop,
    result_of,
)
from plugin.errors import ControlError, ReplayError
from timing import percentile

log = logging.getLogger("fvreplay.control.sony9pin")

#: Fast forward / rewind run at the transport's top speed.
FAST_SPEED = 4.0
#: Preroll before IN for Preroll (20 30) until a Preroll Time Preset (44 31) changes it: 5 s, as on a VTR.
DEFAULT_PREROLL_S = 5
#: EVS puts a record train cued by ID this many frames before its newest frame ("OUT − 2").
TRAIN_CUE_BACK = 2
LATENCY_SAMPLES = 10_000
#: After an error, input is discarded until this much silence: the end of the faulty burst.
DISCARD_SILENCE_S = 0.005
#: MakeClip (BX 04) data counts and how many of their bytes are the ID: B4 111A, B6 +guardband, B7 114A/00,
#: B9 +guardband, B8 a Louth ID, BA +guardband.
MAKE_CLIP_ID_BYTES = {4: 4, 6: 4, 7: 7, 9: 7, 8: 8, 10: 8}

Handler = Callable[[p.Block], bytes | None]
#: The data counts a command takes (any other count is NAK 01, undefined); None: any count.
Counts = tuple[int, ...] | None
#: Counts for commands without data.
NO_DATA: Counts = (0,)


@dataclass
class _Presets:
    """Odetics presets and auto mode (the device's own state; the engine holds marks and clips)."""

    auto_mode: bool = False
    in_id: str | None = None
    in_tc: str | None = None
    out_set: bool = False
    preview_in: str | None = None
    preview_out: bool = False
    auto_playing: bool = False
    playlist_id: str | None = None


@dataclass
class DeviceStats:
    """Counters a surface reports: commands by result, reply latency samples (ns)."""

    commands: int = 0
    acks: int = 0
    naks: collections.Counter[int] = field(default_factory=collections.Counter)
    late: int = 0
    refused: int = 0
    port_errors: int = 0
    latencies_ns: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=LATENCY_SAMPLES))

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ns)

        def pct(n: int) -> float | None:
            return round(percentile(lat, n) / 1e6, 3) if lat else None

        return {
            "commands": self.commands,
            "acks": self.acks,
            "naks": {f"{k:02x}": v for k, v in sorted(self.naks.items())},
            "late_replies": self.late,
            "refused": self.refused,
            "port_errors": self.port_errors,
            "reply_ms_p50": pct(50),
            "reply_ms_p99": pct(99),
            "reply_ms_max": round(lat[-1] / 1e6, 3) if lat else None,
        }


#: The GIL switch interval the 9 ms rule needs: with Python's default of 5 ms, one busy Python thread
#: elsewhere in the process (a renderer, a REST handler) delays a reply by up to 5 ms per hand-over.
SWITCH_INTERVAL_S = 0.001


_switch_lock = threading.Lock()
_switch_users = 0
_switch_before: float | None = None


def tighten_switch_interval() -> None:
    """Lower the interpreter's thread switch interval to 1 ms (process-wide) while any device serves."""
    global _switch_users, _switch_before
    with _switch_lock:
        _switch_users += 1
        if _switch_users == 1 and sys.getswitchinterval() > SWITCH_INTERVAL_S:
            _switch_before = sys.getswitchinterval()
            log.info("Sony 9-pin: thread switch interval %.1f ms → %.1f ms, so replies meet the 9 ms rule",
                     _switch_before * 1e3, SWITCH_INTERVAL_S * 1e3)
            sys.setswitchinterval(SWITCH_INTERVAL_S)


def restore_switch_interval() -> None:
    """Undo :func:`tighten_switch_interval` when the last device stops."""
    global _switch_users, _switch_before
    with _switch_lock:
        _switch_users = max(0, _switch_users - 1)
        if _switch_users == 0 and _switch_before is not None:
            sys.setswitchinterval(_switch_before)
            _switch_before = None


def open_port(port: str) -> serial.SerialBase:
    """Open a serial port by path or pyserial URL (``/dev/ttyUSB0``, ``/dev/pts/3``, ``loop://``, ``spy://…``)."""
    try:
        s = serial.serial_for_url(port, do_not_open=True, timeout=p.INTER_BYTE_TIMEOUT_S, **p.SERIAL_SETTINGS)
        if hasattr(s, "exclusive") and "://" not in port:
            s.exclusive = True
        s.open()
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ControlError(
            f"Sony 9-pin: cannot open serial port {port!r}: {exc} (check the device path, that no other "
            "program holds it, and that you may read and write it: the 'dialout' group)"
        ) from exc
    return s


class Sony9PinDevice:
    """Serve ``channel`` of ``engine`` on serial ``port`` as ``device_type`` (bvw-75, odetics, hyperdeck)."""

    def __init__(
        self,
        engine: Any,
        port: str | serial.SerialBase,
        channel: str,
        device_type: str = "odetics",
        *,
        library: ClipLibrary | None = None,
    ) -> None:
        if device_type not in p.DEVICE_TYPES:
            raise ControlError(
                f"Sony 9-pin: device type {device_type!r} is not one of {', '.join(p.DEVICE_TYPES)}"
            )
        self.engine = engine
        self.port_name = port if isinstance(port, str) else str(getattr(port, "port", None) or port)
        self._port_given = None if isinstance(port, str) else port
        self._port: serial.SerialBase | None = None
        try:
            self.channel = engine.resolve_channel(channel)
        except ReplayError as exc:
            raise ControlError(f"Sony 9-pin {self.port_name}: {exc}") from exc
        self.device_type = device_type
        self.rate = engine.rate
        self.library = library or ClipLibrary(engine)
        self.stats = DeviceStats()
        self._type_bytes = p.device_type_bytes(device_type, self.rate)
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._stopping = threading.Event()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"9pin-{self.channel}-work")
        self._worker_closed = False
        # Device state; changed on the port thread, read by the done-callbacks (engine thread).
        self.local = False
        self.mode: str | None = None  # "jog" | "var" | "shuttle" | "ff" | "rew" | None (play/stop)
        self._cue: Future[CommandResult] | None = None
        self.presets = _Presets()
        self.preroll_frames = DEFAULT_PREROLL_S * self.rate.nominal
        self.device_id = p.id_bytes("FVR " + self.channel)
        self._list_cursor = 0
        self._data_id: str | None = None
        self._late_logged = 0.0
        self.events: collections.deque[bytes] = collections.deque(maxlen=256)
        self._handlers: dict[tuple[int, int], tuple[Counts, Handler]] = {}
        self._build_table()

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._port = self._port_given or open_port(self.port_name)
        tighten_switch_interval()
        if self._worker_closed:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"9pin-{self.channel}-work")
            self._worker_closed = False
        self.library.start()
        self._stopping.clear()
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name=f"9pin-{self.channel}", daemon=True)
        self._thread.start()
        log.info("Sony 9-pin: %s serves %s as %s", self.port_name, self.channel, self.device_type)

    def stop(self) -> None:
        self._running.clear()
        self._stopping.set()
        port, thread, self._thread = self._port, self._thread, None
        if thread is not None:
            restore_switch_interval()
        if port is not None and hasattr(port, "cancel_read"):
            # A port that is already gone cannot be cancelled; its thread stops on its own.
            with contextlib.suppress(OSError, serial.SerialException):
                port.cancel_read()
        if thread is not None:
            thread.join(timeout=2.0)
        if port is not None and self._port_given is None:
            port.close()
        self._port = None
        self._worker.shutdown(wait=True)
        self._worker_closed = True
        self.library.stop()

    def describe(self) -> str:
        return f"Sony 9-pin: {self.port_name} → {self.channel} as {self.device_type}"

    # --- the port loop ------------------------------------------------------------------------------------

    def _serve(self) -> None:
        while self._running.is_set():
            port = self._port or self._reopen()
            if port is None:
                continue
            try:
                self._serve_one(port)
            except (serial.SerialException, OSError) as exc:
                if not self._running.is_set():
                    return
                self.stats.port_errors += 1
                log.warning("Sony 9-pin %s: port error: %s; reopening it", self.port_name, exc)
                if self._port_given is None:
                    with contextlib.suppress(OSError, serial.SerialException):
                        port.close()
                    self._port = None
                self._stopping.wait(1.0)

    def _reopen(self) -> serial.SerialBase | None:
        """Open the port again after an error (an adapter unplugged and plugged back); retry every second."""
        try:
            self._port = open_port(self.port_name)
        except ControlError as exc:
            log.debug("%s", exc)
            self._stopping.wait(1.0)
            return None
        log.info("Sony 9-pin %s: port reopened", self.port_name)
        return self._port

    def _serve_one(self, port: serial.SerialBase) -> None:
        first = port.read(1)
        if not first:
            return
        buf = bytearray(first)
        need = p.block_length(first[0]) - 1
        while need:
            # port.timeout is the 10 ms inter-byte limit: a read that returns nothing means a gap > 10 ms.
            chunk = port.read(need)
            if not chunk:
                self._send(port, p.nak(p.NAK_TIMEOUT), time.perf_counter_ns(), bytes(buf))
                self.stats.naks[p.NAK_TIMEOUT] += 1
                log.info("Sony 9-pin %s: time-out after %s", self.port_name, bytes(buf).hex(" "))
                self._discard_burst(port)
                return
            buf += chunk
            need -= len(chunk)
        received = time.perf_counter_ns()
        reply = self.handle(bytes(buf))
        self._send(port, reply, received, bytes(buf))
        if reply[:2] == b"\x11\x12" and reply[2] != p.NAK_UNDEFINED:
            self._discard_burst(port)

    def _send(self, port: serial.SerialBase, reply: bytes, received_ns: int, block: bytes = b"") -> None:
        port.write(reply)
        took = time.perf_counter_ns() - received_ns
        self.stats.latencies_ns.append(took)
        if took > p.REPLY_DEADLINE_S * 1e9:
            self.stats.late += 1
            now = time.monotonic()
            if now - self._late_logged >= 1.0:  # at most once a second: a loaded host must not flood the log
                self._late_logged = now
                log.warning("Sony 9-pin %s: reply took %.1f ms (the limit is 9 ms; %d late so far)",
                            self.port_name, took / 1e6, self.stats.late)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Sony 9-pin %s: %s → %s (%.3f ms)", self.port_name, block.hex(" ") or "…", reply.hex(" "),
                      took / 1e6)

    def _discard_burst(self, port: serial.SerialBase) -> None:
        """After an error the controller stops sending: drop the rest of the burst (bytes until 5 ms of silence,
        at most 100 ms), short enough that a controller's next command, 10 ms after the NAK, is kept."""
        deadline = time.monotonic() + 0.1
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            waiting = port.in_waiting
            if waiting:
                port.read(waiting)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= DISCARD_SILENCE_S:
                return
            time.sleep(0.001)

    # --- one block → one reply (no I/O; tests call this directly) ---------------------------------------

    def handle(self, raw: bytes) -> bytes:
        """Answer one whole block: ACK, NAK or a return block. Never raises, never waits for the engine."""
        self.stats.commands += 1
        try:
            block = p.decode(raw)
        except p.FrameError as exc:
            log.info("Sony 9-pin %s: %s", self.port_name, exc)
            self.stats.naks[exc.nak] += 1
            return p.nak(exc.nak)
        # An unknown command, or a known one with a data count it does not take, is undefined (NAK 01).
        counts, handler = self._handlers.get((block.group, block.cmd2), (None, None))
        try:
            reply = handler(block) if handler is not None and (counts is None or block.count in counts) else None
        except Exception:  # a bug in one handler must not take the port down: answer, log, go on
            log.exception("Sony 9-pin %s: failed on %s", self.port_name, block)
            reply = p.ACK if block.group in (p.TRANSPORT, p.PRESET) else None
        if reply is None:
            self.stats.naks[p.NAK_UNDEFINED] += 1
            return p.nak(p.NAK_UNDEFINED)
        if reply == p.ACK:
            self.stats.acks += 1
        return reply

    # --- engine helpers -------------------------------------------------------------------------------------

    def _submit(self, cmd: Command) -> Future[CommandResult]:
        fut: Future[CommandResult] = self.engine.submit(cmd)
        fut.add_done_callback(functools.partial(self._done, cmd))
        return fut

    def _done(self, cmd: Command, fut: Future[CommandResult]) -> None:
        res = result_of(fut)
        if res.refused:
            self.stats.refused += 1
            log.info("Sony 9-pin %s: %s refused: %s", self.channel, cmd.verb, res.message)

    def _transport(self, cmd: Command, mode: str | None = None) -> bytes:
        self.mode = mode
        self._cue = None
        if not isinstance(cmd, (Play, PlayPlaylist)):
            self.presets.auto_playing = False
        self._submit(cmd)
        return p.ACK

    def _cue_cmd(self, cmd: Command) -> bytes:
        self.mode = None
        self.presets.auto_playing = False
        self._cue = self._submit(cmd)
        return p.ACK

    def _status(self) -> Any:
        return self.engine.channel_status(self.channel)

    def _label(self, data: bytes) -> str | None:
        try:
            return p.timecode_label(data, self.rate)
        except ValueError as exc:
            log.info("Sony 9-pin %s: bad timecode: %s", self.port_name, exc)
            return None

    def _tc_bytes(self, label: str | None) -> bytes:
        if not label:
            return p.ZERO_TIME
        try:
            return p.timecode_bytes(label, self.rate)
        except ValueError:
            return p.ZERO_TIME

    def _slot_bytes(self, slot: int | None) -> bytes:
        return p.ZERO_TIME if slot is None else self._tc_bytes(self.engine.timecode_of(slot))

    def _entry(self, raw: bytes) -> Entry | None:
        return self.library.lookup(p.id_text(raw))

    def _post(self, event: int, clip_id: str) -> None:
        self.events.append(bytes((event,)) + p.id_bytes(clip_id))

    # --- the command table ----------------------------------------------------------------------------------

    def _on(self, group: int, cmd2: int, handler: Handler, counts: Counts = None) -> None:
        """Answer ``group``/``cmd2`` with ``handler`` when the block's data count is one of ``counts``."""
        self._handlers[(group, cmd2)] = (counts, handler)

    def _build_table(self) -> None:
        on = self._on
        ack = self._ack
        # System control (0x)
        on(0x0, 0x0C, self._local_disable)
        on(0x0, 0x1D, self._local_enable)
        on(0x0, 0x0D, self._local_enable)
        on(0x0, 0x11, self._device_type, NO_DATA)
        # Transport (2x)
        on(0x2, 0x00, self._stop_block, NO_DATA)
        on(0x2, 0x01, self._play, NO_DATA)
        on(0x2, 0x02, self._record, NO_DATA)
        on(0x2, 0x04, ack)
        on(0x2, 0x05, ack)
        on(0x2, 0x0F, self._eject, NO_DATA)
        on(0x2, 0x10, self._fast_forward, NO_DATA)
        on(0x2, 0x20, self._rewind, NO_DATA)
        for cmd2, mode, sign in (
            (0x11, "jog", 1), (0x12, "var", 1), (0x13, "shuttle", 1),
            (0x21, "jog", -1), (0x22, "var", -1), (0x23, "shuttle", -1),
        ):
            on(0x2, cmd2, self._speed_handler(mode, sign), (1, 2))
        on(0x2, 0x14, lambda b: self._step(b, 1), NO_DATA)
        on(0x2, 0x24, lambda b: self._step(b, -1), NO_DATA)
        on(0x2, 0x30, self._preroll, NO_DATA)
        on(0x2, 0x31, self._cue_up, (0, 4, 8, 12))
        on(0x2, 0x34, self._play, NO_DATA)  # Sync Play
        on(0x2, 0x38, lambda b: self._prog_speed(b, 1), (1,))
        on(0x2, 0x39, lambda b: self._prog_speed(b, -1), (1,))
        for cmd2 in (0x40, 0x41, 0x42, 0x43, 0x64, 0x65, 0x54, 0x55, 0x29):
            on(0x2, cmd2, ack)
        on(0x2, 0x60, self._ee_off, NO_DATA)
        on(0x2, 0x61, self._ee_on, NO_DATA)
        on(0x2, 0x63, self._ee_on, NO_DATA)
        on(0x2, 0x6A, ack)  # Freeze off: nothing to resume to that Play would not do better
        on(0x2, 0x6B, self._stop_block)
        # Preset / select (4x)
        on(0x4, 0x10, lambda b: self._entry_mark(b, MarkIn), NO_DATA)
        on(0x4, 0x11, lambda b: self._entry_mark(b, MarkOut), NO_DATA)
        on(0x4, 0x12, ack)
        on(0x4, 0x13, ack)
        on(0x4, 0x14, self._in_preset, (0, 4, 8, 12))
        on(0x4, 0x15, self._out_preset, (0, 4))
        on(0x4, 0x16, ack)
        on(0x4, 0x17, ack)
        for cmd2 in range(0x18, 0x20):
            on(0x4, cmd2, self._shift, NO_DATA)
        on(0x4, 0x20, lambda b: self._mark_reset(b, keep_out=True), NO_DATA)
        on(0x4, 0x21, lambda b: self._mark_reset(b, keep_out=False), NO_DATA)
        on(0x4, 0x22, ack)
        on(0x4, 0x23, ack)
        on(0x4, 0x24, lambda b: self._recall(b, "in"), NO_DATA)
        on(0x4, 0x25, lambda b: self._recall(b, "out"), NO_DATA)
        on(0x4, 0x26, ack)
        on(0x4, 0x27, ack)
        on(0x4, 0x31, self._preroll_preset, (4,))
        on(0x4, 0x40, lambda b: self._auto_mode(b, False), NO_DATA)
        on(0x4, 0x41, lambda b: self._auto_mode(b, True), NO_DATA)
        for cmd2 in (0x00, 0x04, 0x05, 0x08, 0x2D, 0x30, 0x3E, 0x42, 0x43, 0x44, 0x45, 0xF8, 0xFA):
            on(0x4, cmd2, ack)
        for cmd2 in range(0x32, 0x3C):
            on(0x4, cmd2, ack)
        for cmd2 in range(0x98, 0xB9):
            on(0x4, cmd2, ack)
        # Sense (6x)
        on(0x6, 0x0A, self._gen_time_sense, (1,))
        on(0x6, 0x0C, self._time_sense, (1,))
        on(0x6, 0x10, lambda b: self._mark_sense(b, 0x10, "in"), NO_DATA)
        on(0x6, 0x11, lambda b: self._mark_sense(b, 0x11, "out"), NO_DATA)
        on(0x6, 0x12, lambda b: self._mark_sense(b, 0x12, "in"), NO_DATA)
        on(0x6, 0x13, lambda b: self._mark_sense(b, 0x13, "out"), NO_DATA)
        on(0x6, 0x20, self._status_sense, (1,))
        on(0x6, 0x2E, self._speed_sense, NO_DATA)
        on(0x6, 0x31, self._preroll_sense, NO_DATA)
        on(0x6, 0x36, lambda b: p.encode(p.SENSE_RETURN, 0x36, b"\x00"), NO_DATA)
        # Odetics (Ax)
        on(0xA, 0x01, self._auto_skip, (0, 1))
        on(0xA, 0x02, ack, (0, 4, 8, 12))  # Record Cue: every camera is always recording into its train
        on(0xA, 0x04, self._preview_in, (0, 4, 8, 12))
        on(0xA, 0x05, self._preview_out, (0, 4))
        on(0xA, 0x06, lambda b: self._preview_reset(b, "in"), NO_DATA)
        on(0xA, 0x07, lambda b: self._preview_reset(b, "out"), NO_DATA)
        on(0xA, 0x10, self._erase, (0, 8))
        on(0xA, 0x14, lambda b: self._list_id(b, first=True), (0, 1))
        on(0xA, 0x15, lambda b: self._list_id(b, first=False), (0, 1))
        on(0xA, 0x16, lambda b: self._clip_tc(b, 0x16), (8,))
        on(0xA, 0x17, lambda b: self._clip_tc(b, 0x17), (8,))
        on(0xA, 0x18, self._id_status, (8,))
        on(0xA, 0x1C, self._longest_storage, NO_DATA)
        on(0xA, 0x20, self._set_device_id, (8,))
        on(0xA, 0x21, self._device_id_request, NO_DATA)
        # EVS additions (Bx)
        on(0xB, 0x00, self._get_event, NO_DATA)
        on(0xB, 0x02, self._set_data, (8, 12))
        on(0xB, 0x03, self._get_data, (8,))
        on(0xB, 0x04, self._make_clip, tuple(MAKE_CLIP_ID_BYTES))
        on(0xB, 0x09, self._general_info, (1, 9))
        on(0xB, 0x11, lambda b: p.encode(p.EVS_RETURN, 0x11, b"\x00\x00\x00\x00"), NO_DATA)
        on(0xB, 0x10, ack, (4,))
        on(0xB, 0x12, self._set_in_out, (4, 7, 8))
        on(0xB, 0x13, self._live, (8,))

    # --- system ---------------------------------------------------------------------------------------------

    @staticmethod
    def _ack(block: p.Block) -> bytes:
        return p.ACK

    def _local_disable(self, block: p.Block) -> bytes:
        self.local = False
        return p.ACK

    def _local_enable(self, block: p.Block) -> bytes:
        self.local = True
        return p.ACK

    def _device_type(self, block: p.Block) -> bytes | None:
        return p.encode(p.SYSTEM_RETURN, 0x11, self._type_bytes)

    # --- transport ------------------------------------------------------------------------------------------

    def _stop_block(self, block: p.Block) -> bytes:
        return self._transport(Stop(self.channel))

    def _play(self, block: p.Block) -> bytes | None:
        if self.presets.auto_mode and self.presets.preview_in and not self.presets.auto_playing:
            self._start_auto_play()
            return p.ACK
        ack = self._transport(Play(self.channel, speed=1.0))
        self.presets.auto_playing = self.presets.auto_mode
        return ack

    def _record(self, block: p.Block) -> bytes | None:
        # EVS on a player channel: REC returns to E-E on the channel's record train.
        return self._transport(GoLive(self.channel))

    def _eject(self, block: p.Block) -> bytes | None:
        # EVS: EJECT steps E-E along the record trains (A → B → C …) once the channel is live. The engine
        # steps from the camera it shows when it applies the command (it stays live), not from this snapshot.
        if self._status().state == "LIVE":
            return self._transport(SelectCamera(self.channel, step=1))
        return self._transport(GoLive(self.channel))

    def _fast_forward(self, block: p.Block) -> bytes | None:
        return self._transport(SetSpeed(self.channel, FAST_SPEED), "ff")

    def _rewind(self, block: p.Block) -> bytes | None:
        return self._transport(SetSpeed(self.channel, -FAST_SPEED), "rew")

    def _speed_handler(self, mode: str, sign: int) -> Handler:
        def handler(block: p.Block) -> bytes | None:
            speed = min(FAST_SPEED, p.speed_from_data(block.data))
            return self._transport(SetSpeed(self.channel, sign * speed), mode)

        return handler

    def _step(self, block: p.Block, frames: int) -> bytes | None:
        return self._transport(Jog(self.channel, frames), "jog")

    def _prog_speed(self, block: p.Block, sign: int) -> bytes | None:
        return self._transport(SetSpeed(self.channel, 1.0 + sign * block.data[0] / 1000), "var")

    def _ee_on(self, block: p.Block) -> bytes | None:
        return self._transport(GoLive(self.channel))

    def _ee_off(self, block: p.Block) -> bytes | None:
        if self._status().state == "LIVE":
            return self._transport(Stop(self.channel))
        return p.ACK

    def _preroll(self, block: p.Block) -> bytes | None:
        st = self._status()
        if st.mark_in is None:
            return p.ACK
        return self._cue_cmd(CueSlot(self.channel, st.mark_in - self.preroll_frames))

    def _cue_up(self, block: p.Block) -> bytes | None:
        """``2X 31``: 0 bytes (current ID at its start), 4 (TC), 8 (ID), 12 (TC then ID)."""
        tc = block.data[:4] if block.count in (4, 12) else None
        raw_id = block.data[-8:] if block.count in (8, 12) else None
        label = None
        if tc is not None and tc != p.ZERO_TIME:
            label = self._label(tc)
            if label is None:
                return p.ACK  # a time address that is not BCD cues nothing, as a bad TC on a VTR
        if raw_id is None:
            st = self._status()
            if tc is None:  # 20 31: the current clip at its IN; on a record train, E-E (EVS)
                if st.clip_id:
                    return self._cue_cmd(CueClip(self.channel, st.clip_id, camera=st.camera))
                return self._transport(GoLive(self.channel))
            if st.clip_id:  # inside the loaded clip; 00:00:00:00 is its IN point (EVS)
                return self._cue_cmd(CueClip(self.channel, st.clip_id, timecode=label, camera=st.camera))
            return self._cue_cmd(CueTimecode(self.channel, label or p.timecode_label(p.ZERO_TIME, self.rate)))
        entry = self._entry(raw_id)
        if entry is None:
            log.info("Sony 9-pin %s: cue: no clip or train %r", self.channel, p.id_text(raw_id))
            self._cue = _failed("unknown ID")
            return p.ACK
        return self._cue_entry(entry, label)

    def _cue_entry(self, entry: Entry, label: str | None) -> bytes:
        if entry.clip is not None:
            return self._cue_cmd(CueClip(self.channel, entry.clip.clip_id, timecode=label, camera=entry.camera))
        # A record train: at the TC given, else near live (EVS: OUT − 2).
        st = self._status()
        if st.camera != entry.camera:
            self._submit(SelectCamera(self.channel, camera=entry.camera))
        if label is not None:
            return self._cue_cmd(CueTimecode(self.channel, label))
        held = self.engine.recorder.range(entry.camera)
        if held is None:
            self._cue = _failed("empty record train")
            return p.ACK
        return self._cue_cmd(CueSlot(self.channel, max(held[0], held[1] - TRAIN_CUE_BACK)))

    # --- presets ---------------------------------------------------------------------------------------------

    def _entry_mark(self, block: p.Block, kind: type[MarkIn] | type[MarkOut]) -> bytes | None:
        self._submit(kind(self.channel))
        return p.ACK

    def _in_preset(self, block: p.Block) -> bytes | None:
        """``4X 14``: Sony In Data Preset (44 14 TC sets IN) or Odetics In Preset (cue, with TC and/or ID)."""
        odetics = self.device_type == "odetics" or self.presets.auto_mode or block.count in (0, 8, 12)
        tc = block.data[:4] if block.count in (4, 12) else None
        label = self._label(tc) if tc is not None and tc != p.ZERO_TIME else None
        if not odetics:
            if label is None:
                return p.ACK
            self._submit(MarkIn(self.channel, slot=self.engine.slot_of_timecode(label, near=self._status().slot)))
            return p.ACK
        raw_id = block.data[-8:] if block.count in (8, 12) else None
        if raw_id is not None:
            entry = self._entry(raw_id)
            if entry is None:
                log.info("Sony 9-pin %s: in preset: no clip or train %r", self.channel, p.id_text(raw_id))
                self._cue = _failed("unknown ID")
                return p.ACK
        else:
            st = self._status()
            loaded = self.library.loaded_id(st)
            entry = self.library.lookup(loaded) if loaded else None
            if entry is None:
                return p.ACK
        self.presets.in_id, self.presets.in_tc = entry.id, label
        return self._cue_entry(entry, label)

    def _out_preset(self, block: p.Block) -> bytes | None:
        if block.count == 0:  # Odetics: OUT = the clip's OUT
            self.presets.out_set = True
            return p.ACK
        label = self._label(block.data)
        if label is not None:
            self._submit(MarkOut(self.channel, slot=self.engine.slot_of_timecode(label, near=self._status().slot)))
            self.presets.out_set = True
        return p.ACK

    def _shift(self, block: p.Block) -> bytes | None:
        """``40 18``…``1F``: IN+, IN−, OUT+, OUT−, then the audio ones (which follow video here)."""
        which = (block.cmd2 - 0x18) // 2 % 2  # 0 = in, 1 = out
        step = 1 if block.cmd2 % 2 == 0 else -1
        st = self._status()
        mark = st.mark_in if which == 0 else st.mark_out
        if mark is not None:
            self._submit((MarkIn if which == 0 else MarkOut)(self.channel, slot=mark + step))
        return p.ACK

    def _mark_reset(self, block: p.Block, keep_out: bool) -> bytes | None:
        # The vocabulary clears both marks at once; the one that stays is marked again right after.
        st = self._status()
        self._submit(ClearMarks(self.channel))
        if keep_out and st.mark_out is not None:
            self._submit(MarkOut(self.channel, slot=st.mark_out))
        if not keep_out and st.mark_in is not None:
            self._submit(MarkIn(self.channel, slot=st.mark_in))
        if keep_out:
            self.presets.in_id = self.presets.in_tc = None
        else:
            self.presets.out_set = False
        return p.ACK

    def _recall(self, block: p.Block, which: str) -> bytes | None:
        st = self._status()
        mark = st.mark_in if which == "in" else st.mark_out
        if mark is None:
            return p.ACK
        if st.clip_id:
            label = self.engine.timecode_of(mark if which == "in" else mark - 1)
            return self._cue_cmd(CueClip(self.channel, st.clip_id, timecode=label, camera=st.camera))
        return self._cue_cmd(CueSlot(self.channel, mark if which == "in" else mark - 1))

    def _preroll_preset(self, block: p.Block) -> bytes | None:
        try:
            frames, _ = p.bcd_to_timecode(block.data, self.rate)
        except ValueError:
            return p.ACK
        self.preroll_frames = frames
        return p.ACK

    def _auto_mode(self, block: p.Block, on: bool) -> bytes | None:
        if on:  # Odetics: enabling auto mode clears every preset
            self.presets = _Presets(auto_mode=True)
        else:
            self.presets.auto_mode = False
            self.presets.auto_playing = False
        return p.ACK

    # --- sense -------------------------------------------------------------------------------------------------

    def _status_sense(self, block: p.Block) -> bytes | None:
        return p.status_reply(self.status_image(), block.data[0])

    def status_image(self) -> bytes:
        """The 16 status bytes from the channel's snapshot and this device's modes (disk-recorder rules)."""
        st = self._status()
        live = st.state == "LIVE"
        moving = live or (st.state == "PLAYING" and st.speed != 0)
        reverse = not live and st.speed < 0
        cue = self._cue
        cueing = cue is not None and not cue.done()
        failed = cue is not None and cue.done() and not _ok(cue)
        mode = self.mode if not live else None
        self._follow_auto_play(st)
        pr = self.presets
        return p.Status(
            local=self.local,
            play=moving and mode not in ("jog", "var", "shuttle", "ff", "rew"),
            stop=(not moving and not cueing) or failed,
            fast_forward=mode == "ff" and moving,
            rewind=mode == "rew" and moving,
            servo_lock=moving,
            shuttle=mode == "shuttle",
            jog=mode == "jog",
            var=mode == "var",
            reverse=reverse,
            still=not moving,
            cue_complete=bool(st.cue_complete) and not cueing and not failed,
            auto_mode=pr.auto_mode,
            in_set=st.mark_in is not None or pr.in_id is not None,
            out_set=st.mark_out is not None or pr.out_set,
            full_ee=live,
            preroll=cueing,
            lamp_still=not moving,
            lamp_forward=moving and not reverse,
            lamp_reverse=moving and reverse,
            preview_in_preset=pr.preview_in is not None,
            preview_out_preset=pr.preview_out,
        ).to_bytes()

    def _time_sense(self, block: p.Block) -> bytes | None:
        return p.time_sense_reply(block.data[0], self._tc_bytes(self._status().timecode))

    def _gen_time_sense(self, block: p.Block) -> bytes | None:
        tc = self._tc_bytes(self._status().timecode)
        req = block.data[0]
        if req & 0x01 and req & 0x10:
            return p.encode(p.SENSE_RETURN, 0x08, tc + p.ZERO_TIME)
        if req & 0x10:
            return p.encode(p.SENSE_RETURN, 0x09, p.ZERO_TIME)
        return p.encode(p.SENSE_RETURN, 0x08, tc)

    def _mark_sense(self, block: p.Block, cmd2: int, which: str) -> bytes | None:
        st = self._status()
        mark = st.mark_in if which == "in" else st.mark_out
        return p.encode(p.SENSE_RETURN, cmd2, self._slot_bytes(mark))

    def _speed_sense(self, block: p.Block) -> bytes | None:
        st = self._status()
        speed = 1.0 if st.state == "LIVE" else abs(float(st.speed))
        return p.encode(p.SENSE_RETURN, 0x2E, p.speed_to_data(speed))

    def _preroll_sense(self, block: p.Block) -> bytes | None:
        return p.encode(p.SENSE_RETURN, 0x31, p.duration_bytes(self.preroll_frames, self.rate))

    # --- Odetics ----------------------------------------------------------------------------------------------

    def _preview_in(self, block: p.Block) -> bytes | None:
        if block.count in (8, 12):
            entry = self._entry(block.data[-8:])
            if entry is None or entry.is_train:
                return p.ACK  # EVS: trains cannot be used in auto mode
            self.presets.preview_in = entry.id
        return p.ACK

    def _preview_out(self, block: p.Block) -> bytes | None:
        self.presets.preview_out = True
        return p.ACK

    def _preview_reset(self, block: p.Block, which: str) -> bytes | None:
        if which == "in":
            self.presets.preview_in = None
        else:
            self.presets.preview_out = False
        return p.ACK

    def _auto_skip(self, block: p.Block) -> bytes | None:
        if self.presets.auto_mode and self.presets.preview_in:
            self._start_auto_play(skip=True)
        return p.ACK

    def _start_auto_play(self, skip: bool = False) -> None:
        """Auto mode: play the preset ID then the preview ID seamlessly, as one engine playlist."""
        pr = self.presets
        first = self.library.lookup(pr.in_id) if pr.in_id and not skip else None
        second = self.library.lookup(pr.preview_in) if pr.preview_in else None
        clips = [e.clip.clip_id for e in (first, second) if e is not None and e.clip is not None]
        if not clips:
            self._transport(Play(self.channel, speed=1.0))
            return
        pr.auto_playing = True
        self.mode = None
        self._cue = None
        self._worker.submit(self._play_playlist, clips)

    def _play_playlist(self, clip_ids: list[str]) -> None:
        store = self.engine.clips
        old = self.presets.playlist_id
        try:
            pl = store.create_playlist(f"9-pin auto {self.channel}", [(c, 1.0) for c in clip_ids],
                                       playlist_id=f"9PIN-{self.channel}-{time.monotonic_ns()}")
        except Exception as exc:  # the store refused (clip erased meanwhile): a still, as a failed cue
            log.warning("Sony 9-pin %s: auto mode playlist failed: %s", self.channel, exc)
            return
        self.presets.playlist_id = pl.playlist_id
        self._submit(PlayPlaylist(self.channel, pl.playlist_id))
        if old:
            try:
                store.delete_playlist(old)
            except Exception as exc:  # a leftover playlist is harmless; say so and go on
                log.info("Sony 9-pin %s: could not delete playlist %s: %s", self.channel, old, exc)

    def _follow_auto_play(self, st: Any) -> None:
        # Once the preview clip is on air it becomes the preset (Odetics: byte 9 bits fall to 0).
        pr = self.presets
        if not pr.auto_playing or not pr.preview_in:
            return
        entry = self.library.lookup(pr.preview_in)
        if entry is not None and entry.clip is not None and st.clip_id == entry.clip.clip_id:
            pr.in_id, pr.in_tc, pr.preview_in, pr.preview_out = pr.preview_in, None, None, False

    def _erase(self, block: p.Block) -> bytes | None:
        if block.count == 0:
            log.warning("Sony 9-pin %s: 'erase all IDs' (A0 10) refused: erase clips one by one", self.channel)
            return p.ACK
        entry = self._entry(block.data)
        if entry is None or entry.clip is None:
            self._post(0x04, p.id_text(block.data))
            return p.ACK
        if self._status().clip_id == entry.clip.clip_id:  # EVS: a clip loaded on the channel is not erased
            self._post(0x04, entry.id)
            return p.ACK
        self._worker.submit(self._erase_clip, entry.clip.clip_id)
        return p.ACK

    def _erase_clip(self, clip_id: str) -> None:
        try:
            self.engine.clips.delete(clip_id)
        except Exception as exc:  # reported to the controller as an event, and logged
            log.info("Sony 9-pin %s: erase %s failed: %s", self.channel, clip_id, exc)
            self._post(0x04, clip_id)
            return
        self._post(0x02, clip_id)
        self.library.refresh()

    def _list_id(self, block: p.Block, first: bool) -> bytes | None:
        ids = self.library.ids()
        if first:
            self._list_cursor = 0
        if self._list_cursor >= len(ids):
            return p.encode(p.ODETICS_RETURN, 0x14)
        text = ids[self._list_cursor]
        self._list_cursor += 1
        return p.encode(p.ODETICS_RETURN, 0x14, p.id_bytes(text))

    def _clip_tc(self, block: p.Block, cmd2: int) -> bytes | None:
        entry = self._entry(block.data)
        if entry is None:
            return p.encode(p.ODETICS_RETURN, cmd2)
        if entry.clip is not None:
            first, frames = entry.clip.in_slot, entry.clip.out_slot - entry.clip.in_slot
        else:
            held = self.engine.recorder.range(entry.camera)
            if held is None:
                return p.encode(p.ODETICS_RETURN, cmd2)
            first, frames = held[0], held[1] - held[0] + 1
        data = self._slot_bytes(first) + p.duration_bytes(frames, self.rate)
        if cmd2 == 0x17:
            data += b"\x00"  # the machine number: this server
        return p.encode(p.ODETICS_RETURN, cmd2, data)

    def _id_status(self, block: p.Block) -> bytes | None:
        entry = self._entry(block.data)
        bits = 0
        if entry is not None:
            bits |= 0x01
            st = self._status()
            loaded = st.clip_id == entry.clip.clip_id if entry.clip is not None else not st.clip_id
            if loaded and st.camera == entry.camera:
                bits |= 0x02
        return p.encode(p.ODETICS_RETURN, 0x18, bytes((bits,)))

    def _longest_storage(self, block: p.Block) -> bytes | None:
        # The record trains are rings of fixed length: what is free is always one train's length.
        spans = [r[1] - r[0] + 1 for c in self.library.cameras() if (r := self.engine.recorder.range(c))]
        return p.encode(p.ODETICS_RETURN, 0x1C, p.duration_bytes(max(spans, default=0), self.rate))

    def _set_device_id(self, block: p.Block) -> bytes | None:
        self.device_id = bytes(block.data)
        return p.ACK

    def _device_id_request(self, block: p.Block) -> bytes | None:
        return p.encode(p.ODETICS_RETURN, 0x21, self.device_id)

    # --- EVS additions -------------------------------------------------------------------------------------

    def _get_event(self, block: p.Block) -> bytes | None:
        try:
            event = self.events.popleft()
        except IndexError:
            return p.encode(p.EVS_RETURN, 0x00)
        return p.encode(p.EVS_RETURN, 0x00, event)

    def _make_clip(self, block: p.Block) -> bytes | None:
        """``BX 04`` MakeClip from the channel's IN/OUT: B4 (111A), B6 (+guardband), B7 (114A/00), B9 (+gb),
        B8 (Louth ID, 8 bytes), BA (+gb). Louth IDs become the clip's name under the next free LSM ID."""
        text = block.data[:MAKE_CLIP_ID_BYTES[block.count]].rstrip(b" \x00").decode("ascii", errors="replace")
        lsm = lsm_id_or_none(text)
        cmd = SaveClip(self.channel, clip_id=lsm) if lsm else SaveClip(self.channel, name=text)
        fut = self._submit(cmd)
        fut.add_done_callback(lambda f: self._made(f, lsm or text))
        return p.ACK

    def _made(self, fut: Future[CommandResult], asked: str) -> None:
        res = result_of(fut)
        if res.ok:
            clip_id = str(res.data.get("clip_id") or asked)
            self._post(0x01, clip_id)
            self.library.invalidate()
        else:
            self._post(0x09 if "exists" in res.message else 0x03, asked)

    def _set_in_out(self, block: p.Block) -> bytes | None:
        text = block.data.rstrip(b" \x00").decode("ascii", errors="replace")
        entry = self.library.lookup(text)
        st = self._status()
        if entry is None or entry.clip is None or st.mark_in is None or st.mark_out is None:
            self._post(0x0C, text)
            return p.ACK
        self._worker.submit(self._update_clip, entry.clip.clip_id, {"in_slot": st.mark_in, "out_slot": st.mark_out})
        return p.ACK

    def _update_clip(self, clip_id: str, fields: dict[str, Any]) -> None:
        try:
            self.engine.clips.update(clip_id, **fields)
        except Exception as exc:  # a refused update is an event for the controller and a log line
            log.info("Sony 9-pin %s: update of %s refused: %s", self.channel, clip_id, exc)
            self._post(0x0C, clip_id)
            return
        self.library.refresh()

    def _set_data(self, block: p.Block) -> bytes | None:
        if block.count == 8:  # B8 02: the ID the next BC 02 names
            self._data_id = p.id_text(block.data)
            return p.ACK
        # BC 02: 12 characters of name for it
        entry = self.library.lookup(self._data_id or "")
        if entry is None or entry.clip is None:
            self._post(0x0C, self._data_id or "")
            return p.ACK
        name = block.data.rstrip(b" \x00").decode("ascii", errors="replace")
        self._worker.submit(self._update_clip, entry.clip.clip_id, {"name": name})
        return p.ACK

    def _get_data(self, block: p.Block) -> bytes | None:
        entry = self._entry(block.data)
        name = entry.clip.name if entry is not None and entry.clip is not None else ""
        return p.encode(p.EVS_RETURN, 0x03, name.encode("ascii", errors="replace")[:12].ljust(12, b" "))

    def _general_info(self, block: p.Block) -> bytes | None:
        if block.count == 1 and block.data[0] == 0x01:  # B1 09 01 ActiveIDRequest
            loaded = self.library.loaded_id(self._status())
            if not loaded:
                return p.encode(p.EVS_RETURN, 0x09, b"\x01")
            return p.encode(p.EVS_RETURN, 0x09, b"\x01" + p.id_bytes(loaded))
        if block.count == 9 and block.data[0] in (0x04, 0x05):  # LSM ↔ Louth: our IDs are the same
            entry = self._entry(block.data[1:])
            if entry is None:
                return p.encode(p.EVS_RETURN, 0x09, block.data[:1])
            return p.encode(p.EVS_RETURN, 0x09, block.data[:1] + p.id_bytes(entry.id))
        return None

    def _live(self, block: p.Block) -> bytes | None:
        entry = self._entry(block.data)
        if entry is None:
            self._post(0x0C, p.id_text(block.data))
            return p.ACK
        return self._transport(GoLive(self.channel, camera=entry.camera))


def _ok(fut: Future[CommandResult]) -> bool:
    return result_of(fut).ok


def _failed(message: str) -> Future[CommandResult]:
    fut: Future[CommandResult] = Future()
    fut.set_result(CommandResult(False, message))
    return fut
