"""Genlock benchmark: how precisely the real ticker wakes on this machine, at 50p and 59.94p."""

from __future__ import annotations

from timing.clocks import InternalClock, PtpClock
from timing.errors import TimingError
from timing.rates import FrameRate
from timing.ticker import Ticker

__all__ = ["bench"]

_RATES = ("50", "59.94")


def _number(options: dict[str, object], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TimingError(f"bench option {key!r} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError as exc:
        raise TimingError(f"bench option {key!r} must be a number of seconds, got {value!r}") from exc
    if not seconds > 0:
        raise TimingError(f"bench option {key!r} must be positive, got {value!r}")
    return seconds


def bench(options: dict[str, object]) -> dict[str, object]:
    """Run the ticker on an InternalClock for ``options["seconds"]`` (default 60) at each rate.

    The rates run one after the other, each for the full duration, with a callback that does
    nothing, so the numbers are the wake-up precision of clock + ticker alone: jitter is the
    wake time minus the slot boundary, in µs. Waits use
    :func:`timing.clocks.precise_sleep_until` (sleep to 1 ms before, then spin), which
    costs up to ~1 ms of one core per frame. Returns::

        {"50": {"p50_us", "p99_us", "max_us", "missed", "ticks"}, "59.94": {...}, "ptp": PtpClock().state()}

    Prints nothing; the CLI formats.
    """
    seconds = _number(options, "seconds", 60.0)
    result: dict[str, object] = {}
    for name in _RATES:
        rate = FrameRate.parse(name)
        ticks = max(1, round(seconds * float(rate)))
        ticker = Ticker(InternalClock(), rate, _idle, name=f"bench-{name}", window=ticks)
        ticker.run(ticks)
        stats = ticker.stats()
        result[name] = {
            "p50_us": stats["jitter_p50_us"],
            "p99_us": stats["jitter_p99_us"],
            "max_us": stats["jitter_max_us"],
            "missed": stats["missed"],
            "ticks": stats["ticks"],
        }
    result["ptp"] = PtpClock().state()
    return result


def _idle(slot: int) -> None:
    """The benchmark's callback: no work, so only the wake-up is measured."""
