"""SMPTE ST 12-1 timecode: frame count ↔ label (drop-frame included) and the 4-byte BCD wire form.

A timecode is a *label* for an integer frame count, never a key: the engine counts frames (slots) and
labels them at the edges. Counting rules:

* Non-drop-frame (NDF) at every rate: ``nominal`` labels per second (30 at 29.97, 60 at 59.94,
  24 at 23.976), ``HH:MM:SS:FF``.
* Drop-frame (DF) at 29.97 and 59.94 only, ``HH:MM:SS;FF``: at the start of every minute except
  minutes 00, 10, 20, 30, 40 and 50 the first labels are skipped, ``;00 ;01`` at 29.97 (17 982 frames
  per ten minutes) and ``;00 ;01 ;02 ;03`` at 59.94 (35 964 per ten minutes). No frame is dropped,
  only labels. Labels at 59.94 count 00–59, as OTIO, FFmpeg's display form and most software do;
  the frame-pair form (00–29 plus a flag) appears only on the wire (:func:`timecode_to_bcd`).
* Labels wrap at 24 hours: frame counts are taken modulo one day of labels (negative counts too).
"""

from __future__ import annotations

from dataclasses import dataclass

from timing.errors import TimecodeError
from timing.rates import FrameRate, RateLike

__all__ = [
    "Timecode",
    "bcd_to_timecode",
    "frames_to_timecode",
    "timecode_to_bcd",
    "timecode_to_frames",
]

# Separators written before the frames field that mean drop-frame (';' is SMPTE's, '.' is used
# where ';' cannot be typed or displayed).
_DF_SEPARATORS = ";."
_SEPARATORS = ":;."


@dataclass(frozen=True, slots=True)
class _Counting:
    """Constants of one (rate, drop-frame) counting, computed once and cached."""

    rate: FrameRate
    drop_frame: bool
    nominal: int  # labels per second
    drop: int  # labels skipped at the start of each dropping minute (0 for NDF)
    per_minute: int  # frames in a minute that drops labels
    per_10min: int
    per_day: int  # frames in 24 hours of labels
    per_hour: int  # labels in an hour, counted without drops
    per_minute_ndf: int  # labels in a minute, counted without drops
    sep: str  # ':' or ';' before the frames field
    frame_labels: tuple[str, ...]  # "00", "01" … zero-padded to the width the rate needs


# Keyed by whatever the caller passed as the rate (a FrameRate, "59.94", 50 …), so the hot
# path (a label per output frame, or 5 million in a test) costs one dict lookup.
_COUNTINGS: dict[tuple[object, bool | None], _Counting] = {}
_COUNTINGS_LIMIT = 512

# Two-digit fields parse and print by table lookup: several times faster than int() and
# '%02d', and the parse table rejects non-digits ('1a', ' 1', '²') by not holding them.
_TWO_DIGITS: dict[str, int] = {f"{i:02d}": i for i in range(100)}
_TWO_LABELS: tuple[str, ...] = tuple(f"{i:02d}" for i in range(100))


def _counting(rate: RateLike, drop_frame: bool | None) -> _Counting:
    key = (rate, drop_frame)
    found = _COUNTINGS.get(key)
    if found is not None:
        return found
    r = FrameRate.parse(rate)
    df = r.allows_drop_frame if drop_frame is None else bool(drop_frame)
    if df and not r.allows_drop_frame:
        raise TimecodeError(
            f"drop-frame timecode exists only at 29.97 and 59.94, not at {r}: "
            "count non-drop-frame instead (drop_frame=False, ':' before the frames)"
        )
    nominal = r.nominal
    drop = nominal // 15 if df else 0  # 2 at 29.97, 4 at 59.94
    per_10min = 600 * nominal - 9 * drop
    digits = max(2, len(str(nominal - 1)))
    counting = _Counting(
        rate=r,
        drop_frame=df,
        nominal=nominal,
        drop=drop,
        per_minute=60 * nominal - drop,
        per_10min=per_10min,
        per_day=144 * per_10min,
        per_hour=3600 * nominal,
        per_minute_ndf=60 * nominal,
        sep=";" if df else ":",
        frame_labels=tuple(f"{i:0{digits}d}" for i in range(nominal)),
    )
    if len(_COUNTINGS) < _COUNTINGS_LIMIT:
        _COUNTINGS[key] = counting
    return counting


def _check_count(frames: object) -> int:
    if isinstance(frames, bool) or not isinstance(frames, int):
        raise TimecodeError(f"a frame count must be an integer, got {frames!r} ({type(frames).__name__})")
    return frames


