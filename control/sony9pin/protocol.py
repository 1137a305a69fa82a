"""Sony 9-pin / Odetics wire format: pure functions from bytes to meaning and back, no I/O.

A command block is ``CMD-1|count, CMD-2, DATA-1 … DATA-n, checksum`` with the data count (0..15) in the
low nibble of the first byte and the checksum the low byte of the sum of every byte before it. Replies
use the same framing: ACK ``10 01 11``, NAK ``11 12 <error bits> <checksum>``, or a return block.
Everything here is tested against literal frames (``b"\\x20\\x01\\x21"`` is Play).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plugin.errors import ControlError
from timing import FrameRate, RateLike, bcd_to_timecode, frames_to_timecode, timecode_to_bcd, timecode_to_frames

# --- serial line -------------------------------------------------------------------------------------

BAUDRATE = 38_400
#: pyserial keyword arguments for the RS-422 line: 38400 baud, 8 data bits, odd parity, 1 stop bit.
SERIAL_SETTINGS: dict[str, object] = {"baudrate": BAUDRATE, "bytesize": 8, "parity": "O", "stopbits": 1}
#: The controller may leave at most this long between two bytes of one block (else NAK time-out).
INTER_BYTE_TIMEOUT_S = 0.010
#: The device must have sent its whole reply this long after the command's last byte.
REPLY_DEADLINE_S = 0.009
MAX_DATA = 15
MAX_BLOCK = MAX_DATA + 3

# --- NAK error bits ------------------------------------------------------------------------------------

NAK_UNDEFINED = 0x01
NAK_CHECKSUM = 0x04
NAK_PARITY = 0x10
NAK_OVERRUN = 0x20
NAK_FRAMING = 0x40
NAK_TIMEOUT = 0x80

# --- command groups (the high nibble of CMD-1) ------------------------------------------------------------

SYSTEM = 0x0
SYSTEM_RETURN = 0x1
TRANSPORT = 0x2
PRESET = 0x4
SENSE = 0x6
SENSE_RETURN = 0x7
ODETICS_RETURN = 0x8
EVS_RETURN = 0x9
ODETICS = 0xA
EVS = 0xB


class FrameError(ControlError):
    """A block that cannot be a command: ``nak`` is the error byte to answer with."""

    def __init__(self, message: str, nak: int) -> None:
        super().__init__(message)
        self.nak = nak


@dataclass(frozen=True, slots=True)
class Block:
    """One command or reply block: the group nibble, CMD-2 and the data (its length is the count nibble)."""

    group: int
    cmd2: int
    data: bytes = b""

    @property
    def count(self) -> int:
        return len(self.data)

    @property
    def cmd1(self) -> int:
        """The first byte as sent: group in the high nibble, data count in the low."""
        return self.group << 4 | len(self.data)

    def __str__(self) -> str:
        return encode(self.group, self.cmd2, self.data).hex(" ")


def checksum(data: bytes) -> int:
    """The low byte of the sum of every byte."""
    return sum(data) & 0xFF


def block_length(first_byte: int) -> int:
    """Bytes in a whole block whose first byte is ``first_byte``: 3 + the data count nibble."""
    return 3 + (first_byte & 0x0F)


def encode(group: int, cmd2: int, data: bytes = b"") -> bytes:
    """A whole block with its checksum: ``encode(0x2, 0x01)`` is ``b"\\x20\\x01\\x21"`` (Play)."""
    if not 0 <= group <= 0xF or not 0 <= cmd2 <= 0xFF:
        raise ValueError(f"CMD-1 group {group:#x} must be 0..0xF and CMD-2 {cmd2:#x} 0..0xFF")
    if len(data) > MAX_DATA:
        raise ValueError(f"a 9-pin block carries at most {MAX_DATA} data bytes, got {len(data)}")
    head = bytes((group << 4 | len(data), cmd2)) + bytes(data)
    return head + bytes((checksum(head),))


def decode(raw: bytes) -> Block:
    """Parse one whole block; a wrong length or checksum raises :class:`FrameError` with its NAK bits."""
    if len(raw) < 3:
        raise FrameError(f"block {raw.hex(' ')} is {len(raw)} bytes; the shortest block is 3", NAK_TIMEOUT)
    expected = block_length(raw[0])
    if len(raw) != expected:
        raise FrameError(
            f"block {raw.hex(' ')}: first byte {raw[0]:02x} announces {raw[0] & 0x0F} data bytes "
            f"({expected} in all), got {len(raw)}",
            NAK_TIMEOUT if len(raw) < expected else NAK_OVERRUN,
        )
    if checksum(raw[:-1]) != raw[-1]:
        raise FrameError(
            f"block {raw.hex(' ')}: checksum is {raw[-1]:02x}, the bytes sum to {checksum(raw[:-1]):02x}",
            NAK_CHECKSUM,
        )
    return Block(raw[0] >> 4, raw[1], bytes(raw[2:-1]))


ACK = encode(SYSTEM_RETURN, 0x01)


def nak(error_bits: int) -> bytes:
    """``11 12 <bits> <checksum>``: NAK with the error byte (``nak(NAK_UNDEFINED)`` is ``11 12 01 24``)."""
    return encode(SYSTEM_RETURN, 0x12, bytes((error_bits & 0xFF,)))


# --- speed data (Jog / Var / Shuttle) --------------------------------------------------------------------

#: N of the one-byte form for exactly 1× play speed.
N_PLAY = 64


def _n_speed(n: float) -> float:
    return float(10 ** (n / 32 - 2))


def speed_from_data(data: bytes) -> float:
    """The unsigned speed (× play speed) of 1 or 2 speed bytes; N = 0 means still (0.0), as controllers use it.

    One byte: ``10^(N/32 − 2)``. Two bytes: linear between N and N+1 by N'/256.
    """
    if len(data) not in (1, 2):
        raise ValueError(f"speed data is 1 or 2 bytes, got {len(data)}")
    n = data[0]
    if n == 0:
        return 0.0
    base = _n_speed(n)
    if len(data) == 1:
        return base
    return base + data[1] / 256 * (_n_speed(n + 1) - base)


def speed_to_data(speed: float, two_bytes: bool = False) -> bytes:
    """Speed bytes for an unsigned speed: 0 (or below 0.01×) is N = 0 (still); N is capped at 0x7F."""
    s = abs(float(speed))
    if s < _n_speed(1) / 2 or math.isnan(s):
        return b"\x00\x00" if two_bytes else b"\x00"
    x = 32 * (math.log10(s) + 2)
    if not two_bytes:
        return bytes((max(1, min(0x7F, round(x))),))
    n = max(0, min(0x7F, math.floor(x + 1e-9)))
    if n >= 0x7F:
        return b"\x7f\x00"
    frac = round((s - _n_speed(n)) / (_n_speed(n + 1) - _n_speed(n)) * 256)
    if frac >= 256:
        n, frac = n + 1, 0
    return bytes((n, max(0, frac)))


# --- timecode (4 BCD bytes FF SS MM HH, via timing) -------------------------------------------------------

ZERO_TIME = b"\x00\x00\x00\x00"


def timecode_bytes(label: str, rate: RateLike) -> bytes:
    """The BCD time address of a label (``01:02:03:12`` → ``12 03 02 01``; ``;`` sets the DF flag)."""
    drop = label[8:9] in (";", ".")
    return timecode_to_bcd(timecode_to_frames(label, rate), rate, drop_frame=drop)


def timecode_label(data: bytes, rate: RateLike) -> str:
    """The label of a BCD time address (its DF flag picks the counting); TimecodeError if not BCD."""
    frames, drop = bcd_to_timecode(data, rate)
    return frames_to_timecode(frames, rate, drop_frame=drop)


def duration_bytes(frames: int, rate: RateLike) -> bytes:
    """A duration as a BCD time address (non-drop-frame count of frames)."""
    return timecode_to_bcd(max(0, frames), rate, drop_frame=False)


# --- device type ---------------------------------------------------------------------------------------

DEVICE_TYPES = ("bvw-75", "odetics", "hyperdeck")


def device_type_bytes(device_type: str, rate: RateLike) -> bytes:
    """The two bytes answered to Device Type Request, for 525/60 (NTSC-family), 625/50 (PAL) and 24p.

    BVW-75 ``20 25`` / ``21 25``; Odetics disk recorder (EVS XT) ``D8 10`` / ``D9 10``;
    HyperDeck ``F0 E0`` / ``F1 E0`` / ``F2 E0``.
    """
    r = FrameRate.parse(rate)
    pal = r.nominal % 25 == 0
    film = r.nominal in (24, 48)
    if device_type == "bvw-75":
        return bytes((0x21 if pal else 0x20, 0x25))
    if device_type == "odetics":
        return bytes((0xD9 if pal else 0xD8, 0x10))
    if device_type == "hyperdeck":
        return bytes((0xF2 if film else 0xF1 if pal else 0xF0, 0xE0))
    raise ValueError(f"device type {device_type!r} is not one of {', '.join(DEVICE_TYPES)}")


# --- status image (7X 20) -------------------------------------------------------------------------------

STATUS_BYTES = 16


@dataclass(frozen=True, slots=True)
class Status:
    """What a disk recorder reports in its status bytes, as named flags (bytes 0-9 and D)."""

    local: bool = False
    busy: bool = False
    play: bool = False
    record: bool = False
    stop: bool = False
    fast_forward: bool = False
    rewind: bool = False
    standby: bool = True
    servo_lock: bool = False
    shuttle: bool = False
    jog: bool = False
    var: bool = False
    reverse: bool = False
    still: bool = False
    cue_complete: bool = False
    auto_mode: bool = False
    freeze: bool = False
    in_set: bool = False
    out_set: bool = False
    full_ee: bool = False
    select_ee: bool = False
    preroll: bool = False
    lamp_still: bool = False
    lamp_forward: bool = False
    lamp_reverse: bool = False
    near_eot: bool = False
    eot: bool = False
    preview_in_preset: bool = False
    preview_out_preset: bool = False
    tape_top: bool = False
    tape_end: bool = False

    def to_bytes(self) -> bytes:
        """The 16-byte status image, bit by bit as the Sony/Odetics tables lay it out."""
        b = bytearray(STATUS_BYTES)
        b[0] = self.busy << 7 | self.local
        b[1] = (
            self.standby << 7 | self.stop << 5 | self.rewind << 3 | self.fast_forward << 2 | self.record << 1
            | self.play
        )
        b[2] = (
            self.servo_lock << 7 | self.shuttle << 5 | self.jog << 4 | self.var << 3 | self.reverse << 2
            | self.still << 1 | self.cue_complete
        )
        b[3] = self.auto_mode << 7 | self.freeze << 6 | self.out_set << 1 | self.in_set
        b[4] = self.select_ee << 7 | self.full_ee << 6 | self.preroll
        b[6] = self.lamp_still << 6 | self.lamp_forward << 5 | self.lamp_reverse << 4
        b[8] = self.near_eot << 5 | self.eot << 4
        b[9] = self.preview_out_preset << 1 | self.preview_in_preset
        b[0xD] = self.tape_top << 7 | self.tape_end << 6
        return bytes(b)


def status_reply(image: bytes, request: int) -> bytes:
    """``7X 20`` + X bytes of the image: ``request`` is the Status Sense byte (high nibble first byte,
    low nibble count). A range past the image's end is answered with zero bytes."""
    start, count = request >> 4, request & 0x0F
    part = bytes(image[start:start + count]).ljust(count, b"\x00")
    return encode(SENSE_RETURN, 0x20, part)


