"""ST 2059-1 slots, ST 2110-10 RTP timestamps, TAI ↔ UTC, and time-of-day timecode with the daily jam."""

from __future__ import annotations

import calendar
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timing import (
    LEAP_SECONDS_NOW,
    TimecodeError,
    TimingError,
    rtp_timestamp,
    slot_at,
    slot_for_timecode,
    slot_start_ns,
    tai_to_utc_ns,
    time_of_day_timecode,
    utc_to_tai_ns,
)

NS = 1_000_000_000
RATES = ["23.976", "24", "25", "29.97", "30", "50", "59.94", "60", "119.88"]


def utc_ns(*fields: int) -> int:
    """POSIX ns of a UTC date and time (year, month, day[, hour, minute, second])."""
    padded = (*fields, 0, 0, 0)[:6]
    return calendar.timegm(padded) * NS


# --- slots -------------------------------------------------------------------------------------------


def test_slot_zero_starts_at_the_epoch() -> None:
    for rate in RATES:
        assert slot_start_ns(0, rate) == 0
        assert slot_at(0, rate) == 0
        assert slot_at(-1, rate) == -1


def test_slot_starts_by_hand() -> None:
    assert slot_start_ns(1, 50) == 20_000_000
    assert slot_start_ns(1, "59.94") == 16_683_333  # 1001/60 ms = 16 683 333.3 ns, rounded down
    assert slot_start_ns(3, "59.94") == 50_050_000  # exact: 3 × 1001/60000 s
    assert slot_start_ns(1, "29.97") == 33_366_666
    assert slot_at(19_999_999, 50) == 0
    assert slot_at(20_000_000, 50) == 1
    assert slot_at(16_683_332, "59.94") == 0
    assert slot_at(16_683_333, "59.94") == 1  # the rounded-down start belongs to its slot


def test_reference_example_at_5994() -> None:
    # io-and-timing §3.1: t = 1 790 000 000.123456789 s TAI at 59.94.
    t = 1_790_000_000_123_456_789
    n = slot_at(t, "59.94")
    assert n == 107_292_707_300
    assert slot_start_ns(n, "59.94") == 1_790_000_000_121_666_666
    assert rtp_timestamp(n, "59.94") == 71_705_286


@given(st.integers(min_value=-(10**12), max_value=2 * 10**11), st.sampled_from(RATES))
def test_slot_at_inverts_slot_start(n: int, rate: str) -> None:
    # Includes current-era slots: 2026 is ~1.77e9 s × 60 ≈ 1.06e11 slots at 59.94.
    start = slot_start_ns(n, rate)
    assert slot_at(start, rate) == n
    assert slot_at(slot_start_ns(n + 1, rate) - 1, rate) == n


def test_current_era_slots_invert() -> None:
    now_tai = utc_to_tai_ns(utc_ns(2026, 6, 1, 12))
    for rate in RATES:
        first = slot_at(now_tai, rate)
        for n in range(first, first + 2000):
            assert slot_at(slot_start_ns(n, rate), rate) == n


def test_slots_refuse_floats() -> None:
    with pytest.raises(TimingError, match="integer"):
        slot_at(1.5, 50)  # type: ignore[arg-type]


# --- RTP --------------------------------------------------------------------------------------------


def test_rtp_steps_1501_1502_at_5994() -> None:
    base = slot_at(utc_to_tai_ns(utc_ns(2026, 6, 1)), "59.94")
    steps = [rtp_timestamp(n + 1, "59.94") - rtp_timestamp(n, "59.94") for n in range(base, base + 100)]
    steps = [s % 2**32 for s in steps]
    assert set(steps) == {1501, 1502}
    assert all(a != b for a, b in pairwise(steps))  # strictly alternating
    assert [rtp_timestamp(n, "59.94") for n in range(4)] == [0, 1501, 3003, 4504]


def test_rtp_steps_at_50_and_2997() -> None:
    assert {(rtp_timestamp(n + 1, 50) - rtp_timestamp(n, 50)) % 2**32 for n in range(10**6, 10**6 + 200)} == {1800}
    assert {(rtp_timestamp(n + 1, "29.97") - rtp_timestamp(n, "29.97")) % 2**32 for n in range(500)} == {3003}
    assert rtp_timestamp(1, 25) == 3600
    assert rtp_timestamp(1, 50, clock_hz=48000) == 960  # the audio clock across one video frame


