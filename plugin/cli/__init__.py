"""The ``fvreplay`` command line: the composition root that assembles an engine from a profile.

Each subcommand lives in its own module with ``add_parser(subparsers)``; modules outside
``plugin`` (adapters, controls) are imported only for their parser and must keep heavy imports
inside their handlers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from plugin import __version__
from plugin.errors import ReplayError

#: Modules that contribute subcommands, in the order `fvreplay --help` lists them.
SUBCOMMAND_MODULES = (
    "plugin.cli.run",
    "plugin.cli.demo",
    "plugin.cli.profile",
    "plugin.cli.plugins",
    "plugin.cli.bench",
    "plugin.cli.freeview",
    "io_adapters.sim.cli",
)

log = logging.getLogger("fvreplay.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fvreplay",
        description="fvreplay: a genlock-aware free-viewpoint replay engine for live broadcast.",
    )
    parser.add_argument("--version", action="version", version=f"fvreplay {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold (default: INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ReplayError as exc:
        print(f"fvreplay {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
