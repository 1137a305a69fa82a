"""``fvreplay run``: start the engine on a profile and serve its channels and control surfaces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the engine on a profile (default: the demo venue)")
    p.add_argument("--profile", default="demo", help="profile path or shipped name (default: demo)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--stats-json", type=Path, default=None, help="write frame statistics here at exit")
    p.add_argument("--rest", default=None, metavar="HOST:PORT", help="serve REST + web page here")
    p.add_argument("--osc", type=int, default=None, metavar="PORT", help="serve OSC on this UDP port")
    p.add_argument("--sony9pin", action="append", default=[], metavar="DEVICE", help="serve 9-pin on a serial port")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from plugin.errors import ProfileError
    from profiles import ProfileLoadError, load_profile

    try:
        profile = load_profile(args.profile)
    except ProfileLoadError as exc:
        raise ProfileError("\n".join(exc.problems), exc.problems) from exc
    print(f"fvreplay: profile {profile.name!r} ({profile.source_path}) loaded; the engine is not built yet")
    return 0