# --- Current Time Sense (61 0C) -----------------------------------------------------------------------

TIME_LTC = 0x01
TIME_VITC = 0x02
TIME_TIMER1 = 0x04
TIME_TIMER2 = 0x08
TIME_LTC_UB = 0x10
TIME_VITC_UB = 0x20


def time_sense_reply(request: int, time_data: bytes, user_bits: bytes = ZERO_TIME) -> bytes:
    """The reply to Current Time Sense for a device that has one time address for everything.

    LTC is always available; VITC mirrors it (Odetics §3.3 allows that); the timers report the same
    position. ``01`` → ``74 04``, ``02`` → ``74 06``, ``03`` → ``74 04`` (best source), ``04`` → ``74 00``,
    ``08`` → ``74 01``, ``10`` → ``74 05``, ``20`` → ``74 07``, ``11``/``33`` → ``78 04``, ``22`` → ``78 06``.
    A request with no bit the device knows gets ``74 04``.
    """
    tc_bits = request & 0x0F
    ub_bits = request & 0x30
    if tc_bits and ub_bits:
        cmd2 = 0x06 if not tc_bits & TIME_LTC and tc_bits & TIME_VITC else 0x04
        return encode(SENSE_RETURN, cmd2, time_data + user_bits)
    if ub_bits:
        return encode(SENSE_RETURN, 0x05 if ub_bits & TIME_LTC_UB else 0x07, user_bits)
    if tc_bits & TIME_LTC or not tc_bits:
        return encode(SENSE_RETURN, 0x04, time_data)
    if tc_bits & TIME_VITC:
        return encode(SENSE_RETURN, 0x06, time_data)
    if tc_bits & TIME_TIMER1:
        return encode(SENSE_RETURN, 0x00, time_data)
    return encode(SENSE_RETURN, 0x01, time_data)


