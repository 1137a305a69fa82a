"""Rates and SMPTE ST 12-1 timecode: every label of a day, drop-frame rules, errors, BCD wire bytes."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timing import (
    FrameRate,
    FrameRateError,
    Timecode,
    TimecodeError,
    TimingError,
    bcd_to_timecode,
    frames_to_timecode,
    timecode_to_bcd,
    timecode_to_frames,
)

# --- rates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fps"),
    [
        ("59.94", Fraction(60000, 1001)),
        ("60000/1001", Fraction(60000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("50", Fraction(50)),
        ("25", Fraction(25)),
        ("23.976", Fraction(24000, 1001)),
        ("24", Fraction(24)),
        ("30", Fraction(30)),
        ("60", Fraction(60)),
        ("119.88", Fraction(120000, 1001)),
    ],
)
def test_rate_names_parse_to_exact_rationals(text: str, fps: Fraction) -> None:
    assert FrameRate.parse(text).fps == fps


def test_only_2997_and_5994_allow_drop_frame() -> None:
    allowed = {
        name
        for name in ("23.976", "24", "25", "29.97", "30", "50", "59.94", "60", "119.88")
        if FrameRate.parse(name).allows_drop_frame
    }
    assert allowed == {"29.97", "59.94"}


def test_bad_rate_names_are_refused_with_an_example() -> None:
    for bad in ("fast", "60/0", "-25", "0"):
        with pytest.raises(FrameRateError, match="50|positive"):
            FrameRate.parse(bad)
    assert issubclass(FrameRateError, ValueError)
    assert issubclass(FrameRateError, TimingError)


# --- every label of a day -----------------------------------------------------------------------


def _labels_by_minute(nominal: int, drop: int) -> Iterator[list[str]]:
    """Every label of 24 hours in order, built from the ST 12-1 rule itself (the test's oracle)."""
    two = [f"{i:02d}" for i in range(max(60, nominal))]
    sep = ";" if drop else ":"
    for hh in range(24):
        for mm in range(60):
            skip = drop if mm % 10 else 0
            yield [
                f"{two[hh]}:{two[mm]}:{two[ss]}{sep}{two[ff]}"
                for ss in range(60)
                for ff in range(skip if ss == 0 else 0, nominal)
            ]


@pytest.mark.parametrize(
    ("name", "nominal", "drop", "per_day"),
    [
        ("29.97", 30, 2, 2_589_408),
        ("59.94", 60, 4, 5_178_816),
    ],
)
def test_every_frame_of_a_day_round_trips_at_drop_frame(name: str, nominal: int, drop: int, per_day: int) -> None:
    # ~2.5 s at 29.97 and ~5 s at 59.94 on a slow core: both directions, every frame, compared
    # a minute at a time against labels built independently from the drop rule.
    rate = FrameRate.parse(name)
    first = 0
    for labels in _labels_by_minute(nominal, drop):
        frames = range(first, first + len(labels))
        got = [frames_to_timecode(f, rate) for f in frames]
        if got != labels:
            bad = next(i for i, (a, b) in enumerate(zip(got, labels)) if a != b)
            pytest.fail(f"frame {first + bad}: {got[bad]} != {labels[bad]}")
        back = [timecode_to_frames(label, rate) for label in labels]
        if back != list(frames):
            bad = next(i for i, (a, b) in enumerate(zip(back, frames)) if a != b)
            pytest.fail(f"{labels[bad]} -> {back[bad]}, expected {first + bad}")
        first += len(labels)
    assert first == per_day
    assert frames_to_timecode(per_day, rate) == f"00:00:00;{0:02d}"  # the day wraps


# --- known labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "rate", "label"),
    [
        (1800, "29.97", "00:01:00;02"),
        (1799, "29.97", "00:00:59;29"),
        (17982, "29.97", "00:10:00;00"),
        (107892, "29.97", "01:00:00;00"),
        (3600, "59.94", "00:01:00;04"),
        (35964, "59.94", "00:10:00;00"),
        (90000, "25", "01:00:00:00"),
        (2159999, "25", "23:59:59:24"),
        (99, "50", "00:00:01:49"),
        (86399, "24", "00:59:59:23"),
        (1800, "30", "00:01:00:00"),
        (24, "23.976", "00:00:01:00"),
        (3600, "60", "00:01:00:00"),
    ],
)
def test_known_labels(frames: int, rate: str, label: str) -> None:
    assert frames_to_timecode(frames, rate) == label
    assert timecode_to_frames(label, rate) == frames


