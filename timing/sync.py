"""Frame-slot sync: file each incoming frame of one source under the reference slot it belongs to."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from timing.errors import TimingError
from timing.rates import FrameRate, RateLike
from timing.slots import slot_at, slot_start_ns

__all__ = ["Filed", "FrameSlotSync"]

_NS = 1_000_000_000


@dataclass(frozen=True)
class Filed:
    """Where one frame was filed: its slot, whether that slot already had a frame (the caller
    keeps the later one), and how many slots were skipped since the previous frame."""

    slot: int
    duplicate: bool
    gap: int


class FrameSlotSync:
    """Files the frames of one source (one camera) under reference slots by capture timestamp.

    A genlocked camera stamps frame ``n`` at ``n·T + L + j``: ``L`` a steady offset (capture or
    stamping latency, a stamp taken at the end of exposure …) and ``j`` jitter. Filing by
    ``floor(t / T)`` would split frames between two slots whenever ``L + j`` crosses a boundary,
    which for ``L`` near 0 is every other frame. Instead the sync estimates ``L`` as the
    circular median of the frames' phases (``t`` minus its slot start) over the last ``window``
    frames, and files a frame under the slot nearest to ``t − L``:
    ``slot = floor((t − L_est) / T + ½)``. A steady offset anywhere in ±0.45 frame with jitter
    of ±0.2 frame around it then lands every frame in its own slot.

    The first frame sets the estimate to its own phase (folded into ±½ frame), so it is filed as
    on time; a source whose *first* frame is more than half a frame from its steady offset may
    have that one frame filed a slot off. The estimate may wander up to ±0.6 frame before it
    folds back by a whole frame (hysteresis: a noisy estimate of a steady +0.45 must not flip
    between +0.45 and −0.55); a free-running source that really drifts past that shows as one
    duplicate (running fast) or one gap (running slow), which is the truth.

    Counters: ``duplicates`` (a frame filed into the slot of the frame before it), ``gaps``
    (slots skipped between consecutive frames, summed) and ``out_of_order`` (a frame for a slot
    before the previous frame's).
    """

    def __init__(self, rate: RateLike, *, name: str = "", window: int = 25) -> None:
        if window < 1:
            raise TimingError(f"FrameSlotSync window must hold at least 1 frame, got {window}")
        self.rate = FrameRate.parse(rate)
        self.name = name
        # A frame lasts _A / _B ns exactly; integer arithmetic on both keeps every step exact.
        self._A = self.rate.denominator * _NS
        self._B = self.rate.numerator
        self._phases: deque[int] = deque(maxlen=window)
        self._offset: int | None = None
        self._last_slot: int | None = None
        self._frames = 0
        self._duplicates = 0
        self._gaps = 0
        self._out_of_order = 0

    def _fold(self, x: int) -> int:
        """x minus the nearest whole number of frames: into [−T/2, T/2), in ns."""
        a, b = self._A, self._B
        k = (2 * x * b + a) // (2 * a)
        return (x * b - k * a) // b

    def file(self, capture_tai_ns: int) -> Filed:
        """File a frame by its capture time (TAI ns); returns its slot, duplicate and gap."""
        t = capture_tai_ns
        if isinstance(t, bool) or not isinstance(t, int):
            raise TimingError(f"{self.name or 'source'}: capture time must be integer TAI ns, got {t!r}")
        rate = self.rate
        phase = t - slot_start_ns(slot_at(t, rate), rate)
        self._phases.append(phase)
        offset = self._offset
        if offset is None:
            offset = self._fold(phase)
        else:
            # Circular median: measure every phase relative to the current estimate (folded
            # so the wrap at the slot boundary cannot split the cluster), move by their median.
            rel = sorted(self._fold(p - offset) for p in self._phases)
            offset += rel[(len(rel) - 1) // 2]
            # Fold back by a frame only beyond ±0.6 frame (see the class docstring).
            a, b = self._A, self._B
            if 10 * offset * b > 6 * a:
                offset = (offset * b - a) // b
            elif 10 * offset * b <= -6 * a:
                offset = (offset * b + a) // b
        self._offset = offset
        a, b = self._A, self._B
        slot = (2 * (t - offset) * b + a) // (2 * a)

        last = self._last_slot
        duplicate = last is not None and slot == last
        gap = slot - last - 1 if last is not None and slot > last + 1 else 0
        self._frames += 1
        if duplicate:
            self._duplicates += 1
        elif last is not None and slot < last:
            self._out_of_order += 1
        self._gaps += gap
        if last is None or slot >= last:
            self._last_slot = slot
        return Filed(slot, duplicate, gap)

    def stats(self) -> dict[str, object]:
        """frames, duplicates, gaps, out_of_order, offset_ns (the steady offset estimate)."""
        return {
            "name": self.name,
            "frames": self._frames,
            "duplicates": self._duplicates,
            "gaps": self._gaps,
            "out_of_order": self._out_of_order,
            "offset_ns": self._offset,
            "last_slot": self._last_slot,
        }
