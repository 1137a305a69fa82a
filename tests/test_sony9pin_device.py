"""The 9-pin device against a fake engine: each command family's reply bytes and the engine command it becomes.

``handle()`` answers one whole block without I/O, so most tests are golden bytes in, golden bytes out;
the port tests at the end run the device thread on a pty and inject errors at the byte level.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control.sony9pin import Sony9PinSurface, parse_port_spec
from control.sony9pin import protocol as p
from control.sony9pin.device import Sony9PinDevice
from plugin import commands as c
from plugin.errors import ControlError
from profiles import parse_profile
from tests.sony9pin_helpers import NOW, Controller, FakeEngine, cmd, h


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def dev(engine: FakeEngine) -> Iterator[Sony9PinDevice]:
    d = Sony9PinDevice(engine, "loop://", "PGM1", "odetics")
    d.library.refresh()
    yield d
    d.stop()


def status(d: Sony9PinDevice) -> bytes:
    return p.decode(d.handle(cmd("61 20 0F"))).data


# --- system -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "reply"), [("odetics", "12 11 D9 10 0C"), ("bvw-75", "12 11 21 25 69"),
                                             ("hyperdeck", "12 11 F1 E0 F4")])
def test_device_type_is_configurable(engine: FakeEngine, kind: str, reply: str) -> None:
    d = Sony9PinDevice(engine, "loop://", "PGM1", kind)
    assert d.handle(h("00 11 11")) == h(reply)


def test_local_enable_and_disable_set_the_local_bit(dev: Sony9PinDevice) -> None:
    assert dev.handle(cmd("00 1D")) == p.ACK
    assert status(dev)[0] & 0x01
    assert dev.handle(cmd("00 0C")) == p.ACK
    assert not status(dev)[0] & 0x01
    assert dev.handle(cmd("00 0D")) == p.ACK  # the EVS spelling of Local Enable
    assert status(dev)[0] & 0x01


def test_unknown_device_type_is_refused(engine: FakeEngine) -> None:
    with pytest.raises(ControlError, match="odetics"):
        Sony9PinDevice(engine, "loop://", "PGM1", "betacam")


# --- transport ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("20 01 21", c.Play("PGM1", speed=1.0)),
        ("20 00 20", c.Stop("PGM1")),
        ("20 10 30", c.SetSpeed("PGM1", 4.0)),
        ("20 20 40", c.SetSpeed("PGM1", -4.0)),
        ("21 11 40 72", c.SetSpeed("PGM1", 1.0)),  # jog fwd 1x
        ("21 21 40 82", c.SetSpeed("PGM1", -1.0)),  # jog rev 1x
        ("22 12 36 5C " + "C6", c.SetSpeed("PGM1", 0.5)),  # var fwd 0.5x, two bytes
        ("21 13 00 34", c.SetSpeed("PGM1", 0.0)),  # shuttle 0: still
        ("20 14 34", c.Jog("PGM1", 1)),
        ("20 24 44", c.Jog("PGM1", -1)),
        ("20 02 22", c.GoLive("PGM1")),
        ("20 61 81", c.GoLive("PGM1")),
        ("20 63 83", c.GoLive("PGM1")),
        ("20 6B 8B", c.Stop("PGM1")),
        ("20 34 54", c.Play("PGM1", speed=1.0)),
        ("24 31 12 03 02 01 6D", c.CueTimecode("PGM1", "01:02:03:12")),
    ],
)
def test_transport_commands_ack_and_submit(dev: Sony9PinDevice, engine: FakeEngine, wire: str, expected: c.Command) -> None:
    block = h(wire)
    assert p.checksum(block[:-1]) == block[-1], "test vector checksum"
    assert dev.handle(block) == p.ACK
    got = engine.take()
    assert len(got) == 1
    assert type(got[0]) is type(expected)
    for name, value in vars(expected).items():
        if isinstance(value, float):
            assert getattr(got[0], name) == pytest.approx(value, abs=2e-3), name
        else:
            assert getattr(got[0], name) == value, name


def test_shuttle_reverse_sets_direction_and_mode_bits(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("21 23 50")) == p.ACK  # shuttle rev N=0x50: 3.16x
    (sent,) = engine.take()
    assert isinstance(sent, c.SetSpeed) and sent.speed == pytest.approx(-3.162, abs=1e-3)
    engine.tick()
    st = status(dev)
    assert st[2] & 0x20  # shuttle
    assert st[2] & 0x04  # direction: reverse
    assert not st[1] & 0x01  # not the Play bit: shuttle has its own
    assert st[6] & 0x10  # lamp reverse


def test_speed_commands_need_one_or_two_bytes(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("20 11")) == p.nak(p.NAK_UNDEFINED)
    assert dev.handle(cmd("23 11 40 00 00")) == p.nak(p.NAK_UNDEFINED)
    assert engine.take() == []


def test_speeds_above_the_transport_are_capped(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("21 13 7F"))  # 93x
    (sent,) = engine.take()
    assert sent == c.SetSpeed("PGM1", 4.0)


def test_prog_speed_play(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("21 38 32"))  # +5 %
    dev.handle(cmd("21 39 0A"))  # -1 %
    a, b = engine.take()
    assert a.speed == pytest.approx(1.05) and b.speed == pytest.approx(0.99)  # type: ignore[attr-defined]


def test_a_superseded_command_is_not_counted_as_refused(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("20 01")) == p.ACK  # Play, then Stop before the next frame: Stop replaces Play
    assert dev.handle(cmd("20 00")) == p.ACK
    engine.tick()
    assert dev.stats.refused == 0 and dev.stats.summary()["refused"] == 0
    assert dev.handle(cmd("B4 04 " + b"112B".hex())) == p.ACK  # make clip without marks: the engine refuses
    engine.tick()
    assert dev.stats.refused == 1


def test_eject_steps_live_along_the_trains(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", state="LIVE", camera="cam03")
    dev.handle(cmd("20 0F"))
    assert engine.take() == [c.SelectCamera("PGM1", step=1)]  # the engine steps (and wraps) the camera
    engine.set("PGM1", state="CUED", speed=0.0)
    dev.handle(cmd("20 0F"))
    assert engine.take() == [c.GoLive("PGM1")]  # not live: back to E-E first


def test_ee_off_freezes_live_only(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("20 60"))
    assert engine.take() == [c.Stop("PGM1")]
    engine.set("PGM1", state="CUED", speed=0.0)
    assert dev.handle(cmd("20 60")) == p.ACK
    assert engine.take() == []


def test_preroll_cues_before_in(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", mark_in=NOW - 100)
    dev.handle(cmd("44 31 00 02 00 00"))  # preroll 2 s
    dev.handle(cmd("20 30"))
    assert engine.take() == [c.CueSlot("PGM1", NOW - 150)]
    assert p.decode(dev.handle(cmd("60 31"))).data == h("00 02 00 00")


def test_no_op_transport_commands_ack(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    for wire in ("20 04", "20 05", "20 40", "20 64", "20 65", "20 54", "20 6A"):
        assert dev.handle(cmd(wire)) == p.ACK, wire
    assert engine.take() == []


# --- cue up with data (Sony and Odetics forms) ------------------------------------------------------------


def test_cue_by_clip_id_picks_the_angle(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    assert dev.handle(cmd("28 31 " + p.id_bytes("114B/00").hex())) == p.ACK
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode=None, camera="cam02")]


def test_library_lookup_forms_of_an_id(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    clip = engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    lookup = dev.library.lookup
    for text in ("114B/00", "114b", " 114B-00 ", "114b_00"):
        entry = lookup(text)
        assert entry is not None and (entry.id, entry.camera, entry.clip) == ("114B/00", "cam02", clip), text
    assert lookup("114D/00") is None  # a fourth angle of a three-camera clip
    assert lookup("115A/00") is None and lookup("goal") is None and lookup("114A/0X") is None
    train = lookup("000C")
    assert train is not None and (train.id, train.camera, train.is_train) == ("000C/00", "cam03", True)
    engine.set("PGM1", clip_id="114A/00", camera="cam03", state="CUED")
    assert dev.library.loaded_id(engine.channel_status("PGM1")) == "114C/00"


def test_cue_by_id_and_timecode(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    tc = p.timecode_bytes(engine.timecode_of(NOW - 150), engine.rate)
    dev.handle(cmd("2C 31 " + tc.hex() + p.id_bytes("114A/00").hex()))
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode="09:59:54:00", camera="cam01")]
    dev.handle(cmd("2C 31 00 00 00 00 " + p.id_bytes("114A/00").hex()))  # TC 0: the IN point (EVS)
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode=None, camera="cam01")]


def test_cue_a_record_train_by_id_lands_near_live(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("28 31 " + p.id_bytes("000C/00").hex()))
    assert engine.take() == [c.SelectCamera("PGM1", camera="cam03"), c.CueSlot("PGM1", NOW - 2)]


def test_cue_with_unknown_id_acks_but_reports_a_failed_cue(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", state="PLAYING", speed=0.0)
    assert dev.handle(cmd("28 31 " + p.id_bytes("999Z/00").hex())) == p.ACK
    assert engine.take() == []
    st = status(dev)
    assert not st[2] & 0x01 and not st[4] & 0x01  # neither cue complete nor preroll
    assert st[1] & 0x20  # stop


def test_cue_handshake_preroll_then_cue_complete(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("24 31 00 00 00 10"))
    st = status(dev)
    assert st[4] & 0x01 and not st[2] & 0x01  # accepted: preroll 1, cue 0
    engine.tick()
    st = status(dev)
    assert not st[4] & 0x01 and st[2] & 0x01  # done: preroll 0, cue 1
    assert st[2] & 0x02  # still


def test_cue_current_id_20_31(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("20 31"))  # on a record train: E-E (EVS)
    assert engine.take() == [c.GoLive("PGM1")]
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    engine.set("PGM1", state="CUED", clip_id="114A/00", camera="cam02")
    dev.handle(cmd("20 31"))
    assert engine.take() == [c.CueClip("PGM1", "114A/00", camera="cam02")]


def test_sony_cue_inside_a_loaded_clip(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    engine.set("PGM1", state="CUED", clip_id="114A/00", camera="cam01")
    dev.handle(cmd("24 31 00 56 59 09"))
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode="09:59:56:00", camera="cam01")]


def test_cue_to_zero_is_the_in_point_of_a_loaded_clip(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("24 31 00 00 00 00"))
    assert engine.take() == [c.CueTimecode("PGM1", "00:00:00:00")]
    engine.set("PGM1", state="CUED", clip_id="114A/00", camera="cam01")
    dev.handle(cmd("24 31 00 00 00 00"))
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode=None, camera="cam01")]


def test_cue_with_a_time_that_is_not_bcd_cues_nothing(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("24 31 AA 00 00 10")) == p.ACK
    assert engine.take() == []


def test_cue_with_wrong_data_count_is_undefined(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("22 31 00 00")) == p.nak(p.NAK_UNDEFINED)
    assert engine.take() == []


# --- presets -----------------------------------------------------------------------------------------------


def test_in_and_out_entry_mark_the_current_position(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("40 10")) == p.ACK
    assert dev.handle(cmd("40 11")) == p.ACK
    assert engine.take() == [c.MarkIn("PGM1"), c.MarkOut("PGM1")]
    engine.tick()
    st = status(dev)
    assert st[3] & 0x03 == 0x03
    assert p.decode(dev.handle(cmd("60 10"))) == p.Block(0x7, 0x10, p.timecode_bytes("10:00:00:00", "25"))
    assert p.decode(dev.handle(cmd("60 11"))) == p.Block(0x7, 0x11, p.timecode_bytes("10:00:00:00", "25"))


def test_sony_in_and_out_data_preset_set_marks_at_a_timecode(engine: FakeEngine) -> None:
    d = Sony9PinDevice(engine, "loop://", "PGM1", "bvw-75")
    assert d.handle(cmd("44 14 00 58 59 09")) == p.ACK
    assert d.handle(cmd("44 15 00 59 59 09")) == p.ACK
    assert engine.take() == [c.MarkIn("PGM1", slot=NOW - 50), c.MarkOut("PGM1", slot=NOW - 25)]


def test_odetics_in_preset_cues_the_id(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    dev.handle(cmd("48 14 " + p.id_bytes("114A/00").hex()))
    assert engine.take() == [c.CueClip("PGM1", "114A/00", timecode=None, camera="cam01")]
    assert status(dev)[3] & 0x01  # In set


def test_mark_shift_and_reset(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", mark_in=NOW - 10, mark_out=NOW - 5)
    for wire in ("40 18", "40 19", "40 1A", "40 1B"):
        dev.handle(cmd(wire))
    assert engine.take() == [
        c.MarkIn("PGM1", slot=NOW - 9), c.MarkIn("PGM1", slot=NOW - 11),
        c.MarkOut("PGM1", slot=NOW - 4), c.MarkOut("PGM1", slot=NOW - 6),
    ]
    dev.handle(cmd("40 20"))  # IN reset keeps OUT
    assert engine.take() == [c.ClearMarks("PGM1"), c.MarkOut("PGM1", slot=NOW - 5)]


def test_in_recall_cues_the_in_point(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", mark_in=NOW - 10)
    dev.handle(cmd("40 24"))
    assert engine.take() == [c.CueSlot("PGM1", NOW - 10)]


def test_auto_mode_bit_and_select_commands(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("40 41")) == p.ACK
    assert status(dev)[3] & 0x80
    for wire in ("41 32 00", "41 36 00", "44 00 00 00 00 00", "44 04 00 00 00 10", "44 05 00 00 00 00", "40 08"):
        assert dev.handle(cmd(wire)) == p.ACK, wire
    assert dev.handle(cmd("40 40")) == p.ACK
    assert not status(dev)[3] & 0x80
    assert engine.take() == []


def test_auto_mode_plays_preset_then_preview_as_a_playlist(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    engine.add_clip("115A/00", NOW - 90, NOW - 50)
    dev.library.refresh()
    dev.handle(cmd("40 41"))
    dev.handle(cmd("48 14 " + p.id_bytes("114A/00").hex()))
    dev.handle(cmd("A8 04 " + p.id_bytes("115A/00").hex()))
    engine.tick()
    assert status(dev)[9] & 0x01  # preview in preset
    engine.take()
    assert dev.handle(cmd("20 01")) == p.ACK
    dev._worker.submit(lambda: None).result(timeout=5)  # the playlist is built off the reply path
    (sent,) = engine.take()
    assert isinstance(sent, c.PlayPlaylist)
    assert engine.clips.get_playlist(sent.playlist_id).elements == [("114A/00", 1.0), ("115A/00", 1.0)]
    engine.tick()
    engine.set("PGM1", clip_id="115A/00")  # the preview clip went on air
    assert not status(dev)[9] & 0x01


# --- sense -------------------------------------------------------------------------------------------------


def test_status_sense_live(dev: Sony9PinDevice) -> None:
    assert dev.handle(h("61 20 0A 8B")) == p.encode(0x7, 0x20, h("00 81 80 00 40 00 20 00 00 00"))


def test_status_sense_still_after_stop(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("20 00"))
    engine.tick()
    assert p.decode(dev.handle(h("61 20 0A 8B"))).data == h("00 A0 02 00 00 00 40 00 00 00")


def test_status_sense_partial_range(dev: Sony9PinDevice) -> None:
    full = status(dev)
    assert p.decode(dev.handle(cmd("61 20 24"))).data == full[2:6]
    assert dev.handle(cmd("61 20 24"))[:2] == h("74 20")


def test_current_time_sense_reads_the_channel_timecode(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", slot=25 * 3723 + 12)  # 01:02:03:12
    assert dev.handle(h("61 0C 01 6E")) == h("74 04 12 03 02 01 90")
    assert dev.handle(cmd("61 0C 02")) == p.encode(0x7, 0x06, h("12 03 02 01"))
    assert dev.handle(cmd("61 0C 03")) == p.encode(0x7, 0x04, h("12 03 02 01"))
    assert dev.handle(cmd("61 0C 04")) == p.encode(0x7, 0x00, h("12 03 02 01"))
    assert dev.handle(cmd("61 0C 11")) == p.encode(0x7, 0x04, h("12 03 02 01 00 00 00 00"))
    assert dev.handle(cmd("61 0C 10")) == p.encode(0x7, 0x05, h("00 00 00 00"))
    assert dev.handle(cmd("61 0A 01")) == p.encode(0x7, 0x08, h("12 03 02 01"))


def test_speed_sense(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", state="PLAYING", speed=-0.5)
    assert dev.handle(cmd("60 2E")) == p.encode(0x7, 0x2E, p.speed_to_data(0.5))
    engine.set("PGM1", state="PLAYING", speed=0.0)
    assert dev.handle(cmd("60 2E")) == p.encode(0x7, 0x2E, b"\x00")


def test_mark_sense_without_marks_is_zero(dev: Sony9PinDevice) -> None:
    assert dev.handle(cmd("60 10")) == p.encode(0x7, 0x10, p.ZERO_TIME)
    assert dev.handle(cmd("60 36")) == p.encode(0x7, 0x36, b"\x00")


# --- Odetics clip commands ---------------------------------------------------------------------------------


def test_list_ids_trains_then_clips_then_end(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    got = [dev.handle(cmd("A0 14"))] + [dev.handle(cmd("A0 15")) for _ in range(4)]
    assert got[0] == p.encode(0x8, 0x14, p.id_bytes("000A/00"))
    assert [p.id_text(p.decode(r).data) for r in got[:4]] == ["000A/00", "000B/00", "000C/00", "114A/00"]
    assert got[4] == h("80 14 94")


def test_clip_tc_and_duration(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    reply = p.decode(dev.handle(cmd("A8 16 " + p.id_bytes("114A/00").hex())))
    assert (reply.group, reply.cmd2) == (0x8, 0x16)
    assert reply.data == p.timecode_bytes("09:59:52:00", "25") + h("00 04 00 00")  # 100 frames = 4 s
    assert dev.handle(cmd("A8 16 " + p.id_bytes("999A/00").hex())) == h("80 16 96")
    assert dev.handle(cmd("A8 17 " + p.id_bytes("114A/00").hex())) == p.encode(
        0x8, 0x17, p.timecode_bytes("09:59:52:00", "25") + h("00 04 00 00 00")
    )


def test_id_status(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    assert dev.handle(cmd("A8 18 " + p.id_bytes("114A/00").hex())) == p.encode(0x8, 0x18, b"\x01")
    engine.set("PGM1", clip_id="114A/00", camera="cam01", state="CUED")
    assert dev.handle(cmd("A8 18 " + p.id_bytes("114A/00").hex())) == p.encode(0x8, 0x18, b"\x03")
    assert dev.handle(cmd("A8 18 " + p.id_bytes("114B/00").hex())) == p.encode(0x8, 0x18, b"\x01")
    assert dev.handle(cmd("A8 18 " + p.id_bytes("777A/00").hex())) == p.encode(0x8, 0x18, b"\x00")


def test_erase_id_and_the_event_it_posts(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    assert dev.handle(cmd("A8 10 " + p.id_bytes("114A/00").hex())) == p.ACK
    dev._worker.submit(lambda: None).result(timeout=5)
    assert "114A/00" not in engine.clips.clips
    assert dev.handle(cmd("B0 00")) == p.encode(0x9, 0x00, b"\x02" + p.id_bytes("114A/00"))
    assert dev.handle(cmd("B0 00")) == h("90 00 90")


def test_erase_all_is_refused_and_erase_of_a_loaded_clip_fails(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    assert dev.handle(cmd("A0 10")) == p.ACK
    engine.set("PGM1", clip_id="114A/00", state="CUED")
    assert dev.handle(cmd("A8 10 " + p.id_bytes("114A/00").hex())) == p.ACK
    dev._worker.submit(lambda: None).result(timeout=5)
    assert "114A/00" in engine.clips.clips
    assert dev.handle(cmd("B0 00")) == p.encode(0x9, 0x00, b"\x04" + p.id_bytes("114A/00"))


def test_device_id_and_storage(dev: Sony9PinDevice) -> None:
    assert dev.handle(cmd("A8 20 " + b"REPLAY01".hex())) == p.ACK
    assert dev.handle(cmd("A0 21")) == p.encode(0x8, 0x21, b"REPLAY01")
    assert dev.handle(cmd("A0 1C")) == p.encode(0x8, 0x1C, h("01 10 00 00"))  # 251 frames at 25


def test_preview_and_record_cue_and_skip_ack(dev: Sony9PinDevice) -> None:
    for wire in ("A0 04", "A4 05 00 00 00 00", "A0 06", "A0 07", "A0 02", "A0 01"):
        assert dev.handle(cmd(wire)) == p.ACK, wire
    assert dev.handle(cmd("A8 11 " + "00" * 8)) == p.nak(p.NAK_UNDEFINED)  # erase segment: EVS NAKs it


# --- EVS additions ----------------------------------------------------------------------------------------


def test_make_clip_saves_under_the_lsm_id(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.set("PGM1", mark_in=NOW - 50, mark_out=NOW - 10)
    assert dev.handle(h("B9 04 31 31 31 41 2F 30 30 00 00 20")) == p.ACK
    assert engine.take() == [c.SaveClip("PGM1", clip_id="111A/00")]
    engine.tick()
    assert dev.handle(cmd("B0 00")) == p.encode(0x9, 0x00, b"\x01" + p.id_bytes("111A/00"))


def test_make_clip_short_id_and_louth_id(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    dev.handle(cmd("B4 04 " + b"112B".hex()))
    dev.handle(h("BA 04 43 6C 69 70 30 31 30 31 05 00 0D"))
    assert engine.take() == [c.SaveClip("PGM1", clip_id="112B/00"), c.SaveClip("PGM1", name="Clip0101")]


def test_live_on_a_camera_id(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("B8 13 " + p.id_bytes("000B/00").hex())) == p.ACK
    assert engine.take() == [c.GoLive("PGM1", camera="cam02")]


def test_active_id_request(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    assert dev.handle(cmd("B1 09 01")) == p.encode(0x9, 0x09, b"\x01" + p.id_bytes("000A/00"))
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    engine.set("PGM1", clip_id="114A/00", camera="cam03", state="CUED")
    assert dev.handle(cmd("B1 09 01")) == p.encode(0x9, 0x09, b"\x01" + p.id_bytes("114C/00"))


def test_set_in_out_moves_a_clips_points_to_the_marks(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    engine.set("PGM1", mark_in=NOW - 190, mark_out=NOW - 120)
    assert dev.handle(cmd("B7 12 " + b"114A/00".hex())) == p.ACK
    dev._worker.submit(lambda: None).result(timeout=5)
    clip = engine.clips.get("114A/00")
    assert (clip.in_slot, clip.out_slot) == (NOW - 190, NOW - 120)
    assert dev.handle(cmd("B4 12 " + b"999A".hex())) == p.ACK  # unknown: an event, not a NAK
    assert dev.handle(cmd("B0 00")) == p.encode(0x9, 0x00, b"\x0c" + p.id_bytes("999A"))


def test_clip_name_set_and_get(dev: Sony9PinDevice, engine: FakeEngine) -> None:
    engine.add_clip("114A/00", NOW - 200, NOW - 100)
    dev.library.refresh()
    assert dev.handle(cmd("B8 02 " + p.id_bytes("114A/00").hex())) == p.ACK
    assert dev.handle(cmd("BC 02 " + b"GOAL 23 MIN ".hex())) == p.ACK
    dev._worker.submit(lambda: None).result(timeout=5)
    assert engine.clips.get("114A/00").name == "GOAL 23 MIN"
    dev.library.refresh()
    assert dev.handle(cmd("B8 03 " + p.id_bytes("114A/00").hex())) == p.encode(0x9, 0x03, b"GOAL 23 MIN ")


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        ("20 01 22", p.NAK_CHECKSUM),
        ("24 31 12 03 02 01 00", p.NAK_CHECKSUM),
        ("20 FF 1F", p.NAK_UNDEFINED),
        ("30 00 30", p.NAK_UNDEFINED),  # no group 3
        ("10 01 11", p.NAK_UNDEFINED),  # a reply is not a command
        ("21 00 00 21", p.NAK_UNDEFINED),  # Stop with data
    ],
)
def test_bad_blocks_get_the_right_nak_and_submit_nothing(dev: Sony9PinDevice, engine: FakeEngine, wire: str,
                                                         error: int) -> None:
    assert dev.handle(h(wire)) == p.nak(error)
    assert engine.take() == []
    assert dev.stats.naks[error] == 1


# --- the surface ------------------------------------------------------------------------------------------


def test_port_spec_parsing() -> None:
    assert parse_port_spec("/dev/ttyUSB0", "PGM1") == parse_port_spec("/dev/ttyUSB0,channel=PGM1", "X")
    assert parse_port_spec("/dev/ttyUSB0=PGM2", "PGM1") == parse_port_spec("/dev/ttyUSB0,channel=PGM2", "X")
    assert parse_port_spec("spy:///dev/ttyUSB0?file=x.log,channel=2", "PGM1").port == "spy:///dev/ttyUSB0?file=x.log"
    spec = parse_port_spec("/dev/ttyUSB1,channel=2,type=bvw-75", "PGM1")
    assert (spec.port, spec.channel, spec.device_type) == ("/dev/ttyUSB1", "2", "bvw-75")
    with pytest.raises(ControlError, match="unknown option"):
        parse_port_spec("/dev/ttyUSB1,speed=9600", "PGM1")


PROFILE = """
[[cameras]]
name = "cam01"
source = "mem://cam01"
[[channels]]
name = "PGM1"
[[channels]]
name = "PGM2"
"""


def test_surface_from_profile_merges_command_line_ports(engine: FakeEngine) -> None:
    profile = parse_profile(PROFILE + """
