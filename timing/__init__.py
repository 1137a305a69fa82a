"""The engine's sense of time: exact rates, timecode, ST 2059 slots, reference clocks, the ticker.

Imports nothing but the standard library. Rates are ``fractions.Fraction``, instants are integer
nanoseconds of TAI since the SMPTE epoch (1970-01-01 00:00:00 TAI), frames are integer slots.
"""

from timing.bench import bench
from timing.clocks import (
    InputLockedClock,
    InternalClock,
    ManualClock,
    PmcStatus,
    PtpClock,
    ReferenceClock,
    make_clock,
    parse_pmc,
    precise_sleep_until,
)
from timing.errors import FrameRateError, TimecodeError, TimingError
from timing.rates import STANDARD_RATES, FrameRate, RateLike
from timing.slots import (
    LEAP_SECONDS,
    LEAP_SECONDS_NOW,
    leap_seconds,
    rtp_timestamp,
    slot_at,
    slot_for_timecode,
    slot_start_ns,
    tai_to_utc_ns,
    time_of_day_timecode,
    utc_to_tai_ns,
)
from timing.sync import Filed, FrameSlotSync
from timing.ticker import Ticker, percentile
from timing.timecode import (
    Timecode,
    bcd_to_timecode,
    frames_to_timecode,
    timecode_to_bcd,
    timecode_to_frames,
)

__all__ = [
    "LEAP_SECONDS",
    "LEAP_SECONDS_NOW",
    "STANDARD_RATES",
    "Filed",
    "FrameRate",
    "FrameRateError",
    "FrameSlotSync",
    "InputLockedClock",
    "InternalClock",
    "ManualClock",
    "PmcStatus",
    "PtpClock",
    "RateLike",
    "ReferenceClock",
    "Ticker",
    "Timecode",
    "TimecodeError",
    "TimingError",
    "bcd_to_timecode",
    "bench",
    "frames_to_timecode",
    "leap_seconds",
    "make_clock",
    "parse_pmc",
    "percentile",
    "precise_sleep_until",
    "rtp_timestamp",
    "slot_at",
    "slot_for_timecode",
    "slot_start_ns",
    "tai_to_utc_ns",
    "time_of_day_timecode",
    "timecode_to_bcd",
    "timecode_to_frames",
    "utc_to_tai_ns",
]
