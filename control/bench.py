"""Control-surface benchmark: 9-pin reply latency on a pty and OSC command-to-applied latency in frames.

Both run against a real engine ticking at 50p on its internal clock (three 64×36 ``mem://`` cameras, so the
numbers measure the surfaces, not rendering). The 9-pin controller is a separate process on the master side
of a pty, polling as a controller does (status and time sense, with a transport command every tenth block);
latency is from writing a command to reading its reply's last byte. A second run adds a pure-Python thread
that never sleeps, the worst neighbour a reply can have for the GIL. A pty has no baud rate:
on a real RS-422 line add the bytes' wire time (0.29 ms each at 38400 8O1) and the adapter's latency.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from timing import percentile

_PROFILE = """
name = "control bench"
reference = "internal"
[format]
width = 64
height = 36
rate = "50"
[buffer]
seconds = 2
memory_limit = "1GB"
[[channels]]
name = "PGM1"
outputs = ["mem://bench-pgm1"]
{cameras}
"""


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Options: ``ninepin_commands`` (10000), ``osc_commands`` (200), ``osc_bundles`` (50). Prints nothing."""
    from plugin.engine import Engine
    from profiles import parse_profile

    cams = "\n".join(f'[[cameras]]\nname = "cam{i:02d}"\nsource = "mem://bench-cam{i:02d}"\n' for i in (1, 2, 3))
    profile = parse_profile(_PROFILE.format(cameras=cams))
    with tempfile.TemporaryDirectory(prefix="fvr-control-bench-") as tmp:
        engine = Engine.from_profile(profile, storage_root=Path(tmp) / "store")
        engine.start()
        try:
            _wait_ticks(engine, 5)
            results = {
                "engine": "3 × mem:// 64×36, 50p, internal clock, ticker running",
                "sony9pin": _ninepin(engine, int(options.get("ninepin_commands", 10_000))),
                "sony9pin_with_a_busy_python_thread": _ninepin(engine, int(options.get("ninepin_commands", 10_000)),
                                                               busy=True),
                "osc": _osc(engine, int(options.get("osc_commands", 200)), int(options.get("osc_bundles", 50))),
            }
            ticker = engine.ticker_stats()
            results["engine_ticker"] = {k: ticker[k] for k in ("ticks", "missed") if k in ticker}
        finally:
            engine.stop()
    return results


def _wait_ticks(engine: Any, n: int) -> None:
    start = engine.ticks
    deadline = time.monotonic() + 5
    while engine.ticks < start + n and time.monotonic() < deadline:
        time.sleep(0.005)


