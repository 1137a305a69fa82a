"""``fvreplay run``: start the engine on a profile and serve its channels and control surfaces."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("fvreplay.run")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the engine on a profile (default: the demo venue)")
    add_serve_arguments(p)
    p.set_defaults(handler=run)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The options of every command that serves the engine (run, demo)."""
    p.add_argument("--profile", default="demo", help="profile path or shipped name (default: demo)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--stats-json", type=Path, default=None, help="write frame statistics here at exit")
    p.add_argument("--rest", default=None, metavar="HOST:PORT", help="serve REST + web page here (overrides the profile)")
    p.add_argument("--no-rest", action="store_true", help="do not serve the REST API even if the profile enables it")
    p.add_argument("--osc", type=int, default=None, metavar="PORT", help="serve OSC on this UDP port")
    p.add_argument(
        "--sony9pin", action="append", default=[], metavar="DEVICE[=CHANNEL]",
        help="serve Sony 9-pin on a serial device or pyserial URL (repeatable): DEVICE[=CHANNEL][,type=odetics|bvw-75|hyperdeck]",
    )


def load(profile_ref: str) -> Any:
    """Load a profile, turning the loader's problems into the engine's ProfileError."""
    from plugin.errors import ProfileError
    from profiles import ProfileLoadError, load_profile

    try:
        return load_profile(profile_ref)
    except ProfileLoadError as exc:
        raise ProfileError("\n".join(exc.problems), exc.problems) from exc


def control_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """What the command line asks of each control surface, by entry-point name."""
    wanted: dict[str, dict[str, Any]] = {}
    if args.rest:
        wanted["rest"] = {"bind": args.rest}
    if args.osc is not None:
        wanted["osc"] = {"port": args.osc}
    if args.sony9pin:
        # Raw strings: the surface parses DEVICE[=CHANNEL][,channel=…][,type=…] and keeps pyserial URLs whole.
        wanted["sony9pin"] = {"ports": list(args.sony9pin)}
    return wanted


def start_controls(engine: Any, profile: Any, args: argparse.Namespace) -> list[Any]:
    """Start every control surface the profile enables or the command line asks for."""
    from plugin import registry

    overrides = control_overrides(args)
    enabled = set(overrides)
    if profile.control.rest.enabled and not args.no_rest:
        enabled.add("rest")
    if profile.control.osc.enabled:
        enabled.add("osc")
    if profile.control.sony9pin:
        enabled.add("sony9pin")
    if args.no_rest:
        enabled.discard("rest")
    surfaces = []
    for name in sorted(enabled):
        if name not in registry.names("controls"):
            log.warning("control surface %r is enabled but not installed; skipped", name)
            continue
        surface = registry.load("controls", name).from_profile(engine, profile, overrides.get(name, {}))
        surface.start()
        surfaces.append(surface)
    return surfaces


def start_extra_outputs(engine: Any, profile: Any) -> list[Any]:
    """Outputs beyond the channels: the NDI multiviewer, when the show publishes over NDI."""
    uses_ndi = any(url.startswith("ndi://") for ch in profile.channels for url in ch.outputs)
    if not uses_ndi:
        return []
    from io_adapters.ndi import Multiviewer

    viewer = Multiviewer(engine)
    viewer.start()
    return [viewer]


#: Seconds a stop may take before ``run`` writes every thread's stack to stderr (it goes on waiting).
STOP_REPORT_S = 20.0


def run(args: argparse.Namespace, on_serving: Callable[[Any, threading.Event], None] | None = None) -> int:
    """Serve until Ctrl-C, SIGTERM or ``--duration``; ``on_serving(engine, stop)`` runs once serving."""
    profile = load(args.profile)
    print(f"fvreplay: {profile.name!r} from {profile.source_path}")
    from plugin.engine import Engine

    engine = Engine.from_profile(profile)
    print(f"  format {engine.fmt}, reference {profile.reference}, record trains {engine.memory.description}")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    surfaces: list[Any] = []
    extras: list[Any] = []
    try:
        engine.start()
        for name, chan in engine.channels.items():
            for sink in chan.sinks:
                print("  " + (sink.describe() if hasattr(sink, "describe") else f"output {name} → {sink.url}"))
        extras = start_extra_outputs(engine, profile)
        for extra in extras:
            print(f"  {extra.describe()}")
        surfaces = start_controls(engine, profile, args)
        for surface in surfaces:
            for line in surface.describe():
                print(f"  {line}")
        renderer = engine.renderer.mode if engine.renderer is not None else "cut"
        print(f"  cameras: {', '.join(engine.camera_names)}; views rendered by {renderer!r}")
        print("serving; Ctrl-C to stop", flush=True)
        if on_serving is not None:
            threading.Thread(target=on_serving, args=(engine, stop), name="on-serving", daemon=True).start()
        # --duration counts output time: from the first tick (engine.start) to the last.
        deadline = engine.started_at + args.duration if args.duration else None
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        # A stop that hangs says where: every thread's stack on stderr after STOP_REPORT_S.
        faulthandler.dump_traceback_later(STOP_REPORT_S, exit=False)
        engine.halt()
        for surface in surfaces:
            surface.stop()
        for extra in extras:
            extra.stop()
        stats = engine.stats()
        engine.stop()
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGTERM, previous)
    if args.stats_json:
        args.stats_json.write_text(json.dumps(stats, indent=2, default=str))
    out = stats["channels"]
    print("stopped: " + ", ".join(f"{n}: {c['frames_out']} frames, {c['repeated']} repeated" for n, c in out.items()))
    return 0
