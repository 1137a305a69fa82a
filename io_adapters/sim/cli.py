"""``fvreplay sim``: export ground truth from the synthetic venue, prebuild its loop cache.

Imported for its parser by ``fvreplay``'s command line: heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="the synthetic venue: export a rig instant as ground truth, prebuild the cache")
    actions = p.add_subparsers(dest="sim_action", metavar="ACTION")

    e = actions.add_parser(
        "export",
        help="write one instant of the rig: COLMAP model, images/, depth/ (and sheet.png)",
        description="Render every camera of the profile's sim venue at one scene time and write a COLMAP text "
        "model (exact calibration), images/<camera>.png, depth/<camera>.npy (z_cam in metres) and points3D.txt.",
    )
    _scene_args(e)
    e.add_argument("--time", type=float, default=0.0, metavar="SECONDS", help="scene time (default 0)")
    e.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into")
    e.add_argument("--between", type=int, default=0, metavar="N", help="also N virtual cameras between neighbours")
    e.add_argument("--sheet", action="store_true", help="also write sheet.png, every camera with its name")
    e.add_argument("--width", type=int, default=None, help="picture width (default: the profile's)")
    e.add_argument("--height", type=int, default=None, help="picture height (default: the profile's)")
    e.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where to render")
    e.set_defaults(handler=run_export)

    c = actions.add_parser(
        "cache",
        help="render the profile's sim loop into the cache now (what the first run would do), timing it",
    )
    _scene_args(c)
    c.add_argument("--workers", type=int, default=None, help="render processes (default: one per core)")
    c.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where to render")
    c.set_defaults(handler=run_cache)
    p.set_defaults(handler=lambda args: _no_action(p))


def _scene_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="demo", help="profile path or shipped name (default: demo)")
    p.add_argument("--venue", default=None, help="sim venue (default: the profile's sim:// cameras'): arena, ring")
    p.add_argument("--seed", type=int, default=None, help="scene seed (default: the profile's, else 0)")
    p.add_argument("--loop", type=float, default=None, help="loop seconds (default: the profile's, else 3)")


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Venue, scene and format from the profile's sim cameras, overridden by the command line."""
    from io_adapters.sim.venue import parse_sim_url
    from plugin.errors import ProfileError
    from profiles import ProfileLoadError, load_profile

    out: dict[str, Any] = {"venue": "arena", "seed": 0, "loop": 3.0, "players": 8, "width": 1280, "height": 720,
                           "rate": "50"}
    profile = None
    try:
        profile = load_profile(args.profile)
    except ProfileLoadError as exc:
        if args.venue is None:
            raise ProfileError("\n".join(exc.problems), exc.problems) from exc
    if profile is not None:
        out.update(width=profile.format.width, height=profile.format.height, rate=profile.format.rate)
        sims = [c for c in profile.cameras if c.source.startswith("sim://")]
        if sims:
            url = parse_sim_url(sims[0].source)
            out.update(venue=url.venue, seed=url.seed, loop=url.loop, players=url.players)
        elif args.venue is None:
            raise ProfileError(f"profile {profile.name!r} has no sim:// cameras; name a venue with --venue")
    for key in ("venue", "seed", "loop"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    return out


def run_export(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from io_adapters.sim.export import export_rig
    from plugin.freeview.render.common import resolve_device

    p = resolve(args)
    width = args.width or p["width"]
    height = args.height or p["height"]
    started = time.monotonic()
    with Progress(transient=True) as bar:
        task = bar.add_task("rendering", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=f"rendered {name}")

        result = export_rig(
            args.out,
            venue=p["venue"],
            time=args.time,
            width=width,
            height=height,
            seed=p["seed"],
            loop=p["loop"],
            players=p["players"],
            between=args.between,
            sheet=args.sheet,
            device=resolve_device(args.device).type,
            progress=progress,
        )
    print(
        f"fvreplay sim export: {len(result.cameras)} cameras ({len(result.virtual)} virtual) of {p['venue']} "
        f"at t = {args.time} s, {width}x{height}, {result.n_points} points, into {result.out} "
        f"in {time.monotonic() - started:.1f} s"
    )
    if result.sheet is not None:
        print(f"contact sheet: {result.sheet}")
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from io_adapters.sim.cache import LoopSpec, ensure_loop
    from plugin.freeview.render.common import resolve_device
    from timing import FrameRate

    p = resolve(args)
    spec = LoopSpec(p["venue"], p["width"], p["height"], FrameRate.parse(p["rate"]), p["seed"], p["loop"],
                    p["players"])
    folder = spec.folder()
    if (folder / "meta.json").exists():
        print(f"fvreplay sim cache: already built: {folder}")
        return 0
    print(
        f"fvreplay sim cache: {spec.venue}, {len(spec.cameras())} cameras × {spec.frames} frames "
        f"({spec.width}x{spec.height} at {spec.rate}), {spec.total_bytes / 1e9:.2f} GB into {folder}"
    )
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("rendering", total=len(spec.cameras()) * spec.frames)
        ensure_loop(spec, device=resolve_device(args.device).type, workers=args.workers,
                    progress=lambda done, total: bar.update(task, completed=done))
    print(f"fvreplay sim cache: built in {time.monotonic() - started:.1f} s: {folder}")
    return 0
