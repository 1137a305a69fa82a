"""Exact frame rates: parse the names broadcast engineers use into rationals."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from timing.errors import FrameRateError

# Names engineers write for the NTSC-family rates, which are really N × 1000/1001.
_NTSC_NAMES: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.95": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}

STANDARD_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
    Fraction(100),
    Fraction(120000, 1001),
    Fraction(120),
)

# ST 12-1 defines drop-frame counting for these two rates only (FFmpeg refuses any other);
# 119.88 belongs to ST 12-3, which we do not implement.
_DROP_FRAME_RATES: frozenset[Fraction] = frozenset({Fraction(30000, 1001), Fraction(60000, 1001)})

# Rate names arrive as strings on hot paths (frames_to_timecode(n, "59.94")); parse each once.
_PARSED: dict[str, FrameRate] = {}
_PARSED_LIMIT = 256


@dataclass(frozen=True, order=True)
class FrameRate:
    """A frame rate as an exact rational number of frames per second."""

    fps: Fraction
    # Fraction hashes in Python code (slow); rates key the timecode caches on hot paths, so
    # hash once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.fps, Fraction):
            object.__setattr__(self, "fps", Fraction(self.fps))
        if self.fps <= 0:
            raise FrameRateError(f"frame rate must be positive, got {self.fps} (write e.g. '50' or '59.94')")
        object.__setattr__(self, "_hash", hash(self.fps))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def parse(cls, text: RateLike) -> FrameRate:
        """Parse "59.94", "60000/1001", "50", "23.976" … into an exact rate.

        Decimal names of the 1000/1001 family map to their exact rationals; any other decimal
        is taken literally ("12.5" is 25/2). A FrameRate is returned as it is; an int or
        Fraction is taken as frames per second.
        """
        if isinstance(text, FrameRate):
            return text
        if isinstance(text, (int, Fraction)) and not isinstance(text, bool):
            return cls(Fraction(text))
        s = str(text).strip()
        cached = _PARSED.get(s)
        if cached is not None:
            return cached
        rate = cls._parse_text(s, text)
        if len(_PARSED) < _PARSED_LIMIT:
            _PARSED[s] = rate
        return rate

    @classmethod
    def _parse_text(cls, s: str, original: object) -> FrameRate:
        if s in _NTSC_NAMES:
            return cls(_NTSC_NAMES[s])
        try:
            if "/" in s:
                num, den = s.split("/", 1)
                return cls(Fraction(int(num), int(den)))
            return cls(Fraction(s))
        except (ValueError, ZeroDivisionError) as exc:
            raise FrameRateError(f"not a frame rate: {original!r} (write e.g. '50', '59.94' or '60000/1001')") from exc

    @property
    def numerator(self) -> int:
        return self.fps.numerator

    @property
    def denominator(self) -> int:
        return self.fps.denominator

    @property
    def nominal(self) -> int:
        """Frames counted per timecode second: 30 for 29.97, 60 for 59.94, 25 for 25."""
        return -(-self.fps.numerator // self.fps.denominator)

    @property
    def is_ntsc(self) -> bool:
        """True for the 1000/1001 family (23.976, 29.97, 59.94 …)."""
        return self.fps.denominator == 1001

    @property
    def allows_drop_frame(self) -> bool:
        """Drop-frame timecode exists at 29.97 and 59.94 only (SMPTE ST 12-1)."""
        return self.fps in _DROP_FRAME_RATES

    @property
    def frame_ns(self) -> Fraction:
        """Exact duration of one frame in nanoseconds."""
        return Fraction(1_000_000_000) / self.fps

    def __float__(self) -> float:
        return float(self.fps)

    def __str__(self) -> str:
        for name, value in _NTSC_NAMES.items():
            if value == self.fps and name not in ("23.98",):
                return name
        if self.fps.denominator == 1:
            return str(self.fps.numerator)
        return f"{self.fps.numerator}/{self.fps.denominator}"


# Anything FrameRate.parse accepts; every timing function takes a rate in this form.
RateLike = FrameRate | str | int | float | Fraction
