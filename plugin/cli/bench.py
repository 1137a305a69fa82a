"""``fvreplay bench NAME``: run a benchmark and report its numbers with the machine they came from."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
from pathlib import Path
from typing import Any

#: Benchmarks by name: "module:function", imported only when that benchmark runs.
#: Each function takes an options dict and returns a JSON-able dict of results; it prints nothing.
BENCHMARKS: dict[str, str] = {
    "timing": "timing.bench:bench",
    "sim": "io_adapters.sim.bench:bench",
    "engine": "plugin.bench:bench_engine",
    "render": "plugin.freeview.bench:bench",
    "stages": "plugin.freeview.bench:bench_stages",
    "ndi": "io_adapters.ndi.bench:bench",
    "control": "control.bench:bench",
    "rest": "control.rest.bench:bench",
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a benchmark: " + ", ".join(BENCHMARKS))
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("--seconds", type=float, default=None, help="how long timed phases run (benchmark default)")
    p.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where GPU-able work runs")
    p.add_argument("--profile", default="demo", help="profile for benchmarks that need one")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.set_defaults(handler=run_bench)


def machine() -> dict[str, Any]:
    """What ran the benchmark: enough to compare numbers across machines."""
    info: dict[str, Any] = {"host": platform.node(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        info["cpu"] = platform.processor()
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def run_bench(args: argparse.Namespace) -> int:
    module_name, func_name = BENCHMARKS[args.name].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    options: dict[str, Any] = {"device": args.device, "profile": args.profile}
    if args.seconds is not None:
        options["seconds"] = args.seconds
    results = {"benchmark": args.name, "machine": machine(), "results": func(options)}
    print(_render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def _render(data: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:")
                lines.append(_render(value, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_fmt(value)}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(f"{pad}- {_fmt(v)}" if not isinstance(v, (dict, list)) else _render(v, indent + 1) for v in data)
    return f"{pad}{_fmt(data)}"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
