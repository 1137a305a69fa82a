"""``fvreplay profile check``: validate a show profile and print it resolved, or every problem."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from profiles import ProfileLoadError, load_profile


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
        print(_to_toml(resolved))
    return 0


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    return repr(v)


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Render a resolved profile as TOML (tables after scalars, arrays of tables as [[…]])."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if value is None:
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            tables.append(f"\n[{path}]\n" + _to_toml(value, path))
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                tables.append(f"\n[[{path}]]\n" + _to_toml(item, path))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "".join(tables)
