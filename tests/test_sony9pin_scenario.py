"""One operator scenario against the real engine, twice: as a 9-pin controller on a pty, and over OSC.

The controller asks the device type, polls status and time every frame (checking them against the engine),
plays, cues a timecode, steps, shuttles both ways, stops, marks IN/OUT, makes a clip, cues it by ID on its
second angle, plays it and returns to E-E. The OSC run sends the same steps to /fvr/1/…; after every step
both engines must be in the same state.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from control.osc import OscServer
from control.osc.codec import encode_bundle, encode_message, tai_ns_to_timetag
from control.sony9pin import protocol as p
from control.sony9pin.device import Sony9PinDevice
from plugin import commands as c
from plugin.engine import Engine
from tests.conftest import wait_until
from tests.engine_helpers import BASE, make_engine, record
from tests.sony9pin_helpers import Controller, cmd
from timing import slot_start_ns

FIRST_TICK = BASE + 151



def tc_of(engine: Engine, slot: int) -> str:
    return engine.timecode_of(slot)


# (label, 9-pin block, OSC message, ticks after)
Step = tuple[str, Callable[[Engine], bytes], tuple[Any, ...], int]
CUE_SLOT = BASE + 100
STEPS: list[Step] = [
    ("play", lambda e: cmd("20 01"), ("/fvr/1/play",), 5),
    ("cue a timecode", lambda e: p.encode(0x2, 0x31, p.timecode_bytes(tc_of(e, CUE_SLOT), e.rate)),
     ("/fvr/1/tc/cue", "@cue"), 2),
    ("frame step", lambda e: cmd("20 14"), ("/fvr/1/jog", 1), 1),
    ("shuttle reverse 1x", lambda e: cmd("21 23 40"), ("/fvr/1/shuttle", -1.0), 3),
    ("shuttle forward 0.1x", lambda e: cmd("21 13 20"), ("/fvr/1/shuttle", 0.1), 10),
    ("stop", lambda e: cmd("20 00"), ("/fvr/1/stop",), 2),
    ("mark in", lambda e: cmd("40 10"), ("/fvr/1/mark/in",), 1),
    ("play to the out point", lambda e: cmd("20 01"), ("/fvr/1/play",), 12),
    ("stop again", lambda e: cmd("20 00"), ("/fvr/1/stop",), 1),
    ("mark out", lambda e: cmd("40 11"), ("/fvr/1/mark/out",), 1),
    ("make clip 111A/00", lambda e: p.encode(0xB, 0x04, b"111A/00\x00\x00"), ("/fvr/1/clip/save", "111A/00"), 1),
    ("cue clip 111B/00", lambda e: p.encode(0x2, 0x31, p.id_bytes("111B/00")), ("/fvr/1/clip/cue", "111B/00"), 2),
    ("play the clip", lambda e: cmd("20 01"), ("/fvr/1/play",), 4),
    ("back to E-E", lambda e: cmd("20 61"), ("/fvr/1/live",), 2),
]


def snapshot(engine: Engine) -> dict[str, Any]:
    st = engine.channel_status("PGM1")
    return {k: getattr(st, k) for k in ("state", "speed", "camera", "slot", "clip_id", "mark_in", "mark_out",
                                         "cue_complete")}


class Ticker:
    """The genlock, by hand: each tick records the new slot on every camera, then runs the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.slot = FIRST_TICK

    def tick(self) -> None:
        record(self.engine, self.slot, self.slot)
        self.engine.tick(self.slot)
        self.slot += 1


def check_poll(ctl: Controller, engine: Engine) -> None:
    """What a controller polls each frame: status and current time, consistent with the engine."""
    st = engine.channel_status("PGM1")
    status = p.decode(ctl.transact(cmd("61 20 0A"))).data
    assert len(status) == 10
    moving = st.state == "LIVE" or st.speed != 0
    assert bool(status[2] & 0x02) == (not moving), (st, status.hex(" "))  # still
    assert bool(status[2] & 0x04) == (st.speed < 0 and st.state != "LIVE"), (st, status.hex(" "))  # direction
    assert bool(status[4] & 0x40) == (st.state == "LIVE")  # full E-E
    assert bool(status[3] & 0x01) == (st.mark_in is not None)
    assert bool(status[3] & 0x02) == (st.mark_out is not None)
    if st.state == "CUED":
        assert status[2] & 0x01  # cue complete
    time_reply = ctl.transact(cmd("61 0C 01"))
    assert time_reply == p.encode(0x7, 0x04, p.timecode_bytes(st.timecode, engine.rate))


