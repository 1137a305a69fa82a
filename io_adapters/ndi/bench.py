"""``fvreplay bench ndi``: how many NDI feeds this machine ingests without drops, the CPU each costs, and
the frame-interval jitter of an NDI output paced by the genlock ticker.

Senders run in a child process (their compression is not charged to the ingest), receivers in this one:
for each picture size, 1, 2, 3 … feeds are received for a few seconds until one drops a frame or falls
below 98 % of the rate. Everything stays on 127.0.0.1 (an SDK configuration with no mDNS is written
when none is set). Both processes share this machine's cores, so the feed count is a lower bound for
a receiver whose cameras are elsewhere; ``cpu_per_feed`` (cores per feed) tells that case.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import resource
import statistics
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

_RATE = "50"
_PATTERNS = 10


def _pattern(width: int, height: int, count: int) -> list[np.ndarray]:
    """Camera-like UYVY pictures: a gradient with fine texture and a moving bar (codec work like a real feed)."""
    rng = np.random.default_rng(7)
    texture = rng.integers(-12, 12, (height, width), dtype=np.int16)
    ramp = np.linspace(40, 200, width, dtype=np.float32)[None, :] + np.linspace(0, 20, height, dtype=np.float32)[:, None]
    out = []
    for i in range(count):
        y = np.clip(ramp + texture, 16, 235).astype(np.uint8)
        x = (i * width // count) % (width - width // 10)
        y[height // 4 : 3 * height // 4, x : x + width // 10] = 220
        frame = np.empty((height, width, 2), np.uint8)
        frame[..., 1] = y
        frame[:, 0::2, 0] = 100 + (i % 20)
        frame[:, 1::2, 0] = 150
        out.append(frame)
    return out


def _senders(conn: Connection, width: int, height: int, feeds: int, prefix: str) -> None:
    """Child process: ``feeds`` NDI senders of one picture size, paced at 50p by a ticker."""
    from io_adapters.ndi.sink import NdiSink
    from plugin.frames import Frame, PixelFormat
    from plugin.ports import AdapterContext, VideoFormat
    from timing import FrameRate, InternalClock, Ticker, slot_start_ns

    rate = FrameRate.parse(_RATE)
    clock = InternalClock()
    fmt = VideoFormat(width, height, rate)
    sinks = []
    for i in range(feeds):
        sink = NdiSink(f"ndi://{prefix} {i}?host=127.0.0.1", AdapterContext(f"feed{i}", fmt, clock))
        sink.configure(fmt)
        sinks.append(sink)
    pictures = _pattern(width, height, _PATTERNS)

    def tick(slot: int) -> None:
        data = pictures[slot % len(pictures)]
        for sink in sinks:
            sink.send(Frame(data, PixelFormat.UYVY, "bench", slot, slot_start_ns(slot, rate)))

    ticker = Ticker(clock, rate, tick, name="bench-senders")
    conn.send([s.address() for s in sinks])
    cpu0 = time.process_time()
    ticker.start()
    conn.recv()  # "stop"
    ticker.stop()
    conn.send({"cpu_s": time.process_time() - cpu0, "ticker": ticker.stats()})
    for sink in sinks:
        sink.close()


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _ingest_step(width: int, height: int, feeds: int, seconds: float, warmup: float) -> dict[str, Any]:
    """Receive ``feeds`` feeds of one size for ``seconds``; counts, drops and CPU per feed."""
    from io_adapters.ndi.source import NdiSource
    from plugin.ports import AdapterContext, VideoFormat
    from timing import FrameRate, InternalClock

    rate = FrameRate.parse(_RATE)
    mp = multiprocessing.get_context("spawn")
    here, there = mp.Pipe()
    child = mp.Process(target=_senders, args=(there, width, height, feeds, f"FVR BENCH {os.getpid()}"), daemon=True)
    child.start()
    if not here.poll(60):
        child.kill()
        raise RuntimeError("the NDI sender process did not start")
    addresses: list[str] = here.recv()
    clock = InternalClock()
    fmt = VideoFormat(width, height, rate)
    # Filed by timecode (the senders stamp each frame's slot), so a gap is a frame that never came.
    sources = [
        NdiSource(f"ndi://{a}?queue=16&time=timecode", AdapterContext(f"feed{i}", fmt, clock))
        for i, a in enumerate(addresses)
    ]
    stop = threading.Event()

    def drain(src: NdiSource) -> None:
        while not stop.is_set():
            src.read(0.1)

    threads = [threading.Thread(target=drain, args=(s,), daemon=True) for s in sources]
    try:
        for s in sources:
            s.open()
        for t in threads:
            t.start()
        time.sleep(warmup)
        before = [s.state() for s in sources]
        cpu0, wall0 = _cpu_s(), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = _cpu_s(), time.monotonic()
        after = [s.state() for s in sources]
    finally:
        stop.set()
        here.send("stop")
        sent = here.recv() if here.poll(10) else {}
        child.join(5)
        for t in threads:
            t.join(1)
        for s in sources:
            s.close()
    wall = wall1 - wall0
    expected = wall * float(rate)
    frames = [a["frames"] - b["frames"] for a, b in zip(after, before)]
    dropped = sum(a["dropped"] - b["dropped"] for a, b in zip(after, before))
    gaps = sum(a["gaps"] - b["gaps"] for a, b in zip(after, before))
    missed = sent.get("ticker", {}).get("missed") if sent else None
    ok = dropped == 0 and gaps == 0 and min(frames) >= 0.98 * expected
    # Where a step fails and the senders missed ticks (a busy machine), they sent fewer frames: the
    # failure is theirs, and the receivers' own limit lies higher than measured.
    senders_kept_up = missed is not None and missed <= 1
    return {
        "feeds": feeds,
        "ok": ok,
        "limited_by": "" if ok else ("ingest" if senders_kept_up else "senders"),
        "fps_min": round(min(frames) / wall, 2),
        "dropped": dropped,
        "gaps": gaps,
        "cpu_per_feed": round((cpu1 - cpu0) / wall / feeds, 3),  # cores
        "sender_cpu_per_feed": round(sent.get("cpu_s", 0.0) / (wall + warmup) / feeds, 3) if sent else None,
        "sender_missed_ticks": missed,
    }


def _output_jitter(width: int, height: int, seconds: float) -> dict[str, Any]:
    """An NDI output paced by the genlock ticker, received here: intervals between frames vs. one frame."""
    from io_adapters.ndi.sink import NdiSink
    from io_adapters.ndi.source import NdiSource
    from plugin.frames import Frame, PixelFormat
    from plugin.ports import AdapterContext, VideoFormat
    from timing import FrameRate, InternalClock, Ticker, slot_start_ns

    rate = FrameRate.parse(_RATE)
    clock = InternalClock()
    fmt = VideoFormat(width, height, rate)
    sink = NdiSink(f"ndi://FVR JITTER {os.getpid()}?host=127.0.0.1", AdapterContext("PGM1", fmt, clock))
    sink.configure(fmt)
    pictures = _pattern(width, height, _PATTERNS)
    ticker = Ticker(
        clock,
        rate,
        lambda slot: sink.send(Frame(pictures[slot % _PATTERNS], PixelFormat.UYVY, "PGM1", slot, slot_start_ns(slot, rate))),
        name="bench-output",
    )
    src = NdiSource(f"ndi://{sink.address()}?queue=512", AdapterContext("mixer", fmt, clock))
    src.open()
    submitted: list[int] = []
    arrived: list[int] = []
    ticker.start()
    try:
        deadline = time.monotonic() + seconds + 0.5
        while time.monotonic() < deadline:
            f = src.read(0.1)
            if f is not None:
                submitted.append(f.meta["ndi_timestamp"] * 100)
                arrived.append(f.meta["arrival_tai_ns"])
    finally:
        ticker.stop()
        src.close()
        sink.close()
    frame_ns = 1e9 / float(rate)

    def jitter(times: list[int]) -> dict[str, float]:
        dev = sorted(abs(b - a - frame_ns) / 1e6 for a, b in itertools.pairwise(times[5:]))
        if not dev:
            return {}
        return {
            "p50_ms": round(statistics.median(dev), 3),
            "p99_ms": round(dev[min(len(dev) - 1, int(0.99 * len(dev)))], 3),
            "max_ms": round(dev[-1], 3),
        }

    stats = ticker.stats()
    return {
        "frames": len(submitted),
        "send_interval_jitter": jitter(submitted),  # SDK timestamps: when each frame was handed to NDI
        "receive_interval_jitter": jitter(arrived),  # when the receiver had each frame
        "ticker_wake_p99_us": stats.get("jitter_p99_us"),
        "ticker_missed": stats.get("missed"),
    }


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Options: ``seconds`` per step (3), ``max_feeds`` (8), ``sizes`` ("1280x720,1920x1080")."""
    from io_adapters.ndi.config import use_loopback

    use_loopback("fvr-ndi-bench-")
    seconds = float(options.get("seconds", 3.0))
    max_feeds = int(options.get("max_feeds", 8))
    sizes = str(options.get("sizes", "1280x720,1920x1080")).split(",")
    out: dict[str, Any] = {
        "rate": _RATE,
        "seconds_per_step": seconds,
        "load_average": [round(v, 2) for v in os.getloadavg()],  # other work on the machine skews it all
        "ingest": {},
    }
    for size in sizes:
        width, height = (int(v) for v in size.lower().split("x"))
        steps = []
        for feeds in range(1, max_feeds + 1):
            step = _ingest_step(width, height, feeds, seconds, warmup=1.0)
            steps.append(step)
            if not step["ok"]:
                break
        good = [s for s in steps if s["ok"]]
        out["ingest"][f"{size}p{_RATE}"] = {
            "max_feeds_without_drops": good[-1]["feeds"] if good else 0,
            # "ingest": the receivers dropped; "senders": the senders on this machine could not keep up,
            # so the receivers' limit is higher than measured; "max_feeds": the limit was not reached.
            "limited_by": steps[-1]["limited_by"] or "max_feeds",
            "cpu_per_feed": good[-1]["cpu_per_feed"] if good else None,
            "steps": steps,
        }
    out["output_1280x720p50"] = _output_jitter(1280, 720, seconds)
    return out