def test_ntsc_rates_count_non_drop_frame_on_request() -> None:
    assert frames_to_timecode(1800, "29.97", drop_frame=False) == "00:01:00:00"
    assert timecode_to_frames("00:01:00:00", "29.97") == 1800
    assert frames_to_timecode(3600, "59.94", False) == "00:01:00:00"


def test_labels_wrap_at_24_hours() -> None:
    assert frames_to_timecode(2_160_000, 25) == "00:00:00:00"
    assert frames_to_timecode(2_160_000 + 26, 25) == "00:00:01:01"
    assert frames_to_timecode(-1, 25) == "23:59:59:24"
    assert frames_to_timecode(-1, "29.97") == "23:59:59;29"
    assert frames_to_timecode(5_178_816, "59.94") == "00:00:00;00"


def test_rate_may_be_given_as_a_frame_rate_or_a_fraction() -> None:
    assert frames_to_timecode(1800, FrameRate.parse("29.97")) == "00:01:00;02"
    assert frames_to_timecode(1800, Fraction(30000, 1001)) == "00:01:00;02"
    assert timecode_to_frames("00:01:00.02", "29.97") == 1800  # '.' also means drop-frame


# --- labels that do not exist ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "rate", "first"),
    [
        ("00:01:00;00", "29.97", "00:01:00;02"),
        ("00:01:00;01", "29.97", "00:01:00;02"),
        ("00:02:00;03", "59.94", "00:02:00;04"),
        ("23:59:00;00", "59.94", "23:59:00;04"),
    ],
)
def test_skipped_drop_frame_labels_are_refused_with_the_minutes_first_label(label: str, rate: str, first: str) -> None:
    with pytest.raises(TimecodeError, match="does not exist") as info:
        timecode_to_frames(label, rate)
    assert first in str(info.value)


def test_tenth_minutes_keep_their_first_labels() -> None:
    assert timecode_to_frames("00:10:00;00", "29.97") == 17982
    assert timecode_to_frames("00:20:00;01", "29.97") == 2 * 17982 + 1
    assert timecode_to_frames("00:00:00;00", "59.94") == 0


@pytest.mark.parametrize(
    "label",
    [
        "1:00:00:00",
        "01:00:00",
        "01-00-00-00",
        "aa:00:00:00",
        "01:00:00:0x",
        "",
        "01:00:00::00",
        "01:00:00:²0",
    ],
)
def test_malformed_labels_are_refused(label: str) -> None:
    with pytest.raises(TimecodeError, match="not a timecode"):
        timecode_to_frames(label, "25")


@pytest.mark.parametrize(
    ("label", "rate", "words"),
    [
        ("00:00:00:25", "25", "frame 25"),
        ("00:00:00;30", "29.97", "frame 30"),
        ("00:00:00;60", "59.94", "frame 60"),
        ("24:00:00:00", "25", "out of range"),
        ("00:60:00:00", "25", "out of range"),
        ("00:00:60:00", "25", "out of range"),
    ],
)
def test_fields_out_of_range_are_refused(label: str, rate: str, words: str) -> None:
    with pytest.raises(TimecodeError, match=words):
        timecode_to_frames(label, rate)


def test_drop_frame_at_a_rate_without_it_is_refused() -> None:
    with pytest.raises(TimecodeError, match="only at 29.97 and 59.94"):
        timecode_to_frames("00:00:01;00", "25")
    with pytest.raises(TimecodeError, match="only at 29.97 and 59.94"):
        frames_to_timecode(10, 50, drop_frame=True)


def test_frame_counts_must_be_integers() -> None:
    with pytest.raises(TimecodeError, match="integer"):
        frames_to_timecode(1.5, 25)  # type: ignore[arg-type]
    assert issubclass(TimecodeError, ValueError)


def test_timecode_dataclass_agrees_with_the_functions() -> None:
    tc = Timecode.parse("01:00:00;00", "29.97")
    assert tc == Timecode(1, 0, 0, 0, drop_frame=True)
    assert tc.to_frames("29.97") == 107892
    assert str(Timecode.from_frames(1800, "29.97")) == "00:01:00;02"
    with pytest.raises(TimecodeError):
        Timecode.parse("00:01:00;00", "29.97")


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["23.976", "24", "25", "29.97", "30", "50", "59.94", "60", "100", "119.88"]),
)
def test_any_count_round_trips_modulo_a_day(frames: int, rate: str) -> None:
    label = frames_to_timecode(frames, rate)
    back = timecode_to_frames(label, rate)
    day = timecode_to_frames("23:59:59" + label[8] + str(FrameRate.parse(rate).nominal - 1), rate) + 1
    assert back == frames % day


