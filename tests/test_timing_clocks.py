"""Reference clocks: PTP via linuxptp (and its pmc parser), internal, input-locked, manual, make_clock."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from timing import (
    LEAP_SECONDS_NOW,
    InputLockedClock,
    InternalClock,
    ManualClock,
    PtpClock,
    ReferenceClock,
    TimingError,
    make_clock,
    parse_pmc,
)

NS = 1_000_000_000

# What linuxptp's pmc prints for `pmc -u -b 0 'GET PORT_DATA_SET' 'GET TIME_STATUS_NP'` on a
# boundary clock whose port 1 follows the grandmaster (the layout of pmc.c / pmc_common.c).
PMC_LOCKED = """\
sending: GET PORT_DATA_SET
\t3cecef.fffe.7a7020-1 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET
\t\tportIdentity            3cecef.fffe.7a7020-1
\t\tportState               SLAVE
\t\tlogMinDelayReqInterval  -3
\t\tpeerMeanPathDelay       0
\t\tlogAnnounceInterval     -2
\t\tannounceReceiptTimeout  3
\t\tlogSyncInterval         -3
\t\tdelayMechanism          1
\t\tlogMinPdelayReqInterval 0
\t\tversionNumber           2
\t3cecef.fffe.7a7020-2 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET
\t\tportIdentity            3cecef.fffe.7a7020-2
\t\tportState               MASTER
\t\tlogMinDelayReqInterval  -3
\t\tpeerMeanPathDelay       0
\t\tlogAnnounceInterval     -2
\t\tannounceReceiptTimeout  3
\t\tlogSyncInterval         -3
\t\tdelayMechanism          1
\t\tlogMinPdelayReqInterval 0
\t\tversionNumber           2
sending: GET TIME_STATUS_NP
\t3cecef.fffe.7a7020-0 seq 1 RESPONSE MANAGEMENT TIME_STATUS_NP
\t\tmaster_offset              -12
\t\tingress_time               1772323237123456789
\t\tcumulativeScaledRateOffset +0.000000000
\t\tscaledLastGmPhaseChange    0
\t\tgmTimeBaseIndicator        0
\t\tlastGmPhaseChange          0x0000'0000000000000000.0000
\t\tgmPresent                  true
\t\tgmIdentity                 001c73.fffe.aabbcc
"""

PMC_LISTENING = """\
sending: GET PORT_DATA_SET
\t3cecef.fffe.7a7020-1 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET
\t\tportIdentity            3cecef.fffe.7a7020-1
\t\tportState               LISTENING
sending: GET TIME_STATUS_NP
\t3cecef.fffe.7a7020-0 seq 1 RESPONSE MANAGEMENT TIME_STATUS_NP
\t\tmaster_offset              0
\t\tgmPresent                  false
\t\tgmIdentity                 3cecef.fffe.7a7020
"""


# --- pmc parser ----------------------------------------------------------------------------------


def test_parse_pmc_reads_port_state_offset_and_grandmaster() -> None:
    status = parse_pmc(PMC_LOCKED)
    assert status.port_state == "SLAVE"  # the best of SLAVE and MASTER
    assert status.port_states == ("SLAVE", "MASTER")
    assert status.master_offset_ns == -12
    assert status.gm_present is True
    assert status.gm_identity == "001c73.fffe.aabbcc"


def test_parse_pmc_on_a_lost_master_and_on_nothing() -> None:
    status = parse_pmc(PMC_LISTENING)
    assert (status.port_state, status.gm_present, status.master_offset_ns) == ("LISTENING", False, 0)
    empty = parse_pmc("sending: GET PORT_DATA_SET\n")
    assert (empty.port_state, empty.master_offset_ns, empty.gm_present) == (None, None, None)


# --- PTP ------------------------------------------------------------------------------------------


def test_ptp_clock_on_this_machine_is_freerun_with_a_reason() -> None:
    clock = PtpClock()
    state = clock.state()
    assert state["kind"] == "ptp"
    assert {"state", "reason", "offset_ns", "port_state", "kernel_tai_offset_s"} <= set(state)
    if shutil.which("pmc") is None:  # no linuxptp here: FREERUN, and the reason says what to do
        assert state["state"] == "FREERUN"
        assert "linuxptp" in str(state["reason"])
    else:  # a PTP machine: whatever it is, it says why
        assert state["state"] in {"FREERUN", "LOCKED", "HOLDOVER"}
        assert str(state["reason"])
    # now_ns is TAI whether or not the kernel's TAI offset is set.
    assert abs(clock.now_ns() - (time.time_ns() + LEAP_SECONDS_NOW * NS)) < NS


def test_ptp_clock_locks_holds_over_and_frees_run() -> None:
    answers = [PMC_LOCKED]

    def query() -> str:
        if answers[0] == "":
            raise TimingError("ptp4l did not answer pmc (is ptp4l running?)")
        return answers[0]

    clock = PtpClock(query=query, tai_offset_s=lambda: 37, check_interval_s=0)
    state = clock.state()
    assert (state["state"], state["offset_ns"], state["port_state"]) == ("LOCKED", -12, "SLAVE")
    answers[0] = PMC_LISTENING
    state = clock.state()
    assert state["state"] == "HOLDOVER"
    assert "LISTENING" in str(state["reason"])
    answers[0] = ""
    assert clock.state()["state"] == "HOLDOVER"
    short = PtpClock(query=query, tai_offset_s=lambda: 37, check_interval_s=0, holdover_s=0)
    assert short.state()["state"] == "FREERUN"
    assert "ptp4l" in str(short.state()["reason"])


def test_ptp_clock_with_an_unset_kernel_tai_offset_is_freerun() -> None:
    clock = PtpClock(query=lambda: PMC_LOCKED, tai_offset_s=lambda: 0, check_interval_s=0)
    state = clock.state()
    assert state["state"] == "FREERUN"
    assert "phc2sys" in str(state["reason"])
    assert state["kernel_tai_offset_s"] == 0
    # It still tells TAI, from CLOCK_REALTIME plus the leap seconds.
    assert abs(clock.now_ns() - (time.time_ns() + 37 * NS)) < NS


def test_ptp_clock_with_a_large_offset_is_not_locked() -> None:
    text = PMC_LOCKED.replace("master_offset              -12", "master_offset              250000")
    state = PtpClock(query=lambda: text, tai_offset_s=lambda: 37).state()
    assert state["state"] == "FREERUN"
    assert "250000" in str(state["reason"])


def test_ptp_clock_without_pmc_says_to_install_linuxptp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    state = PtpClock(tai_offset_s=lambda: 37).state()
    assert state["state"] == "FREERUN"
    assert "linuxptp" in str(state["reason"])


# --- internal --------------------------------------------------------------------------------------


def test_internal_clock_runs_on_tai_and_says_it_is_free_running() -> None:
    clock = InternalClock()
    a = clock.now_ns()
    b = clock.now_ns()
    assert b >= a
    assert abs(a - (time.time_ns() + LEAP_SECONDS_NOW * NS)) < NS
    state = clock.state()
    assert (state["kind"], state["state"]) == ("internal", "FREERUN")
    assert state["reason"] == "internal reference (not locked to house sync)"
    target = clock.now_ns() + 2_000_000
    clock.sleep_until(target)
    assert clock.now_ns() >= target


# --- input-locked --------------------------------------------------------------------------------------


def test_input_locked_clock_learns_offset_and_drift_then_holds_over() -> None:
    local = ManualClock()
    clock = InputLockedClock("cam03", reference=local)
    assert clock.state()["state"] == "FREERUN"
    assert clock.now_ns() == local.now_ns()  # nothing learnt yet: the local reference

    start = local.now_ns()
    offset = 3_000_000  # the camera's timeline is 3 ms ahead of ours …
    period = 20_000_000  # … and its 50p frames come 50 ppm fast
    for k in range(300):
        local.set(start + k * period)
        clock.observe(start + offset + k * (period + 1000), local_ns=start + k * period)
    state = clock.state()
    assert state["state"] == "LOCKED"
    assert state["drift_ppm"] == pytest.approx(50.0, abs=0.01)
    assert state["offset_ns"] == pytest.approx(offset + 299 * 1000, abs=10)
    local.advance(10_000_000)
    expected = start + offset + 299 * (period + 1000) + 10_000_500  # 10 ms of local time = 10.0005 ms there
    assert abs(clock.now_ns() - expected) <= 10

    local.advance(1_500_000_000)  # frames stop coming
    state = clock.state()
    assert state["state"] == "HOLDOVER"
    assert "cam03" in str(state["reason"])
    # In holdover it carries on at the camera's last measured rate.
    expected += 1_500_075_000
    assert abs(clock.now_ns() - expected) <= 10


def test_input_locked_clock_relearns_after_a_timeline_jump() -> None:
    local = ManualClock()
    clock = InputLockedClock("cam07", reference=local, lock_after=5)
    start = local.now_ns()
    for k in range(20):
        clock.observe(start + k * 20_000_000, local_ns=start + k * 20_000_000)
    assert clock.state()["state"] == "LOCKED"
    local.set(start + 20 * 20_000_000)
    clock.observe(start + 5 * NS, local_ns=start + 20 * 20_000_000)  # the camera re-jammed
    state = clock.state()
    assert state["state"] == "FREERUN"
    assert state["restarts"] == 1
    assert "jumped" in str(state["reason"])


def test_input_locked_clock_that_never_locked_does_not_claim_holdover() -> None:
    local = ManualClock()
    clock = InputLockedClock("cam05", reference=local)
    start = local.now_ns()
    for k in range(3):  # fewer than lock_after frames, then silence
        clock.observe(start + k * 20_000_000, local_ns=start + k * 20_000_000)
    local.advance(2 * NS)
    state = clock.state()
    assert state["state"] == "FREERUN"
    assert "never locked" in str(state["reason"])


def test_input_locked_clock_sleeps_on_its_reference() -> None:
    local = ManualClock()
    clock = InputLockedClock("cam01", reference=local)
    start = local.now_ns()
    for k in range(10):
        clock.observe(start + NS + k * 20_000_000, local_ns=start + k * 20_000_000)
    target = clock.now_ns() + 55_000_000
    clock.sleep_until(target)
    assert clock.now_ns() >= target
    assert clock.now_ns() - target < 1_000


# --- manual ---------------------------------------------------------------------------------------------


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(1_000)
    assert clock.now_ns() == 1_000
    assert clock.advance(500) == 1_500
    clock.sleep_until(10_000)
    assert clock.now_ns() == 10_000
    clock.sleep_until(5_000)  # already past: time does not go back
    assert clock.now_ns() == 10_000
    clock.set(2_000)  # set may step back, to simulate a stepped reference
    assert clock.now_ns() == 2_000
    with pytest.raises(TimingError, match="set"):
        clock.advance(-1)
    assert ManualClock().state()["state"] == "LOCKED"


def test_manual_clock_is_thread_safe() -> None:
    clock = ManualClock(0)

    def push() -> None:
        for _ in range(10_000):
            clock.advance(1)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now_ns() == 40_000


# --- make_clock ----------------------------------------------------------------------------------------


def test_make_clock_builds_each_kind() -> None:
    kinds = {name: make_clock(name) for name in ("ptp", "internal", "manual", "input:cam03")}
    assert {name: clock.kind for name, clock in kinds.items()} == {
        "ptp": "ptp",
        "internal": "internal",
        "manual": "manual",
        "input:cam03": "input",
    }
    for clock in kinds.values():
        assert isinstance(clock, ReferenceClock)
        state = clock.state()
        assert {"kind", "state", "reason", "offset_ns"} <= set(state)
    cam = kinds["input:cam03"]
    assert isinstance(cam, InputLockedClock) and cam.camera == "cam03"
    assert make_clock("manual", start_ns=42).now_ns() == 42


@pytest.mark.parametrize("bad", ["gps", "input:", "", "ptp:eth0"])
def test_make_clock_refuses_unknown_references(bad: str) -> None:
    with pytest.raises(TimingError, match="'ptp'.*'internal'.*'input:<camera>'.*'manual'"):
        make_clock(bad)
