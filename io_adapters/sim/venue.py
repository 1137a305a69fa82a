"""The synthetic venue's camera rigs: ``arena`` (10 cameras on a 120° arc) and ``ring`` (16 around).

Cameras stand at broadcast positions (about 26 m from the centre spot, 10-11 m up), all aimed at
the venue's pivot, with a level horizon, a 38° horizontal field of view (give or take 3 %), a
principal point a few pixels off centre and a little barrel distortion (k1 between -0.05 and
-0.02), fixed per venue. The calibration they report is exact unless ``noise`` asks otherwise:
noise perturbs what is *reported* (to test robustness), never what is rendered.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt

from io_adapters.sim.scene import ARENA
from plugin.errors import SourceError
from plugin.freeview.camera import CameraModel, look_at_rotation, rodrigues

F64 = npt.NDArray[np.float64]

REFERENCE_WIDTH = 1280  # principal point offsets are specified at this width


@dataclass(frozen=True)
class VenueSpec:
    """A rig: ``count`` cameras from ``start_deg`` over ``span_deg`` around the pivot (counter-clockwise)."""

    name: str
    count: int
    start_deg: float
    span_deg: float
    radius: float = 26.0
    height: float = 10.5
    hfov_deg: float = 38.0

    @property
    def closed(self) -> bool:
        return self.span_deg >= 360.0

    def angles_deg(self) -> F64:
        step = self.span_deg / (self.count if self.closed else self.count - 1)
        return np.asarray(self.start_deg + step * np.arange(self.count))


VENUES: dict[str, VenueSpec] = {
    # The broadcast side of the pitch (-y), from the left corner to the right corner.
    "arena": VenueSpec("arena", 10, -150.0, 120.0),
    # All the way round, starting behind the halfway line on the broadcast side.
    "ring": VenueSpec("ring", 16, -90.0, 360.0),
}


def venue_spec(venue: str) -> VenueSpec:
    try:
        return VENUES[venue]
    except KeyError:
        raise SourceError(f"sim: unknown venue {venue!r} (venues: {', '.join(VENUES)})") from None


def camera_names(venue: str) -> list[str]:
    return [f"cam{i + 1:02d}" for i in range(venue_spec(venue).count)]


def venue_cameras(venue: str, width: int, height: int, *, noise: float = 0.0, seed: int = 0) -> list[CameraModel]:
    """The rig's cameras at ``width`` × ``height`` (square pixels), ordered along the arc: cam01, cam02 …

    ``noise`` (0 = exact) perturbs the reported calibration: per unit, about 0.2° of rotation,
    5 cm of position, 0.5 % of focal length, 2 px of principal point and 0.005 of k1, drawn from
    ``seed``. Renders always use the exact cameras (``noise = 0``).
    """
    spec = venue_spec(venue)
    if width <= 0 or height <= 0:
        raise SourceError(f"sim: picture size must be positive, got {width}x{height}")
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    pivot = np.asarray(ARENA.pivot, float)
    cams = []
    for i, ang in enumerate(spec.angles_deg()):
        radius = spec.radius + rng.uniform(-1.0, 1.0)
        h = spec.height + rng.uniform(-0.7, 0.7)
        hfov = math.radians(spec.hfov_deg) * (1 + rng.uniform(-0.03, 0.03))
        off = rng.uniform(-4.0, 4.0, size=2) * width / REFERENCE_WIDTH
        k1 = rng.uniform(-0.05, -0.02)
        k2 = rng.uniform(-0.004, 0.008)
        p1, p2 = rng.uniform(-3e-4, 3e-4, size=2)
        a = math.radians(ang)
        centre = pivot + np.array([radius * math.cos(a), radius * math.sin(a), 0.0])
        centre[2] = h
        f = (width / 2) / math.tan(hfov / 2)
        cam = CameraModel.look_at(
            f"cam{i + 1:02d}",
            centre,
            pivot,
            width=width,
            height=height,
            focal_px=f,
            dist=(k1, k2, p1, p2, 0.0),
            principal=((width - 1) / 2 + off[0], (height - 1) / 2 + off[1]),
        )
        cams.append(cam)
    if noise:
        cams = [perturbed(c, noise, np.random.default_rng([seed, i])) for i, c in enumerate(cams)]
    return cams


def perturbed(cam: CameraModel, noise: float, rng: np.random.Generator) -> CameraModel:
    """A calibration error of the given size (see :func:`venue_cameras`)."""
    rot = rodrigues(rng.normal(0, math.radians(0.2) * noise, 3)) @ cam.R
    centre = cam.center + rng.normal(0, 0.05 * noise, 3)
    K = cam.K.copy()
    K[0, 0] *= 1 + rng.normal(0, 0.005 * noise)
    K[1, 1] = K[0, 0] * cam.fy / cam.fx
    K[:2, 2] += rng.normal(0, 2.0 * noise, 2) * cam.width / REFERENCE_WIDTH
    dist = cam.dist.copy()
    dist[0] += rng.normal(0, 0.005 * noise)
    return CameraModel(cam.name, cam.width, cam.height, K, rot, -rot @ centre, dist)


def find_camera(venue: str, camera: str, width: int, height: int, *, noise: float = 0.0, seed: int = 0) -> CameraModel:
    """One camera of the rig by name (see :func:`venue_cameras` for ``noise`` and ``seed``)."""
    for cam in venue_cameras(venue, width, height, noise=noise, seed=seed):
        if cam.name == camera:
            return cam
    raise SourceError(f"sim://{venue}: no camera {camera!r} (cameras: {', '.join(camera_names(venue))})")


# --- cameras between the real ones -----------------------------------------------------------------


def interpolate_camera(a: CameraModel, b: CameraModel, alpha: float, pivot: F64, name: str) -> CameraModel:
    """A virtual camera ``alpha`` of the way from ``a`` to ``b`` along the arc round ``pivot``.

    Position: angle, horizontal radius and height about the pivot's vertical axis, interpolated
    linearly (the shorter way round); aimed at the pivot with a level horizon; focal length
    interpolated; principal point at the image centre; no distortion (an ideal virtual lens).
    """
    pivot = np.asarray(pivot, float)
    ca, cb = a.center - pivot, b.center - pivot
    ang_a, ang_b = math.atan2(ca[1], ca[0]), math.atan2(cb[1], cb[0])
    delta = (ang_b - ang_a + math.pi) % (2 * math.pi) - math.pi
    ang = ang_a + alpha * delta
    radius = (1 - alpha) * math.hypot(ca[0], ca[1]) + alpha * math.hypot(cb[0], cb[1])
    z = (1 - alpha) * ca[2] + alpha * cb[2]
    centre = pivot + np.array([radius * math.cos(ang), radius * math.sin(ang), z])
    fx = (1 - alpha) * a.fx + alpha * b.fx
    fy = (1 - alpha) * a.fy + alpha * b.fy
    R = look_at_rotation(centre, pivot)
    K = np.array([[fx, 0, (a.width - 1) / 2], [0, fy, (a.height - 1) / 2], [0, 0, 1.0]])
    return CameraModel(name, a.width, a.height, K, R, -R @ centre)


def between_cameras(cameras: list[CameraModel], n: int, pivot: F64, *, closed: bool = False) -> list[CameraModel]:
    """The rig with ``n`` virtual cameras between each pair of neighbours, in arc order.

    Virtual cameras are named after the camera before them: ``cam03_v1of3`` … ``cam03_v3of3``.
    """
    out: list[CameraModel] = []
    pairs = len(cameras) if closed else len(cameras) - 1
    for i, cam in enumerate(cameras):
        out.append(cam)
        if i >= pairs:
            continue
        nxt = cameras[(i + 1) % len(cameras)]
        for k in range(1, n + 1):
            out.append(interpolate_camera(cam, nxt, k / (n + 1), pivot, f"{cam.name}_v{k}of{n}"))
    return out


# --- URLs and profiles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SimUrl:
    """A parsed ``sim://<venue>/<camera>[?seed=N&loop=SECONDS&noise=X&mode=cache|live|auto]``."""

    venue: str
    camera: str
    seed: int = 0
    loop: float = 3.0
    noise: float = 0.0
    mode: str = "auto"
    players: int = 8


