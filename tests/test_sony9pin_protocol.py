"""Sony 9-pin / Odetics wire format against literal frames (golden bytes)."""

from __future__ import annotations

import pytest

from control.sony9pin import protocol as p
from tests.sony9pin_helpers import h

# --- framing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "cmd2", "data", "wire"),
    [
        (0x2, 0x01, b"", "20 01 21"),  # Play
        (0x2, 0x00, b"", "20 00 20"),  # Stop
        (0x0, 0x11, b"", "00 11 11"),  # Device Type Request
        (0x6, 0x20, h("0A"), "61 20 0A 8B"),  # Status Sense, bytes 0..9
        (0x6, 0x0C, h("01"), "61 0C 01 6E"),  # Current Time Sense, LTC
        (0x2, 0x31, h("12 03 02 01"), "24 31 12 03 02 01 6D"),  # Cue Up With Data 01:02:03:12
        (0x2, 0x11, h("40"), "21 11 40 72"),  # Jog Fwd 1x (S6's comment says 48: wrong)
        (0x1, 0x01, b"", "10 01 11"),  # ACK
        (0x1, 0x11, h("F0 E0"), "12 11 F0 E0 F3"),  # Device type F0E0
        (0xB, 0x04, h("31 31 31 41 2F 30 30 00 00"), "B9 04 31 31 31 41 2F 30 30 00 00 20"),  # EVS MakeClip
        (0xB, 0x04, h("43 6C 69 70 30 31 30 31 05 00"), "BA 04 43 6C 69 70 30 31 30 31 05 00 0D"),
        (0xB, 0x02, b"Clip0017", "B8 02 43 6C 69 70 30 30 31 37 0A"),  # EVS SetIdForData
        (0xB, 0x02, b"ABCDEFGHIJKL", "BC 02 41 42 43 44 45 46 47 48 49 4A 4B 4C 0C"),
    ],
)
def test_encode_and_decode_golden_frames(group: int, cmd2: int, data: bytes, wire: str) -> None:
    assert p.encode(group, cmd2, data) == h(wire)
    block = p.decode(h(wire))
    assert (block.group, block.cmd2, block.data) == (group, cmd2, data)
    assert block.cmd1 == h(wire)[0]


def test_ack_and_nak_bytes() -> None:
    assert h("10 01 11") == p.ACK
    assert p.nak(p.NAK_UNDEFINED) == h("11 12 01 24")
    assert p.nak(p.NAK_CHECKSUM) == h("11 12 04 27")
    assert p.nak(p.NAK_TIMEOUT) == h("11 12 80 A3")


def test_block_length_comes_from_the_count_nibble() -> None:
    assert p.block_length(0x20) == 3
    assert p.block_length(0x2C) == 15
    assert p.block_length(0xBF) == 18


def test_bad_checksum_is_a_checksum_error() -> None:
    with pytest.raises(p.FrameError) as err:
        p.decode(h("20 01 22"))
    assert err.value.nak == p.NAK_CHECKSUM
    assert "21" in str(err.value)  # says what the sum should have been


def test_short_block_is_a_timeout_error() -> None:
    with pytest.raises(p.FrameError) as err:
        p.decode(h("24 31 12 03"))
    assert err.value.nak == p.NAK_TIMEOUT


def test_encode_refuses_more_than_15_data_bytes() -> None:
    with pytest.raises(ValueError, match="15"):
        p.encode(0x2, 0x31, bytes(16))


# --- speed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "speed"),
    [(0x10, 0.0316), (0x20, 0.100), (0x30, 0.316), (0x36, 0.487), (0x3C, 0.750), (0x40, 1.000),
     (0x48, 1.778), (0x4F, 2.94), (0x50, 3.16), (0x60, 10.0), (0x76, 48.7), (0x7F, 93.1)],
)
def test_one_byte_speed_formula(n: int, speed: float) -> None:
    assert p.speed_from_data(bytes((n,))) == pytest.approx(speed, rel=2e-3)
    assert p.speed_to_data(speed) == bytes((n,))


def test_speed_zero_means_still() -> None:
    assert p.speed_from_data(b"\x00") == 0.0
    assert p.speed_from_data(b"\x00\x80") == 0.0
    assert p.speed_to_data(0.0) == b"\x00"
    assert p.speed_to_data(0.0, two_bytes=True) == b"\x00\x00"


@pytest.mark.parametrize(
    ("speed", "wire"),
    [(0.25, "2C BA"), (0.33, "30 95"), (0.5, "36 5C"), (0.75, "3C 00"), (1.5, "45 A0"), (2.0, "49 A0"),
     (3.0, "4F 43")],
)
def test_two_byte_speed_both_ways(speed: float, wire: str) -> None:
    assert p.speed_to_data(speed, two_bytes=True) == h(wire)
    assert p.speed_from_data(h(wire)) == pytest.approx(speed, abs=0.002)


def test_speed_data_length_is_checked() -> None:
    with pytest.raises(ValueError):
        p.speed_from_data(b"")
    with pytest.raises(ValueError):
        p.speed_from_data(b"\x40\x00\x00")


