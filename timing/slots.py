"""SMPTE ST 2059-1 alignment: TAI nanoseconds ↔ frame slot ↔ RTP timestamp, UTC, time-of-day timecode.

A *slot* is one frame period of the house reference counted from the SMPTE epoch,
1970-01-01 00:00:00 TAI (the PTP epoch): slot ``n`` starts at ``n × den/num`` seconds TAI for a
rate of ``num/den`` frames per second. All arithmetic is on integers; nothing here rounds twice.

Slots on the nanosecond grid: where a boundary ``n × T`` falls between two nanoseconds (59.94,
29.97 …), :func:`slot_start_ns` rounds it down, and slot ``n`` owns the integer instants
``slot_start_ns(n) ≤ t < slot_start_ns(n + 1)``. So ``slot_at(slot_start_ns(n)) == n`` always,
and :func:`slot_at` agrees with the exact ``floor(t / T)`` except on the single nanosecond tick
just before such a boundary, which belongs to the new slot.
"""

from __future__ import annotations

import calendar

from timing.errors import TimecodeError, TimingError
from timing.rates import FrameRate, RateLike
from timing.timecode import _counting, _split, frames_to_timecode, timecode_to_frames

__all__ = [
    "LEAP_SECONDS",
    "LEAP_SECONDS_NOW",
    "leap_seconds",
    "rtp_timestamp",
    "slot_at",
    "slot_for_timecode",
    "slot_start_ns",
    "tai_to_utc_ns",
    "time_of_day_timecode",
    "utc_to_tai_ns",
]

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS

# TAI − UTC in seconds from each UTC date on (IERS Bulletin C). Update when the IERS announces a
# leap second; PtpClock cross-checks the kernel's TAI offset against LEAP_SECONDS_NOW.
_LEAP_TABLE: tuple[tuple[tuple[int, int, int], int], ...] = (
    ((1972, 1, 1), 10),
    ((1972, 7, 1), 11),
    ((1973, 1, 1), 12),
    ((1974, 1, 1), 13),
    ((1975, 1, 1), 14),
    ((1976, 1, 1), 15),
    ((1977, 1, 1), 16),
    ((1978, 1, 1), 17),
    ((1979, 1, 1), 18),
    ((1980, 1, 1), 19),
    ((1981, 7, 1), 20),
    ((1982, 7, 1), 21),
    ((1983, 7, 1), 22),
    ((1985, 7, 1), 23),
    ((1988, 1, 1), 24),
    ((1990, 1, 1), 25),
    ((1991, 1, 1), 26),
    ((1992, 7, 1), 27),
    ((1993, 7, 1), 28),
    ((1994, 7, 1), 29),
    ((1996, 1, 1), 30),
    ((1997, 7, 1), 31),
    ((1999, 1, 1), 32),
    ((2006, 1, 1), 33),
    ((2009, 1, 1), 34),
    ((2012, 7, 1), 35),
    ((2015, 7, 1), 36),
    ((2017, 1, 1), 37),
)

#: (UTC ns since 1970-01-01 on the POSIX scale, TAI − UTC in seconds from then on), oldest first.
LEAP_SECONDS: tuple[tuple[int, int], ...] = tuple(
    (calendar.timegm((y, m, d, 0, 0, 0)) * _NS, offset) for (y, m, d), offset in _LEAP_TABLE
)

#: TAI − UTC today, in seconds (since 2017-01-01).
LEAP_SECONDS_NOW: int = LEAP_SECONDS[-1][1]

# The same steps on the TAI scale: the new offset applies from the first TAI instant of the
# inserted second (23:59:60 UTC), i.e. the step's UTC instant + the *old* offset. That makes
# tai_to_utc_ns repeat 23:59:59 during the leap second, as the Linux kernel's CLOCK_REALTIME does.
_TAI_STEPS: tuple[tuple[int, int], ...] = tuple(
    (utc_ns + (LEAP_SECONDS[i - 1][1] if i else offset) * _NS, offset) for i, (utc_ns, offset) in enumerate(LEAP_SECONDS)
)