# --- BCD wire form -----------------------------------------------------------------------------------


def test_bcd_ndf_at_25_is_frames_seconds_minutes_hours() -> None:
    frames = timecode_to_frames("01:23:45:12", 25)
    assert timecode_to_bcd(frames, 25) == bytes([0x12, 0x45, 0x23, 0x01])
    assert bcd_to_timecode(b"\x12\x45\x23\x01", 25) == (frames, False)
    # The 9-pin reference's own example: 01:02:03:12 → 12 03 02 01.
    assert timecode_to_bcd(timecode_to_frames("01:02:03:12", 25), 25) == b"\x12\x03\x02\x01"


def test_bcd_drop_frame_and_colour_frame_flags() -> None:
    frames = timecode_to_frames("00:01:00;02", "29.97")
    assert timecode_to_bcd(frames, "29.97") == b"\x42\x00\x01\x00"  # 0x40: drop-frame
    assert timecode_to_bcd(frames, "29.97", colour_frame=True) == b"\xc2\x00\x01\x00"  # 0x80: colour frame
    assert timecode_to_bcd(1800, "29.97", drop_frame=False) == b"\x00\x00\x01\x00"
    assert bcd_to_timecode(b"\xc2\x00\x01\x00", "29.97") == (1800, True)
    assert bcd_to_timecode(b"\x00\x00\x01\x00", "29.97") == (1800, False)


def test_bcd_frame_pairs_at_50p_flag_the_hours_byte() -> None:
    # 00:00:00:13 at 50p is pair 06, second frame of the pair: flag in bit 7 of the hours byte.
    assert timecode_to_bcd(13, 50) == b"\x06\x00\x00\x80"
    assert timecode_to_bcd(12, 50) == b"\x06\x00\x00\x00"
    assert timecode_to_bcd(timecode_to_frames("10:20:30:49", 50), 50) == b"\x24\x30\x20\x90"
    assert bcd_to_timecode(b"\x06\x00\x00\x80", 50) == (13, False)
    assert bcd_to_timecode(b"\x06\x80\x00\x00", 50) == (13, False)  # seconds-byte flag also accepted


def test_bcd_frame_pairs_at_5994_flag_the_seconds_byte() -> None:
    frames = timecode_to_frames("00:01:00;05", "59.94")  # pair 02, second frame
    assert timecode_to_bcd(frames, "59.94") == b"\x42\x80\x01\x00"
    assert bcd_to_timecode(b"\x42\x80\x01\x00", "59.94") == (frames, True)
    # Pair 01 starts a dropping minute: it is one of the two skipped pair labels.
    with pytest.raises(TimecodeError, match="does not exist"):
        bcd_to_timecode(b"\x41\x00\x01\x00", "59.94")
    assert timecode_to_bcd(timecode_to_frames("00:00:00:59", 60), 60) == b"\x29\x80\x00\x00"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x12\x45\x23", "4 bytes"),
        (b"\x1a\x00\x00\x00", "not BCD"),
        (b"\x00\x00\x00\x0f", "not BCD"),
        (b"\x25\x00\x00\x00", "frame 25"),
        (b"\x40\x00\x00\x00", "only at 29.97 and 59.94"),
    ],
)
def test_bad_bcd_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(TimecodeError, match=words):
        bcd_to_timecode(data, 25)


def test_bcd_refuses_missing_pairs_and_rates_above_60() -> None:
    with pytest.raises(TimecodeError, match="pair 30"):
        bcd_to_timecode(b"\x30\x00\x00\x00", 60)
    with pytest.raises(TimecodeError, match="ST 12-3"):
        timecode_to_bcd(0, 120)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["23.976", "24", "25", "29.97", "30", "50", "59.94", "60"]),
    st.booleans(),
)
def test_bcd_round_trips(frames: int, rate: str, colour: bool) -> None:
    data = timecode_to_bcd(frames, rate, colour_frame=colour)
    count, df = bcd_to_timecode(data, rate)
    assert df == FrameRate.parse(rate).allows_drop_frame
    assert frames_to_timecode(count, rate) == frames_to_timecode(frames, rate)