def _ms(values_ns: list[int]) -> dict[str, float]:
    ordered = sorted(values_ns)

    def pct(n: int) -> float:
        return round(percentile(ordered, n) / 1e6, 3)

    return {"p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(ordered[-1] / 1e6, 3)}


# --- Sony 9-pin -------------------------------------------------------------------------------------------


def _ninepin(engine: Any, count: int, busy: bool = False) -> dict[str, Any]:
    from control.sony9pin.device import Sony9PinDevice

    master, slave = os.openpty()
    device = Sony9PinDevice(engine, os.ttyname(slave), "PGM1", "odetics")
    device.start()
    switch_interval = sys.getswitchinterval()
    stop = threading.Event()
    if busy:  # a pure-Python thread that never sleeps: the worst neighbour a reply can have for the GIL
        threading.Thread(target=_spin, args=(stop,), daemon=True).start()
    try:
        # The controller is another process, so its own scheduling does not count against the device.
        out = subprocess.run(
            [sys.executable, "-c", _CONTROLLER, str(master), str(count)],
            pass_fds=(master,), capture_output=True, text=True, timeout=600, check=True,
        )
        measured = json.loads(out.stdout)
    finally:
        stop.set()
        device.stop()
        os.close(master)
        os.close(slave)
    latencies: list[int] = measured["latencies_ns"]
    return {
        "commands": count,
        "switch_interval_ms": switch_interval * 1e3,
        "reply_latency": _ms(latencies),
        "over_9ms": sum(1 for v in latencies if v > 9_000_000),
        "errors": measured["errors"],
        "device_side": {k: v for k, v in device.stats.summary().items() if k.startswith("reply_ms")},
    }


def _spin(stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1


# A replay controller polling as controllers do: status and time sense, a transport command every tenth
# block; latency from writing a block to reading its reply's last byte. Standard library only.
_CONTROLLER = """
import json, os, select, sys, time
fd, count = int(sys.argv[1]), int(sys.argv[2])
def block(data):
    return bytes(data) + bytes((sum(data) & 0xFF,))
polls = [block([0x61, 0x20, 0x0A]), block([0x61, 0x0C, 0x01])]
transports = [block([0x21, 0x13, 0x20]), block([0x20, 0x00]), block([0x20, 0x01]), block([0x20, 0x61])]
lat, errors = [], 0
for i in range(count):
    cmd = transports[(i // 10) % len(transports)] if i % 10 == 9 else polls[i % 2]
    os.write(fd, cmd)
    sent = time.perf_counter_ns()
    out, need, deadline = b"", 1, time.monotonic() + 0.5
    while len(out) < need:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        out += os.read(fd, 64)
        need = 3 + (out[0] & 0x0F)
    lat.append(time.perf_counter_ns() - sent)
    if len(out) < need or out[:2] == b"\\x11\\x12":
        errors += 1
print(json.dumps({"latencies_ns": lat, "errors": errors}))
"""


# --- OSC ----------------------------------------------------------------------------------------------------


def _osc(engine: Any, count: int, bundles: int) -> dict[str, Any]:
    from control.osc import OscServer
    from control.osc.codec import encode_bundle, encode_message, tai_ns_to_timetag
    from plugin.commands import Command, CommandResult
    from timing import slot_start_ns

    server = OscServer(engine, "127.0.0.1", 0)
    submitted: list[Future[CommandResult]] = []
    arrived = threading.Event()
    watch = server.scheduler.on_submit

    def on_submit(command: Command, future: Future[CommandResult]) -> None:
        watch(command, future)
        submitted.append(future)
        arrived.set()

    server.scheduler.on_submit = on_submit
    server.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    frames: list[int] = []
    wall: list[int] = []
    bundle_error: list[int] = []
    rng = random.Random(9)
    try:
        speeds = [0.5, 1.0, -0.5, 0.25]
        for i in range(count):
            time.sleep(rng.uniform(0, 0.02))  # land anywhere in the frame period
            arrived.clear()
            slot_at_send = engine.tick_slot
            sent = time.perf_counter_ns()
            sock.sendto(encode_message("/fvr/1/speed", speeds[i % len(speeds)]), server.address)
            if not arrived.wait(1.0):
                continue
            result = submitted[-1].result(timeout=2.0)
            wall.append(time.perf_counter_ns() - sent)
            if result.slot is not None and slot_at_send is not None:
                frames.append(result.slot - slot_at_send)
        for _ in range(bundles):
            time.sleep(rng.uniform(0, 0.02))
            arrived.clear()
            target = int(engine.tick_slot) + 3
            when = tai_ns_to_timetag(slot_start_ns(target, engine.rate) + 1_000_000)
            sock.sendto(encode_bundle(when, [encode_message("/fvr/1/speed", 0.5)]), server.address)
            if arrived.wait(1.0):
                applied = submitted[-1].result(timeout=2.0).slot
                if applied is not None:
                    bundle_error.append(applied - target)
    finally:
        sock.close()
        server.stop()
    return {
        "commands": count,
        "applied_after_frames": {
            "mean": round(statistics.fmean(frames), 3) if frames else None,
            "min": min(frames, default=None),
            "max": max(frames, default=None),
            "histogram": {str(k): frames.count(k) for k in sorted(set(frames))},
        },
        "send_to_applied": _ms(wall) if wall else None,
        "bundles": bundles,
        "bundles_on_their_slot": bundle_error.count(0),
        "bundle_slot_error": {str(k): bundle_error.count(k) for k in sorted(set(bundle_error))},
        "malformed": server.state()["malformed"],
    }
