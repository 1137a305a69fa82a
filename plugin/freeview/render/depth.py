"""In-between views synthesised from the nearest cameras by a depth sweep in the virtual camera.

The pipeline, all batched torch (no Python loop over pixels or planes; the same code on CPU and CUDA):

1. Hypotheses per virtual pixel: fronto-parallel planes evenly spaced in inverse depth (equal steps of
   disparity) over [near, far], plus the pitch: where the pixel's ray meets z = 0 (exact, so it is tried
   first and at every level, with a small bonus, where it lies within [near, far]). Nothing lies below
   the pitch: deeper planes are ruled out.
2. Coarse sweep at about 80 pixels wide (a pyramid of area-averaged, undistorted sources): every source is
   sampled at every hypothesis with one batched grid_sample. Photo-consistency: the truncated colour
   difference of every pair of sources, box-averaged over the samples both sources see, leaving out the
   source that disagrees most (an occluded one). Winner takes all.
3. Coarse to fine: at each finer level a pixel tries its nearest coarse pixel's depth +- a few pixels of
   disparity (a parabola through the costs gives the sub-step), its other coarse neighbours' depths (so
   depth edges snap to the right side), the pitch, and a wall standing where the pitch ends below it
   (the boards and the stand's front wall, which a fronto-parallel sweep gets a few per cent wrong).
   Off-pitch pixels whose final match is poor take the mean inverse depth of the well-matched ones
   around them (the stands are smooth; a wrong period of the seat rows matches badly).
4. The venue, when the renderer has its venue depth (``venue``, made once from the clean plates; see
   ``plugin.freeview.render.venue``): it is splatted into the view from the two bracketing cameras and
   replaces the full-size level of the sweep. A pixel takes it where its point shows the empty venue
   in every source (background against the plate: nobody in front), else where it matches about as
   well as the sweep's depth (``venue_bias``).
5. Players, when the renderer has clean plates of the sources (``background``): each pixel tries the
   depths of something upright standing on the pitch below it, and takes the most photo-consistent
   one whose point lies in the foreground of every source (``place_players``) and outside no silhouette
   of the next cameras out (``hull_at``: they carve the hull's phantoms beside the players), near the
   front of what passes (``_PLAYER_FRONT``: where two players overlap, the one in front): a player a
   few pixels wide is lost at the coarse level, and a box window straddling them prefers the pitch behind.
6. Blending at full resolution: each source's colour where it sees the pixel's point, weighted by
   closeness along the rig (a tent in s: at integer s exactly the camera's own re-aimed image, whatever
   the depth), times visibility: geometric (a z-buffer of the virtual view's points splatted into each
   source) and photometric (a source far from the median colour of the visible ones counts less); with
   clean plates, a player's pixel takes its colour from the sources that see foreground there and any
   other pixel from those that see the venue (a player in front of it in one source is left out).
   Pixels no bracketing camera sees take the nearest camera that sees them; pixels no camera sees at
   all continue the nearest camera's frame edge.
7. Views wider than ``half_depth_above`` (960: 720p, 1080p, 4K) do steps 1-5 at half size, from sources
   area-averaged to match, and blend at full size from that depth scaled back up (``upsample_depth``:
   interpolated in inverse depth over smooth surfaces, nearest across edges): the colours keep the full
   resolution, and on the demo rig the scores at 720p and 1080p are as good as with the depth at full
   size (``fvreplay eval``), for a quarter of the depth work. The players' edges are then placed at full
   size (``_sharpen``): scaled up, an edge is a staircase of whole small pixels, so each pixel there picks
   among the 3 x 3 small pixels around it by the sources' silhouettes at full size (1080p, the players'
   pixels: 23.67 -> 25.79 dB).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from plugin.freeview.background import BackgroundPlates
from plugin.freeview.camera import CameraModel
from plugin.freeview.path import VirtualView
from plugin.freeview.render import fused
from plugin.freeview.render.base import BaseRenderer
from plugin.freeview.render.common import (
    Projection,
    box_filter,
    constant,
    ground_depth,
    image_stack,
    keep_freed_memory,
    sample_many,
    stacked,
    stage,
    view_rays,
)
from plugin.freeview.render.venue import VenueDepth, median_inverse_depth, plate_sizes, splat_depth
from plugin.freeview.rig import Rig


@dataclass(frozen=True)
class SweepSettings:
    """How hard the depth renderer works, per quality level."""

    coarse_width: int  # the full sweep runs at about this width (a power-of-two fraction of the output)
    planes: int  # most fronto-parallel planes in the full sweep
    plane_step: float  # plane spacing, in pixels of disparity of the widest baseline at the coarse level
    radius: int  # box aggregation radius at levels of 1/4 resolution and coarser
    fine_radius: int  # box aggregation radius at 1/2 and full resolution
    finest: int  # local depth search down to 1/finest resolution; below it pixels only choose
    search: tuple[int, ...]  # +- steps of disparity searched at each finer level (last one repeats)
    sources: int  # cameras used: the two bracketing and the next ones out
    truncate: float  # colour difference (0..1) above which a pair disagrees, full stop
    ground_bias: float  # cost bonus of the pitch hypothesis (a prior: most pixels are pitch)
    agreement: float = 0.2  # blending: a source this far (0..1) from the median colour gets weight 1/e; 0: off
    #: Cost bonus of the venue's own depth (``venue``) over the sweep's. Demo eval (CPU): 0.03 -> 0.06 took
    #: 640x360 from 28.78 to 28.83 dB and 1280x720 from 29.70 to 29.77, no view lower by more than 0.01;
    #: 0.12 (the venue wherever it has a depth: the truncation) scored 28.84 / 29.81 but lost the end view
    #: (s = 9.5) 0.04 dB at 640x360, and leaves the sweep nothing the venue and the players do not cover.
    venue_bias: float = 0.06
    #: A view wider than this works out its depth at half size (1080p at 960x540, 4K at 1920x1080) and
    #: blends at full size from it, scaled back up (``upsample_depth``). 0: always at full size. Measured on the demo
    #: rig (``fvreplay eval``, CPU): no loss at 1280x720 or 1920x1080; a quarter of 1280 lost 0.5 dB.
    half_depth_above: int = 960
    #: Cameras whose silhouettes judge where a player stands (``place_players``): the sources and the next
    #: ones out, those with a plate (at most the rig). Four neighbouring cameras leave phantoms in the
    #: visual hull beside the players (points every source sees inside some player's silhouette); a
    #: camera further out sees the pitch there. Demo eval (CPU), 6 against the 4 sources: 640x360 28.83 ->
    #: 28.93 dB, 1280x720 29.81 -> 29.94, every view better (the held-out ones by up to 0.4 dB); the whole
    #: rig instead of 6 gained 0.01 more.
    hull: int = 6


_NORMAL = SweepSettings(
    coarse_width=80,
    planes=96,
    plane_step=1.5,
    radius=4,
    fine_radius=3,
    finest=2,
    search=(3, 2, 1),
    sources=4,
    truncate=0.12,
    ground_bias=0.001,
)
SETTINGS = {
    "draft": replace(_NORMAL, planes=64, plane_step=2.0, radius=3, fine_radius=2, sources=2, hull=2),
    "normal": _NORMAL,
    "high": replace(_NORMAL, coarse_width=120, planes=160, plane_step=1.0, finest=1, search=(4, 3, 2), half_depth_above=0),
}

#: Tallest upright thing looked for, as a fraction of the picture height (a player seen from the rig).
_STANDING_REACH = 0.2
#: Pixels the first source's silhouette is grown by to find, from every third standing depth, where
#: any might pass (the ratio 1.1^3 ~ 1.33 between them moves a point a few pixels in a source).
_PREFILTER_GROW = 6
#: The prefilter looks at every ``_PREFILTER_STRIDE``-th row and column, and passes on the pixels of the
#: blocks around those that pass (a player is several pixels wide; the grown silhouette covers the gap).
_PREFILTER_STRIDE = 2
#: Feet are looked for at rows this ratio apart below a pixel: 10 %, close enough for a thin limb.
_STANDING_RATIO = 1.1
#: Walls at the pitch's edge (``_at_the_pitch_edge``): tried at levels of 1/4 size and finer, up to this
#: fraction of the picture height above the pitch, where the coarser depth is within this of the pitch's,
#: at these steps of disparity around the wall's depth.
_EDGE_FACTOR = 4
_EDGE_REACH = 0.08
_EDGE_PITCH_TOL = 0.003
_EDGE_SEARCH = (-2.0, -1.0, 0.0, 1.0, 2.0)
#: Steps of the full-size disparity step searched around a player's first depth.
_PLAYER_SEARCH = (-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0)
#: A player's pixel takes a depth within this fraction of the front, not one further back: where two players
#: overlap, the ray meets the one in front first, and shirts alike leave photo-consistency unable to tell
#: which it sees (on the demo rig it gave the rear player's depth to half the front one's torso). The front
#: is the nearest depth that passes the hull test and matches about as well as the best one: its cost at most
#: ``1 + _FRONT_RATIO`` times the best's plus ``_FRONT_MARGIN`` of the truncation. The hull alone has phantoms
#: in front of a player seen beside another (where every source sees one of them), and it is a little fat (the
#: masks are grown), so its first depth can lie a little in front. Demo eval at 640x360, the players' pixels /
#: the whole picture: 25.04 / 28.93 dB without; 25.59 / 28.96 as set, every view better or the same; a looser
#: match (any within half the truncation of the best) scored 25.74 on the demo but lost 0.3-0.8 dB on the test
#: venue's textured boxes, whose phantoms it placed in front; the hull's first depth alone 25.68; the fraction
#: 0.02 / 0.03 / 0.035: 25.57 / 25.66 / 25.56 (without the cost test).
_PLAYER_FRONT = 0.025
_FRONT_RATIO = 0.5
_FRONT_MARGIN = 0.05
#: Radius of the window of placed pixels whose median inverse depth a placed pixel takes (0: its own).
_PLAYER_MEDIAN = 2
#: Pixels (at the depth's size) the silhouettes of the cameras beyond the sources are grown by, beyond the
#: plates' own growth, before they judge a player (``SweepSettings.hull``): they are further out, so a depth
#: a little off moves the point further in them. 1 to 4 full-size pixels at 640x360 and 2 to 8 at 1280x720
#: scored within 0.01 dB.
_HULL_GROW = 2

#: Off-pitch pixels matching worse than this fraction of the truncation take their neighbours' depth
#: (``_fill_unreliable``): the mean over a window this fraction of the picture width (10 px at 640).
_FILL_COST = 0.25
_FILL_REACH = 1 / 64

#: The venue depth (``estimate_venue``): the sweep's quality level, rounds of propagation between
#: neighbouring pixels, the pixel offsets a pixel borrows depths from, and the steps of disparity (of the
#: nearest source) tried around its own, shrinking each round.
#: It sweeps against the six nearest cameras (four left it a quarter less often within a pixel).
_VENUE_QUALITY = "high"
_VENUE_SOURCES = 6
_VENUE_ROUNDS = 3
_VENUE_SHIFTS = (1, 2, 4, 8)
_VENUE_STEPS = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
#: On a CPU, plates wider than this are worked on halved (and halved again) and the depth scaled back up:
#: 1280x720 takes 21 s a camera at full size on two cores, 4-5 s at 640x360.
_VENUE_CPU_WIDTH = 960
#: Hypotheses judged at once while propagating: at most 8, and the sources' samples of them within
#: this many bytes (a full-size cost of many sources is big).
_VENUE_CHUNK = 8
_VENUE_CHUNK_BYTES = 512 << 20

#: ``upsample_depth``: neighbours within this of each other are one smooth surface, interpolated. Against
#: nearest, on the demo rig (``fvreplay eval``): +0.05 dB at 1280x720, +0.04 dB at 1920x1080, every view
#: better; 0.5 % and 5 % gained less.
_UPSAMPLE_TOL = 0.02
#: ``_sharpen``'s 3 x 3 small pixels around a pixel: its own, then the four beside it, then the corners.
_AROUND_Y = (0, -1, 1, 0, 0, -1, -1, 1, 1)
_AROUND_X = (0, 0, 0, -1, 1, -1, 1, -1, 1)

#: Widest level swept in float16 on CUDA: beyond it fp16 grid coordinates are off by more than 1/4 pixel.
_FP16_MAX_WIDTH = 1024


@dataclass
class Sampled:
    """Every source sampled at the chosen depth of every target pixel."""

    colors: torch.Tensor  # (n, 3, H, W)
    alpha: torch.Tensor  # (n, H, W) how much of the sample lies inside the source's frame (0..1)
    zsrc: torch.Tensor  # (n, H, W) depth of the point in each source
    grids: torch.Tensor  # (n, H, W, 2)


@dataclass
class Hull:
    """Cameras, their silhouettes and their projection. The cameras beyond the sources that judge where a
    player stands (``DepthRenderer.place_players``): pinhole cameras, (n, 2, H, W) silhouettes (grown
    ``_HULL_GROW`` more than the sources') and "in frame", undistorted. Or the sources at full size as they
    are (``DepthRenderer._as_seen``): (n, 1, H, W) silhouettes, distortion and all."""

    cams: list[CameraModel]
    silhouettes: torch.Tensor
    proj: Projection

    def level(self, target: CameraModel, rays: torch.Tensor, ground: torch.Tensor | None = None, factor: int = 1) -> Level:
        """A level of ``target``'s ``rays`` (h, w, 3) with these cameras as its sources and their silhouettes as
        their images, for ``DepthRenderer._masks_at`` and ``_warp`` (``ground``: the pitch's depth along the
        rays, inf when not given)."""
        if ground is None:
            ground = torch.full(rays.shape[:2], float("inf"), device=rays.device)
        return Level(factor, target, list(zip(self.cams, self.silhouettes.split(1))), rays, ground, None, self.proj, None)


@dataclass
class Level:
    """One pyramid level: the target camera and the sources at that resolution, and the target's rays.

    The sources are pinhole cameras (undistorted), projected all at once by ``proj``; ``stack`` holds
    their images as one (n, C, h, w) tensor when they share a size (else None: sampled one by one)."""

    factor: int
    target: CameraModel
    srcs: list[tuple[CameraModel, torch.Tensor]]
    rays: torch.Tensor  # (h, w, 3) world rays scaled to z_cam = 1
    ground: torch.Tensor  # (h, w) depth of the pitch along each ray (inf: none)
    reference: torch.Tensor | None
    proj: Projection
    stack: torch.Tensor | None

    @functools.cached_property
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``proj.fold`` of this level's rays from the target's centre: (n, h, w, 3) and (n, 3)."""
        center = constant(self.target.center, self.rays.device)
        return self.proj.fold(self.rays, center)

    @property
    def images(self) -> torch.Tensor | list[torch.Tensor]:
        """The sources' images, as ``sample_many`` takes them."""
        return self.stack if self.stack is not None else [img for _, img in self.srcs]

    def _cut(self, rays: torch.Tensor, ground: torch.Tensor, ref: torch.Tensor | None, a: torch.Tensor, o: torch.Tensor) -> Level:
        out = Level(self.factor, self.target, self.srcs, rays, ground, ref, self.proj, self.stack)
        out.__dict__["folded"] = (a, o)
        return out

    def rows(self, a: int, b: int) -> Level:
        """The level cut down to its rows a..b-1."""
        ref = None if self.reference is None else self.reference[..., a:b, :]
        fa, fo = self.folded
        return self._cut(self.rays[a:b], self.ground[a:b], ref, fa[:, a:b], fo)

    def pixels(self, ys: torch.Tensor, xs: torch.Tensor) -> Level:
        """The level cut down to a list of its pixels: a (1, P) picture (no reference)."""
        fa, fo = self.folded
        return self._cut(self.rays[ys, xs].unsqueeze(0), self.ground[ys, xs].unsqueeze(0), None, fa[:, ys, xs].unsqueeze(1), fo)

    @functools.cached_property
    def feet(self) -> torch.Tensor:
        """(h, w, 2) where each pixel's ray meets the pitch, horizontally from the camera (0: it never does)."""
        g = self.ground
        return self.rays[..., :2] * torch.where(torch.isfinite(g), g, torch.zeros_like(g)).unsqueeze(-1)

    def on_pitch(self, depth: torch.Tensor) -> torch.Tensor:
        """(h, w) bool: ``depth`` is the pitch's (within ``_EDGE_PITCH_TOL``)."""
        return torch.isfinite(self.ground) & ((depth / self.ground - 1).abs() < _EDGE_PITCH_TOL)


def _above(feet: torch.Tensor, rays_xy: torch.Tensor) -> torch.Tensor:
    """Depth along rays (horizontal parts ``rays_xy``, (..., 2), scaled to z_cam = 1) of the point as far
    out, seen along the ray, as the pitch points ``feet`` (..., 2): straight above them when the ray passes
    over them."""
    return (feet * rays_xy).sum(-1) / (rays_xy * rays_xy).sum(-1).clamp(min=1e-9)


def _shifted(depth: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``depth`` (H, W) moved so each pixel holds the value ``dy`` rows and ``dx`` columns away (edges kept)."""
    h, w = depth.shape
    out = depth.clone()
    into = (slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0)))
    out[into] = depth[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    return out


def _baseline(target: CameraModel, srcs: list[tuple[CameraModel, torch.Tensor]]) -> float:
    """The widest distance from the target's centre to a source's (metres, at least 1 um)."""
    return max(max(float(np.linalg.norm(cam.center - target.center)) for cam, _ in srcs), 1e-6)


def _factors(width: int, coarse_width: int) -> list[int]:
    factor = 1
    while width / (factor * 2) >= coarse_width:
        factor *= 2
    out = []
    while factor >= 1:
        out.append(factor)
        factor //= 2
    return out


def photo_cost(smp: torch.Tensor, reference: torch.Tensor | None, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-pixel part of ``DepthRenderer._cost``: each hypothesis's cost (K, h, w) before the window,
    and its support (the pairs' weight behind it), from the sources' samples ``smp`` (n, 4, K, h, w: RGB
    and in-frame) and the target's own image ``reference`` (1, 3, h, w) or None."""
    cols = smp[:, :3]  # (n, 3, K, h, w)
    valid = (smp[:, 3] > 0.5).to(smp.dtype)  # (n, K, h, w)
    n = cols.shape[0]
    if reference is not None:
        num = (reference.unsqueeze(2) - cols).abs_().mean(dim=1).clamp_(max=tau).mul_(valid)
        den = valid
        total_num, total_den = num.sum(0), den.sum(0)
    else:
        # Every pair (j, j + d) for each distance d along the list: slices, not gathers.
        num, den = torch.zeros_like(valid), torch.zeros_like(valid)
        for d in range(1, n):
            ok = valid[: n - d] * valid[d:]
            diff = (cols[: n - d] - cols[d:]).abs_().mean(dim=1).clamp_(max=tau).mul_(ok)  # (n - d, K, h, w)
            num[: n - d] += diff
            num[d:] += diff
            den[: n - d] += ok
            den[d:] += ok
        # Each pair was counted for both of its sources.
        total_num, total_den = 0.5 * num.sum(0), 0.5 * den.sum(0)
    cost = total_num / total_den.clamp(min=1e-6)
    support = total_den
    if n >= 3 or (reference is not None and n >= 2):
        # Per pixel and hypothesis, leave out the source that disagrees most where that lowers the
        # cost (it is probably occluded there).
        rest_den = total_den.unsqueeze(0) - den
        rest = (total_num.unsqueeze(0) - num) / rest_den.clamp(min=1e-6)
        rest = torch.where(rest_den > 0.5, rest, torch.full_like(rest, float("inf")))
        lowest, j = rest.min(dim=0)
        better = lowest < cost
        cost = torch.where(better, lowest, cost)
        support = torch.where(better, torch.gather(rest_den, 0, j.unsqueeze(0))[0], support)
    return cost, support


def windowed_cost(smp: torch.Tensor, reference: torch.Tensor | None, tau: float) -> torch.Tensor:
    """``photo_cost`` as the window takes it: (K, 2, h, w) float32, the cost where the pairs give it
    support, and that support flag (``fused.pair_cost`` makes the same without a reference)."""
    cost, support = photo_cost(smp, reference, tau)
    has = (support > 0.5).to(cost.dtype)
    return torch.stack([cost * has, has], dim=1).float()


def _smooth(depth: torch.Tensor, tolerance: float = _UPSAMPLE_TOL) -> torch.Tensor:
    """(H, W) bool: the 3 x 3 pixels around are within ``tolerance`` of each other in inverse depth (the
    sky's 0 is never smooth next to it)."""
    finite = torch.isfinite(depth)
    inv = torch.where(finite, 1.0 / depth, torch.zeros_like(depth))[None, None]
    hi = F.max_pool2d(inv, 3, stride=1, padding=1)
    lo = -F.max_pool2d(-inv, 3, stride=1, padding=1)
    return ((hi - lo <= tolerance * hi) & (lo > 0))[0, 0]


def upsample_depth(depth: torch.Tensor, size: tuple[int, int], tolerance: float = _UPSAMPLE_TOL) -> torch.Tensor:
    """(H, W) depth scaled up to ``size`` (pixel centres kept): bilinear in inverse depth where the 3 x 3
    pixels around are within ``tolerance`` of each other (a smooth surface: a plane's inverse depth is
    affine across the picture, so the pitch, boards and stands come back exact), nearest elsewhere (an
    edge keeps its sides; the sky stays inf)."""
    finite = torch.isfinite(depth)
    inv = torch.where(finite, 1.0 / depth, torch.zeros_like(depth))[None, None]
    near = F.interpolate(depth[None, None], size=size, mode="nearest")[0, 0]
    flat = F.interpolate(inv, size=size, mode="bilinear", align_corners=False)[0, 0]
    take = F.interpolate(_smooth(depth, tolerance)[None, None].float(), size=size, mode="nearest")[0, 0] > 0.5
    return torch.where(take, 1.0 / flat.clamp(min=1e-12), near)


def _area(images: torch.Tensor | list[torch.Tensor], sizes: list[tuple[int, int]]) -> torch.Tensor | list[torch.Tensor]:
    """Images area-averaged down to ``sizes`` ((w, h) each); a stack in one go when it is one size."""
    if isinstance(images, torch.Tensor):
        w, h = sizes[0]
        return images if images.shape[-2:] == (h, w) else F.interpolate(images, size=(h, w), mode="area")
    return [
        img if img.shape[-2:] == (h, w) else F.interpolate(img, size=(h, w), mode="area") for img, (w, h) in zip(images, sizes)
    ]


def _resample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``image`` (n, C, H, W) bilinearly sampled at ``grid`` (n, h, w, 2); outside reads 0."""
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)


#: Compare-exchange networks that sort 2, 3 and 4 values (more sources fall back to ``torch.sort``).
_SORTING_NETWORKS = {2: [(0, 1)], 3: [(0, 1), (1, 2), (0, 1)], 4: [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)]}


def _lower_median(colors: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(3, H, W) per-pixel lower median of ``colors`` (n, 3, H, W) over the sources that see the pixel
    (``seen`` (n, H, W)), as ``nanmedian`` gives it; the first source's colour where none does."""
    hidden = torch.where(seen.unsqueeze(1), colors, torch.full_like(colors, float("inf")))
    n = colors.shape[0]
    if n in _SORTING_NETWORKS:  # a few minimum/maximum passes: much cheaper than a sort on a GPU
        ranked = list(hidden.unbind(0))
        for i, j in _SORTING_NETWORKS[n]:
            ranked[i], ranked[j] = torch.minimum(ranked[i], ranked[j]), torch.maximum(ranked[i], ranked[j])
        order = torch.stack(ranked)
    else:
        order = hidden.sort(dim=0).values
    count = seen.sum(dim=0)
    middle = ((count - 1).clamp(min=0) // 2).view(1, 1, *count.shape).expand(1, 3, *count.shape)
    median = torch.gather(order, 0, middle)[0]
    return torch.where(count.unsqueeze(0) > 0, median, colors[0])


def mix_sources(
    colors: torch.Tensor,
    alpha: torch.Tensor,
    seen: torch.Tensor,
    trust: torch.Tensor | None,
    tent: torch.Tensor,
    near: torch.Tensor,
    edge: torch.Tensor,
    agreement: float,
) -> torch.Tensor:
    """``DepthRenderer.blend``'s weighting and mix (``fused.blend`` takes the same arguments): (1, 3, H, W).

    Each source's weight is its closeness along the rig (``tent``, (n,)) times its visibility (``seen`` (n,
    H, W) bool, times ``alpha``, how much of its sample was in frame); with ``trust`` ((n, H, W) 0/1), only
    the trusted visible sources count where there are any. With ``agreement`` > 0 and three sources or more,
    a source far from the median colour of the visible ones counts less. Where nothing visible is close,
    the nearest visible source (``near``), then the nearest in frame, and where no source has the pixel in
    frame at all, ``edge`` (1, 3, H, W)."""
    tent, near = tent.view(-1, 1, 1), near.view(-1, 1, 1)
    vis = seen.float() * alpha
    if trust is not None:
        trusted = vis * trust
        vis = torch.where(trusted.sum(0, keepdim=True) > 0.5, trusted, vis)
    w = tent * vis
    if agreement > 0 and colors.shape[0] >= 3:
        # Photometric visibility on top of the geometric one: a source whose colour is far from the
        # median of the visible sources (hidden by something the depth missed) counts less.
        median = _lower_median(colors, vis > 0.5)
        agree = torch.exp(-(((colors - median.unsqueeze(0)).abs().mean(dim=1) / agreement) ** 2))
        weighed = w * agree
        w = torch.where(weighed.sum(0, keepdim=True) > 1e-3, weighed, w)
    total = w.sum(0, keepdim=True)
    w = torch.where(total > 1e-3, w, near * vis)
    total = w.sum(0, keepdim=True)
    w = torch.where(total > 1e-9, w, near * alpha)
    total = w.sum(0, keepdim=True)
    out = (colors * (w / total.clamp(min=1e-12)).unsqueeze(1)).sum(0, keepdim=True)
    return torch.where(total > 1e-12, out, edge)


class DepthRenderer(BaseRenderer):
    """Depth-sweep view synthesis from the 2–4 cameras nearest the view (see the module docstring)."""

    mode = "depth"

    def __init__(
        self,
        rig: Rig,
        *,
        device: str = "auto",
        quality: str = "normal",
        near: float,
        far: float,
        ground_plane: bool = True,
        sources: int | None = None,
    ) -> None:
        super().__init__(rig, device=device, quality=quality, near=near, far=far, ground_plane=ground_plane)
        self.settings = SETTINGS[quality]
        self.n_sources = max(2, int(sources or self.settings.sources))
        # The sweep runs in half precision on CUDA (grids stay float32); the blend in float32.
        self.sweep_dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        #: The sweep's cost, the silhouettes at a depth and the blend by the fused kernels (``fused``): on
        #: CUDA with Triton, where their first run passed.
        self.fused = fused.available(self.device)
        #: Fixed small tensors (search offsets, standing rows) on the device, made once each.
        self._fixed: dict[tuple[object, ...], torch.Tensor] = {}
        if self.device.type == "cpu":
            keep_freed_memory()
        self._undistort: dict[tuple[tuple[str, int, int], ...], tuple[list[CameraModel], torch.Tensor | None]] = {}
        #: Clean plates of the cameras; with them the players are placed by their silhouettes (see
        #: ``place_players``). Swapped whole by the engine when it rebuilds them.
        self.background: BackgroundPlates | None = None
        #: The venue's own depth per camera (``estimate_venue``, from the plates); with it every pixel
        #: also tries the venue's depth, splatted from the cameras bracketing the view.
        self.venue: VenueDepth | None = None

    def sources_at(self, s: float) -> list[str]:
        return self.names(self.rig.neighbours(s, self.n_sources))

    def helpers_for(self, view: VirtualView) -> list[str]:
        """The cameras beyond the sources that judge where the players stand (``hull_at``)."""
        return self.hull_at(view.s)

    def hull_at(self, s: float) -> list[str]:
        """Names of the cameras beyond the sources at ``s`` whose silhouettes also judge where a player
        stands (``SweepSettings.hull``): the next ones out that have a plate; none without plates."""
        plates = self.background
        if plates is None:
            return []
        own = set(self.sources_at(s))
        return [n for n in self.names(self.rig.neighbours(s, self.settings.hull)) if n not in own and n in plates]

    # --- the engine's entry point -------------------------------------------------------------

    def render_camera(self, target: CameraModel, s: float, pivot: np.ndarray, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        idx = self.rig.neighbours(s, self.n_sources)
        with stage("load"):
            srcs = self.load(images, self.names(idx), alpha=True)
        base = self.depth_factor(target.width)
        work = target if base == 1 else target.scaled(round(target.width / base), round(target.height / base))
        with stage("pyramid"):
            levels = self.pyramid(work, srcs, None, base=base)
        with stage("venue"):
            venue = self.venue_view(work, s)
        with stage("sweep"):
            depth = self.estimate_depth(work, srcs, levels=levels, venue=venue)
        trust = None
        whole: Hull | None = None  # with plates at a depth smaller than the view: for ``_sharpen``
        plates = self.background
        if plates is not None and all(name in plates for name in self.names(idx)):
            names = self.names(idx)
            others = [n for n in self.hull_at(s) if n in images]  # judges only, where given (``helpers_for``)
            # The same frames against the same plates (the engine swaps in new plates whole).
            given = [plates, *(images[n] for n in [*names, *others])]

            def foregrounds() -> tuple[dict[str, np.ndarray | torch.Tensor], torch.Tensor, Hull | None, Hull | None]:
                """The masks by name, the sources' silhouettes, the judges' (``hull``) and, when the depth is
                worked out smaller than the view, the sources' silhouettes at their own size, made once a moment."""
                masks = self._foregrounds(plates, names, images, srcs)
                whole = self._as_seen({n: masks[n] for n in names}) if base > 1 else None
                if others:  # grown more (``_HULL_GROW`` at the depth's size)
                    masks.update(self._foregrounds(plates, others, images, None, grow=plates.grow + _HULL_GROW * base))
                if base > 1:
                    # At the size of the depth's sources (the pyramid's rounding): a pixel is foreground where
                    # any of what it covers is. (Half foreground or more lost the players' rims, hair and
                    # hands: 0.06 dB lower at 720p.)
                    sizes = [(max(round(m.shape[-1] / base), 1), max(round(m.shape[-2] / base), 1)) for m in masks.values()]
                    small = _area([torch.as_tensor(m, dtype=torch.float32)[None, None] for m in masks.values()], sizes)
                    masks = {n: (m[0, 0] > 0).float() for n, m in zip(masks, small)}
                hull = self._hull({n: masks[n] for n in others}) if others else None
                return masks, self.silhouettes(levels[-1], {n: masks[n] for n in names}), hull, whole

            # A frozen orbit makes them once (the same frames against the same plates).
            with stage("masks"):
                _, silhouettes, hull, whole = self.memo("masks", (tuple(names), tuple(others), base), given, foregrounds)
            with stage("players"):
                if venue is not None:
                    depth = self.venue_where_clear(levels[-1], depth, venue, silhouettes)
                swept = depth
                depth = self._place(levels[-1], depth, silhouettes, hull)
                player = depth != swept
                trust = self._same_kind(levels[-1], depth, player, silhouettes)
        rays = levels[-1].rays if base == 1 else None  # the finest level is the target, or smaller
        if base > 1:
            with stage("upsample"):
                size = (target.height, target.width)
                coarse, depth = depth, upsample_depth(depth, size)
                trust = None if trust is None else F.interpolate(trust[None], size=size, mode="nearest")[0]
                if whole is not None and trust is not None:  # placed players: ``player`` says where
                    rays = view_rays(target, self.pixels(target.width, target.height, self.device))
                    depth, trust = self._sharpen(target, rays, coarse, player, depth, trust, whole)
        with stage("sample"):
            sampled = self.sample_at(target, srcs, depth, rays=rays)
        with stage("blend"):
            return self.blend(target, s, idx, srcs, sampled, trust)

    def _sharpen(
        self,
        target: CameraModel,
        rays: torch.Tensor,
        coarse: torch.Tensor,
        player: torch.Tensor,
        depth: torch.Tensor,
        trust: torch.Tensor,
        whole: Hull,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The players' edges of a depth worked out smaller than the view, at the view's own size.

        ``coarse`` (h, w) and ``player`` (where it is a player's) are the small depth, ``depth`` and
        ``trust`` (n, H, W) it scaled up to the view's ``rays``; ``whole``: the sources' silhouettes at
        their own size (``_as_seen``). Scaled up, an edge is a staircase of whole small pixels: half a
        player's rim takes the pitch's depth and half the pitch around takes the player's. Each view pixel
        where a player's small pixel meets another kind (or another player) chooses among the 3 x 3 small
        pixels around it: the front-most player's depth whose point is foreground in every source that has
        it in frame (at least two: the visual hull, at full size), else the closest small pixel that is no
        player's (its own, then the four beside it, then the corners). Its trust is then worked out at full
        size too. (The pixels' colours chose worse: a rim's colour is half the player's.)
        """
        h, w = coarse.shape
        big_h, big_w = depth.shape
        edge = F.max_pool2d(player[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0.5
        edge &= ~_smooth(torch.where(player, coarse, torch.full_like(coarse, float("inf"))))
        pick = F.interpolate(edge[None, None].float(), size=(big_h, big_w), mode="nearest")[0, 0] > 0.5
        ys, xs = pick.nonzero(as_tuple=True)
        if len(ys) == 0:
            return depth, trust
        dy = self._constant(_AROUND_Y, torch.long).view(-1, 1)
        dx = self._constant(_AROUND_X, torch.long).view(-1, 1)
        qy = ((ys * h) // big_h + dy).clamp_(0, h - 1)
        qx = ((xs * w) // big_w + dx).clamp_(0, w - 1)
        cand, is_player = coarse[qy, qx], player[qy, qx]  # (9, P)
        fg, in_frame = (m[:, :, 0] for m in self._seen_at(whole, target, rays[ys, xs].unsqueeze(0), cand.unsqueeze(1)))
        inside = is_player & (~in_frame | fg).all(dim=0) & (in_frame.sum(dim=0) >= 2)
        k = len(_AROUND_Y)
        front = torch.where(inside, cand, torch.full_like(cand, float("inf"))).argmin(dim=0)
        other = torch.where(is_player, k, self._constant(tuple(range(k)), torch.long).view(k, 1)).amin(dim=0)
        found = inside.any(dim=0)
        j = torch.where(found, front, other % k)  # none that is no player's: the own one
        out = depth.clone()
        out[ys, xs] = torch.gather(cand, 0, j.unsqueeze(0))[0]
        # The same kind at full size, where the choice was made: the sources' view of the chosen point.
        seen_fg = torch.gather(fg, 1, j.view(1, 1, -1).expand(fg.shape[0], 1, -1))[:, 0]
        trust = trust.clone()
        trust[:, ys, xs] = (seen_fg == (found | (other == k)).unsqueeze(0)).float()
        return out, trust

    def depth_factor(self, width: int) -> int:
        """How many times smaller than a view ``width`` wide its depth is worked out: 1 or 2."""
        above = self.settings.half_depth_above
        return 2 if 0 < above < width else 1

    def _same_kind(self, lvl: Level, depth: torch.Tensor, player: torch.Tensor, silhouettes: torch.Tensor) -> torch.Tensor:
        """(n, H, W) 1 where a source sees the same kind of thing at a pixel's point as the view does
        there (foreground against its plate at a player's pixel, background elsewhere), else 0."""
        fg, _ = self._masks_at(lvl, silhouettes, depth.unsqueeze(0))
        return (fg[:, 0] == player.unsqueeze(0)).float()

    def venue_view(self, target: CameraModel, s: float) -> torch.Tensor | None:
        """(H, W) venue depth of ``target`` splatted from the two cameras bracketing ``s`` (inf where
        neither has one), or None without a venue depth of both. What their neighbours confirmed comes
        first; what was carried over from it (``VenueDepth.depth``) fills only where none of that lands."""
        venue = self.venue
        names = self.names(self.rig.neighbours(s, 2))
        if venue is None or not all(name in venue for name in names):
            return None

        def splat() -> torch.Tensor:
            checked = splat_depth(target, [venue.points(name) for name in names])
            carried = splat_depth(target, [venue.points(name, carried=True) for name in names])
            return torch.where(torch.isfinite(checked), checked, carried)

        # A view held still (a replay playing from a set view) is splatted once, until the venue depth changes.
        pose = (target.width, target.height, *(a.tobytes() for a in (target.K, target.R, target.t, target.dist)), *names)
        return self.memo("venue", pose, [venue], splat)

    def _foregrounds(
        self,
        plates: BackgroundPlates,
        names: list[str],
        images: Mapping[str, np.ndarray],
        srcs: list[tuple[CameraModel, torch.Tensor]] | None,
        grow: int | None = None,
    ) -> dict[str, np.ndarray | torch.Tensor]:
        """The foreground masks of cameras ``names`` (grown by ``grow`` pixels; None: the plates' own): on the
        GPU from their uploaded images (``srcs``; None: uploaded here), on a CPU with OpenCV."""
        if self.device.type == "cpu":
            return {name: plates.foreground(name, images[name], grow) for name in names}
        if srcs is None:
            srcs = self._upload(images, names, torch.float32, alpha=False)
        whole = stacked([img for _, img in srcs])
        rgb = whole if whole is not None else torch.cat([img[:, :3] for _, img in srcs])
        return dict(zip(names, plates.foregrounds(names, rgb, grow)))

    # --- depth ----------------------------------------------------------------------------------

    def pyramid(
        self,
        target: CameraModel,
        srcs: list[tuple[CameraModel, torch.Tensor]],
        reference: torch.Tensor | None,
        base: int = 1,
    ) -> list[Level]:
        """Coarse to fine levels; sources are area-averaged from the level below (float16 on CUDA).
        ``base``: the sources are ``base`` times the size of the finest level's (``depth_factor``)."""
        levels: list[Level] = []
        whole = stacked([img for _, img in srcs])
        imgs: torch.Tensor | list[torch.Tensor] = whole if whole is not None else [img for _, img in srcs]
        ref = reference
        for factor in reversed(_factors(target.width, self.settings.coarse_width)):
            w, h = max(round(target.width / factor), 1), max(round(target.height / factor), 1)
            dtype = self.sweep_dtype if w <= _FP16_MAX_WIDTH else torch.float32
            cam_l = target if factor == 1 else target.scaled(w, h)
            div = factor * base
            sizes = [(max(round(cam.width / div), 1), max(round(cam.height / div), 1)) for cam, _ in srcs]
            imgs = _area(imgs, sizes)
            cams = [self.source_camera(cam.name, sw, sh) for (cam, _), (sw, sh) in zip(srcs, sizes)]
            pinholes, undistorted = self._pinhole(cams, imgs, dtype)
            stack = undistorted if isinstance(undistorted, torch.Tensor) else None
            lvl_srcs = list(zip(pinholes, stack.split(1) if stack is not None else undistorted))
            if ref is not None and ref.shape[-2:] != (h, w):
                ref = F.interpolate(ref, size=(h, w), mode="area")
            rays = view_rays(cam_l, self.pixels(w, h, self.device))
            ground = ground_depth(cam_l, rays) if self.ground_plane else torch.full((h, w), float("inf"), device=self.device)
            ref_l = None if ref is None else ref.to(dtype)
            levels.append(Level(factor, cam_l, lvl_srcs, rays, ground, ref_l, self.projection(pinholes), stack))
        return levels[::-1]  # coarsest first

    def depth_map(
        self,
        target: CameraModel,
        srcs: list[tuple[CameraModel, torch.Tensor]],
        reference: torch.Tensor | None = None,
    ) -> np.ndarray:
        """(H, W) float32 depth in metres on the host, NaN where no two views agree on the point."""
        levels = self.pyramid(target, srcs, reference)
        depth = self.estimate_depth(target, srcs, levels=levels)
        finest = levels[-1]
        cost = self._cost(finest, torch.where(torch.isfinite(depth), depth, torch.full_like(depth, self.far)).unsqueeze(0))
        known = torch.isfinite(depth) & (cost[0] < 0.5 * self.settings.truncate)
        return torch.where(known, depth, torch.full_like(depth, float("nan"))).cpu().numpy().astype(np.float32)

    def _pinhole(
        self, cams: list[CameraModel], images: torch.Tensor | list[torch.Tensor], dtype: torch.dtype
    ) -> tuple[list[CameraModel], torch.Tensor | list[torch.Tensor]]:
        """Distorted sources undistorted into pinhole cameras with the same K (the sweep's hot path then
        needs no distortion polynomial per hypothesis), all in one resampling; the grids are made once.
        ``images``: (n, C, H, W) or a list of (1, C, H, W); returned in the same form."""
        key = tuple((cam.name, cam.width, cam.height) for cam in cams)
        if key not in self._undistort:
            if not any(cam.has_distortion for cam in cams):
                self._undistort[key] = (cams, None)
            else:
                grids = []
                for cam in cams:  # an undistorted camera's grid is the identity: it samples its pixels exactly
                    pix = self.pixels(cam.width, cam.height, self.device)
                    normalized = pix @ constant(np.linalg.inv(cam.K).T, self.device)
                    grids.append(self.projection([cam]).points(normalized))
                pinholes = [CameraModel(f"{cam.name}|pinhole", cam.width, cam.height, cam.K, cam.R, cam.t) for cam in cams]
                self._undistort[key] = (pinholes, torch.cat(grids) if stacked(grids) is not None else grids)  # type: ignore[assignment]
        pinholes, grid = self._undistort[key]
        if grid is None:
            return pinholes, images.to(dtype) if isinstance(images, torch.Tensor) else [img.to(dtype) for img in images]
        if isinstance(images, torch.Tensor) and isinstance(grid, torch.Tensor):
            return pinholes, _resample(images, grid).to(dtype)
        grids = grid.split(1) if isinstance(grid, torch.Tensor) else grid
        imgs = images.split(1) if isinstance(images, torch.Tensor) else images
        return pinholes, [_resample(img, g).to(dtype) for img, g in zip(imgs, grids)]

    def estimate_depth(
        self,
        target: CameraModel,
        srcs: list[tuple[CameraModel, torch.Tensor]],
        reference: torch.Tensor | None = None,
        levels: list[Level] | None = None,
        venue: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(H, W) depth z_cam of every pixel of ``target`` from the sources (float32; inf: sky/none).

        ``srcs`` images carry an alpha channel (``load(..., alpha=True)``). With ``reference`` (the
        target's own (1, 3, H, W) image) costs compare each source with it instead of the sources with
        each other (the ``fvreplay depth`` command). ``levels``: ``pyramid(target, srcs, reference)``
        when the caller already has it (``reference`` is then not used). ``venue``: the venue's own
        depth of the target ((H, W), inf where unknown; ``venue_view``), tried at every pixel.
        """
        levels = levels if levels is not None else self.pyramid(target, srcs, reference)
        baseline = _baseline(target, srcs)
        st = self.settings
        # Level 0: the full sweep, planes evenly spaced in inverse depth (equal steps of disparity).
        lvl = levels[0]
        f0 = float(lvl.target.fx)
        span = 1.0 / self.near - 1.0 / self.far
        count = int(min(st.planes, max(8, np.ceil(span * f0 * baseline / st.plane_step) + 1)))
        rho = torch.linspace(1.0 / self.far, 1.0 / self.near, count, device=self.device)
        h, w = lvl.ground.shape
        hyp = torch.cat([lvl.ground.unsqueeze(0), (1.0 / rho).view(-1, 1, 1).expand(-1, h, w)])
        with stage(f"sweep.level{lvl.factor}"):
            cost = self._priors(self._cost(lvl, hyp), hyp, lvl.ground)
            best_cost, best = cost.min(dim=0, keepdim=True)
            depth = torch.gather(hyp, 0, best)[0]
            best_cost = best_cost[0]
        # Finer levels: each pixel tries its nearest coarse pixel's depth +- a few pixels of disparity
        # (a parabola through the costs refines the best), its other coarse neighbours' depths (edges
        # snap to the right side), and the pitch.
        for k, lvl in enumerate(levels[1:]):
            step = 1.0 / (float(lvl.target.fx) * baseline)
            reach = st.search[min(k, len(st.search) - 1)] if lvl.factor >= st.finest else 0
            with stage(f"sweep.level{lvl.factor}"):
                if venue is not None and lvl is levels[-1]:
                    # With the venue's depth the full-size level is not swept: the venue's depth brings the
                    # fine detail of the venue, ``place_players`` that of the players (measured on the demo
                    # rig: better than sweeping it, and a third of the time saved). The depth is carried up.
                    depth = F.interpolate(depth[None, None], size=lvl.ground.shape, mode="nearest")[0, 0]
                    best_cost = self._cost(lvl, depth.unsqueeze(0))[0]
                    break
                depth, best_cost = self._refine(lvl, depth, step, reach)
        with stage("sweep.finish"):
            if venue is not None:
                depth, best_cost = self._prefer_venue(levels[-1], depth, best_cost, venue)
            return self._fill_unreliable(levels[-1], depth, best_cost)

    def _prefer_venue(
        self, lvl: Level, depth: torch.Tensor, cost: torch.Tensor, venue: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pixel, the venue's depth instead of ``depth`` (whose cost is ``cost``) where it matches as
        well, give or take the bonus ``venue_bias`` (where nobody stands in front, it is the better depth:
        worked out against a real picture, smoothed and cross-checked). Returns the depth and its cost."""
        known = torch.isfinite(venue)
        venue_cost = self._cost(lvl, torch.where(known, venue, depth).unsqueeze(0))[0]
        take = known & (venue_cost - self.settings.venue_bias < cost)
        return torch.where(take, venue, depth), torch.where(take, venue_cost, cost)

    def _fill_unreliable(self, lvl: Level, depth: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
        """Off-pitch pixels whose depth matches badly (window cost above ``_FILL_COST`` of the truncation)
        take the mean inverse depth of the well-matched off-pitch pixels around them. The stands are a
        smooth surface, and where their repeating seat rows locked onto the wrong period, or the edge
        of the picture left a pixel with one pair of sources, the match is poor. ``cost``: each
        pixel's cost at ``depth`` (as the sweep's last level found it)."""
        finite = torch.isfinite(depth)
        off = finite & ~lvl.on_pitch(depth)
        bad = off & (cost > _FILL_COST * self.settings.truncate)
        good = (off & ~bad).float()
        inv = torch.where(finite, 1.0 / depth, torch.zeros_like(depth))
        radius = max(2, round(_FILL_REACH * depth.shape[1]))
        f = box_filter(torch.stack([inv * good, good]).unsqueeze(0), radius)[0]
        fill = f[0] / f[1].clamp(min=1e-6)
        use = bad & (f[1] > 0.05) & (fill > 0)
        return torch.where(use, 1.0 / fill.clamp(min=1e-9), depth)

    def _refine(self, lvl: Level, coarse: torch.Tensor, step: float, reach: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One level finer: candidates from the coarse depth (+- ``reach`` steps of inverse depth ``step``
        around the nearest coarse pixel's, the other three neighbours' as they are) and the pitch.
        Returns the depth and each pixel's cost there."""
        h, w = lvl.ground.shape
        ch, cw = coarse.shape
        dev = self.device
        ys = ((torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * ch / h - 0.5).clamp(0, ch - 1)
        xs = ((torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * cw / w - 0.5).clamp(0, cw - 1)
        yn, xn = ys.round().long(), xs.round().long()  # the nearest coarse pixel
        # The other three of the 2x2 coarse pixels around this one.
        yo = torch.where(ys >= yn, yn + 1, yn - 1).clamp(0, ch - 1)
        xo = torch.where(xs >= xn, xn + 1, xn - 1).clamp(0, cw - 1)
        nearest = coarse[yn][:, xn]
        others = [coarse[yo][:, xn], coarse[yn][:, xo], coarse[yo][:, xo]]
        group = self._around(nearest, step, range(-reach, reach + 1))
        hyp = torch.cat([lvl.ground.unsqueeze(0), group, torch.stack(others)])
        cost = self._priors(self._cost(lvl, hyp), hyp, lvl.ground)
        if lvl.factor <= _EDGE_FACTOR:
            hyp, cost = self._with_walls(lvl, nearest, step, hyp, cost)
        best_cost, best = cost.min(dim=0, keepdim=True)
        depth = torch.gather(hyp, 0, best)[0]
        if reach > 0:
            # Sub-step refinement inside the searched group: a parabola through the best and its two
            # neighbours in the group.
            g = cost[1 : 2 + 2 * reach]
            j = g.min(dim=0, keepdim=True).indices.clamp(1, 2 * reach - 1)
            cm, c0, cp = (torch.gather(g, 0, j + d)[0] for d in (-1, 0, 1))
            curv = cm - 2 * c0 + cp
            shift = torch.where(curv > 1e-6, 0.5 * (cm - cp) / curv.clamp(min=1e-6), torch.zeros_like(c0))
            shift = shift.clamp(-0.5, 0.5) + (j[0] - reach).float()
            refined = self._around(nearest, step, shift.unsqueeze(0))[0]
            in_group = (best[0] >= 1) & (best[0] <= 1 + 2 * reach)
            depth = torch.where(in_group, refined, depth)
        return depth, best_cost[0]

    def propagate(self, lvl: Level, depth: torch.Tensor, step: float, rounds: int = _VENUE_ROUNDS) -> torch.Tensor:
        """``depth`` at ``lvl`` improved by rounds of propagation: each pixel tries the depths of the pixels
        ``_VENUE_SHIFTS`` away in the four directions (a good match spreads along a surface), its own
        +- ``_VENUE_STEPS`` steps ``step`` of inverse depth (shrinking each round), and the pitch, and
        keeps the one with the lowest window cost."""
        h, w = depth.shape
        per_hypothesis = len(lvl.srcs) * 4 * h * w * 4  # the sources' samples: RGB + in-frame, float32
        chunk = max(1, min(_VENUE_CHUNK, _VENUE_CHUNK_BYTES // per_hypothesis))
        for k in range(rounds):
            moved = [_shifted(depth, dy, dx) for d in _VENUE_SHIFTS for dy, dx in ((d, 0), (-d, 0), (0, d), (0, -d))]
            steps = self._around(depth, step, [o / (k + 1) for o in _VENUE_STEPS])
            hyp = torch.cat([torch.stack([lvl.ground, depth, *moved]), steps])
            # Costed a few hypotheses at a time (their samples are the big part), judged all at once.
            cost = torch.cat([self._cost(lvl, hyp[a : a + chunk]) for a in range(0, len(hyp), chunk)])
            depth = torch.gather(hyp, 0, self._priors(cost, hyp, lvl.ground).argmin(dim=0, keepdim=True))[0]
        return depth

    def estimate_venue(self, plates: BackgroundPlates) -> VenueDepth:
        """The venue depth of the rig's cameras that have a plate, worked out on first use (see
        ``plugin.freeview.render.venue``): each camera's plate the reference of a sweep at quality
        ``_VENUE_QUALITY`` against its neighbours' plates, then ``propagate``, then smoothed."""
        sizes = plate_sizes(plates, self.rig.names)

        def camera(name: str) -> CameraModel:
            return self.source_camera(name, *sizes[name])

        def estimate(name: str) -> torch.Tensor:
            cam = camera(name)
            unknown = torch.full((cam.height, cam.width), float("inf"), device=self.device)
            if len(self.rig) < 2:  # nothing to compare its plate with
                return unknown
            others = self.rig.without(name)
            sweeper = DepthRenderer(
                others, device=str(self.device), quality=_VENUE_QUALITY, near=self.near, far=self.far,
                ground_plane=self.ground_plane, sources=_VENUE_SOURCES,
            )
            names = [n for n in sweeper.sources_at(others.locate(cam.center)) if n in plates]
            if not names:
                return unknown
            factor = 1
            while self.device.type == "cpu" and cam.width / factor > _VENUE_CPU_WIDTH:
                factor *= 2
            small = cam if factor == 1 else self.source_camera(name, round(cam.width / factor), round(cam.height / factor))
            images = {n: plates.plate(n, small.width, small.height) for n in [*names, name]}
            with torch.inference_mode():
                srcs = sweeper.load(images, names, alpha=True)
                levels = sweeper.pyramid(small, srcs, image_stack([images[name]], self.device))
                depth = sweeper.estimate_depth(small, srcs, levels=levels)
                nearest = min(float(np.linalg.norm(c.center - small.center)) for c, _ in srcs)
                depth = sweeper.propagate(levels[-1], depth, 1.0 / (float(small.fx) * max(nearest, 1e-6)))
                depth = median_inverse_depth(depth)
                if factor > 1:
                    depth = upsample_depth(depth, (cam.height, cam.width))
                return depth

        return VenueDepth(self.rig.names, camera, estimate, sizes, far=self.far, ground_plane=self.ground_plane)

    def place_players(
        self,
        lvl: Level,
        depth: torch.Tensor,
        masks: Mapping[str, np.ndarray | torch.Tensor],
        others: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``depth`` with the players put where their silhouettes say, at ``lvl`` (the full-size level).

        ``masks``: each source's foreground by camera name ((H, W) float32, 1 = not the plate); the
        first one is the cheap prefilter, so put the nearest camera first. Every pixel tries the
        upright-on-the-pitch depths of ``_standing``; a depth is a player's when its point falls inside
        the foreground of every source that has it in frame (at least two: a visual-hull test, which a
        thin player passes and the pitch behind them fails). ``others``: the masks of more cameras (by
        name, all at one size) that only judge: a point one of them has in frame outside its silhouette is
        no player's (``hull_at``; the renderer grows their masks by ``_HULL_GROW`` more: they are further
        out, so a depth a little off moves the point further in them).
        Among those near the front (``_in_front``: where two players overlap, the ray meets the one in
        front) the most photo-consistent one wins, judged per pixel (a box window straddles the player's
        edge). Pixels with no such depth keep the sweep's.
        """
        hull = self._hull(others) if others else None
        return self._place(lvl, depth, self.silhouettes(lvl, masks), hull)

    def silhouettes(self, lvl: Level, masks: Mapping[str, np.ndarray | torch.Tensor]) -> torch.Tensor:
        """(n, 2, H, W): each source's foreground mask (``masks`` by camera name, in the order of the
        level's sources, at their size) and "in frame", undistorted like the level's sources."""
        names = [cam.name.removesuffix("|pinhole") for cam, _ in lvl.srcs]
        if list(masks) != names or any(tuple(masks[n].shape) != tuple(img.shape[-2:]) for n, (_, img) in zip(names, lvl.srcs)):
            raise ValueError(f"the depth renderer needs a mask of each of {names}, in order, at the level's size")
        return self._undistorted_masks(masks)[1]

    def _undistorted_masks(self, masks: Mapping[str, np.ndarray | torch.Tensor]) -> tuple[list[CameraModel], torch.Tensor]:
        """The pinhole cameras of ``masks`` (by camera name, all one size) and (n, 2, H, W) each mask and
        "in frame", undistorted into them."""
        names = list(masks)
        m = torch.stack([torch.as_tensor(masks[name]).to(self.device, torch.float32) for name in names])
        two = torch.stack([m, torch.ones_like(m)], dim=1)  # each mask and "in frame"
        cams = [self.source_camera(name, m.shape[2], m.shape[1]) for name in names]
        pinholes, undistorted = self._pinhole(cams, two, torch.float32)
        return pinholes, undistorted if isinstance(undistorted, torch.Tensor) else torch.cat(undistorted)

    def _as_seen(self, masks: Mapping[str, np.ndarray | torch.Tensor]) -> Hull:
        """``masks`` (by camera name, one size) as they are, distortion and all: (n, 1, H, W), with their
        cameras and projection. (Undistorted at full size, they would keep a grid per set of sources, and
        an orbit goes through many: 2 GB at 4K.)"""
        m = torch.stack([torch.as_tensor(mask).to(self.device, torch.float32) for mask in masks.values()]).unsqueeze(1)
        cams = [self.source_camera(name, m.shape[3], m.shape[2]) for name in masks]
        return Hull(cams, m, self.projection(cams))

    def _seen_at(
        self, whole: Hull, target: CameraModel, rays: torch.Tensor, hyp: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each depth of ``hyp`` (K, h, w) along ``target``'s ``rays`` (h, w, 3): whether its point is
        foreground in each of ``whole``'s silhouettes (``_as_seen``) and whether it is in frame, (n, K, h, w)
        bool each (``_masks_at`` for silhouettes as they are)."""
        smp, _, grid = self._warp(whole.level(target, rays), hyp, whole.silhouettes)
        return smp[:, 0] > 0.5, (grid.abs() <= 1).all(dim=-1)

    def _hull(self, masks: Mapping[str, np.ndarray | torch.Tensor]) -> Hull:
        """The judges of ``place_players`` beyond the sources: ``masks`` (by camera name, one size) undistorted,
        with their projection."""
        pinholes, silhouettes = self._undistorted_masks(masks)
        return Hull(pinholes, silhouettes, self.projection(pinholes))

    def _judged(
        self, lvl: Level, hull: Hull | None, ys: torch.Tensor, xs: torch.Tensor, hyp: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        """``allowed`` ((K, 1, P) bool, for each depth of ``hyp`` (K, 1, P) of ``lvl``'s pixels ``ys``, ``xs``)
        where no camera of ``hull`` has the point in frame outside its silhouette; as it is without a hull."""
        if hull is None:
            return allowed
        judges = hull.level(lvl.target, lvl.rays[ys, xs].unsqueeze(0), lvl.ground[ys, xs].unsqueeze(0), lvl.factor)
        fg, in_frame = self._masks_at(judges, hull.silhouettes, hyp)
        return allowed & ~(in_frame & ~fg).any(dim=0)

    def venue_where_clear(self, lvl: Level, depth: torch.Tensor, venue: torch.Tensor, silhouettes: torch.Tensor) -> torch.Tensor:
        """``depth`` with the venue's depth wherever its point is background (not foreground against the
        plate) in every source that has it in frame: the frames show the empty venue there, so nobody
        stands in front of it. Elsewhere the sweep's depth stays (``place_players`` follows)."""
        known = torch.isfinite(venue)
        fg, in_frame = (m[:, 0] for m in self._masks_at(lvl, silhouettes, torch.where(known, venue, depth).unsqueeze(0)))
        clear = (~in_frame | ~fg).all(dim=0) & in_frame.any(dim=0) & known
        return torch.where(clear, venue, depth)

    def _place(self, lvl: Level, depth: torch.Tensor, silhouettes: torch.Tensor, hull: Hull | None = None) -> torch.Tensor:
        """``place_players`` with the sources' ``silhouettes`` (and the other judges, ``hull``) made."""
        # The prefilter runs on every other row and column (``_PREFILTER_STRIDE``).
        fa, fo = lvl.folded
        st = _PREFILTER_STRIDE
        coarse = lvl._cut(lvl.rays[::st, ::st], lvl.ground[::st, ::st], None, fa[:, ::st, ::st], fo)
        rough = self._standing(coarse, every=3)
        if rough is None:
            return depth
        # The hull test, cheaply: first every third depth against the first source's silhouette grown
        # by a few pixels (the depths skipped lie within that), over the whole picture; then every
        # depth against every silhouette, only where that left one standing (a few per cent).
        m0, k = silhouettes[:1], 2 * _PREFILTER_GROW + 1
        grown = F.max_pool2d(F.max_pool2d(m0[:, :1], (1, k), 1, (0, _PREFILTER_GROW)), (k, 1), 1, (_PREFILTER_GROW, 0))
        inside, _ = self._silhouettes(coarse, torch.cat([grown, m0[:, 1:]], 1), rough, first=1)
        near = F.max_pool2d(inside.any(dim=0)[None, None].float(), 3, stride=1, padding=1)  # and next to one
        h, w = lvl.ground.shape
        full = near.repeat_interleave(st, dim=2).repeat_interleave(st, dim=3)[0, 0, :h, :w]
        ys, xs = full.nonzero(as_tuple=True)
        if len(ys) == 0:
            return depth
        sub = lvl.pixels(ys, xs)
        standing = self._standing(lvl, pixels=(ys, xs))
        if standing is None:
            return depth
        hyp_sub = standing.unsqueeze(1)
        inside_all, seen = self._silhouettes(sub, silhouettes, hyp_sub)
        player = inside_all & (seen >= 2)
        keep = player.any(dim=0)[0].nonzero()[:, 0]  # one wait for the GPU, not one per tensor picked
        if len(keep) == 0:
            return depth
        ys, xs, hyp_sub, player = ys[keep], xs[keep], hyp_sub[..., keep], player[..., keep]
        # The judges beyond the sources, on what the sources let stand (a pixel none passes keeps its depth).
        player = self._judged(lvl, hull, ys, xs, hyp_sub, player)
        # Only those pixels are judged, each on its own (a window, even 3 x 3, scores no better here:
        # the hull test already did the window's work), among the depths near the front.
        sub = lvl.pixels(ys, xs)
        cost = self._cost(sub, hyp_sub, radius=0)
        chosen, found = self._most_consistent(sub, hyp_sub, self._in_front(hyp_sub, cost, player), cost)
        # The feet were looked for a few rows apart: search a pixel of disparity either side.
        step = 1.0 / (float(lvl.target.fx) * _baseline(lvl.target, lvl.srcs))
        around = self._around(chosen, step, _PLAYER_SEARCH)
        inside_around, seen_around = self._silhouettes(sub, silhouettes, around)
        ok = self._judged(lvl, hull, ys, xs, around, inside_around & (seen_around >= 2) & found)
        refined, _ = self._most_consistent(sub, torch.cat([chosen.unsqueeze(0), around]), torch.cat([found.unsqueeze(0), ok]))
        out = depth.clone()
        out[ys, xs] = torch.where(found[0], refined[0], depth[ys, xs])
        out[ys, xs] = self._player_median(out, ys, xs, found[0], _PLAYER_MEDIAN)
        return out

    def _player_median(
        self, depth: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, found: torch.Tensor, r: int
    ) -> torch.Tensor:
        """(P,) depth of the placed pixels (``ys``, ``xs`` where ``found``) replaced by the median inverse
        depth of the placed pixels in the (2r+1)^2 window around each. A pixel's own choice is noisy: on
        the demo rig at 720p a fifth of the players' pixels were 0.3-3 % off, and those made most of the
        players' error; with the median it fell by 35-40 % (mean squared, three views)."""
        w = depth.shape[1]
        placed = torch.zeros_like(depth, dtype=torch.bool)
        placed[ys, xs] = found
        inv = torch.where(placed, 1.0 / depth, torch.full_like(depth, float("nan")))
        flat = F.pad(inv[None, None], (r, r, r, r), value=float("nan")).reshape(-1)
        d = self._constant(tuple(range(-r, r + 1)), torch.long)  # uploaded once, not every frame
        offsets = (d.view(-1, 1) * (w + 2 * r) + d.view(1, -1)).reshape(-1, 1)
        med = torch.nanmedian(flat[((ys + r) * (w + 2 * r) + xs + r).unsqueeze(0) + offsets], dim=0).values
        return torch.where(found, 1.0 / med, depth[ys, xs])

    def _silhouettes(
        self, lvl: Level, silhouettes: torch.Tensor, hyp: torch.Tensor, first: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each depth of ``hyp`` (K, h, w): whether its point is foreground in every one of
        ``silhouettes`` ((n, 2, H, W): mask and "in frame" of the level's sources, undistorted; or of
        its ``first`` ones) that has it in frame (bool), and how many have it in frame."""
        fg, in_frame = self._masks_at(lvl, silhouettes, hyp, first)
        inside_all = (~in_frame | fg).all(dim=0)
        return inside_all, in_frame.sum(dim=0).to(hyp.dtype)

    def _masks_at(
        self, lvl: Level, silhouettes: torch.Tensor, hyp: torch.Tensor, first: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each source's view of the point at each depth of ``hyp`` (K, h, w): (n, K, h, w) bool whether it is
        foreground there, and whether it is in frame (``silhouettes`` as ``_silhouettes`` takes them)."""
        if self._fuses(len(lvl.srcs)):  # the same in one kernel, no grids in memory
            a, o = lvl.folded
            bits = fused.masks_at(a[:first], o[:first], self._finite(hyp), silhouettes)
            return (bits & 1).bool(), (bits & 2).bool()
        smp, _, _ = self._warp(lvl, hyp, silhouettes, first=first)
        return smp[:, 0] > 0.5, smp[:, 1] > 0.5

    def _in_front(self, hyp: torch.Tensor, cost: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``allowed`` (for each depth of ``hyp``, (K, h, w), whose costs are ``cost``) kept to the depths
        within ``_PLAYER_FRONT`` of the front: the nearest allowed depth that matches about as well as the
        best (``_FRONT_RATIO``, ``_FRONT_MARGIN``). Where two players overlap, the ray meets the one in front."""
        inf = torch.full_like(cost, float("inf"))
        cost = torch.where(allowed, cost, inf)
        best = cost.amin(dim=0, keepdim=True)
        good = allowed & (cost <= best * (1 + _FRONT_RATIO) + _FRONT_MARGIN * self.settings.truncate)
        front = torch.where(good, hyp, inf).amin(dim=0, keepdim=True)
        return allowed & (hyp <= front * (1 + _PLAYER_FRONT))

    def _most_consistent(
        self, lvl: Level, hyp: torch.Tensor, allowed: torch.Tensor, cost: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pixel, the allowed depth of ``hyp`` (K, h, w) with the lowest photo-consistency cost (no
        window; ``cost`` when the caller has it), and whether any was allowed."""
        cost = self._cost(lvl, hyp, radius=0) if cost is None else cost
        cost = torch.where(allowed, cost, torch.full_like(cost, float("inf")))
        best, j = cost.min(dim=0)
        chosen = torch.gather(hyp, 0, j.unsqueeze(0))[0]
        return chosen, torch.isfinite(best) & torch.isfinite(chosen)

    def _with_walls(
        self, lvl: Level, nearest: torch.Tensor, step: float, hyp: torch.Tensor, cost: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hyp`` and ``cost`` with the walls of ``_at_the_pitch_edge`` appended. Their costs are worked
        out on the band of rows that has walls to try (a fifth of the picture, say), inf elsewhere."""
        wall, rows = self._at_the_pitch_edge(lvl, nearest, step)
        if wall is None or rows is None:
            return hyp, cost
        lo, hi = rows
        h = lvl.ground.shape[0]
        radius = self._radius(lvl)
        a, b = max(0, lo - radius), min(h, hi + radius)  # the band and a window's margin
        band_cost = self._cost(lvl.rows(a, b), wall[:, a:b])
        wall_cost = torch.full_like(wall, float("inf"))
        wall_cost[:, lo:hi] = band_cost[:, lo - a : hi - a]
        below = wall > lvl.ground.unsqueeze(0) * 1.01  # nothing lies below the pitch
        wall_cost = torch.where(below, torch.full_like(wall_cost, float("inf")), wall_cost)
        return torch.cat([hyp, wall]), torch.cat([cost, wall_cost.to(cost.dtype)])

    def _at_the_pitch_edge(
        self, lvl: Level, depth: torch.Tensor, step: float
    ) -> tuple[torch.Tensor | None, tuple[int, int] | None]:
        """Depths (K, h, w) of a wall standing where the pitch ends: for each pixel a few rows above the first pitch
        pixel below it (by ``depth``, the coarser level's), the point on its ray straight above that
        pitch point, +- a couple of disparity ``step``s. The advertising boards and the stand's front wall
        are such walls, and their lettering is where a depth a few per cent out shows most. Also the
        rows [lo, hi) that have any pixel with a wall to try (None, None: none has)."""
        if not self.ground_plane:
            return None, None
        h, w = lvl.ground.shape
        rows = torch.arange(h, device=self.device).view(-1, 1).expand(h, w)
        idx = torch.where(lvl.on_pitch(depth), rows, torch.full_like(rows, h))
        foot = torch.flip(torch.cummin(torch.flip(idx, [0]), dim=0).values, [0])  # first pitch row at or below
        reach = max(2, int(_EDGE_REACH * h))
        ok = (foot < h) & (foot - rows <= reach) & (foot > rows)
        f = foot.clamp(max=h - 1)
        cols = torch.arange(w, device=self.device).view(1, -1).expand(h, w)
        z = _above(lvl.feet[f, cols], lvl.rays[..., :2])
        ok = ok & torch.isfinite(lvl.ground[f, cols]) & (z > 0)
        # The first and last rows with a wall, read back together (one wait for the GPU).
        with_walls = ok.any(dim=1)
        row = torch.arange(h, device=self.device)
        lo, hi = torch.stack([torch.where(with_walls, row, h).min(), torch.where(with_walls, row, -1).max()]).tolist()
        if hi < 0:
            return None, None
        walls = self._around(torch.where(ok, z, depth), step, _EDGE_SEARCH)
        return walls, (lo, hi + 1)

    def _standing(
        self, lvl: Level, every: int = 1, pixels: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """Depths of upright things standing on the pitch: for each pixel, the point on its ray straight
        above the pitch point seen ``d`` rows below it, for ``d`` in a geometric set (ratio
        ``_STANDING_RATIO``, every ``every``-th of it) up to a fifth of the picture height (a player's feet
        are somewhere below every pixel of the player). (K, h, w), or (K, P) for ``pixels`` (rows, columns);
        inf where there is no such point; None without a pitch.
        """
        if not self.ground_plane:
            return None
        h = lvl.ground.shape[0]
        top = max(1, int(_STANDING_REACH * h))
        deltas = sorted({max(1, round(_STANDING_RATIO**k)) for k in range(200) if _STANDING_RATIO**k <= top})[::every]
        g = lvl.ground
        rxy = lvl.rays[..., :2]
        feet = lvl.feet
        steps = self._constant(tuple(deltas), torch.long).unsqueeze(1)
        if pixels is None:  # the whole picture: whole rows gathered, all depths at once
            below = torch.arange(h, device=self.device).unsqueeze(0) + steps  # (K, h): the row d below
            inside = (below < h).unsqueeze(-1)
            below = below.clamp(max=h - 1)
            z = _above(feet[below], rxy)
            ok = inside & torch.isfinite(g[below]) & (z > 0)
            return torch.where(ok, z, torch.full_like(z, float("inf")))
        ys, xs = pixels
        below = ys.unsqueeze(0) + steps  # (K, P): the row d below
        inside = below < h
        below = below.clamp(max=h - 1)
        cols = xs.unsqueeze(0).expand_as(below)
        z = _above(feet[below, cols], rxy[ys, xs].unsqueeze(0))
        ok = inside & torch.isfinite(g[below, cols]) & (z > 0)
        return torch.where(ok, z, torch.full_like(z, float("inf")))

    def _fuses(self, sources: int) -> bool:
        """Whether work over ``sources`` sources goes to the fused kernels."""
        return self.fused and sources <= fused.MAX_SOURCES

    def _constant(self, values: tuple[float, ...] | tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``values`` as a (K,) tensor on the device, uploaded the first time they are asked for."""
        key = (dtype, *values)
        if key not in self._fixed:
            self._fixed[key] = constant(values, self.device, dtype)
        return self._fixed[key]

    def _radius(self, lvl: Level) -> int:
        """The box aggregation radius at ``lvl``: wider at 1/4 size and coarser."""
        return self.settings.radius if lvl.factor > 2 else self.settings.fine_radius

    def _around(self, depth: torch.Tensor, step: float, offsets: Iterable[float] | torch.Tensor) -> torch.Tensor:
        """(K, h, w): ``depth`` (h, w) moved by each of ``offsets`` (K numbers, or a (K, h, w) tensor of them)
        steps of inverse depth ``step`` (pixels of disparity), no further out than 4 x far. All at once."""
        moves = offsets if isinstance(offsets, torch.Tensor) else self._constant(tuple(offsets)).view(-1, 1, 1)
        return torch.add(1.0 / depth, moves, alpha=step).clamp_(min=0.25 / self.far).reciprocal_()

    def _priors(self, cost: torch.Tensor, hyp: torch.Tensor, ground: torch.Tensor) -> torch.Tensor:
        """The pitch prior: hypothesis 0 (the pitch) gets a small bonus, where the pitch lies within the
        scene's depth range (beyond ``far`` the ray meets the stands first); nothing lies below the pitch."""
        big = 8.0 * self.settings.truncate
        finite = torch.isfinite(ground)
        in_range = finite & (ground <= self.far)
        first = torch.where(in_range, cost[0] - self.settings.ground_bias, torch.full_like(cost[0], big))
        below = finite.unsqueeze(0) & (hyp[1:] > ground.unsqueeze(0) * 1.01)
        rest = torch.where(below, torch.full_like(cost[1:], big), cost[1:])
        return torch.cat([first.unsqueeze(0), rest])

    def _finite(self, depth: torch.Tensor) -> torch.Tensor:
        """``depth`` with no depth (inf: the sky) put a thousand times beyond ``far``."""
        out = self.far * 1e3
        return torch.nan_to_num(depth, nan=out, posinf=out, neginf=out)

    def _warp(
        self, lvl: Level, hyp: torch.Tensor, images: torch.Tensor | None = None, first: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The level's sources (or ``images`` of them, (n, C, H, W)) sampled at every hypothesis of ``hyp``
        (K, h, w): (n, C, K, h, w) samples, (n, K, h, w) depths in the sources, (n, K, h, w, 2) grids.
        ``first``: only the first few sources."""
        a, o = lvl.folded
        if first is not None:
            a, o = a[:first], o[:first]
        grid, zsrc = lvl.proj.grid(a, o, self._finite(hyp))
        return sample_many(images if images is not None else lvl.images, grid), zsrc, grid

    def _cost(self, lvl: Level, hyp: torch.Tensor, radius: int | None = None) -> torch.Tensor:
        """(K, h, w) occlusion-robust photo-consistency cost of each hypothesis (float32).

        Each pair of sources (or reference and source) gives a truncated colour difference where both
        see the point; the window mean runs over the pairs' valid samples only, so a hypothesis is never
        judged by a camera that cannot see it. With three or more sources (two with a reference) the
        source that disagrees most is left out, per pixel and hypothesis, where that lowers the cost (it
        is probably occluded there). Sums are kept per source (each pair counted for both of its
        sources), so every leave-one-out combination costs one subtraction; one box filter follows.
        All sources and pairs at once: a few dozen tensor operations whatever the number of sources.
        """
        tau = self.settings.truncate
        if self._fuses(len(lvl.srcs)) and lvl.reference is None and lvl.stack is not None:
            # The same, in one kernel: no grids, samples or pair differences in memory.
            a, o = lvl.folded
            windowed = fused.pair_cost(a, o, self._finite(hyp), lvl.stack, tau)
        else:
            windowed = windowed_cost(self._warp(lvl, hyp)[0], lvl.reference, tau)
        agg = box_filter(windowed, self._radius(lvl) if radius is None else radius)
        return torch.where(agg[:, 1] > 0.05, agg[:, 0] / agg[:, 1].clamp(min=1e-6), torch.full_like(agg[:, 0], tau))

    # --- colour ---------------------------------------------------------------------------------

    def sample_at(
        self,
        target: CameraModel,
        srcs: list[tuple[CameraModel, torch.Tensor]],
        depth: torch.Tensor,
        rays: torch.Tensor | None = None,
    ) -> Sampled:
        """Every source at the point each target pixel sees at ``depth`` (H, W), in float32.

        ``rays``: the target's ``view_rays`` when the caller already has them (the pyramid's finest level).
        """
        if rays is None:
            rays = view_rays(target, self.pixels(target.width, target.height, self.device))
        proj = self.projection([cam for cam, _ in srcs])
        a, o = proj.fold(rays, constant(target.center, self.device))
        grid, zsrc = proj.grid(a, o, self._finite(depth).unsqueeze(0))
        smp = sample_many([img for _, img in srcs], grid)[:, :, 0].float()
        alpha = smp[:, 3]
        return Sampled(colors=smp[:, :3] / alpha.clamp(min=1e-3).unsqueeze(1), alpha=alpha, zsrc=zsrc[:, 0], grids=grid[:, 0])

    def visibility(self, target: CameraModel, srcs: list[tuple[CameraModel, torch.Tensor]], sampled: Sampled) -> torch.Tensor:
        """(n, H, W) bool: whether each source sees the target's point (not hidden behind another one).

        The target's points are splatted into each source's z-buffer (nearest depth per source pixel),
        all sources' buffers end to end in one; a point is visible when it is within 3 % of the nearest
        depth at its pixel.
        """
        n, dev = len(srcs), self.device
        ok = sampled.alpha > 0.5
        w = constant([cam.width for cam, _ in srcs], dev, torch.long).view(n, 1, 1)
        h = constant([cam.height for cam, _ in srcs], dev, torch.long).view(n, 1, 1)
        start = torch.cumsum(w * h, 0) - w * h  # where each source's buffer begins
        grid, z = sampled.grids, sampled.zsrc
        px = torch.minimum(((grid[..., 0] + 1) * (0.5 * (w - 1))).round_().long().clamp_(min=0), w - 1)
        py = torch.minimum(((grid[..., 1] + 1) * (0.5 * (h - 1))).round_().long().clamp_(min=0), h - 1)
        flat = (start + py * w + px).reshape(-1)
        zz = torch.where(ok, z, torch.full_like(z, float("inf"))).reshape(-1)
        zbuf = torch.full((int(sum(cam.width * cam.height for cam, _ in srcs)),), float("inf"), device=dev)
        zbuf.scatter_reduce_(0, flat, zz, reduce="amin", include_self=True)
        vis = (zz <= zbuf[flat] * 1.03).view_as(ok) & ok
        # A source at the target's centre: nothing the target sees can be hidden from it.
        same = constant([bool(np.linalg.norm(cam.center - target.center) < 1e-6) for cam, _ in srcs], dev, torch.bool)
        return torch.where(same.view(n, 1, 1), ok, vis)

    def blend(
        self,
        target: CameraModel,
        s: float,
        idx: list[int],
        srcs: list[tuple[CameraModel, torch.Tensor]],
        sampled: Sampled,
        trust: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Visibility-aware blend: tent weights in s over the visible sources, nearest visible as fallback.
        ``trust`` ((n, H, W) 0/1, ``_same_kind``): where any visible source has it, only those count."""
        s = self.rig.path.clamp(s)
        seen = self.visibility(target, srcs, sampled)
        dist = constant([abs(s - (i + 1)) for i in idx], self.device)
        tent = (1.0 - dist).clamp(min=0.0)
        near = 1.0 / (dist + 0.05) ** 4  # "the nearest camera that sees it", softly
        # What no source sees at all (outside every frame) continues the nearest camera's edge.
        j = self._nearest(idx, s)
        img = srcs[j][1]
        edge = F.grid_sample(
            img[:, :3].float(), sampled.grids[j : j + 1].clamp(-1, 1), mode="bilinear", padding_mode="border", align_corners=True
        )
        mix = fused.blend if self._fuses(len(idx)) else mix_sources  # the same, fused or not
        return mix(sampled.colors, sampled.alpha, seen, trust, tent, near, edge, self.settings.agreement)

    def _nearest(self, idx: list[int], s: float) -> int:
        return min(range(len(idx)), key=lambda k: abs(s - (idx[k] + 1)))


class OracleRenderer(DepthRenderer):
    """Evaluation only: the depth renderer's sources and blending, given the TRUE depth of the view.

    The ceiling for depth-sweep rendering: every error left is occlusion, sampling and blending.
    """

    mode = "oracle"

    def render_with_depth(
        self,
        target: CameraModel,
        s: float,
        images: Mapping[str, np.ndarray],
        depth: np.ndarray,
    ) -> torch.Tensor:
        """(1, 3, H, W) image of ``target`` from the view's true depth (H, W) z_cam (inf or NaN: sky)."""
        idx = self.rig.neighbours(s, self.n_sources)
        srcs = self.load(images, self.names(idx), alpha=True)
        d = torch.as_tensor(np.asarray(depth, np.float32), device=self.device)
        d = torch.where(torch.isfinite(d), d, torch.full_like(d, float("inf")))
        sampled = self.sample_at(target, srcs, d)
        return self.blend(target, s, idx, srcs, sampled)
