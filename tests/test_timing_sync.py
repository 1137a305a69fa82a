"""Frame-slot sync with synthetic capture stamps: steady offsets, jitter, duplicates, gaps, drift."""

from __future__ import annotations

import random

import pytest

from timing import Filed, FrameSlotSync, TimingError, slot_at, slot_start_ns, utc_to_tai_ns

# A current-era slot, so the arithmetic runs on realistic magnitudes (~1e18 ns).
NOW_TAI = utc_to_tai_ns(1_772_323_200 * 1_000_000_000)


def first_slot(rate: str) -> int:
    return slot_at(NOW_TAI, rate) + 1


def test_a_steady_3ms_latency_at_50p_lands_every_frame_in_its_slot() -> None:
    sync = FrameSlotSync(50, name="cam01")
    n0 = first_slot("50")
    filed = [sync.file(slot_start_ns(n, 50) + 3_000_000) for n in range(n0, n0 + 500)]
    assert [f.slot for f in filed] == list(range(n0, n0 + 500))
    assert not any(f.duplicate or f.gap for f in filed)
    stats = sync.stats()
    assert (stats["frames"], stats["duplicates"], stats["gaps"]) == (500, 0, 0)
    assert stats["offset_ns"] == 3_000_000


def test_a_steady_early_stamp_lands_in_the_coming_slot() -> None:
    sync = FrameSlotSync(50)
    n0 = first_slot("50")
    slots = [sync.file(slot_start_ns(n, 50) - 4_000_000).slot for n in range(n0, n0 + 200)]
    assert slots == list(range(n0, n0 + 200))  # floor() would have filed each one a slot early


def test_jitter_of_3ms_around_a_3ms_latency_at_50p() -> None:
    rng = random.Random(50)
    sync = FrameSlotSync(50)
    n0 = first_slot("50")
    for n in range(n0, n0 + 2000):
        stamp = slot_start_ns(n, 50) + 3_000_000 + rng.randint(-3_000_000, 3_000_000)
        assert sync.file(stamp).slot == n
    assert sync.stats()["duplicates"] == sync.stats()["gaps"] == 0
    assert sync.stats()["offset_ns"] == pytest.approx(3_000_000, abs=1_000_000)


@pytest.mark.parametrize("rate", ["50", "59.94", "29.97", "23.976"])
@pytest.mark.parametrize("offset", [-0.45, -0.3, -0.1, 0.0, 0.2, 0.35, 0.45])
def test_any_steady_offset_within_045_frame_with_02_frame_jitter(rate: str, offset: float) -> None:
    rng = random.Random(f"{rate}/{offset}")
    sync = FrameSlotSync(rate)
    n0 = first_slot(rate)
    period = slot_start_ns(n0 + 1, rate) - slot_start_ns(n0, rate)
    wrong = []
    for i, n in enumerate(range(n0, n0 + 1500)):
        jitter = 0.0 if i == 0 else rng.uniform(-0.2, 0.2)  # the first frame shows the steady phase
        stamp = slot_start_ns(n, rate) + round((offset + jitter) * period)
        if sync.file(stamp).slot != n:
            wrong.append(n - n0)
    assert wrong == []
    assert sync.stats()["duplicates"] == sync.stats()["gaps"] == 0


def test_duplicates_and_gaps_are_counted() -> None:
    sync = FrameSlotSync(25, name="cam09")
    n0 = first_slot("25")
    start = [slot_start_ns(n, 25) + 1_000_000 for n in range(n0, n0 + 10)]
    for stamp in start:
        sync.file(stamp)
    again = sync.file(start[-1] + 2_000_000)  # a second frame in the same slot
    assert again == Filed(n0 + 9, True, 0)
    later = sync.file(slot_start_ns(n0 + 14, 25) + 1_000_000)  # slots n0+10 … n0+13 never came
    assert later == Filed(n0 + 14, False, 4)
    stats = sync.stats()
    assert (stats["frames"], stats["duplicates"], stats["gaps"]) == (12, 1, 4)


def test_a_free_running_camera_shows_as_duplicates_not_misfiled_frames() -> None:
    # 1000 ppm fast: one extra frame per 1000, so about 3 over 3000 frames and no gaps.
    sync = FrameSlotSync(50)
    n0 = first_slot("50")
    t0 = slot_start_ns(n0, 50)
    filed = [sync.file(t0 + k * 20_000_000 * 1000 // 1001) for k in range(3000)]
    stats = sync.stats()
    assert stats["gaps"] == 0
    assert stats["duplicates"] in (2, 3)
    for k, f in enumerate(filed):  # every frame within a slot of where its stamp falls
        assert abs(f.slot - (t0 + k * 20_000_000 * 1000 // 1001) / 20_000_000) <= 1


def test_sync_refuses_float_stamps() -> None:
    with pytest.raises(TimingError, match="integer TAI ns"):
        FrameSlotSync(50, name="cam02").file(1.5e18)  # type: ignore[arg-type]
