"""``fvreplay profile check``: validate a show profile and print it resolved, or every problem."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from profiles import ProfileLoadError, load_profile, to_toml


def add_parser(sub: Any) -> None:
    p = sub.add_parser("profile", help="check show profiles")
    psub = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    check = psub.add_parser("check", help="validate a profile; print it resolved or its errors (exit 2)")
    check.add_argument("profile", help="path to a .toml profile, or a shipped profile's name (demo)")
    check.add_argument("--json", action="store_true", help="print the resolved profile as JSON")
    check.set_defaults(handler=check_profile)


def check_profile(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
    except ProfileLoadError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    resolved = profile.model_dump(mode="json")
    if args.json:
        print(json.dumps(resolved, indent=2))
    else:
        print(f"# {profile.source_path}: OK ({len(profile.cameras)} cameras, {len(profile.channels)} channels)")
        print(to_toml(resolved))
    return 0
