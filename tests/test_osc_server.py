"""OSC: the codec against literal packets, the address space against a fake engine, feedback over UDP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from control.osc import OscSurface
from control.osc.codec import (
    IMMEDIATE,
    OscPacketError,
    encode_bundle,
    encode_message,
    parse_packet,
    tai_ns_to_timetag,
    timetag_to_tai_ns,
)
from control.osc.server import OscServer, feedback_messages
from plugin import commands as c
from profiles import parse_profile
from tests.sony9pin_helpers import NOW, FakeEngine
from timing import slot_start_ns, utc_to_tai_ns

SENDER = ("127.0.0.1", 50000)


# --- codec ---------------------------------------------------------------------------------------------


def test_message_golden_bytes() -> None:
    assert encode_message("/fvr/1/play") == b"/fvr/1/play\x00,\x00\x00\x00"
    assert encode_message("/fvr/1/jog", 5) == b"/fvr/1/jog\x00\x00,i\x00\x00\x00\x00\x00\x05"
    assert encode_message("/fvr/1/speed", 0.5) == b"/fvr/1/speed\x00\x00\x00\x00,f\x00\x00?\x00\x00\x00"


def test_timetag_converts_to_tai_exactly() -> None:
    # 2026-01-01 00:00:00.5 UTC: NTP seconds 3976214400, fraction one half; TAI is 37 s ahead of UTC.
    timetag = (3_976_214_400 << 32) | 0x8000_0000
    utc_ns = (3_976_214_400 - 2_208_988_800) * 10**9 + 500_000_000
    assert timetag_to_tai_ns(timetag) == utc_ns + 37 * 10**9 == utc_to_tai_ns(utc_ns)
    assert timetag_to_tai_ns(IMMEDIATE) is None
    tai = 1_767_225_637_123_456_789
    assert timetag_to_tai_ns(tai_ns_to_timetag(tai)) == tai


def test_nested_bundles_carry_their_own_timetags() -> None:
    inner = encode_bundle(7 << 32, [encode_message("/fvr/1/stop")])
    packet = encode_bundle(5 << 32, [encode_message("/fvr/1/play"), inner])
    got = parse_packet(packet)
    assert [(m.timetag >> 32, m.address) for m in got] == [(5, "/fvr/1/play"), (7, "/fvr/1/stop")]
    assert parse_packet(encode_message("/fvr/1/jog", -2))[0].args == (-2,)
    assert parse_packet(encode_message("/x"))[0].timetag == IMMEDIATE


@pytest.mark.parametrize(
    "dgram",
    [
        b"",
        b"hello",
        b"#bundle\x00\x00\x00",  # no timetag
        b"#bundle\x00" + bytes(8) + b"\x00\x00\x00\x40/fvr",  # element claims 64 bytes
        b"#bundle\x00" + bytes(8) + b"\xff\xff\xff\xfc",  # negative size
        b"/fvr/1/jog\x00\x00,i\x00\x00",  # int argument missing
        b"/fvr/1/jog\x00\x00,q\x00\x00\x00\x00\x00\x01",  # unknown type tag
    ],
)
def test_malformed_packets_raise(dgram: bytes) -> None:
    with pytest.raises(OscPacketError):
        parse_packet(dgram)


# --- the address space (no sockets: handle_packet directly) ---------------------------------------------


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def server(engine: FakeEngine) -> OscServer:
    return OscServer(engine, "127.0.0.1", 0)


def send(server: OscServer, address: str, *args: Any) -> None:
    server.handle_packet(encode_message(address, *args), SENDER)


@pytest.mark.parametrize(
    ("address", "args", "expected"),
    [
        ("/fvr/1/play", (), c.Play("PGM1", speed=1.0)),
        ("/fvr/PGM1/play", (1.0,), c.Play("PGM1", speed=1.0)),  # a TouchOSC button press
        ("/fvr/PGM1/play", (0.5,), c.Play("PGM1", speed=0.5)),
        ("/fvr/pgm2/stop", (), c.Stop("PGM2")),
        ("/fvr/1/speed", (0.5,), c.SetSpeed("PGM1", 0.5)),
        ("/fvr/1/speed", (-1,), c.SetSpeed("PGM1", -1.0)),
        ("/fvr/1/shuttle", (-2.0,), c.SetSpeed("PGM1", -2.0)),
        ("/fvr/1/lever", (0.25,), c.Lever("PGM1", 0.25)),
        ("/fvr/1/lever", (1.5,), c.Lever("PGM1", 1.0)),
        ("/fvr/1/jog", (-3,), c.Jog("PGM1", -3)),
        ("/fvr/1/live", (), c.GoLive("PGM1")),
        ("/fvr/1/live", (2,), c.GoLive("PGM1", camera="2")),
        ("/fvr/1/live", ("cam03",), c.GoLive("PGM1", camera="cam03")),
        ("/fvr/1/camera", (3,), c.SelectCamera("PGM1", camera="3")),
        ("/fvr/1/camera/next", (), c.SelectCamera("PGM1", step=1)),
        ("/fvr/1/camera/prev", (), c.SelectCamera("PGM1", step=-1)),
        ("/fvr/1/mark/in", (), c.MarkIn("PGM1")),
        ("/fvr/1/mark/out", (), c.MarkOut("PGM1")),
        ("/fvr/1/mark/clear", (), c.ClearMarks("PGM1")),
        ("/fvr/1/clip/save", (), c.SaveClip("PGM1")),
        ("/fvr/1/clip/save", ("goal 23'",), c.SaveClip("PGM1", name="goal 23'")),
        ("/fvr/1/clip/save", ("114a/00",), c.SaveClip("PGM1", clip_id="114A/00")),
        ("/fvr/1/clip/save", ("114B",), c.SaveClip("PGM1", clip_id="114B/00")),
        ("/fvr/1/clip/save", ("114a-00",), c.SaveClip("PGM1", clip_id="114A/00")),
        ("/fvr/1/clip/cue", ("114B/00",), c.CueClip("PGM1", "114B/00")),
        ("/fvr/1/clip/cue", ("114B/00", "10:00:01:00"), c.CueClip("PGM1", "114B/00", timecode="10:00:01:00")),
        ("/fvr/1/tc/cue", ("09:59:58:00",), c.CueTimecode("PGM1", "09:59:58:00")),
        ("/fvr/1/view/s", (3.5,), c.SetView("PGM1", 3.5, zoom=1.0)),
        ("/fvr/1/view/s", (2, 1.5), c.SetView("PGM1", 2.0, zoom=1.5)),
        ("/fvr/1/view/zoom", (2.0,), c.SetView("PGM1", 1.0, zoom=2.0)),
        ("/fvr/1/view/pivot", (1.0, -2.0, 0.5), c.SetPivot("PGM1", 1.0, -2.0, 0.5)),
        ("/fvr/1/move/play", ("114A/00",), c.PlayMove("PGM1", clip_id="114A/00")),
        ("/fvr/1/take", (), c.Take("PGM1")),
        ("/fvr/1/playlist/play", ("PL01",), c.PlayPlaylist("PGM1", "PL01")),
    ],
)
def test_addresses_become_commands(server: OscServer, engine: FakeEngine, address: str, args: tuple[Any, ...],
                                   expected: c.Command) -> None:
    send(server, address, *args)
    assert engine.take() == [expected]
    assert server.state()["rejected"] == 0


@pytest.mark.parametrize("address", ["/fvr/1/play", "/fvr/1/take", "/fvr/1/mark/in", "/fvr/1/camera/next",
                                     "/fvr/1/live", "/fvr/1/clip/save"])
def test_button_release_does_nothing(server: OscServer, engine: FakeEngine, address: str) -> None:
    send(server, address, 0.0)
    send(server, address, 0)
    assert engine.take() == []


@pytest.mark.parametrize(
    ("address", "args", "counter"),
    [
        ("/fvr/9/play", (), "rejected"),  # no channel 9
        ("/fvr/1/speed", (), "rejected"),
        ("/fvr/1/speed", ("fast",), "rejected"),
        ("/fvr/1/speed", (float("nan"),), "rejected"),
        ("/fvr/1/tc/cue", (), "rejected"),
        ("/fvr/1/view/pivot", (1.0,), "rejected"),
        ("/fvr/1/camera", (), "rejected"),
        ("/fvr/1/rewind", (), "unknown"),
        ("/other/1/play", (), "unknown"),
        ("/fvr", (), "unknown"),
    ],
)
def test_bad_messages_are_counted_and_submit_nothing(server: OscServer, engine: FakeEngine, address: str,
                                                     args: tuple[Any, ...], counter: str) -> None:
    send(server, address, *args)
    assert engine.take() == []
    assert server.state()[counter] == 1


def test_malformed_packets_are_counted_and_the_next_one_works(server: OscServer, engine: FakeEngine) -> None:
    for junk in (b"\x00\x01garbage", b"#bundle\x00\x00", b"/fvr/1/jog\x00\x00,i\x00\x00"):
        server.handle_packet(junk, SENDER)
    send(server, "/fvr/1/stop")
    assert server.state()["malformed"] == 3
    assert engine.take() == [c.Stop("PGM1")]


def test_a_bundle_with_one_bad_message_is_ignored_whole(server: OscServer, engine: FakeEngine) -> None:
    packet = encode_bundle(IMMEDIATE, [encode_message("/fvr/1/play"), b"/fvr/1/jog\x00\x00,i\x00\x00"])
    server.handle_packet(packet, SENDER)
    assert engine.take() == []
    assert server.state()["malformed"] == 1


def test_refused_commands_are_counted(server: OscServer, engine: FakeEngine) -> None:
    send(server, "/fvr/1/clip/cue", "999A/00")
    engine.tick()
    assert server.state()["refused"] == 1


# --- timed bundles -----------------------------------------------------------------------------------------


def timetag_of_slot(slot: int) -> int:
    # Mid-slot, so the slot the time falls in is unambiguous.
    return tai_ns_to_timetag(slot_start_ns(slot, "25") + 20_000_000)


def test_bundle_is_applied_at_the_slot_its_time_falls_in(server: OscServer, engine: FakeEngine) -> None:
    engine.tick()  # the engine is at NOW + 1
    packet = encode_bundle(timetag_of_slot(NOW + 6), [encode_message("/fvr/1/speed", 0.5),
                                                      encode_message("/fvr/1/camera", 2)])
    server.handle_packet(packet, SENDER)
    assert engine.take() == []  # held
    assert server.state()["held"] == 2
    for _ in range(5):
        engine.tick()
        server._on_state({"engine.slot": engine.now})  # what the state listener hears after each tick
    assert [(slot, type(cmd).__name__) for slot, cmd in engine.applied] == [
        (NOW + 6, "SetSpeed"), (NOW + 6, "SelectCamera"),
    ]


def test_bundles_for_the_next_slot_or_the_past_go_at_once(server: OscServer, engine: FakeEngine) -> None:
    server._on_state({"engine.slot": NOW})
    server.handle_packet(encode_bundle(timetag_of_slot(NOW + 1), [encode_message("/fvr/1/stop")]), SENDER)
    server.handle_packet(encode_bundle(timetag_of_slot(NOW - 10), [encode_message("/fvr/1/play")]), SENDER)
    assert engine.take() == [c.Stop("PGM1"), c.Play("PGM1", speed=1.0)]
    assert server.state()["late"] == 1


def test_bundles_hours_ahead_are_refused(server: OscServer, engine: FakeEngine) -> None:
    server._on_state({"engine.slot": NOW})
    server.handle_packet(encode_bundle(timetag_of_slot(NOW + 25 * 7200), [encode_message("/fvr/1/stop")]), SENDER)
    assert server.state()["too_far_ahead"] == 1
    assert server.state()["held"] == 0


# --- feedback over UDP --------------------------------------------------------------------------------------


def test_feedback_messages_from_state_keys() -> None:
    msgs = feedback_messages({
        "channels.PGM1.state": "PLAYING", "channels.PGM1.view_s": None, "channels.PGM1.frames_out": 7,
        "channels.PGM1.mark_in": "10:00:00:00", "engine.slot": 5,
    })
    assert msgs == [
        encode_message("/fvr/PGM1/state", "PLAYING"),
        encode_message("/fvr/PGM1/view/s", 0.0),
        encode_message("/fvr/PGM1/mark/in", "10:00:00:00"),
    ]


class Client:
    def __init__(self, server_addr: tuple[str, int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.server_addr = server_addr

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(encode_message(address, *args), self.server_addr)

    def receive_until(self, address: str, value: Any = None, timeout: float = 3.0) -> dict[str, tuple[Any, ...]]:
        """Read feedback until ``address`` (with ``value``, if given) arrives; everything seen, by address."""
        seen: dict[str, tuple[Any, ...]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                dgram = self.sock.recv(65536)
            except TimeoutError:
                break
            for m in parse_packet(dgram):
                seen[m.address] = m.args
                if m.address == address and (value is None or m.args == (value,)):
                    return seen
        raise AssertionError(f"no {address} {value!r} within {timeout} s; saw {seen}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def running(engine: FakeEngine) -> Iterator[OscServer]:
    srv = OscServer(engine, "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.integration
def test_subscriber_gets_a_snapshot_then_changes_until_it_unsubscribes(running: OscServer,
                                                                       engine: FakeEngine) -> None:
    engine.tick()
    client = Client(running.address)
    try:
        client.send("/fvr/subscribe")
        seen = client.receive_until("/fvr/PGM2/timecode")
        assert seen["/fvr/PGM1/state"] == ("LIVE",)
        assert seen["/fvr/PGM1/camera"] == ("cam01",)
        client.send("/fvr/1/speed", 0.5)
        deadline = time.monotonic() + 3
        while not engine.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.tick()
        client.receive_until("/fvr/PGM1/speed", 0.5)
        client.send("/fvr/ping")
        client.receive_until("/fvr/pong")
        client.send("/fvr/unsubscribe")
        deadline = time.monotonic() + 3
        while running.state()["subscribers"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.state()["subscribers"] == []
    finally:
        client.close()


@pytest.mark.integration
def test_subscriber_to_another_port_and_a_closed_port_is_dropped(running: OscServer, engine: FakeEngine) -> None:
    engine.tick()
    listener = Client(running.address)
    commander = Client(running.address)
    try:
        commander.send("/fvr/subscribe", listener.port)
        listener.receive_until("/fvr/PGM1/state")
        listener.close()  # the client went away: ICMP port unreachable on the next sends
        deadline = time.monotonic() + 5
        while running.state()["subscribers"] and time.monotonic() < deadline:
            engine.tick()
            time.sleep(0.02)
        assert running.state()["subscribers"] == []
        assert running.state()["subscribers_dropped"] == 1
    finally:
        commander.close()


@pytest.mark.integration
def test_silent_subscriber_expires(engine: FakeEngine) -> None:
    srv = OscServer(engine, "127.0.0.1", 0, keepalive_s=0.1)
    srv.start()
    engine.tick()
    client = Client(srv.address)
    try:
        client.send("/fvr/subscribe")
        client.receive_until("/fvr/PGM1/state")
        deadline = time.monotonic() + 5
        while srv.state()["subscribers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.state()["subscribers"] == []
    finally:
        client.close()
        srv.stop()


# --- the surface ---------------------------------------------------------------------------------------------


def test_surface_from_profile_and_override(engine: FakeEngine) -> None:
    base = '[[cameras]]\nname = "cam01"\nsource = "mem://cam01"\n'
    off = OscSurface.from_profile(engine, parse_profile(base), {})
    assert not off.enabled and off.describe() == []
    on = OscSurface.from_profile(engine, parse_profile(base + '[control.osc]\nenabled = true\nport = 9100\n'), None)
    assert on.enabled and on.server.port == 9100
    cli = OscSurface.from_profile(engine, parse_profile(base), {"port": 0})
    cli.start()
    try:
        (line,) = cli.describe()
        assert line.startswith("OSC: udp://127.0.0.1:") and not line.startswith("OSC: udp://127.0.0.1:0 ")
    finally:
        cli.stop()
