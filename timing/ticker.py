"""The genlock ticker: one call per frame slot of the reference clock, on absolute slot times."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from timing.clocks import ReferenceClock
from timing.errors import TimingError
from timing.rates import FrameRate, RateLike
from timing.slots import slot_at, slot_start_ns

__all__ = ["Ticker", "percentile"]

logger = logging.getLogger("fvreplay.timing")

T = TypeVar("T")


class Ticker:
    """Calls ``callback(slot)`` at every slot boundary of ``clock``, on its own thread.

    Each wait is to an absolute boundary, ``clock.sleep_until(slot_start_ns(next_slot))``, so
    lateness never accumulates. After waking, the ticker fires for the slot the clock is *now*
    in: if it woke more than a frame late, the slots it slept through are counted as ``missed``
    and skipped, not replayed (a burst of catch-up calls would only make the output later).
    If the clock went backwards it waits again rather than fire a slot twice; slots handed to
    the callback always increase.

    Jitter is the wake time minus the boundary waited for (so a wake 1.5 frames late counts as
    1.5 frames, not 0.5). ``stats()`` gives its p50/p99/max in µs over the last ``window`` ticks.

    The callback may raise: the error is logged on logger ``fvreplay.timing`` (with traceback
    for the first of a run of failures, then at most about once a second) and counted as
    ``callback_errors``; ticking goes on.

    ``start()``/``stop()`` (or ``with Ticker(...):``) run it on a thread; ``run(ticks)`` and
    ``step()`` tick synchronously in the caller's thread, which with a ManualClock means no real
    waiting at all.
    """

    def __init__(
        self,
        clock: ReferenceClock,
        rate: RateLike,
        callback: Callable[[int], None],
        *,
        name: str = "genlock",
        window: int = 1000,
    ) -> None:
        if window < 1:
            raise TimingError(f"Ticker window must hold at least 1 tick, got {window}")
        self.clock = clock
        self.rate = FrameRate.parse(rate)
        self.callback = callback
        self.name = name
        self._lock = threading.Lock()
        self._jitter_ns: deque[int] = deque(maxlen=window)
        self._ticks = 0
        self._missed = 0
        self._callback_errors = 0
        self._jitter_max_total_ns = 0
        self._last_slot: int | None = None
        self._next_slot: int | None = None
        self._errors_in_a_row = 0
        self._last_error_log_slot: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one tick -------------------------------------------------------------------------

    def step(self) -> int:
        """Wait for the next slot boundary, call the callback, and return the slot fired."""
        rate = self.rate
        clock = self.clock
        if self._next_slot is None:
            self._next_slot = slot_at(clock.now_ns(), rate) + 1
        while True:
            target = slot_start_ns(self._next_slot, rate)
            clock.sleep_until(target)
            now = clock.now_ns()
            slot = slot_at(now, rate)
            if slot >= self._next_slot:
                break
            # The clock was stepped back while we slept: wait for the boundary again.
        missed = slot - self._next_slot
        with self._lock:
            self._ticks += 1
            self._missed += missed
            lateness = now - target
            self._jitter_ns.append(lateness)
            if lateness > self._jitter_max_total_ns:
                self._jitter_max_total_ns = lateness
            self._last_slot = slot
        self._next_slot = slot + 1
        try:
            self.callback(slot)
        except Exception:  # the output must keep ticking whatever one frame's work does
            self._callback_failed(slot)
        else:
            self._errors_in_a_row = 0
        return slot

    def _callback_failed(self, slot: int) -> None:
        with self._lock:
            self._callback_errors += 1
        self._errors_in_a_row += 1
        last = self._last_error_log_slot
        if self._errors_in_a_row == 1 or last is None or slot - last >= self.rate.nominal:
            self._last_error_log_slot = slot
            logger.error(
                "ticker %s: callback failed at slot %d (%d failures so far); ticking on",
                self.name,
                slot,
                self._callback_errors,
                exc_info=self._errors_in_a_row == 1,
            )

    def run(self, ticks: int) -> None:
        """Tick exactly ``ticks`` times in the caller's thread."""
        for _ in range(ticks):
            self.step()

    # --- on a thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Start ticking on a dedicated thread (named after the ticker)."""
        if self._thread is not None and self._thread.is_alive():
            raise TimingError(f"ticker {self.name!r} is already running; stop() it first")
        self._stop.clear()
        self._next_slot = None  # start at the next boundary, not where a previous run stopped
        self._thread = threading.Thread(target=self._loop, name=f"ticker-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        except Exception:
            # Only the clock can get here (callback errors are caught in step): say so loudly,
            # because the output has stopped.
            logger.exception("ticker %s stopped: its reference clock failed", self.name)
            raise

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop after the tick in progress and join the thread (at most one frame's wait)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise TimingError(
                    f"ticker {self.name!r} did not stop within {timeout} s: its callback is "
                    "blocked or the clock's sleep_until never returns"
                )
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Ticker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- reporting ------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """Counters and wake-up jitter: ticks, missed, callback_errors, jitter_*_us, last_slot."""
        with self._lock:
            jitter = sorted(self._jitter_ns)
            out: dict[str, object] = {
                "name": self.name,
                "rate": str(self.rate),
                "ticks": self._ticks,
                "missed": self._missed,
                "callback_errors": self._callback_errors,
                "last_slot": self._last_slot,
                "jitter_window": len(jitter),
                "jitter_max_total_us": self._jitter_max_total_ns / 1000,
            }
        out["jitter_p50_us"] = percentile(jitter, 50) / 1000 if jitter else None
        out["jitter_p99_us"] = percentile(jitter, 99) / 1000 if jitter else None
        out["jitter_max_us"] = jitter[-1] / 1000 if jitter else None
        return out


def percentile(ordered: Sequence[T], pct: float) -> T:
    """Nearest-rank percentile (0 < pct ≤ 100) of a sorted, non-empty sequence: the smallest value that at
    least ``pct`` % of the values are at or below. Exact for an integer ``pct``."""
    rank = int(-(-pct * len(ordered) // 100))  # ceil(pct/100 · n), 1-based
    return ordered[max(rank, 1) - 1]
