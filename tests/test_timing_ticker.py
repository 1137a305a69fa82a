"""The genlock ticker, driven by a ManualClock (no real sleeping), and the timing bench's shape."""

from __future__ import annotations

import logging
import time

import pytest

from timing import ManualClock, Ticker, TimingError, bench, slot_at, slot_start_ns

FRAME_50 = 20_000_000


def test_n_ticks_call_back_n_consecutive_slots() -> None:
    clock = ManualClock()
    fired: list[int] = []
    ticker = Ticker(clock, "59.94", fired.append)
    first = slot_at(clock.now_ns(), "59.94") + 1
    ticker.run(100)
    assert fired == list(range(first, first + 100))
    assert clock.now_ns() == slot_start_ns(first + 99, "59.94")  # woke exactly on each boundary
    stats = ticker.stats()
    assert {"ticks", "missed", "jitter_p50_us", "jitter_p99_us", "jitter_max_us", "last_slot", "callback_errors"} <= set(stats)
    assert (stats["ticks"], stats["missed"], stats["last_slot"]) == (100, 0, first + 99)
    assert (stats["jitter_p50_us"], stats["jitter_p99_us"], stats["jitter_max_us"]) == (0.0, 0.0, 0.0)


def test_step_ticks_once() -> None:
    clock = ManualClock()
    ticker = Ticker(clock, 50, lambda slot: None)
    a = ticker.step()
    b = ticker.step()
    assert b == a + 1
    assert ticker.stats()["ticks"] == 2


def test_a_late_wake_counts_the_skipped_slots_and_fires_the_current_one() -> None:
    clock = ManualClock()
    fired: list[int] = []

    def work(slot: int) -> None:
        fired.append(slot)
        if len(fired) == 5:
            clock.advance(3 * FRAME_50 + FRAME_50 // 2)  # this frame's work overran by 3.5 frames

    ticker = Ticker(clock, 50, work)
    ticker.run(8)
    fifth = fired[4]
    assert fired[5] == fifth + 3  # fifth + 1 and fifth + 2 were slept through, not replayed
    assert fired[5:] == [fifth + 3, fifth + 4, fifth + 5]
    stats = ticker.stats()
    assert (stats["ticks"], stats["missed"]) == (8, 2)
    assert stats["jitter_max_us"] == pytest.approx(2.5 * FRAME_50 / 1000)  # woke 2.5 frames after fifth + 1


def test_a_little_lateness_is_jitter_not_a_miss() -> None:
    clock = ManualClock()

    def work(slot: int) -> None:
        clock.advance(300_000)

    ticker = Ticker(clock, 50, work)
    ticker.run(10)
    stats = ticker.stats()
    assert stats["missed"] == 0
    assert stats["jitter_p50_us"] == 0.0  # the callback's 0.3 ms ends before the next boundary


def test_callback_errors_are_logged_and_counted_and_ticking_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    fired: list[int] = []

    def flaky(slot: int) -> None:
        fired.append(slot)
        if len(fired) % 2 == 0:
            raise RuntimeError("renderer fell over")

    ticker = Ticker(clock, 25, flaky, name="pgm1")
    with caplog.at_level(logging.ERROR, logger="fvreplay.timing"):
        ticker.run(10)
    assert len(fired) == 10
    assert fired == list(range(fired[0], fired[0] + 10))
    stats = ticker.stats()
    assert (stats["ticks"], stats["callback_errors"]) == (10, 5)
    assert any("pgm1" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_clock_stepped_back_never_fires_a_slot_twice() -> None:
    clock = ManualClock()
    fired: list[int] = []

    def step_back(slot: int) -> None:
        fired.append(slot)
        if len(fired) == 3:
            clock.set(slot_start_ns(slot - 10, 50))

    Ticker(clock, 50, step_back).run(6)
    assert fired == sorted(set(fired))
    assert fired == list(range(fired[0], fired[0] + 6))


def test_the_ticker_runs_on_its_own_thread() -> None:
    clock = ManualClock()
    fired: list[int] = []
    with Ticker(clock, 50, fired.append, name="thread-test") as ticker:
        assert ticker.running
        deadline = time.monotonic() + 5
        while len(fired) < 50 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert not ticker.running
    assert len(fired) >= 50
    assert fired == list(range(fired[0], fired[0] + len(fired)))


def test_starting_twice_is_refused() -> None:
    ticker = Ticker(ManualClock(), 50, lambda slot: time.sleep(0.001))
    ticker.start()
    try:
        with pytest.raises(TimingError, match="already running"):
            ticker.start()
    finally:
        ticker.stop()


def test_bench_returns_numbers_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench({"seconds": 0.1})
    assert set(result) == {"50", "59.94", "ptp"}
    for rate, ticks in (("50", 5), ("59.94", 6)):
        numbers = result[rate]
        assert isinstance(numbers, dict)
        assert set(numbers) == {"p50_us", "p99_us", "max_us", "missed", "ticks"}
        assert numbers["ticks"] == ticks
    ptp = result["ptp"]
    assert isinstance(ptp, dict) and ptp["kind"] == "ptp"
    assert capsys.readouterr() == ("", "")
    with pytest.raises(TimingError, match="seconds"):
        bench({"seconds": "soon"})
