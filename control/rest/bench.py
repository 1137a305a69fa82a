"""REST benchmark: request latency at a steady rate while a channel plays out, and the output frames it cost.

A real engine runs with its genlock ticker on ``mem://`` cameras fed at the frame rate; the REST surface serves
it over TCP (uvicorn, as in production); a load generator in a separate process (so it does not share the
server's interpreter lock) sends an open-loop mix of ``GET /status``, ``GET /channels`` and ``PATCH`` speed at a
fixed rate. Latency is measured from when each request was due, so a stalled server cannot hide queued
requests. Prints nothing; ``fvreplay bench rest`` prints the returned dict.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from timing import percentile

#: The request mix, in proportion: (kind, method, path).
MIX: tuple[tuple[str, str, str], ...] = (
    ("get_status", "GET", "/api/v1/status"),
    ("get_channels", "GET", "/api/v1/channels"),
    ("get_status", "GET", "/api/v1/status"),
    ("get_channels", "GET", "/api/v1/channels"),
    ("patch_speed", "PATCH", "/api/v1/channels/PGM1"),
)


def _profile_text(cameras: int, width: int, height: int, rate: str) -> str:
    cams = "\n".join(
        f'[[cameras]]\nname = "cam{i:02d}"\nsource = "mem://rest-bench-cam{i:02d}"\n' for i in range(1, cameras + 1)
    )
    return f"""