[[control.sony9pin]]
port = "loop://a"
[[control.sony9pin]]
port = "loop://b"
channel = "PGM2"
device_type = "bvw-75"
""")
    surface = Sony9PinSurface.from_profile(engine, profile, {"ports": ["loop://b,channel=1,type=hyperdeck"]})
    assert surface.describe() == [
        "Sony 9-pin: loop://a → PGM1 as odetics",
        "Sony 9-pin: loop://b → PGM1 as hyperdeck",
    ]
    assert Sony9PinSurface.from_profile(engine, parse_profile(PROFILE), {}).describe() == []


def test_surface_takes_the_cli_dict_form_and_mends_split_urls(engine: FakeEngine) -> None:
    ports = [{"port": "loop://c", "channel": "PGM2"}, {"port": "spy://loop://?file", "channel": "/tmp/9pin.log"},
             {"port": "loop://d", "channel": None, "device_type": "bvw-75"}]
    surface = Sony9PinSurface.from_profile(engine, parse_profile(PROFILE), {"ports": ports})
    assert surface.describe() == [
        "Sony 9-pin: loop://c → PGM2 as odetics",
        "Sony 9-pin: spy://loop://?file=/tmp/9pin.log → PGM1 as odetics",
        "Sony 9-pin: loop://d → PGM1 as bvw-75",
    ]


def test_surface_reports_a_port_it_cannot_open(engine: FakeEngine) -> None:
    surface = Sony9PinSurface.from_profile(engine, parse_profile(PROFILE), {"ports": ["/dev/does-not-exist-9pin"]})
    with pytest.raises(ControlError, match="does-not-exist"):
        surface.start()
    surface.stop()


# --- over a pty: the port thread, timing and error injection ------------------------------------------------


@pytest.fixture
def pty_device(engine: FakeEngine) -> Iterator[tuple[Controller, Sony9PinDevice]]:
    master, slave = os.openpty()
    d = Sony9PinDevice(engine, os.ttyname(slave), "PGM1", "odetics")
    d.start()
    try:
        yield Controller(master), d
    finally:
        d.stop()
        os.close(master)
        os.close(slave)


@pytest.mark.integration
def test_pty_answers_play_and_status(pty_device: tuple[Controller, Sony9PinDevice], engine: FakeEngine) -> None:
    ctl, _ = pty_device
    assert ctl.transact(h("00 11 11")) == h("12 11 D9 10 0C")
    assert ctl.transact(h("20 01 21")) == p.ACK
    engine.tick()
    assert ctl.transact(h("61 20 0A 8B"))[:4] == h("7A 20 00 81")


@pytest.mark.integration
def test_pty_bytes_dribbled_within_10ms_are_one_block(pty_device: tuple[Controller, Sony9PinDevice]) -> None:
    ctl, _ = pty_device
    for byte in h("24 31 12 03 02 01 6D"):
        ctl.send(bytes((byte,)))
        time.sleep(0.003)
    assert ctl.read_reply() == p.ACK


@pytest.mark.integration
def test_pty_gap_over_10ms_is_a_timeout_nak(pty_device: tuple[Controller, Sony9PinDevice], engine: FakeEngine) -> None:
    ctl, d = pty_device
    ctl.send(h("24 31 12"))
    assert ctl.read_reply() == p.nak(p.NAK_TIMEOUT)
    ctl.quiet()
    assert ctl.transact(h("20 01 21")) == p.ACK  # the device is back in step at once
    assert engine.take() == [c.Play("PGM1", speed=1.0)]
    assert d.stats.naks[p.NAK_TIMEOUT] == 1


@pytest.mark.integration
def test_pty_bad_checksum_then_good_command(pty_device: tuple[Controller, Sony9PinDevice], engine: FakeEngine) -> None:
    ctl, _ = pty_device
    assert ctl.transact(h("20 01 22")) == p.nak(p.NAK_CHECKSUM)
    ctl.quiet()
    assert ctl.transact(h("20 00 20")) == p.ACK
    assert engine.take() == [c.Stop("PGM1")]


@pytest.mark.integration
def test_pty_garbage_gets_naks_and_the_engine_keeps_running(pty_device: tuple[Controller, Sony9PinDevice],
                                                            engine: FakeEngine) -> None:
    ctl, d = pty_device
    ctl.send(bytes([0xFF, 0x13, 0x37, 0x00, 0x42, 0x99, 0x10, 0x01]))
    assert ctl.read_reply()[:2] == h("11 12")
    ctl.quiet()
    assert engine.take() == []
    engine.tick()
    assert ctl.transact(h("20 01 21")) == p.ACK
    assert ctl.transact(h("20 FF 1F")) == p.nak(p.NAK_UNDEFINED)
    assert ctl.transact(h("61 0C 01 6E"))[:2] == h("74 04")  # after an undefined command: at once
    assert d._thread is not None and d._thread.is_alive()


@pytest.mark.integration
def test_spy_url_logs_every_byte_of_the_port(engine: FakeEngine, tmp_path: Path) -> None:
    master, slave = os.openpty()
    log_file = tmp_path / "spy.txt"
    d = Sony9PinDevice(engine, f"spy://{os.ttyname(slave)}?file={log_file}", "PGM1", "odetics")
    d.start()
    try:
        assert Controller(master).transact(h("20 01 21")) == p.ACK
    finally:
        d.stop()
        os.close(master)
        os.close(slave)
    text = log_file.read_text()
    assert "RX" in text and "21" in text
    assert "TX   0000  10 01 11" in text


@pytest.mark.integration
def test_two_ports_serve_two_channels_each_on_its_thread(engine: FakeEngine) -> None:
    pairs = [os.openpty(), os.openpty()]
    ports = [f"{os.ttyname(slave)},channel={i + 1}" for i, (_, slave) in enumerate(pairs)]
    surface = Sony9PinSurface.from_profile(engine, parse_profile(PROFILE), {"ports": ports})
    surface.start()
    try:
        one, two = (Controller(master) for master, _ in pairs)
        assert one.transact(h("20 01 21")) == p.ACK
        assert two.transact(h("20 00 20")) == p.ACK
        assert engine.take() == [c.Play("PGM1", speed=1.0), c.Stop("PGM2")]
        assert [line.split(" → ")[1] for line in surface.describe()] == ["PGM1 as odetics", "PGM2 as odetics"]
        assert {s["acks"] for s in surface.state().values()} == {1}
    finally:
        surface.stop()
        for master, slave in pairs:
            os.close(master)
            os.close(slave)


@pytest.mark.integration
def test_a_vanished_port_does_not_kill_the_device(engine: FakeEngine) -> None:
    master, slave = os.openpty()
    d = Sony9PinDevice(engine, os.ttyname(slave), "PGM1", "odetics")
    d.start()
    os.close(master)  # the controller side is gone: reads now fail
    os.close(slave)
    deadline = time.monotonic() + 3
    while d.stats.port_errors == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert d.stats.port_errors >= 1
    assert d._thread is not None and d._thread.is_alive()
    d.stop()
    assert d._thread is None