def run_ninepin(engine: Engine) -> list[dict[str, Any]]:
    master, slave = os.openpty()
    device = Sony9PinDevice(engine, os.ttyname(slave), "PGM1", "odetics")
    device.start()
    ctl = Controller(master)
    clock = Ticker(engine)
    states = []
    try:
        assert ctl.transact(cmd("00 11")) == cmd("12 11 D9 10")  # 50p: PAL-family Odetics
        for _ in range(3):
            check_poll(ctl, engine)
            clock.tick()
        for label, block, _, ticks in STEPS:
            assert ctl.transact(block(engine)) == p.ACK, label
            for _ in range(ticks):
                clock.tick()
                check_poll(ctl, engine)
            if label.startswith("make clip"):
                wait_until(lambda: any(c.clip_id == "111A/00" for c in engine.clips.list()), "the clip to be saved")
                wait_until(lambda: ctl.transact(p.encode(0xA, 0x18, p.id_bytes("111B/00")))[2] & 0x01 == 1,
                         "the device to list the new clip")
                assert ctl.transact(cmd("B0 00")) == p.encode(0x9, 0x00, b"\x01" + p.id_bytes("111A/00"))
            states.append({"step": label, **snapshot(engine)})
        assert device.stats.naks == {}
        assert ctl.transact(cmd("A8 18 " + p.id_bytes("111B/00").hex())) == p.encode(0x8, 0x18, b"\x01")
    finally:
        device.stop()
        os.close(master)
        os.close(slave)
    return states


def run_osc(engine: Engine) -> list[dict[str, Any]]:
    server = OscServer(engine, "127.0.0.1", 0)
    server.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    clock = Ticker(engine)
    states = []
    try:
        for _ in range(3):
            clock.tick()
        for label, _, message, ticks in STEPS:
            address, *args = message
            args = [tc_of(engine, CUE_SLOT) if a == "@cue" else a for a in args]
            before = server.state()["commands"]
            sock.sendto(encode_message(address, *args), server.address)
            wait_until(lambda b=before: server.state()["commands"] > b, f"OSC {address} to be submitted")
            for _ in range(ticks):
                clock.tick()
            if label.startswith("make clip"):
                wait_until(lambda: any(c.clip_id == "111A/00" for c in engine.clips.list()), "the clip to be saved")
            states.append({"step": label, **snapshot(engine)})
        assert server.state()["rejected"] == 0 and server.state()["refused"] == 0
    finally:
        sock.close()
        server.stop()
    return states