name = "rest bench"
reference = "internal"
[format]
width = {width}
height = {height}
rate = "{rate}"
[buffer]
seconds = 20
memory_limit = "2GB"
[[channels]]
name = "PGM1"
outputs = ["mem://rest-bench-pgm1"]
{cams}
"""


class _Feeder:
    """Plays the cameras: one frame per camera per slot into the mem:// hubs, on the engine's clock."""

    def __init__(self, engine: Any) -> None:
        from plugin.frames import PixelFormat, rgb_to_uyvy

        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rest-bench-feeder", daemon=True)
        h, w = engine.fmt.height, engine.fmt.width
        self.pixels = {}
        for i, cam in enumerate(engine.camera_names):
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[:, :, 1] = 60 + 15 * i
            rgb[:, : w // 4, 0] = 200
            self.pixels[cam] = rgb_to_uyvy(rgb)
        self.pixel_format = PixelFormat.UYVY

    def _run(self) -> None:
        from io_adapters import memory
        from plugin.frames import Frame
        from timing import slot_at, slot_start_ns

        clock, rate = self.engine.clock, self.engine.rate
        hubs = {cam: self.engine.profile.cameras[i].source.split("://", 1)[1]
                for i, cam in enumerate(self.engine.camera_names)}
        last = slot_at(clock.now_ns(), rate)
        while not self._stop.is_set():
            slot = slot_at(clock.now_ns(), rate)
            for s in range(last + 1, slot + 1):
                for cam, name in hubs.items():
                    memory.feed(name, Frame(self.pixels[cam], self.pixel_format, cam, s, slot_start_ns(s, rate)))
            last = max(last, slot)
            time.sleep(0.004)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _load(base: str, rate: float, seconds: float, key: str | None, conn: Connection) -> None:
    """The load generator (its own process): open-loop requests at ``rate``; sends back one row per request."""
    import httpx

    async def main() -> list[tuple[str, float, int]]:
        rows: list[tuple[str, float, int]] = []
        headers = {"X-API-Key": key} if key else {}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10.0) as client:

            async def one(i: int, due: float) -> None:
                kind, method, path = MIX[i % len(MIX)]
                body = {"speed": 0.5 + 0.5 * ((i // len(MIX)) % 2)} if method == "PATCH" else None
                try:
                    resp = await client.request(method, path, json=body)
                    status = resp.status_code
                except httpx.HTTPError:
                    status = 0
                rows.append((kind, time.perf_counter() - due, status))

            loop = asyncio.get_running_loop()
            tasks = []
            # A short warm-up (connections, first imports) outside the measurement.
            await asyncio.gather(*(client.get("/api/v1/status") for _ in range(8)))
            start = time.perf_counter()
            n = int(rate * seconds)
            for i in range(n):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(loop.create_task(one(i, due)))
            await asyncio.gather(*tasks)
            rows.append(("_wall", time.perf_counter() - start, n))
        return rows

    try:
        conn.send(asyncio.run(main()))
    finally:
        conn.close()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def pct(n: int) -> float:
        return round(1000 * percentile(ordered, n), 2)

    return {"count": len(ordered), "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(1000 * ordered[-1], 2)}


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Latency (p50/p99) at ``rate`` requests/s for ``seconds`` while PGM1 plays, and the frames repeated meanwhile.

    Options: ``seconds`` (10), ``rate`` (200 requests/s), ``cameras`` (4), ``width``/``height`` (640×360),
    ``frame_rate`` ("50"), ``warmup`` (2 s of recording before the channel plays). The show profile is the
    benchmark's own (mem:// cameras): this measures the REST layer and its effect on the output, not a renderer.
    """
    from control.rest.server import RestSurface
    from control.rest.settings import RestSettings
    from io_adapters import memory
    from plugin import commands as c
    from plugin.engine import Engine
    from profiles import parse_profile

    seconds = float(options.get("seconds", 10.0))
    rate = float(options.get("rate", 200.0))
    cameras = int(options.get("cameras", 4))
    width, height = int(options.get("width", 640)), int(options.get("height", 360))
    frame_rate = str(options.get("frame_rate", "50"))
    warmup = max(1.0, float(options.get("warmup", 2.0)))

    memory.reset()
    profile = parse_profile(_profile_text(cameras, width, height, frame_rate))
    with tempfile.TemporaryDirectory(prefix="fvr-rest-bench-") as tmp:
        engine = Engine.from_profile(profile, storage_root=Path(tmp) / "store")
        feeder = _Feeder(engine)
        surface = RestSurface(engine, RestSettings(host="127.0.0.1", port=0, show_name="rest bench"))
        try:
            engine.start()
            feeder.start()
            time.sleep(warmup)  # something in the record trains to play from
            first, _last = engine.recorder.range("cam01") or (None, None)
            if first is None:
                raise RuntimeError(f"rest bench: the cameras delivered nothing in {warmup:g} s")
            for cmd in (c.CueSlot("PGM1", first + int(0.5 * float(engine.rate))), c.Play("PGM1", speed=1.0)):
                res = engine.execute(cmd)
                if not res.ok:
                    raise RuntimeError(f"rest bench: {cmd.verb} refused: {res.message}")
            surface.start()
            before = engine.channel_status("PGM1")
            ticker_before = engine.ticker_stats()
            ctx = multiprocessing.get_context("spawn")
            receive, send = ctx.Pipe(duplex=False)
            loader = ctx.Process(
                target=_load, args=(f"http://127.0.0.1:{surface.port}", rate, seconds, None, send), daemon=True
            )
            loader.start()
            send.close()
            rows: list[tuple[str, float, int]] = receive.recv() if receive.poll(seconds + 60) else []
            loader.join(timeout=10)
            after = engine.channel_status("PGM1")
            ticker_after = engine.ticker_stats()
            state_after = after.state
        finally:
            surface.stop()
            feeder.stop()
            engine.stop()
            memory.reset()

    wall = next((r[1] for r in rows if r[0] == "_wall"), float("nan"))
    rows = [r for r in rows if r[0] != "_wall"]
    ok = [r for r in rows if 200 <= r[2] < 300]
    by_kind = {kind: _percentiles([r[1] for r in ok if r[0] == kind]) for kind, _, _ in MIX}
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    frames = after.frames_out - before.frames_out
    return {
        "setup": {
            "cameras": cameras, "format": f"{width}x{height}p{frame_rate}", "rate_requests_per_s": rate,
            "seconds": seconds, "mix": "40% GET /status, 40% GET /channels, 20% PATCH speed",
            "transport": "HTTP/1.1 keep-alive over TCP loopback to uvicorn (h11) in a thread; load from another process",
        },
        "requests": {
            "sent": len(rows), "ok": len(ok), "statuses": statuses,
            "achieved_per_s": round(len(rows) / wall, 1) if wall == wall and wall > 0 else None,
        },
        "latency_all": _percentiles([r[1] for r in ok]),
        "latency_by_kind": by_kind,
        "output": {
            "frames_out": frames,
            "repeated": after.repeated - before.repeated,
            "late": after.late - before.late,
            "ticker_missed": int(ticker_after.get("missed", 0) or 0) - int(ticker_before.get("missed", 0) or 0),
            "channel_state_after": state_after,
        },
    }