# --- timecode ----------------------------------------------------------------------------------------


def test_timecode_bytes_are_ff_ss_mm_hh() -> None:
    assert p.timecode_bytes("01:02:03:12", "25") == h("12 03 02 01")
    assert p.timecode_label(h("12 03 02 01"), "25") == "01:02:03:12"


def test_drop_frame_sets_the_df_flag_and_reads_back() -> None:
    wire = p.timecode_bytes("00:01:00;02", "29.97")
    assert wire == h("42 00 01 00")
    assert p.timecode_label(wire, "29.97") == "00:01:00;02"


def test_colour_frame_flag_is_ignored_on_read() -> None:
    assert p.timecode_label(h("92 03 02 01"), "25") == "01:02:03:12"


def test_not_bcd_is_refused() -> None:
    with pytest.raises(ValueError):
        p.timecode_label(h("1A 00 00 00"), "25")


def test_duration_counts_frames() -> None:
    assert p.duration_bytes(25 * 61 + 3, "25") == h("03 01 01 00")


# --- device type, status, time sense -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rate", "wire"),
    [("bvw-75", "29.97", "20 25"), ("bvw-75", "25", "21 25"), ("bvw-75", "50", "21 25"),
     ("odetics", "59.94", "D8 10"), ("odetics", "50", "D9 10"), ("hyperdeck", "29.97", "F0 E0"),
     ("hyperdeck", "25", "F1 E0"), ("hyperdeck", "24", "F2 E0")],
)
def test_device_type_bytes(kind: str, rate: str, wire: str) -> None:
    assert p.device_type_bytes(kind, rate) == h(wire)


def test_status_bits_land_where_the_tables_say() -> None:
    image = p.Status(
        local=True, busy=True, play=True, stop=True, servo_lock=True, shuttle=True, reverse=True, still=True,
        cue_complete=True, auto_mode=True, in_set=True, out_set=True, full_ee=True, preroll=True,
        preview_in_preset=True, preview_out_preset=True, tape_end=True,
    ).to_bytes()
    assert len(image) == 16
    assert image[0] == 0x81  # busy, local
    assert image[1] == 0xA1  # standby, stop, play
    assert image[2] == 0xA7  # servo lock, shuttle, direction, still, cue complete
    assert image[3] == 0x83  # auto mode, out set, in set
    assert image[4] == 0x41  # full EE, preroll
    assert image[9] == 0x03  # preview in/out preset
    assert image[0xD] == 0x40  # tape end


def test_status_reply_slices_the_image() -> None:
    image = bytes(range(16))
    assert p.status_reply(image, 0x0A) == p.encode(0x7, 0x20, bytes(range(10)))
    assert p.status_reply(image, 0x0A)[:2] == h("7A 20")
    assert p.status_reply(image, 0x24) == p.encode(0x7, 0x20, bytes((2, 3, 4, 5)))
    assert p.status_reply(image, 0xF4) == p.encode(0x7, 0x20, bytes((15, 0, 0, 0)))  # past the end: zeros


@pytest.mark.parametrize(
    ("request_byte", "head", "data"),
    [(0x01, "74 04", "12 03 02 01"), (0x02, "74 06", "12 03 02 01"), (0x03, "74 04", "12 03 02 01"),
     (0x04, "74 00", "12 03 02 01"), (0x08, "74 01", "12 03 02 01"), (0x10, "74 05", "00 00 00 00"),
     (0x20, "74 07", "00 00 00 00"), (0x11, "78 04", "12 03 02 01 00 00 00 00"),
     (0x22, "78 06", "12 03 02 01 00 00 00 00"), (0x33, "78 04", "12 03 02 01 00 00 00 00")],
)
def test_time_sense_reply_forms(request_byte: int, head: str, data: str) -> None:
    reply = p.time_sense_reply(request_byte, h("12 03 02 01"))
    assert reply[:2] == h(head)
    assert p.decode(reply).data == h(data)


def test_time_sense_ltc_golden() -> None:
    assert p.time_sense_reply(0x01, h("12 03 02 01")) == h("74 04 12 03 02 01 90")


# --- IDs -------------------------------------------------------------------------------------------------


def test_ids_are_8_bytes_blank_padded() -> None:
    assert p.id_bytes("114A/00") == h("31 31 34 41 2F 30 30 20")
    assert p.id_text(h("31 31 34 41 2F 30 30 20")) == "114A/00"
    assert p.id_text(b"Clip0017") == "Clip0017"
    assert p.id_text(b"AB\x00\x00\x00\x00\x00\x00") == "AB"


def test_record_train_ids() -> None:
    assert p.train_id(0) == "000A/00"
    assert p.train_id(2) == "000C/00"
    assert p.train_index("000C/00") == 2
    assert p.train_index("000C17") == 2
    assert p.train_index("000C") == 2
    assert p.train_index("114A/00") is None
    assert p.train_index("000A/xx") is None