def leap_seconds(utc_ns: int) -> int:
    """TAI − UTC in seconds at a UTC instant (ns since 1970 on the POSIX scale).

    Before 1972 UTC had fractional steps and no leap-second table applies; we use 10 s, the
    offset UTC started with, which is only ever needed for instants no camera recorded.
    """
    for step_ns, offset in reversed(LEAP_SECONDS):
        if utc_ns >= step_ns:
            return offset
    return LEAP_SECONDS[0][1]


def _leap_seconds_at_tai(tai_ns: int) -> int:
    for step_ns, offset in reversed(_TAI_STEPS):
        if tai_ns >= step_ns:
            return offset
    return _TAI_STEPS[0][1]


def utc_to_tai_ns(utc_ns: int) -> int:
    """TAI ns since the SMPTE epoch of a UTC instant (POSIX ns since 1970): adds the leap seconds."""
    return utc_ns + leap_seconds(utc_ns) * _NS


def tai_to_utc_ns(tai_ns: int) -> int:
    """UTC (POSIX ns since 1970) of a TAI instant: subtracts the leap seconds in effect.

    During an inserted leap second the result repeats 23:59:59 (POSIX has no 23:59:60), so
    ``utc_to_tai_ns(tai_to_utc_ns(t)) == t`` everywhere except inside a leap second, while
    ``tai_to_utc_ns(utc_to_tai_ns(u)) == u`` for every ``u``.
    """
    return tai_ns - _leap_seconds_at_tai(tai_ns) * _NS


def _rate(rate: RateLike) -> FrameRate:
    return rate if isinstance(rate, FrameRate) else FrameRate.parse(rate)


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TimingError(
            f"{what} must be an integer, got {value!r} ({type(value).__name__}); times are "
            "integer nanoseconds of TAI and slots are integer frame counts"
        )
    return value


def slot_at(tai_ns: int, rate: RateLike) -> int:
    """The slot containing a TAI instant (ns since the SMPTE epoch): ``floor(t / T)`` on the ns grid."""
    r = _rate(rate)
    t = _check_int(tai_ns, "tai_ns")
    # The largest n with floor(n·T) ≤ t, i.e. n·den·1e9 < (t + 1)·num (see the module docstring).
    return ((t + 1) * r.numerator - 1) // (r.denominator * _NS)


def slot_start_ns(slot: int, rate: RateLike) -> int:
    """The TAI instant a slot starts, ``n × den/num`` s rounded down to the nanosecond."""
    r = _rate(rate)
    return (_check_int(slot, "slot") * r.denominator * _NS) // r.numerator


