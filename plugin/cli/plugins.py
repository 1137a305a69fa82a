"""``fvreplay plugins``: the adapters and control surfaces found through entry points."""

from __future__ import annotations

import argparse
from typing import Any

from plugin import registry


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list source/sink adapters and control surfaces, and any that fail to load")
    p.set_defaults(handler=list_plugins)


def list_plugins(args: argparse.Namespace) -> int:
    infos = registry.report()
    failed = 0
    for group in registry.GROUPS:
        print(f"{group}:")
        rows = [i for i in infos if i.group == group]
        if not rows:
            print("  (none installed)")
        for info in rows:
            status = "ok" if info.loaded else f"FAILED: {info.error}"
            failed += not info.loaded
            print(f"  {info.name:<10} {info.target:<45} {status}")
    return 1 if failed else 0
