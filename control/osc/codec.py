"""OSC packets in and out: bundles walked with their exact NTP timetags, messages parsed by python-osc.

python-osc's own dispatcher sleeps until a bundle's time (blocking the server) and keeps timetags as float
seconds; here a packet is split into ``(timetag, message)`` pairs with the 64-bit timetag kept exact, and
the timetag becomes a TAI instant (ns since the SMPTE epoch) through ``timing`` so that it can name a slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder

from plugin.errors import ControlError
from timing import tai_to_utc_ns, utc_to_tai_ns

#: The OSC timetag meaning "now" (RFC-less but in the OSC 1.0 spec): seconds 0, fraction 1.
IMMEDIATE = 1
#: Seconds from the NTP epoch (1900-01-01 UTC) to the POSIX epoch (1970-01-01 UTC).
NTP_TO_POSIX_S = 2_208_988_800
_NS = 1_000_000_000
_BUNDLE = b"#bundle\x00"
MAX_DEPTH = 8
#: OSC 1.0 type tags plus the common extensions python-osc reads.
_TYPE_TAGS = set("ifsbhtdScrmTFNI[]")


class OscPacketError(ControlError):
    """A datagram that is not a well-formed OSC packet; it is counted and ignored."""


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """One message of a packet with the timetag of the bundle it came in (IMMEDIATE outside bundles)."""

    timetag: int
    address: str
    args: tuple[Any, ...]


def timetag_to_tai_ns(timetag: int) -> int | None:
    """The TAI instant (ns since the SMPTE epoch) of an NTP timetag, or None for "immediately".

    Timetags count UTC seconds since 1900 in 32.32 fixed point; a seconds field with its top bit clear is
    read as NTP era 1 (from 2036-02-07), as RFC 4330 advises.
    """
    if timetag == IMMEDIATE:
        return None
    seconds, fraction = timetag >> 32, timetag & 0xFFFF_FFFF
    if seconds < 0x8000_0000:
        seconds += 1 << 32
    utc_ns = (seconds - NTP_TO_POSIX_S) * _NS + ((fraction * _NS) >> 32)
    return utc_to_tai_ns(utc_ns)


def tai_ns_to_timetag(tai_ns: int) -> int:
    """The NTP timetag of a TAI instant, rounded up so that it converts back to the same nanosecond."""
    utc_ns = tai_to_utc_ns(tai_ns)
    seconds, rest = divmod(utc_ns, _NS)
    fraction = -((-rest << 32) // _NS)
    return ((seconds + NTP_TO_POSIX_S) & 0xFFFF_FFFF) << 32 | fraction


def parse_packet(dgram: bytes) -> list[TimedMessage]:
    """Every message of a datagram (a message, or a bundle of messages and bundles), or OscPacketError.

    The packet is parsed whole before anything is returned, so a packet with one bad part is ignored
    entirely rather than applied by halves.
    """
    out: list[TimedMessage] = []
    _walk(bytes(dgram), IMMEDIATE, out, 0)
    return out


def _walk(dgram: bytes, timetag: int, out: list[TimedMessage], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise OscPacketError(f"bundles nested deeper than {MAX_DEPTH}")
    if dgram.startswith(_BUNDLE):
        if len(dgram) < 16:
            raise OscPacketError(f"bundle of {len(dgram)} bytes has no timetag")
        inner = int.from_bytes(dgram[8:16], "big")
        i = 16
        while i < len(dgram):
            if i + 4 > len(dgram):
                raise OscPacketError(f"bundle element size cut off at byte {i}")
            size = int.from_bytes(dgram[i:i + 4], "big", signed=True)
            i += 4
            if size <= 0 or size % 4 or i + size > len(dgram):
                raise OscPacketError(f"bundle element at byte {i - 4} claims {size} bytes of {len(dgram) - i} left")
            _walk(dgram[i:i + size], inner, out, depth + 1)
            i += size
        return
    if not dgram.startswith(b"/"):
        raise OscPacketError(f"not an OSC message or bundle (starts with {dgram[:8]!r})")
    _check_type_tags(dgram)
    try:
        msg = OscMessage(dgram)
    except ParseError as exc:
        raise OscPacketError(f"malformed OSC message: {exc}") from exc
    out.append(TimedMessage(timetag, msg.address, tuple(msg.params)))


def _check_type_tags(dgram: bytes) -> None:
    # python-osc skips a type tag it does not know (with a log line); here that makes the packet malformed.
    end = dgram.find(b"\x00")
    if end < 0:
        raise OscPacketError("OSC address is not NUL-terminated")
    start = (end + 4) & ~3
    if start >= len(dgram) or dgram[start] != ord(","):
        return  # no type tag string: a message without arguments (old OSC)
    stop = dgram.find(b"\x00", start)
    if stop < 0:
        raise OscPacketError("OSC type tag string is not NUL-terminated")
    unknown = set(dgram[start + 1:stop].decode("latin-1")) - _TYPE_TAGS
    if unknown:
        raise OscPacketError(f"unknown OSC type tag(s) {''.join(sorted(unknown))!r}")


def encode_message(address: str, *args: Any) -> bytes:
    """One OSC message: str → s, bool/int → i, float → f, bytes → b."""
    builder = OscMessageBuilder(address)
    for arg in args:
        if isinstance(arg, bool):
            builder.add_arg(int(arg), "i")
        elif isinstance(arg, int):
            builder.add_arg(arg, "i")
        elif isinstance(arg, float):
            builder.add_arg(arg, "f")
        elif isinstance(arg, bytes):
            builder.add_arg(arg, "b")
        else:
            builder.add_arg(str(arg), "s")
    try:
        return bytes(builder.build().dgram)
    except BuildError as exc:
        raise OscPacketError(f"cannot encode {address} {args!r}: {exc}") from exc


def encode_bundle(timetag: int, messages: list[bytes]) -> bytes:
    """A bundle of already-encoded messages at a timetag."""
    out = bytearray(_BUNDLE + timetag.to_bytes(8, "big"))
    for m in messages:
        out += len(m).to_bytes(4, "big") + m
    return bytes(out)

