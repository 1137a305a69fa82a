"""``fvreplay synth``, ``depth`` and ``eval``: free-viewpoint rendering from the command line.

``synth`` and ``depth`` work on a rig folder (COLMAP text model with ``images/``); ``eval`` scores the
renderers against the sim venue's ground truth (it imports the sim adapter inside its handler only:
the CLI is the composition root).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from plugin.errors import CalibrationError, ProfileError, RenderError
from plugin.freeview.camera import CameraModel
from plugin.freeview.rig import Rig

MODES = ("cut", "switch", "depth")
EVAL_MODES = ("cut", "switch", "crossfade", "depth", "oracle")


def add_parser(sub: Any) -> None:
    s = sub.add_parser("synth", help="render one rig camera's view from the rig's other images")
    s.add_argument("--rig", type=Path, required=True, metavar="DIR", help="COLMAP text model folder with images/")
    s.add_argument("--target", required=True, metavar="NAME", help="the image whose camera to render (cam03)")
    s.add_argument("--exclude", nargs="*", default=[], metavar="NAME", help="images left out of the sources")
    s.add_argument("--mode", default="depth", choices=MODES, help="renderer (default: depth)")
    s.add_argument("--quality", default="normal", choices=["draft", "normal", "high"], help="depth effort")
    _depth_range_args(s)
    s.add_argument("--out", type=Path, required=True, metavar="PNG", help="where to write the picture")
    s.set_defaults(handler=run_synth)

    d = sub.add_parser("depth", help="depth map (metres along the optical axis) of one rig camera")
    d.add_argument("--rig", type=Path, required=True, metavar="DIR", help="COLMAP text model folder with images/")
    d.add_argument("--target", required=True, metavar="NAME", help="the image whose depth to estimate")
    d.add_argument("--quality", default="normal", choices=["draft", "normal", "high"], help="sweep effort")
    _depth_range_args(d)
    d.add_argument("--out", type=Path, required=True, metavar="NPY", help="float32 .npy, NaN where unknown")
    d.set_defaults(handler=run_depth)

    e = sub.add_parser("eval", help="score cut/switch/crossfade/depth/oracle against the sim's ground truth")
    e.add_argument("--profile", default="demo", help="profile with sim:// cameras (default: demo)")
    e.add_argument("--time", type=float, default=0.5, metavar="SECONDS", help="scene time (default 0.5)")
    e.add_argument("--width", type=int, default=None, help="render width (default: half the profile's)")
    e.add_argument("--height", type=int, default=None, help="render height (default: half the profile's)")
    e.add_argument(
        "--held-out",
        default=None,
        metavar="NAMES",
        help="comma-separated cameras to leave out and re-create (default: 3 interior cameras)",
    )
    e.add_argument(
        "--views", default=None, metavar="S,S,...", help="virtual view positions to score (default: 5 between cameras)"
    )
    e.add_argument("--modes", default=",".join(EVAL_MODES), help=f"renderers to score (default: {','.join(EVAL_MODES)})")
    e.add_argument("--quality", default="normal", choices=["draft", "normal", "high"], help="depth effort")
    e.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where to render")
    e.add_argument(
        "--plates",
        type=int,
        default=9,
        metavar="N",
        help="clean plates for the depth renderer from N frames per camera spread over the sim's loop (0: none)",
    )
    e.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the scores as JSON")
    e.set_defaults(handler=run_eval)


def _depth_range_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where to render")
    p.add_argument("--near", type=float, default=None, metavar="METRES", help="nearest scene depth")
    p.add_argument("--far", type=float, default=None, metavar="METRES", help="farthest scene depth")


# --- rig folders ------------------------------------------------------------------------------------


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RenderError(f"{path}: cannot read the image (missing or not a picture)")
    return np.ascontiguousarray(img[:, :, ::-1])


def depth_range(rig: Rig, target: CameraModel, near: float | None, far: float | None) -> tuple[float, float]:
    """--near/--far, else the 2nd-98th percentile of points3D depths in the target camera, with margin."""
    if near is not None and far is not None:
        if not 0 < near < far:
            raise RenderError(f"--near {near} and --far {far}: need 0 < near < far")
        return near, far
    if rig.points is None or len(rig.points) == 0:
        raise RenderError("no depth range: give --near and --far (metres), or a rig folder whose points3D.txt has points")
    uv, z = target.project(rig.points)
    inside = (z > 0) & np.all(np.isfinite(uv), axis=1)
    inside &= (uv[:, 0] >= 0) & (uv[:, 0] < target.width) & (uv[:, 1] >= 0) & (uv[:, 1] < target.height)
    if inside.sum() < 10:
        raise RenderError(f"points3D.txt has {int(inside.sum())} points in front of {target.name}: give --near and --far")
    lo, hi = np.percentile(z[inside], [2, 98])
    return (near if near is not None else float(lo) * 0.8), (far if far is not None else float(hi) * 1.25)


def _load_rig(folder: Path) -> Rig:
    if not folder.is_dir():
        raise CalibrationError(f"--rig {folder}: not a folder (expected a COLMAP text model with images/)")
    return Rig.from_colmap(folder)


def _images(rig: Rig, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        path = rig.image_paths.get(name)
        if path is None:
            raise RenderError(f"rig has no image file for {name}")
        out[name] = read_rgb(path)
    return out


def run_synth(args: argparse.Namespace) -> int:
    import cv2
    import torch

    from plugin.freeview.render import MODES as RENDERERS
    from plugin.freeview.render.common import to_uint8

    rig = _load_rig(args.rig)
    target = rig.camera(args.target)
    sources = rig.without(args.target, *[n for n in args.exclude if n != args.target])
    if len(sources) == 0:
        raise RenderError("synth: no source images left after --exclude")
    near, far = depth_range(rig, target, args.near, args.far)
    renderer = RENDERERS[args.mode](sources, device=args.device, quality=args.quality, near=near, far=far)
    s = sources.locate(target.center)
    try:
        pivot = sources.default_pivot
    except CalibrationError:
        pivot = target.center + target.forward * (near + far) / 2
    view_names = renderer.sources_at(s)
    images = _images(sources, view_names)
    with torch.inference_mode():
        image = to_uint8(renderer.render_camera(target, s, pivot, images))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image[:, :, ::-1]):
        raise RenderError(f"--out {args.out}: cannot write the picture")
    print(
        f"{args.out}: {target.name} at s = {s:.3f} from {', '.join(view_names)} ({args.mode}, near {near:.1f} m, far {far:.1f} m)"
    )
    return 0


def run_depth(args: argparse.Namespace) -> int:
    import torch

    from plugin.freeview.render import DepthRenderer
    from plugin.freeview.render.common import image_stack

    rig = _load_rig(args.rig)
    target = rig.camera(args.target)
    others = rig.without(args.target)
    if len(others) == 0:
        raise RenderError("depth: the rig needs at least one image besides the target")
    near, far = depth_range(rig, target, args.near, args.far)
    renderer = DepthRenderer(others, device=args.device, quality=args.quality, near=near, far=far)
    s = others.locate(target.center)
    names = renderer.names(others.neighbours(s, renderer.n_sources))
    images = _images(rig, [*names, target.name])
    with torch.inference_mode():
        srcs = renderer.load(images, names, alpha=True)
        reference = image_stack([images[target.name]], renderer.device)
        depth = renderer.depth_map(target, srcs, reference)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, depth)
    known = np.isfinite(depth)
    print(
        f"{args.out}: {target.name} {depth.shape[1]}x{depth.shape[0]} from {', '.join(names)}; "
        f"{known.mean():.0%} known, median {np.nanmedian(depth) if known.any() else float('nan'):.2f} m"
    )
    return 0


# --- eval -------------------------------------------------------------------------------------------


def _eval_rig(profile: Any, width: int, height: int) -> Rig:
    """The profile's rig at the eval size; sim cameras without calibration take the venue's exact ones."""
    try:
        return Rig.from_profile(profile).scaled(width, height)
    except CalibrationError:
        from io_adapters.sim.venue import parse_sim_url, venue_cameras

        cams = [c for c in profile.cameras if c.enabled]
        if not all(c.source.startswith("sim://") for c in cams):
            raise
        venue = parse_sim_url(cams[0].source).venue
        by_name = {c.name: c for c in venue_cameras(venue, width, height)}
        rig_cams = []
        for cam in cams:
            url = parse_sim_url(cam.source)
            model = by_name[url.camera]
            rig_cams.append(dataclasses.replace(model, name=cam.name))
        return Rig(rig_cams, default_pivot=profile.scene.pivot)


def run_eval(args: argparse.Namespace) -> int:
    from io_adapters.sim.render import SimRenderer
    from io_adapters.sim.scene import ID_PLAYER0, Scene
    from io_adapters.sim.venue import parse_sim_url
    from plugin.freeview.background import BackgroundPlates
    from plugin.freeview.evaluate import Case, score
    from plugin.freeview.path import VirtualView
    from plugin.freeview.render import MODES as RENDERERS
    from plugin.freeview.render import BaseRenderer, DepthRenderer
    from profiles import ProfileLoadError, load_profile

    try:
        profile = load_profile(args.profile)
    except ProfileLoadError as exc:
        raise ProfileError(str(exc), exc.problems) from exc
    sims = [c for c in profile.cameras if c.enabled and c.source.startswith("sim://")]
    if len(sims) < 3:
        raise RenderError(f"eval: profile {args.profile} needs at least 3 enabled sim:// cameras for ground truth")
    width = args.width or profile.format.width // 2
    height = args.height or profile.format.height // 2
    rig = _eval_rig(profile, width, height)
    url = parse_sim_url(sims[0].source)
    sim = SimRenderer(Scene(url.seed, url.loop, url.players), "cpu")
    pivot = rig.default_pivot
    near, far = profile.scene.depth_near, profile.scene.depth_far
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    unknown = [m for m in modes if m not in RENDERERS]
    if unknown:
        raise RenderError(f"eval: unknown mode(s) {', '.join(unknown)} (known: {', '.join(RENDERERS)})")

    images = {cam.name: sim.render(cam, args.time).rgb for cam in rig}
    plates = None
    if args.plates:
        # As the engine makes them from its record trains: the median of frames spread over time.
        times = [(args.time + k * url.loop / args.plates) % url.loop for k in range(args.plates)]
        plates = BackgroundPlates.from_frames(
            {cam.name: [images[cam.name] if t == args.time else sim.render(cam, t).rgb for t in times] for cam in rig}
        )

    def renderers(r: Rig) -> dict[str, BaseRenderer]:
        out = {m: RENDERERS[m](r, device=args.device, quality=args.quality, near=near, far=far) for m in modes}
        for renderer in out.values():
            if isinstance(renderer, DepthRenderer) and plates is not None:
                # As the engine sets them up: the plates, and the venue depth made from them (for this
                # rig: a held-out camera's plate is not used).
                renderer.background = plates
                renderer.venue = renderer.estimate_venue(plates)
        return out

    n = len(rig)
    held = (
        [h.strip() for h in args.held_out.split(",") if h.strip()]
        if args.held_out is not None
        else [rig.cameras[i].name for i in sorted({n // 4, n // 2, (3 * n) // 4}) if 0 < i < n - 1]
    )
    views = (
        [float(v) for v in args.views.split(",") if v.strip()]
        if args.views is not None
        else [v for v in (2.5, 0.45 * n, 0.5 * n + 0.25, 0.75 * n, n - 0.5) if 1 <= v <= n]
    )
    def case(name: str, kind: str, target: CameraModel, s: float, by_mode: dict[str, BaseRenderer]) -> Case:
        """A view to score against the sim's truth; its players are scored on their own too (what a viewer watches)."""
        truth = sim.render(target, args.time)
        players = {"players": truth.ids >= ID_PLAYER0}
        return Case(name, kind, target, s, truth.rgb, truth.depth, by_mode, pivot, players)

    cases = []
    for name in held:
        target = rig.camera(name)
        loo = rig.without(name)
        cases.append(case(name, "held-out", target, loo.locate(target.center), renderers(loo)))
    full = renderers(rig)
    for s in views:
        cases.append(case(f"s={s:g}", "virtual", rig.view_camera(VirtualView(s, pivot), width, height), s, full))
    report = score(cases, lambda case: images, clock=time.perf_counter)
    print(
        f"# {profile.name}: {n} cameras at {width}x{height}, scene time {args.time} s, depth {near}-{far} m, "
        f"quality {args.quality}, "
        + (f"clean plates from {args.plates} frames over {url.loop:g} s" if plates else "no clean plates")
    )
    print(report.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "profile": profile.name,
                    "width": width,
                    "height": height,
                    "time": args.time,
                    "rows": report.rows,
                    "means": report.means(),
                },
                indent=2,
            )
        )
    return 0