def _fields(c: _Counting, frames: int) -> tuple[int, int, int, int]:
    """Split a frame count into (hours, minutes, seconds, frames) labels, wrapping at 24 h."""
    f = frames % c.per_day
    drop = c.drop
    if drop:
        # Re-insert the skipped labels: 9 dropping minutes per full ten, plus one per
        # dropping minute begun in this ten (the first minute of each ten keeps all labels).
        tens, rest = divmod(f, c.per_10min)
        f += 9 * drop * tens
        if rest >= drop:
            f += drop * ((rest - drop) // c.per_minute)
    n = c.nominal
    ss, ff = divmod(f, n)
    mm, ss = divmod(ss, 60)
    hh, mm = divmod(mm, 60)
    return hh, mm, ss, ff


def _label(c: _Counting, hh: int, mm: int, ss: int, ff: int) -> str:
    t = _TWO_LABELS
    return f"{t[hh]}:{t[mm]}:{t[ss]}{c.sep}{c.frame_labels[ff]}"


def _count(c: _Counting, hh: int, mm: int, ss: int, ff: int, label: str) -> int:
    """The frame count of a label's fields, refusing fields and labels that do not exist."""
    if hh > 23 or mm > 59 or ss > 59:
        raise TimecodeError(f"timecode {label!r} is out of range: hours run 00–23, minutes and seconds 00–59")
    if ff >= c.nominal:
        raise TimecodeError(
            f"timecode {label!r} has frame {ff:02d}, but {c.rate} counts frames 00–{c.nominal - 1:02d} in each second"
        )
    minutes = hh * 60 + mm
    drop = c.drop
    if drop:
        if ss == 0 and ff < drop and mm % 10:
            first = _label(c, hh, mm, 0, drop)
            raise TimecodeError(
                f"timecode {label!r} does not exist at {c.rate} drop-frame: frames "
                f"00–{drop - 1:02d} are skipped at the start of every minute except "
                f"00, 10, 20, 30, 40 and 50; the minute starts at {first}"
            )
        return (minutes * 60 + ss) * c.nominal + ff - drop * (minutes - minutes // 10)
    return (minutes * 60 + ss) * c.nominal + ff


# "HH:MM:SS" → (seconds since midnight, minutes that drop labels before it, whether it starts a
# minute that drops). Bounded: cleared when full, since only recent heads matter.
_HEADS: dict[str, tuple[int, int, bool]] = {}
_HEADS_LIMIT = 4096


def _head(text: str) -> tuple[int, int, bool] | None:
    """Parse and cache a valid 'HH:MM:SS'; None for anything else (the caller goes the long way)."""
    two = _TWO_DIGITS
    if len(text) != 8 or text[2] != ":" or text[5] != ":":
        return None
    hh, mm, ss = two.get(text[0:2], 99), two.get(text[3:5], 99), two.get(text[6:8], 99)
    if hh > 23 or mm > 59 or ss > 59:
        return None
    minutes = hh * 60 + mm
    head = (minutes * 60 + ss, minutes - minutes // 10, ss == 0 and mm % 10 != 0)
    if len(_HEADS) >= _HEADS_LIMIT:
        _HEADS.clear()
    _HEADS[text] = head
    return head


def _split(label: str) -> tuple[int, int, int, int, bool]:
    """Parse 'HH:MM:SS:FF' (or ';' / '.' before FF for drop-frame) into fields and the DF flag."""
    s = label.strip() if isinstance(label, str) else ""
    frames = s[9:]
    if (
        len(s) in (11, 12)
        and s[2] in _SEPARATORS
        and s[5] in _SEPARATORS
        and s[8] in _SEPARATORS
        and frames.isdigit()
        and frames.isascii()
    ):
        two = _TWO_DIGITS
        hh, mm, ss = two.get(s[0:2]), two.get(s[3:5]), two.get(s[6:8])
        if hh is not None and mm is not None and ss is not None:
            return hh, mm, ss, int(frames), s[8] in _DF_SEPARATORS
    return _malformed(label)


def _malformed(label: object) -> tuple[int, int, int, int, bool]:
    raise TimecodeError(f"not a timecode: {label!r} (write HH:MM:SS:FF, or HH:MM:SS;FF for drop-frame)")


def frames_to_timecode(frames: int, rate: RateLike, drop_frame: bool | None = None) -> str:
    """Label a frame count: ``frames_to_timecode(1800, "29.97")`` is ``'00:01:00;02'``.

    ``drop_frame=None`` uses the rate's usual counting (drop-frame at 29.97 and 59.94,
    non-drop-frame elsewhere); ``True`` at any other rate raises :class:`TimecodeError`.
    Counts wrap at 24 hours, so -1 is the last label of the day.
    """
    c = _COUNTINGS.get((rate, drop_frame)) or _counting(rate, drop_frame)
    if frames.__class__ is not int:
        _check_count(frames)
    # _fields inlined: this runs once per output frame per channel, and 5 million times in tests.
    f = frames % c.per_day
    drop = c.drop
    if drop:
        tens, rest = divmod(f, c.per_10min)
        f += 9 * drop * tens
        if rest >= drop:
            f += drop * ((rest - drop) // c.per_minute)
    n = c.nominal
    t = _TWO_LABELS
    return f"{t[f // c.per_hour]}:{t[f // c.per_minute_ndf % 60]}:{t[f // n % 60]}{c.sep}{c.frame_labels[f % n]}"


def timecode_to_frames(label: str, rate: RateLike) -> int:
    """The frame count of a label: ``';'`` (or ``'.'``) before the frames means drop-frame.

    Raises :class:`TimecodeError` for malformed text, fields out of range (frames ≥ the rate's
    labels per second), drop-frame at a rate without it, and drop-frame labels that are skipped
    (``00:01:00;00`` at 29.97).
    """
    # The common case (11 characters, valid fields) is inlined, and the "HH:MM:SS" head is looked
    # up in a small cache: labels arrive in order, so 29 of every 30 share the previous head.
    # Anything unusual or wrong goes through _split and _count, which word the error.
    if label.__class__ is str and len(label) == 11:
        head = _HEADS.get(label[:8]) or _head(label[:8])
        sep = label[8]
        if head is not None and (sep == ":" or sep in _DF_SEPARATORS):
            df = sep != ":"
            c = _COUNTINGS.get((rate, df)) or _counting(rate, df)
            ff = _TWO_DIGITS.get(label[9:], 999)
            seconds, dropping_minutes, minute_start = head
            if ff < c.nominal:
                drop = c.drop
                if not drop:
                    return seconds * c.nominal + ff
                if not (minute_start and ff < drop):
                    return seconds * c.nominal + ff - drop * dropping_minutes
    hh, mm, ss, ff, df = _split(label)
    c = _COUNTINGS.get((rate, df)) or _counting(rate, df)
    return _count(c, hh, mm, ss, ff, label)


@dataclass(frozen=True)
class Timecode:
    """A parsed label: its fields and whether it counts drop-frame. Its rate is given on use."""

    hours: int
    minutes: int
    seconds: int
    frames: int
    drop_frame: bool = False

    @classmethod
    def parse(cls, label: str, rate: RateLike) -> Timecode:
        """Parse and validate a label at a rate (same rules as :func:`timecode_to_frames`)."""
        hh, mm, ss, ff, df = _split(label)
        _count(_counting(rate, df), hh, mm, ss, ff, label)
        return cls(hh, mm, ss, ff, df)

    @classmethod
    def from_frames(cls, frames: int, rate: RateLike, drop_frame: bool | None = None) -> Timecode:
        """The label of a frame count (same rules as :func:`frames_to_timecode`)."""
        c = _counting(rate, drop_frame)
        hh, mm, ss, ff = _fields(c, _check_count(frames))
        return cls(hh, mm, ss, ff, c.drop_frame)

    def to_frames(self, rate: RateLike) -> int:
        """The frame count of this label at ``rate``."""
        c = _counting(rate, self.drop_frame)
        return _count(c, self.hours, self.minutes, self.seconds, self.frames, str(self))

    def __str__(self) -> str:
        sep = ";" if self.drop_frame else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"


# --- the 4-byte BCD wire form (Sony 9-pin / Odetics "Cue Up With Data", LTC/VITC time address) ---

_COLOUR_FRAME = 0x80  # frames byte, bit 7
_DROP_FRAME = 0x40  # frames byte, bit 6
_PAIR_FLAG = 0x80  # bit 7 of the seconds byte (30-based rates) or of the hours byte (25-based)


def _bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _from_bcd(byte: int, mask: int, index: int, name: str, data: bytes) -> int:
    value = byte & mask
    tens, units = value >> 4, value & 0x0F
    if units > 9 or tens > 9:
        raise TimecodeError(
            f"timecode bytes {data.hex(' ')}: byte {index} ({name}) is 0x{byte:02x}, not BCD (each nibble must be 0–9)"
        )
    return tens * 10 + units


def _pair_byte(rate: FrameRate) -> int:
    """Which byte of FF SS MM HH carries the frame-pair flag at a rate above 30 fps."""
    # ST 12-1 puts the flag in the bit LTC calls the polarity-correction / field-mark bit:
    # bit 27 (seconds tens) in 30-based counting, bit 59 (hours tens) in 25-based counting.
    # FFmpeg av_timecode_get_smpte: ff % 2 sets 1<<7 (hours) at 50 fps, else 1<<23 (seconds).
    return 3 if rate.nominal % 25 == 0 else 1


def timecode_to_bcd(
    frames: int,
    rate: RateLike,
    drop_frame: bool | None = None,
    colour_frame: bool = False,
) -> bytes:
    """The 4-byte BCD time address of a frame count, in wire order FF SS MM HH.

    Each byte is two BCD digits (tens in the high nibble). Flags::

        byte 0 (frames)  bit 7 colour frame, bit 6 drop-frame
        byte 1 (seconds) bit 7 frame-pair flag at 48, 59.94 and 60 fps
        byte 3 (hours)   bit 7 frame-pair flag at 50 fps

    Above 30 fps the time address follows ST 12-1 §12.1 (frame pairs): the frames field holds
    the pair number, ``label_frames // 2`` (00–29 at 59.94 and 60, 00–24 at 50), and the flag is
    set on the second frame of each pair (``label_frames`` odd). The flag sits where LTC keeps
    its field-mark bit: seconds-tens bit 3 (bit 7 of the seconds byte) for 30-based rates, and
    hours-tens bit 3 (bit 7 of the hours byte) for 25-based rates, as FFmpeg's
    ``av_timecode_get_smpte`` does. So 59.94 DF drops pair labels 00 and 01 each minute (the
    display labels 00–03). Rates above 60 fps (ST 12-3) are refused.

    ``00:00:00:13`` at 50p is pair 06 with the flag: ``b"\\x06\\x00\\x00\\x80"``.
    """
    c = _counting(rate, drop_frame)
    if c.nominal > 60:
        raise TimecodeError(
            f"the 4-byte time address covers up to 60 fps; {c.rate} needs ST 12-3, which fvreplay does not implement"
        )
    hh, mm, ss, ff = _fields(c, _check_count(frames))
    data = [ff, _bcd(ss), _bcd(mm), _bcd(hh)]
    if c.nominal > 30:
        if ff % 2:
            data[_pair_byte(c.rate)] |= _PAIR_FLAG
        ff //= 2
    data[0] = _bcd(ff)
    if c.drop_frame:
        data[0] |= _DROP_FRAME
    if colour_frame:
        data[0] |= _COLOUR_FRAME
    return bytes(data)


def bcd_to_timecode(data: bytes, rate: RateLike) -> tuple[int, bool]:
    """Decode a 4-byte FF SS MM HH time address into (frame count, drop-frame flag).

    The frame count is in the counting the drop-frame flag (bit 6 of the frames byte) names:
    a drop-frame count if set, non-drop-frame if clear. The colour-frame bit is ignored. Above
    30 fps the frames field is a pair number and the pair flag selects the pair's second frame
    (see :func:`timecode_to_bcd`); at 50 fps a flag in bit 7 of the seconds byte is accepted as
    well, because some 9-pin devices put their field flag there whatever the rate. Below 30 fps
    those bits are field flags and are ignored. Raises :class:`TimecodeError` for a wrong
    length, a digit that is not BCD, or a label that does not exist at the rate.
    """
    raw = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
    if raw is None or len(raw) != 4:
        raise TimecodeError(f"a BCD time address is 4 bytes (FF SS MM HH), got {data!r}")
    df = bool(raw[0] & _DROP_FRAME)
    ff = _from_bcd(raw[0], 0x3F, 0, "frames", raw)
    ss = _from_bcd(raw[1], 0x7F, 1, "seconds", raw)
    mm = _from_bcd(raw[2], 0x7F, 2, "minutes", raw)
    hh = _from_bcd(raw[3], 0x3F, 3, "hours", raw)
    c = _counting(rate, df)
    if c.nominal > 60:
        raise TimecodeError(
            f"the 4-byte time address covers up to 60 fps; {c.rate} needs ST 12-3, which fvreplay does not implement"
        )
    if c.nominal > 30:
        if ff >= (c.nominal + 1) // 2:
            raise TimecodeError(
                f"timecode bytes {raw.hex(' ')}: frame pair {ff:02d} does not exist at {c.rate} "
                f"(pairs run 00–{(c.nominal + 1) // 2 - 1:02d})"
            )
        flag = raw[_pair_byte(c.rate)] & _PAIR_FLAG or (c.nominal == 50 and raw[1] & _PAIR_FLAG)
        ff = ff * 2 + (1 if flag else 0)
    where = f"{hh:02d}:{mm:02d}:{ss:02d}{c.sep}{ff:02d} (bytes {raw.hex(' ')})"
    return _count(c, hh, mm, ss, ff, where), df