def rtp_timestamp(slot: int, rate: RateLike, clock_hz: int = 90_000) -> int:
    """The ST 2110-10 RTP timestamp of a slot: ``floor(n × den × clock_hz / num) mod 2**32``.

    At 59.94 on the 90 kHz video clock a frame is 1501.5 ticks, so timestamps step 1501, 1502 …;
    at 50 every step is 1800.
    """
    r = _rate(rate)
    if _check_int(clock_hz, "clock_hz") <= 0:
        raise TimingError(f"an RTP clock rate must be positive, got {clock_hz} Hz (video uses 90000)")
    return (_check_int(slot, "slot") * r.denominator * clock_hz // r.numerator) & 0xFFFF_FFFF


# --- time-of-day timecode (ST 2059-1 daily jam) -------------------------------------------------


def _jam_slot(slot: int, r: FrameRate, utc_offset_s: int) -> int:
    """The slot at which the time-of-day count containing ``slot`` was last jammed to 00:00:00:00."""
    start = slot_start_ns(slot, r)
    leap = _leap_seconds_at_tai(start)
    local = start - leap * _NS + utc_offset_s * _NS
    midnight_tai = (local // _DAY_NS) * _DAY_NS - utc_offset_s * _NS + leap * _NS
    # The first slot that starts at or after local midnight.
    return slot_at(midnight_tai - 1, r) + 1


def time_of_day_timecode(
    slot: int,
    rate: RateLike,
    *,
    utc_offset_s: int = 0,
    drop_frame: bool | None = None,
) -> str:
    """The time-of-day timecode of a slot, as a house sync generator would stamp it (ST 2059-1).

    Time of day is UTC (TAI minus the leap seconds) plus ``utc_offset_s`` (the local offset, e.g.
    3600 for CET). The count is *jammed* to ``00:00:00:00`` at local midnight: the label of a slot
    is that of ``slot − jam_slot``, where ``jam_slot`` is the first slot starting at or after the
    most recent local midnight. Then:

    * At integer rates (24, 25, 50, 30, 60 …) midnight is a slot boundary and the label is exactly
      the local wall-clock time.
    * At 1000/1001 rates a day is not a whole number of frames, so the count restarts at each
      local midnight (the daily jam). Drop-frame labels stay within a few frames of the clock
      (29.97 DF runs 86.4 ms a day fast: the last ~3 frames before midnight read 00:00:00;00–;02
      and the jam then restarts at 00:00:00;00); non-drop-frame labels fall behind the clock by
      3.6 s an hour and never reach the end of the day.
    * A leap second re-jams the count: the jam instant is local midnight converted to TAI with
      the TAI − UTC offset in effect at the slot, so labels repeat the inserted second as UTC does.
    """
    r = _rate(rate)
    s = _check_int(slot, "slot")
    offset = _check_int(utc_offset_s, "utc_offset_s")
    return frames_to_timecode(s - _jam_slot(s, r, offset), r, drop_frame)


def slot_for_timecode(
    label: str,
    rate: RateLike,
    near_slot: int,
    *,
    utc_offset_s: int = 0,
) -> int:
    """The slot nearest ``near_slot`` whose time-of-day timecode (see :func:`time_of_day_timecode`) is ``label``.

    This turns an operator's "cue 10:00:05:00" into a slot. The label's separator chooses the
    counting, as in :func:`timecode_to_frames`: ``;`` for drop-frame, ``:`` for non-drop-frame.
    The previous, current and next local days around ``near_slot`` are searched; of two equally
    near matches the earlier wins. Raises :class:`TimecodeError` when the label does not exist or
    does not occur in those days (a non-drop-frame label near midnight at 29.97, say).
    """
    r = _rate(rate)
    near = _check_int(near_slot, "near_slot")
    offset = _check_int(utc_offset_s, "utc_offset_s")
    count = timecode_to_frames(label, r)
    df = _split(label)[4]
    wanted = frames_to_timecode(count, r, df)
    per_day = _counting(r, df).per_day
    # Probe every half day over ±1.5 days so that the previous, current and next local days
    # are all found wherever in its day near_slot lies.
    half_day = (43_200 * r.numerator) // r.denominator
    jams = {_jam_slot(near + k * half_day, r, offset) for k in range(-3, 4)}
    candidates: set[int] = set()
    for jam in jams:
        # wrap: at 1000/1001 rates the last frames before midnight wrap to 00:00:00;00 … (DF).
        for wrap in (0, per_day):
            guess = jam + count + wrap
            # A leap second inside the day moves that day's jam; one more step lands on it.
            candidates.add(_jam_slot(guess, r, offset) + count + wrap)
            candidates.add(guess)
    matches = [c for c in candidates if time_of_day_timecode(c, r, utc_offset_s=offset, drop_frame=df) == wanted]
    if not matches:
        raise TimecodeError(
            f"no slot within a day of slot {near} has time-of-day timecode {label!r} at {r} "
            f"(UTC offset {offset} s); check the label and its ';' (drop-frame) or ':' separator"
        )
    return min(matches, key=lambda c: (abs(c - near), c))
