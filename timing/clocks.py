"""Reference clocks: where "now" comes from (PTP, a free-running internal clock, a camera, a fake).

Every clock answers in integer nanoseconds of TAI since the SMPTE epoch and reports a flat state:
``{"kind", "state": "LOCKED" | "HOLDOVER" | "FREERUN", "reason", "offset_ns", ...}``, the map the
engine shows on its status page and exports as metrics. :func:`make_clock` picks one from a
profile's ``reference`` string.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from timing.errors import TimingError
from timing.slots import LEAP_SECONDS_NOW, leap_seconds, utc_to_tai_ns

__all__ = [
    "InputLockedClock",
    "InternalClock",
    "ManualClock",
    "PmcStatus",
    "PtpClock",
    "ReferenceClock",
    "make_clock",
    "parse_pmc",
    "precise_sleep_until",
]

LOCKED = "LOCKED"
HOLDOVER = "HOLDOVER"
FREERUN = "FREERUN"

_NS = 1_000_000_000

# 2026-01-01 00:00:00 UTC as TAI ns: a fixed, current-era instant so simulations are repeatable.
DEFAULT_MANUAL_START_NS = (1_767_225_600 + 37) * _NS

# How close to a deadline a sleeper stops trusting time.sleep and spins instead. Linux wakes a
# sleeping thread 50–100 µs late (timer slack, scheduling), several ms on a loaded box; 1 ms of
# margin keeps wake-ups within tens of µs for the price of ~1 ms of spinning per frame.
SPIN_NS = 1_000_000


@runtime_checkable
class ReferenceClock(Protocol):
    """What the ticker and the engine need from a reference: TAI now, a way to wait, a state."""

    kind: str  # "ptp" | "internal" | "input" | "manual"

    def now_ns(self) -> int:
        """Current TAI in integer ns since the SMPTE epoch (1970-01-01 00:00:00 TAI)."""
        ...

    def sleep_until(self, tai_ns: int, *, precise: bool = True) -> None:
        """Return once now_ns() >= tai_ns (a ManualClock jumps there instead of sleeping).

        ``precise`` waits the last millisecond by spinning (the genlock ticker); ``precise=False``
        only sleeps, for waiters that must not burn a core or hold the GIL (camera sources, whose
        frames are stamped by slot anyway), at the cost of waking up to the kernel's timer slack late.
        """
        ...

    def state(self) -> dict[str, object]:
        """Flat state: kind, state (LOCKED/HOLDOVER/FREERUN), reason, offset_ns, and extras."""
        ...


def precise_sleep_until(now_ns: Callable[[], int], tai_ns: int, spin_ns: int = SPIN_NS) -> None:
    """Block until ``now_ns() >= tai_ns``: time.sleep to ``spin_ns`` before, then spin.

    The sleep leg costs no CPU. The spin leg re-reads the clock in a tight loop (a vDSO call, no
    syscall), which costs one core and holds the GIL for up to ``spin_ns`` per wait: about 5 %
    of a core at 50 fps with the default 1 ms, and other Python threads wait up to that long.
    Yielding instead was measured worse on a loaded 2-core machine: ``os.sched_yield()`` hands
    the core to another process for up to a time slice (p99 wake-up 3–5 ms late), and
    ``time.sleep(0)`` is a real sleep of the kernel's ~50 µs timer slack (p50 35 µs late);
    spinning gave p50 < 1 µs and p99 < 30 µs. Pass a smaller ``spin_ns`` to trade precision for
    CPU. The deadline is re-read from ``now_ns`` every round, so a clock that is slewed or
    stepped while we sleep is still honoured, and nothing accumulates from one wait to the next.
    """
    while True:
        remaining = tai_ns - now_ns()
        if remaining <= 0:
            return
        if remaining > spin_ns:
            time.sleep((remaining - spin_ns) / _NS)


def _kernel_tai_offset_s() -> int | None:
    """CLOCK_TAI − CLOCK_REALTIME in whole seconds, or None where there is no CLOCK_TAI."""
    clock_tai = getattr(time, "CLOCK_TAI", None)
    if clock_tai is None:
        return None
    # Read REALTIME on both sides of TAI so a preemption between the reads cannot skew the result.
    before = time.clock_gettime_ns(time.CLOCK_REALTIME)
    tai = time.clock_gettime_ns(clock_tai)
    after = time.clock_gettime_ns(time.CLOCK_REALTIME)
    return round((tai - (before + after) // 2) / _NS)


def _system_tai_ns() -> tuple[int, str]:
    """Best TAI estimate from the OS: CLOCK_TAI if its offset is right, else UTC + leap seconds."""
    utc = time.time_ns()
    expected = leap_seconds(utc)
    offset = _kernel_tai_offset_s()
    clock_tai = getattr(time, "CLOCK_TAI", None)
    if offset == expected and clock_tai is not None:
        return time.clock_gettime_ns(clock_tai), "CLOCK_TAI"
    return utc_to_tai_ns(utc), f"CLOCK_REALTIME + {expected} s"


# --- PTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PmcStatus:
    """What ``pmc -u -b 0 'GET PORT_DATA_SET' 'GET TIME_STATUS_NP'`` said about ptp4l."""

    port_state: str | None  # SLAVE, UNCALIBRATED, LISTENING, MASTER, FAULTY … (best port)
    master_offset_ns: int | None  # TIME_STATUS_NP master_offset
    gm_present: bool | None
    gm_identity: str | None
    port_states: tuple[str, ...] = ()  # every port's state, in the order pmc printed them


# A port state better than another, for a boundary clock with several ports.
_PORT_RANK = {
    "SLAVE": 0,
    "UNCALIBRATED": 1,
    "PRE_MASTER": 2,
    "MASTER": 3,
    "PASSIVE": 4,
    "LISTENING": 5,
    "INITIALIZING": 6,
    "DISABLED": 7,
    "FAULTY": 8,
}


def parse_pmc(text: str) -> PmcStatus:
    """Parse linuxptp ``pmc`` output (PORT_DATA_SET and TIME_STATUS_NP responses).

    The format is a ``<portIdentity> seq N RESPONSE MANAGEMENT <ID>`` header followed by
    indented ``name value`` lines. Unknown responses and lines are skipped; a field that is
    missing comes back as None. With several ports the best state wins (SLAVE first).
    """
    section = ""
    states: list[str] = []
    offset: int | None = None
    present: bool | None = None
    identity: str | None = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if "RESPONSE" in words and "MANAGEMENT" in words:
            section = words[-1]
            continue
        if words[0] == "sending:" or len(words) < 2:
            continue
        name, value = words[0], words[1]
        if section == "PORT_DATA_SET" and name in ("portState", "port_state"):
            states.append(value.upper())
        elif section == "TIME_STATUS_NP":
            if name == "master_offset":
                try:
                    offset = int(value)
                except ValueError:
                    offset = None
            elif name == "gmPresent":
                present = value.lower() == "true"
            elif name == "gmIdentity":
                identity = value
    best = min(states, key=lambda s: _PORT_RANK.get(s, 99)) if states else None
    return PmcStatus(best, offset, present, identity, tuple(states))


def _run_pmc(pmc: str, timeout_s: float) -> str:
    """Run pmc once for both datasets; raise TimingError with what went wrong."""
    cmd = [pmc, "-u", "-b", "0", "GET PORT_DATA_SET", "GET TIME_STATUS_NP"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TimingError(f"pmc gave no answer within {timeout_s} s (is ptp4l running?)") from exc
    except OSError as exc:
        raise TimingError(f"could not run {pmc}: {exc}") from exc
    if "RESPONSE MANAGEMENT" not in done.stdout:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise TimingError(
            "ptp4l did not answer pmc (is ptp4l running, and may this user open its socket "
            f"/var/run/ptp4l?){': ' + detail[-1] if detail else ''}"
        )
    return done.stdout


class PtpClock:
    """TAI from the kernel's CLOCK_TAI as disciplined by linuxptp (ptp4l + phc2sys -w).

    ``now_ns()`` reads CLOCK_TAI. That is TAI only if phc2sys has set the kernel's TAI offset,
    which it does only when the grandmaster announces a traceable UTC offset; otherwise
    CLOCK_TAI equals UTC and is 37 s wrong. So every ``check_interval_s`` the clock compares
    CLOCK_TAI − CLOCK_REALTIME with the leap-second table: when they disagree it reads
    CLOCK_REALTIME + leap seconds instead (right to within the system clock's accuracy) and
    reports FREERUN with the reason.

    ``state()`` also asks ptp4l, through linuxptp's ``pmc`` where it is on PATH, for the port
    state and the offset from master (checked lazily, at most every ``check_interval_s``):

    * LOCKED: kernel TAI offset right, a port in SLAVE, a grandmaster present, and
      |master_offset| ≤ ``lock_threshold_ns``;
    * HOLDOVER: not locked now, but it was within the last ``holdover_s`` (lost master, offset
      out of bounds): time runs on the last discipline;
    * FREERUN: anything else, with the reason (no pmc, no ptp4l, kernel TAI offset wrong …).

    A ``state()`` that is due for a check runs pmc and may take up to ``pmc_timeout_s``: call it
    from a status or monitoring thread, not from the ticker's callback. ``now_ns()`` never waits
    for pmc.
    """

    kind = "ptp"

    def __init__(
        self,
        *,
        check_interval_s: float = 5.0,
        holdover_s: float = 60.0,
        lock_threshold_ns: int = 1_000,
        pmc_path: str | None = None,
        pmc_timeout_s: float = 0.5,
        query: Callable[[], str] | None = None,
        tai_offset_s: Callable[[], int | None] = _kernel_tai_offset_s,
        spin_ns: int = SPIN_NS,
    ) -> None:
        """``query`` replaces running pmc (it returns pmc's text or raises TimingError) and
        ``tai_offset_s`` replaces reading the kernel's offset: both for tests. ``spin_ns`` is
        how long before a deadline ``sleep_until`` spins (see :func:`precise_sleep_until`)."""
        self._spin_ns = spin_ns
        self._check_interval_ns = int(check_interval_s * _NS)
        self._holdover_ns = int(holdover_s * _NS)
        self._lock_threshold_ns = lock_threshold_ns
        self._pmc = pmc_path if pmc_path is not None else shutil.which("pmc")
        self._pmc_timeout_s = pmc_timeout_s
        self._query = query
        self._tai_offset_s = tai_offset_s
        self._clock_tai = getattr(time, "CLOCK_TAI", None)
        self._lock = threading.Lock()
        self._tai_ok = False
        self._tai_reason = ""
        self._tai_offset_seen: int | None = None
        self._tai_checked_ns: int | None = None
        self._state: dict[str, object] = {}
        self._state_checked_ns: int | None = None
        self._last_locked_ns: int | None = None
        self._check_tai_offset()

    def _check_tai_offset(self) -> None:
        expected = leap_seconds(time.time_ns())
        seen = self._tai_offset_s()
        self._tai_offset_seen = seen
        self._tai_checked_ns = time.monotonic_ns()
        if seen is None:
            self._tai_ok = False
            self._tai_reason = f"this system has no CLOCK_TAI (Linux only); using CLOCK_REALTIME + {expected} s"
        elif seen == expected:
            self._tai_ok = True
            self._tai_reason = ""
        elif seen == 0:
            self._tai_ok = False
            self._tai_reason = (
                "the kernel's TAI offset is 0, so CLOCK_TAI reads UTC: phc2sys is not setting "
                "it (run phc2sys -w, and the grandmaster must announce a traceable UTC offset); "
                f"using CLOCK_REALTIME + {expected} s"
            )
        else:
            self._tai_ok = False
            self._tai_reason = (
                f"the kernel's TAI offset is {seen} s but TAI − UTC is {expected} s: the "
                "grandmaster's currentUtcOffset or fvreplay's leap-second table is out of date; "
                f"using CLOCK_REALTIME + {expected} s"
            )

    def now_ns(self) -> int:
        checked = self._tai_checked_ns
        if checked is None or time.monotonic_ns() - checked >= self._check_interval_ns:
            with self._lock:
                self._check_tai_offset()
        if self._tai_ok and self._clock_tai is not None:
            return time.clock_gettime_ns(self._clock_tai)
        return utc_to_tai_ns(time.time_ns())

    def sleep_until(self, tai_ns: int, *, precise: bool = True) -> None:
        precise_sleep_until(self.now_ns, tai_ns, self._spin_ns if precise else 0)

    def refresh(self) -> dict[str, object]:
        """Check now (kernel TAI offset and pmc), whatever the interval; returns the state."""
        with self._lock:
            self._check_tai_offset()
        # pmc runs outside the lock: now_ns() on the genlock thread must never wait for it.
        status, problem = self._ask_ptp4l()
        with self._lock:
            self._state = self._evaluate(status, problem)
            self._state_checked_ns = time.monotonic_ns()
            return dict(self._state)

    def state(self) -> dict[str, object]:
        checked = self._state_checked_ns
        if checked is None or time.monotonic_ns() - checked >= self._check_interval_ns:
            return self.refresh()
        with self._lock:
            return dict(self._state)

    def _ask_ptp4l(self) -> tuple[PmcStatus | None, str]:
        """ptp4l's answer through pmc, or why there is none."""
        if self._query is None and self._pmc is None:
            return None, (
                "linuxptp's pmc is not on PATH, so ptp4l's lock cannot be checked (install "
                'linuxptp and run ptp4l + phc2sys, or choose reference = "internal")'
            )
        try:
            if self._query is not None:
                return parse_pmc(self._query()), ""
            return parse_pmc(_run_pmc(self._pmc or "pmc", self._pmc_timeout_s)), ""
        except TimingError as exc:
            return None, str(exc)

    def _evaluate(self, status: PmcStatus | None, problem: str) -> dict[str, object]:
        """The state from the kernel check and ptp4l's answer (caller holds the lock)."""
        now = time.monotonic_ns()
        locked = False
        if status is not None:
            offset = status.master_offset_ns
            if status.port_state != "SLAVE":
                problem = f"ptp4l port state is {status.port_state or 'unknown'}, not SLAVE"
            elif status.gm_present is False:
                problem = "ptp4l sees no grandmaster (gmPresent false)"
            elif offset is None:
                problem = "pmc gave no master_offset (TIME_STATUS_NP missing)"
            elif abs(offset) > self._lock_threshold_ns:
                problem = f"offset from master {offset} ns is beyond ±{self._lock_threshold_ns} ns"
            else:
                locked = True
        if locked and not self._tai_ok:
            problem = "ptp4l is locked but " + self._tai_reason
            locked = False
        if locked:
            self._last_locked_ns = now
            state, reason = LOCKED, "locked to the PTP grandmaster"
        else:
            if not self._tai_ok and self._tai_reason not in problem:
                problem = f"{problem}; {self._tai_reason}" if problem else self._tai_reason
            last = self._last_locked_ns
            if last is not None and now - last <= self._holdover_ns:
                state = HOLDOVER
                reason = f"holdover: {problem} (was locked {(now - last) / _NS:.1f} s ago)"
            else:
                state, reason = FREERUN, problem
        return {
            "kind": self.kind,
            "state": state,
            "reason": reason,
            "offset_ns": status.master_offset_ns if status else None,
            "port_state": status.port_state if status else None,
            "gm_present": status.gm_present if status else None,
            "gm_identity": status.gm_identity if status else None,
            "kernel_tai_offset_s": self._tai_offset_seen,
            "leap_seconds": LEAP_SECONDS_NOW,
        }


# --- internal -----------------------------------------------------------------------------------


class InternalClock:
    """A free-running reference: the monotonic clock, anchored once to the system's idea of TAI.

    It never steps (NTP or an operator changing the system time does not move it) and it is not
    locked to anything, so it always reports FREERUN.
    """

    kind = "internal"

    def __init__(self, *, spin_ns: int = SPIN_NS) -> None:
        """``spin_ns``: how long before a deadline ``sleep_until`` spins (see precise_sleep_until)."""
        self._spin_ns = spin_ns
        mono_before = time.monotonic_ns()
        tai, source = _system_tai_ns()
        mono_after = time.monotonic_ns()
        self._anchor_tai = tai
        self._anchor_mono = (mono_before + mono_after) // 2
        self._source = source

    def now_ns(self) -> int:
        return self._anchor_tai + (time.monotonic_ns() - self._anchor_mono)

    def sleep_until(self, tai_ns: int, *, precise: bool = True) -> None:
        precise_sleep_until(self.now_ns, tai_ns, self._spin_ns if precise else 0)

    def state(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "state": FREERUN,
            "reason": "internal reference (not locked to house sync)",
            "offset_ns": None,
            "anchored_to": self._source,
        }


# --- follow an input ----------------------------------------------------------------------------


class InputLockedClock:
    """Follows a camera: TAI on the camera's timeline, learnt from its frame timestamps.

    Feed it with :meth:`observe` for each frame (the frame's TAI stamp and the local reference
    time it arrived). A least-squares line over the last ``window`` observations maps local time
    to camera time; its slope is the drift (ppm, relative to the local reference) and its value
    now minus local time is the offset. Exact integer sums keep it O(1) per frame and free of
    float cancellation.

    States: FREERUN before ``lock_after`` consistent observations (now_ns() is then the local
    reference until the first frame, then the fit so far), LOCKED after, HOLDOVER once a locked
    camera has sent nothing for ``holdover_after_ns`` (now_ns() extrapolates the last fit). An
    observation further than ``tolerance_ns`` from the fit (the camera's timeline jumped;
    arrival jitter must stay below it) restarts learning from it.
    """

    kind = "input"

    def __init__(
        self,
        camera: str,
        *,
        reference: ReferenceClock | None = None,
        window: int = 256,
        lock_after: int = 8,
        tolerance_ns: int = 10_000_000,
        holdover_after_ns: int = _NS,
    ) -> None:
        if window < 2 or lock_after < 2:
            raise TimingError(f"InputLockedClock needs window and lock_after ≥ 2, got {window} and {lock_after}")
        self.camera = camera
        self._reference: ReferenceClock = reference if reference is not None else InternalClock()
        self._window = window
        self._lock_after = lock_after
        self._tolerance_ns = tolerance_ns
        self._holdover_after_ns = holdover_after_ns
        self._lock = threading.Lock()
        self._points: deque[tuple[int, int]] = deque()
        self._x0 = 0  # local time of the first point since the last restart: keeps sums small
        self._y0 = 0
        self._sx = self._sy = self._sxx = self._sxy = 0
        self._consistent = 0
        self._last_local: int | None = None
        self._restarts = 0
        self._reason = f"waiting for frames from camera {camera!r}"

    def observe(self, frame_tai_ns: int, local_ns: int | None = None) -> None:
        """Record one frame: its TAI stamp, and the reference time it arrived (default: now)."""
        local = self._reference.now_ns() if local_ns is None else local_ns
        with self._lock:
            if len(self._points) >= 2:
                predicted = self._predict(local)
                if abs(frame_tai_ns - predicted) > self._tolerance_ns:
                    self._restarts += 1
                    self._reason = f"camera {self.camera!r} timeline jumped by {frame_tai_ns - predicted} ns; relearning"
                    self._clear()
            if not self._points:
                self._x0, self._y0 = local, frame_tai_ns
            x, y = local - self._x0, frame_tai_ns - self._y0
            self._points.append((x, y))
            self._sx += x
            self._sy += y
            self._sxx += x * x
            self._sxy += x * y
            if len(self._points) > self._window:
                ox, oy = self._points.popleft()
                self._sx -= ox
                self._sy -= oy
                self._sxx -= ox * ox
                self._sxy -= ox * oy
            self._consistent += 1
            self._last_local = local

    def _clear(self) -> None:
        self._points.clear()
        self._sx = self._sy = self._sxx = self._sxy = 0
        self._consistent = 0

    def _fit(self) -> tuple[int, int, int]:
        """Slope as num/den and n, for the line through the window (caller holds the lock)."""
        n = len(self._points)
        den = n * self._sxx - self._sx * self._sx
        if n < 2 or den == 0:
            return 1, 1, n  # one point (or all at one instant): assume the camera runs at our rate
        return n * self._sxy - self._sx * self._sy, den, n

    def _predict(self, local: int) -> int:
        """Camera TAI at a local reference instant, by the current fit (caller holds the lock)."""
        num, den, n = self._fit()
        if n == 0:
            return local
        # y = ȳ + slope·(x − x̄), all over n·den to stay in integers.
        x = local - self._x0
        return self._y0 + (self._sy * den + num * (n * x - self._sx)) // (n * den)

    def now_ns(self) -> int:
        local = self._reference.now_ns()
        with self._lock:
            if not self._points:
                return local
            return self._predict(local)

    def sleep_until(self, tai_ns: int, *, precise: bool = True) -> None:
        # Wait on the reference for the local instant the fit says the camera reaches tai_ns;
        # repeat, because new observations may move the fit while we wait.
        while True:
            local_now = self._reference.now_ns()
            with self._lock:
                if not self._points:
                    ahead = tai_ns - local_now
                else:
                    num, den, _ = self._fit()
                    if num <= 0:  # a nonsense fit (time running backwards): wait 1:1
                        num = den = 1
                    ahead = -(-(tai_ns - self._predict(local_now)) * den // num)
            if ahead <= 0:
                if self.now_ns() >= tai_ns:
                    return
                ahead = 1
            self._reference.sleep_until(local_now + ahead, precise=precise)

    def state(self) -> dict[str, object]:
        local = self._reference.now_ns()
        with self._lock:
            num, den, n = self._fit()
            offset = self._predict(local) - local if n else None
            drift = (num - den) / den * 1e6 if n >= 2 else None
            last = self._last_local
            silent = last is not None and local - last > self._holdover_after_ns
            if last is None:
                state, reason = FREERUN, self._reason
            elif silent and self._consistent >= self._lock_after:
                state = HOLDOVER
                reason = (
                    f"no frame from camera {self.camera!r} for {(local - last) / _NS:.2f} s; running on the last measured drift"
                )
            elif silent:
                state = FREERUN
                reason = f"no frame from camera {self.camera!r} for {(local - last) / _NS:.2f} s, and it never locked"
            elif self._consistent >= self._lock_after:
                state, reason = LOCKED, f"locked to camera {self.camera!r}"
            else:
                state = FREERUN
                reason = f"learning camera {self.camera!r}: {self._consistent} of {self._lock_after} consistent frames" + (
                    f" ({self._reason})" if self._restarts else ""
                )
            return {
                "kind": self.kind,
                "state": state,
                "reason": reason,
                "offset_ns": offset,
                "drift_ppm": drift,
                "camera": self.camera,
                "observations": n,
                "restarts": self._restarts,
            }


# --- manual -------------------------------------------------------------------------------------


class ManualClock:
    """A fake reference for tests and simulations: time moves only when told to.

    ``sleep_until`` jumps forward to the deadline and returns at once; ``advance`` and ``set``
    move time explicitly (``set`` may go backwards, to simulate a stepped clock). Thread-safe.
    """

    kind = "manual"

    def __init__(self, start_ns: int = DEFAULT_MANUAL_START_NS) -> None:
        self._lock = threading.Lock()
        self._now = int(start_ns)

    def now_ns(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ns: int) -> int:
        """Move time forward by ``ns`` (≥ 0); returns the new time."""
        if ns < 0:
            raise TimingError(f"ManualClock.advance takes a positive step, got {ns} ns; use set()")
        with self._lock:
            self._now += int(ns)
            return self._now

    def set(self, ns: int) -> None:
        """Jump to a TAI instant, forwards or backwards."""
        with self._lock:
            self._now = int(ns)

    def sleep_until(self, tai_ns: int, *, precise: bool = True) -> None:
        with self._lock:
            if tai_ns > self._now:
                self._now = tai_ns

    def state(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "state": LOCKED,
            "reason": "manual clock (tests and simulations): time moves only when told",
            "offset_ns": 0,
        }


def make_clock(reference: str, **kwargs: Any) -> ReferenceClock:
    """The clock a profile's ``reference`` names: "ptp", "internal", "input:<camera>", "manual".

    Keyword arguments go to the clock's constructor (``start_ns=`` for manual, ``window=`` for
    input …).
    """
    text = reference.strip() if isinstance(reference, str) else ""
    kind, _, arg = text.partition(":")
    kind = kind.strip().lower()
    if kind == "ptp" and not arg:
        return PtpClock(**kwargs)
    if kind == "internal" and not arg:
        return InternalClock(**kwargs)
    if kind == "manual" and not arg:
        return ManualClock(**kwargs)
    if kind == "input" and arg.strip():
        return InputLockedClock(arg.strip(), **kwargs)
    raise TimingError(
        f"unknown reference {reference!r}: write 'ptp' (house PTP via linuxptp), 'internal' "
        "(free-running), 'input:<camera>' (follow that camera's frame timestamps) or 'manual' "
        "(tests and simulations)"
    )