# --- Odetics IDs (8 bytes) and the EVS LSM convention ---------------------------------------------------

ID_BYTES = 8
#: Record trains appear as pseudo-clips ``000<camera letter>/00`` (EVS: page/bank/position 0).
TRAIN_PREFIX = "000"
TRAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def id_text(raw: bytes) -> str:
    """An 8-byte Odetics ID as text: trailing blanks and NULs removed, undecodable bytes as ``?``."""
    return bytes(raw).rstrip(b" \x00").decode("ascii", errors="replace").replace("\ufffd", "?")


def id_bytes(text: str) -> bytes:
    """Text as an 8-byte Odetics ID, blank-padded (``114A/00`` → ``31 31 34 41 2F 30 30 20``)."""
    raw = text.encode("ascii", errors="replace")[:ID_BYTES]
    return raw.ljust(ID_BYTES, b" ")


def train_id(index: int) -> str:
    """The LSM pseudo-clip ID of the record train of camera ``index`` (0-based): ``000A/00``, ``000B/00`` …"""
    return f"{TRAIN_PREFIX}{TRAIN_LETTERS[index]}/00"


def train_index(text: str) -> int | None:
    """The 0-based camera index a record-train ID names (``000C/00``, ``000C00``, ``000C``), else None."""
    s = text.strip().upper()
    if len(s) < 4 or not s.startswith(TRAIN_PREFIX) or s[3] not in TRAIN_LETTERS:
        return None
    rest = s[4:].lstrip("/")
    if rest and not rest.isdigit():
        return None
    return TRAIN_LETTERS.index(s[3])