def parse_sim_url(url: str) -> SimUrl:
    parts = urlsplit(url)
    if parts.scheme != "sim" or not parts.netloc or not parts.path.strip("/"):
        raise SourceError(f"{url!r}: a sim source is sim://<venue>/<camera>, e.g. sim://arena/cam03")
    venue, camera = parts.netloc, parts.path.strip("/")
    venue_spec(venue)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"seed", "loop", "noise", "mode", "players"}
    if unknown:
        raise SourceError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))} (seed, loop, noise, mode, players)")
    try:
        seed = int(query.get("seed", 0))
        loop = float(query.get("loop", 3.0))
        noise = float(query.get("noise", 0.0))
        players = int(query.get("players", 8))
    except ValueError as exc:
        raise SourceError(f"{url!r}: {exc}") from exc
    mode = query.get("mode", "auto")
    if mode not in ("auto", "cache", "live"):
        raise SourceError(f"{url!r}: mode must be auto, cache or live, got {mode!r}")
    if not 0.04 <= loop <= 60:
        raise SourceError(f"{url!r}: loop must be 0.04..60 seconds, got {loop}")
    if not 2 <= players <= 16:
        raise SourceError(f"{url!r}: players must be 2..16, got {players}")
    if camera not in camera_names(venue):
        raise SourceError(f"{url!r}: venue {venue!r} has no camera {camera!r} (cameras: {', '.join(camera_names(venue))})")
    return SimUrl(venue, camera, seed, loop, noise, mode, players)


def _fmt(x: float) -> str:
    return repr(float(x))


def profile_cameras_toml(venue: str, width: int, height: int, *, noise: float = 0.0, seed: int = 0) -> str:
    """The ``[[cameras]]`` blocks of a profile for this rig, with inline calibration: exact, or with the
    calibration error ``noise`` (see :func:`venue_cameras`) for robustness tests."""
    blocks = []
    for cam in venue_cameras(venue, width, height, noise=noise, seed=seed):
        rot = ", ".join("[" + ", ".join(_fmt(v) for v in row) + "]" for row in cam.R)
        blocks.append(
            "\n".join(
                [
                    "[[cameras]]",
                    f'name = "{cam.name}"',
                    f'source = "sim://{venue}/{cam.name}"',
                    "[cameras.calibration]",
                    f"fx = {_fmt(cam.fx)}",
                    f"fy = {_fmt(cam.fy)}",
                    f"cx = {_fmt(cam.K[0, 2])}",
                    f"cy = {_fmt(cam.K[1, 2])}",
                    "dist = [" + ", ".join(_fmt(v) for v in cam.dist) + "]",
                    f"rotation = [{rot}]",
                    "translation = [" + ", ".join(_fmt(v) for v in cam.t) + "]",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"