@pytest.mark.integration
def test_ninepin_and_osc_drive_the_engine_to_the_same_states(tmp_path: Path) -> None:
    e1 = make_engine(tmp_path / "ninepin")
    e2 = make_engine(tmp_path / "osc")
    try:
        for e in (e1, e2):
            record(e, BASE, BASE + 150)
        ninepin = run_ninepin(e1)
        osc = run_osc(e2)
    finally:
        e1.stop()
        e2.stop()
    assert ninepin == osc
    by_step = {s["step"]: s for s in ninepin}
    assert by_step["play"]["state"] == "PLAYING" and by_step["play"]["speed"] == 1.0
    assert by_step["cue a timecode"]["state"] == "CUED" and by_step["cue a timecode"]["slot"] == CUE_SLOT
    assert by_step["frame step"]["slot"] == CUE_SLOT + 1
    assert by_step["shuttle reverse 1x"]["slot"] == CUE_SLOT + 1 - 3
    assert by_step["shuttle forward 0.1x"]["speed"] == pytest.approx(0.1)
    assert by_step["stop"]["speed"] == 0.0
    assert by_step["mark out"]["mark_out"] - by_step["mark in"]["mark_in"] == 12
    clip = by_step["cue clip 111B/00"]
    assert (clip["state"], clip["clip_id"], clip["camera"]) == ("CUED", "111A/00", "cam02")
    assert clip["slot"] == by_step["mark in"]["mark_in"]
    assert by_step["play the clip"]["slot"] == clip["slot"] + 4
    assert by_step["back to E-E"]["state"] == "LIVE"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real engine with slots BASE..BASE+150 recorded on every camera (ticked by a Ticker from FIRST_TICK)."""
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 150)
    yield e
    e.stop()


@pytest.fixture
def device(engine: Engine) -> Iterator[Sony9PinDevice]:
    """A 9-pin device on PGM1 with no port (loop://): tests call handle(); stopped before the engine."""
    d = Sony9PinDevice(engine, "loop://", "PGM1", "odetics")
    yield d
    d.stop()


@pytest.mark.integration
def test_superseded_commands_say_so_and_no_surface_counts_them_as_refused(engine: Engine, device: Sony9PinDevice) -> None:
    server = OscServer(engine, "127.0.0.1", 0)
    clock = Ticker(engine)
    stale = engine.submit(c.Jog("PGM1", 1))
    assert device.handle(cmd("20 01")) == p.ACK  # replaces the jog, then is replaced by Stop
    assert device.handle(cmd("20 00")) == p.ACK
    clock.tick()
    assert not stale.result(1).ok and stale.result(1).data == {"superseded_by": "play"}
    server.handle_packet(encode_message("/fvr/1/play"), ("127.0.0.1", 9))
    server.handle_packet(encode_message("/fvr/1/stop"), ("127.0.0.1", 9))
    clock.tick()
    assert device.stats.refused == 0 and server.state()["refused"] == 0
    assert engine.channel_status("PGM1").speed == 0.0


@pytest.mark.integration
def test_two_ejects_in_one_frame_step_live_twice(engine: Engine, device: Sony9PinDevice) -> None:
    clock = Ticker(engine)
    clock.tick()
    assert (engine.channel_status("PGM1").state, engine.channel_status("PGM1").camera) == ("LIVE", "cam01")
    assert device.handle(cmd("20 0F")) == p.ACK
    assert device.handle(cmd("20 0F")) == p.ACK
    clock.tick()
    st = engine.channel_status("PGM1")
    assert (st.state, st.camera) == ("LIVE", "cam03")
    assert device.stats.refused == 0


@pytest.mark.integration
def test_osc_bundle_lands_on_the_slot_its_timetag_names(engine: Engine) -> None:
    server = OscServer(engine, "127.0.0.1", 0)
    server.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    clock = Ticker(engine)
    try:
        clock.tick()  # the engine is at FIRST_TICK
        target = FIRST_TICK + 8
        when = tai_ns_to_timetag(slot_start_ns(target, engine.rate) + 5_000_000)
        sock.sendto(encode_bundle(when, [encode_message("/fvr/1/stop")]), server.address)
        wait_until(lambda: server.state()["commands"] == 1, "the bundle to be held")
        assert server.state()["held"] == 1
        speeds = {}
        while clock.slot <= target + 1:
            shown = clock.slot
            clock.tick()
            speeds[shown] = engine.channel_status("PGM1").state
        assert speeds[target - 1] == "LIVE"
        assert speeds[target] == "PLAYING"  # stopped (a still) from exactly the slot the bundle named
        assert server.state()["held"] == 0 and server.state()["late"] == 0
    finally:
        sock.close()
        server.stop()


@pytest.mark.integration
def test_surfaces_build_from_a_real_profile_and_engine(tmp_path: Path) -> None:
    from control.osc import OscSurface
    from control.sony9pin import Sony9PinSurface
    from profiles import parse_profile
    from tests.engine_helpers import profile_text
    from timing import ManualClock

    master, slave = os.openpty()
    extra = f'[[control.sony9pin]]\nport = "{os.ttyname(slave)}"\ndevice_type = "bvw-75"\n'
    profile = parse_profile(profile_text(3, extra=extra))
    engine = Engine.from_profile(profile, clock=ManualClock(), storage_root=tmp_path / "store")
    surfaces = [Sony9PinSurface.from_profile(engine, profile, {}), OscSurface.from_profile(engine, profile, {"port": 0})]
    try:
        for s in surfaces:
            s.start()
        lines = [line for s in surfaces for line in s.describe()]
        assert lines[0] == f"Sony 9-pin: {os.ttyname(slave)} → PGM1 as bvw-75"
        assert lines[1].startswith("OSC: udp://127.0.0.1:")
        assert Controller(master).transact(cmd("00 11")) == cmd("12 11 21 25")
    finally:
        for s in surfaces:
            s.stop()
        engine.stop()
        os.close(master)
        os.close(slave)


@pytest.mark.integration
def test_run_command_line_starts_both_surfaces(tmp_path: Path) -> None:
    """``fvreplay run --sony9pin DEVICE=CHANNEL --osc PORT`` through the CLI's own wiring (plugin.cli.run) and
    the installed fvreplay.controls entry points."""
    import argparse

    from plugin.cli import run as cli_run
    from profiles import parse_profile
    from tests.engine_helpers import profile_text
    from timing import ManualClock

    master, slave = os.openpty()
    profile = parse_profile(profile_text(3))
    engine = Engine.from_profile(profile, clock=ManualClock(), storage_root=tmp_path / "store")
    args = argparse.Namespace(rest=None, no_rest=True, osc=0, sony9pin=[f"{os.ttyname(slave)}=1"])
    started: list[Any] = []
    try:
        started = cli_run.start_controls(engine, profile, args)
        lines = [line for s in started for line in s.describe()]
        assert lines[0].startswith("OSC: udp://")
        assert lines[1] == f"Sony 9-pin: {os.ttyname(slave)} → PGM1 as odetics"
        assert Controller(master).transact(cmd("20 01")) == p.ACK
    finally:
        for s in started:
            s.stop()
        engine.stop()
        os.close(master)
        os.close(slave)