def test_rtp_wraps_modulo_2_to_the_32() -> None:
    wrap = -(-(2**32) // 1800)  # first slot past the wrap at 50p
    assert rtp_timestamp(wrap - 1, 50) == (wrap - 1) * 1800
    assert rtp_timestamp(wrap, 50) == wrap * 1800 - 2**32
    assert rtp_timestamp(wrap, 50) < 1800
    big = 10**11
    assert rtp_timestamp(big, "59.94") == (big * 1001 * 90000 // 60000) % 2**32


# --- TAI and UTC ------------------------------------------------------------------------------------


def test_leap_second_offsets() -> None:
    assert LEAP_SECONDS_NOW == 37
    assert utc_to_tai_ns(utc_ns(2017, 1, 1)) - utc_ns(2017, 1, 1) == 37 * NS
    assert utc_to_tai_ns(utc_ns(2016, 6, 1)) - utc_ns(2016, 6, 1) == 36 * NS
    assert utc_to_tai_ns(utc_ns(1972, 1, 1)) - utc_ns(1972, 1, 1) == 10 * NS
    assert utc_to_tai_ns(utc_ns(1999, 1, 1)) - utc_ns(1999, 1, 1) == 32 * NS
    assert utc_to_tai_ns(utc_ns(2026, 6, 1)) - utc_ns(2026, 6, 1) == 37 * NS


def test_the_inserted_second_repeats_235959_in_utc() -> None:
    midnight = utc_ns(2017, 1, 1)
    # TAI runs through 23:59:59, 23:59:60 and 00:00:00 without a break; POSIX UTC shows 23:59:59 twice.
    tai_235959 = midnight - NS + 36 * NS
    assert tai_to_utc_ns(tai_235959) == midnight - NS
    assert tai_to_utc_ns(tai_235959 + NS) == midnight - NS
    assert tai_to_utc_ns(tai_235959 + 2 * NS) == midnight


@given(st.integers(min_value=utc_ns(1972, 1, 1), max_value=utc_ns(2100, 1, 1)))
def test_utc_round_trips_through_tai(u: int) -> None:
    assert tai_to_utc_ns(utc_to_tai_ns(u)) == u


# --- time-of-day timecode ----------------------------------------------------------------------------


def slot_of_utc(rate: str, *fields: int) -> int:
    return slot_at(utc_to_tai_ns(utc_ns(*fields)), rate)


def test_time_of_day_at_integer_rates_is_the_wall_clock() -> None:
    slot = slot_of_utc("25", 2026, 3, 1, 10, 0, 5)
    assert time_of_day_timecode(slot, 25) == "10:00:05:00"
    assert time_of_day_timecode(slot + 13, 25) == "10:00:05:13"
    assert time_of_day_timecode(slot, 25, utc_offset_s=3600) == "11:00:05:00"
    assert time_of_day_timecode(slot, 25, utc_offset_s=-5 * 3600) == "05:00:05:00"
    assert time_of_day_timecode(slot_of_utc("50", 2026, 3, 1, 23, 59, 59) + 49, 50) == "23:59:59:49"
    assert time_of_day_timecode(slot_of_utc("50", 2026, 3, 2), 50) == "00:00:00:00"


def test_time_of_day_at_2997_is_jammed_at_midnight() -> None:
    jam = slot_of_utc("29.97", 2026, 3, 1) + 1  # first slot starting at or after midnight
    assert slot_start_ns(jam - 1, "29.97") < utc_to_tai_ns(utc_ns(2026, 3, 1)) <= slot_start_ns(jam, "29.97")
    assert time_of_day_timecode(jam, "29.97") == "00:00:00;00"
    assert time_of_day_timecode(jam + 1800, "29.97") == "00:01:00;02"
    assert time_of_day_timecode(jam + 17982, "29.97") == "00:10:00;00"
    assert time_of_day_timecode(jam + 17982, "29.97", drop_frame=False) == "00:09:59:12"
    # Drop-frame stays within a few frames of the wall clock all day.
    ten = slot_of_utc("29.97", 2026, 3, 1, 10, 0, 5)
    assert time_of_day_timecode(ten, "29.97") == "10:00:05;00"
    # The last frames before the next jam wrap to 00:00:00;00…, then the jam restarts the count.
    next_jam = slot_of_utc("29.97", 2026, 3, 2) + 1
    assert time_of_day_timecode(next_jam, "29.97") == "00:00:00;00"
    assert time_of_day_timecode(next_jam - 1, "29.97") == f"00:00:00;{next_jam - 1 - jam - 2_589_408:02d}"


def test_time_of_day_at_5994_follows_the_local_day() -> None:
    jam = slot_of_utc("59.94", 2026, 3, 1, 23) + 1  # local midnight at UTC+1
    assert time_of_day_timecode(jam, "59.94", utc_offset_s=3600) == "00:00:00;00"
    assert time_of_day_timecode(jam + 3600, "59.94", utc_offset_s=3600) == "00:01:00;04"


@pytest.mark.parametrize("rate", ["25", "50", "29.97", "59.94", "23.976", "24", "60"])
def test_slot_for_timecode_inverts_time_of_day(rate: str) -> None:
    near = slot_of_utc(rate, 2026, 3, 1, 10)
    for delta in (0, 1, 777, -12_345, 250_000, -1_000_000):
        slot = near + delta
        label = time_of_day_timecode(slot, rate, utc_offset_s=7200)
        assert slot_for_timecode(label, rate, near, utc_offset_s=7200) == slot


def test_slot_for_timecode_picks_the_nearest_day() -> None:
    after_midnight = slot_of_utc("25", 2026, 3, 2, 0, 0, 10)
    assert slot_for_timecode("23:59:59:00", 25, after_midnight) == slot_of_utc("25", 2026, 3, 1, 23, 59, 59)
    before_midnight = slot_of_utc("25", 2026, 3, 1, 23, 59, 50)
    assert slot_for_timecode("00:00:05:00", 25, before_midnight) == slot_of_utc("25", 2026, 3, 2, 0, 0, 5)
    assert slot_for_timecode("10:00:05:00", 25, after_midnight) == slot_of_utc("25", 2026, 3, 2, 10, 0, 5)


def test_slot_for_timecode_refuses_labels_that_never_occur() -> None:
    near = slot_of_utc("29.97", 2026, 3, 1, 10)
    with pytest.raises(TimecodeError, match="does not exist"):
        slot_for_timecode("10:01:00;00", "29.97", near)
    # Non-drop-frame labels at 29.97 fall 86 s behind the clock by midnight: 23:59:30 never comes.
    with pytest.raises(TimecodeError, match="no slot"):
        slot_for_timecode("23:59:30:00", "29.97", near)
