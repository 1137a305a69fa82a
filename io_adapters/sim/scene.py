"""The synthetic venue's content: an arena (pitch, boards, stands, goals), players and a ball, as analytic shapes.

Everything is a pure function of ``(seed, loop, t)``: the same seed and time give the same scene, and
all motion repeats exactly every ``loop`` seconds, so a cached loop of frames plays seamlessly.
Shapes are ones a ray can be intersected with in closed form: the ground plane, boxes (boards),
elliptic cylinders and an elliptic cone (the stand bowl), capsules and spheres (players, ball, goals).
World frame: Z up, metres, the pitch centre at the origin, the pitch's length along X.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from plugin.freeview.camera import rodrigues

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

# Object ids in the id mask a render returns.
ID_SKY = 0
ID_PITCH = 1  # the ground: pitch, run-off and concourse
ID_STANDS = 2  # advertising boards, stand walls and the crowd
ID_GOAL = 3
ID_BALL = 5
ID_PLAYER0 = 10  # player i has id 10 + i

# How a capsule or sphere is coloured (see render.py for the shading of each).
KIND_BANDED = 0  # colour A near end a, colour B beyond ``split`` (0..1 along a→b)
KIND_SHIRT = 1  # torso: shorts below ``split``, shirt above, the player's number on chest and back
KIND_HEAD = 2  # skin with hair on top and at the back
KIND_BALL = 3  # white with black pentagon-like patches, spinning with the ball's frame

GRAVITY = 9.81
BALL_RADIUS = 0.11


@dataclass(frozen=True)
class Arena:
    """The static venue: a 40 × 20 m five-a-side / futsal pitch inside an elliptic bowl of stands."""

    half_length: float = 20.0
    half_width: float = 10.0
    line_width: float = 0.08
    stripe_width: float = 4.0  # mown stripes across the pitch
    board_x: float = 22.0  # inner faces of the end boards
    board_y: float = 11.5  # inner faces of the side boards
    board_height: float = 0.9
    board_thickness: float = 0.12
    ad_width: float = 4.0  # one advertiser's panel along a board
    stand_a: float = 31.0  # semi-axes of the stand's front wall (ellipse at ground level)
    stand_b: float = 17.5
    stand_z0: float = 1.3  # height of the front wall = the first row
    stand_k: float = 10.5  # the stand rises k metres per unit of ellipse scale (side slope k / b)
    stand_z1: float = 13.0  # the last row
    wall_top: float = 16.5  # top of the back wall (hospitality boxes) above the last row
    goal_half_width: float = 1.5
    goal_height: float = 2.0
    goal_depth: float = 1.0
    post_radius: float = 0.04
    pivot: tuple[float, float, float] = (0.0, 0.0, 1.0)
    sun: tuple[float, float, float] = field(default=(-0.33, -0.58, 0.745))  # towards the sun

    @property
    def sun_direction(self) -> F64:
        s = np.asarray(self.sun, float)
        return np.asarray(s / np.linalg.norm(s))

    @property
    def stand_lambda1(self) -> float:
        """Ellipse scale of the last row (the back wall stands on it)."""
        return 1.0 + (self.stand_z1 - self.stand_z0) / self.stand_k

    def line_segments(self) -> F64:
        """Straight pitch markings as (x0, y0, x1, y1) rows."""
        L, W = self.half_length, self.half_width
        d = 1.58  # half the straight part of the futsal penalty area line
        rows = [
            (-L, -W, L, -W),
            (-L, W, L, W),
            (-L, -W, -L, W),
            (L, -W, L, W),
            (0.0, -W, 0.0, W),
            (-L + 6.0, -d, -L + 6.0, d),
            (L - 6.0, -d, L - 6.0, d),
        ]
        return np.array(rows, float)

    def line_arcs(self) -> F64:
        """Curved markings as (cx, cy, radius, angle0, angle1) rows, angles counter-clockwise."""
        L, W = self.half_length, self.half_width
        d = 1.58
        pi = math.pi
        rows = [
            (0.0, 0.0, 3.0, -pi, pi),  # centre circle
            (-L, d, 6.0, 0.0, pi / 2),  # penalty areas: quarter circles from the goal line
            (-L, -d, 6.0, -pi / 2, 0.0),
            (L, d, 6.0, pi / 2, pi),
            (L, -d, 6.0, -pi, -pi / 2),
            (-L, -W, 0.25, 0.0, pi / 2),  # corner arcs
            (-L, W, 0.25, -pi / 2, 0.0),
            (L, -W, 0.25, pi / 2, pi),
            (L, W, 0.25, -pi, -pi / 2),
        ]
        return np.array(rows, float)

    def line_spots(self) -> F64:
        """Spots as (cx, cy, radius) rows: centre, penalty (6 m) and second penalty (10 m) marks."""
        L = self.half_length
        return np.array(
            [(0.0, 0.0, 0.1), (-L + 6, 0, 0.1), (L - 6, 0, 0.1), (-L + 10, 0, 0.08), (L - 10, 0, 0.08)], float
        )

    def boards(self) -> F64:
        """Advertising boards as axis-aligned boxes (xmin, ymin, zmin, xmax, ymax, zmax): far, near, right, left."""
        X, Y, h, th = self.board_x, self.board_y, self.board_height, self.board_thickness
        return np.array(
            [
                (-X - th, Y, 0.0, X + th, Y + th, h),
                (-X - th, -Y - th, 0.0, X + th, -Y, h),
                (X, -Y, 0.0, X + th, Y, h),
                (-X - th, -Y, 0.0, -X, Y, h),
            ],
            float,
        )

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


ARENA = Arena()


# --- bodies: capsules and spheres that a ray can hit ---------------------------------------------


@dataclass
class Body:
    """One bounded object made of capsules and spheres (a player, the ball, a goal frame).

    Capsule ``p`` runs from ``cap_a[p]`` to ``cap_b[p]`` with radius ``cap_r[p]``; it is squashed by
    ``1 / cap_sigma[p]`` along ``cap_axis[p]`` (a torso is flatter front to back than side to side).
    ``frame`` rows are the body's forward, right and up directions (for shirt numbers).
    """

    uid: int
    oid: int
    cap_a: F64
    cap_b: F64
    cap_r: F64
    cap_axis: F64
    cap_sigma: F64
    cap_col_a: F64
    cap_col_b: F64
    cap_split: F64
    cap_kind: npt.NDArray[np.int64]
    sph_c: F64
    sph_r: F64
    sph_kind: npt.NDArray[np.int64]
    sph_col: F64
    sph_col2: F64
    sph_frame: F64
    frame: F64 = field(default_factory=lambda: np.eye(3))
    number: int = 0
    number_col: F64 = field(default_factory=lambda: np.ones(3))

    @property
    def n_caps(self) -> int:
        return int(self.cap_r.shape[0])

    @property
    def n_spheres(self) -> int:
        return int(self.sph_r.shape[0])


class _BodyBuilder:
    def __init__(self) -> None:
        self.caps: list[tuple[Any, ...]] = []
        self.sph: list[tuple[Any, ...]] = []

    def capsule(
        self,
        a: F64,
        b: F64,
        r: float,
        col_a: Any,
        col_b: Any | None = None,
        split: float = 1.0,
        kind: int = KIND_BANDED,
        axis: F64 | None = None,
        sigma: float = 1.0,
    ) -> None:
        self.caps.append(
            (
                np.asarray(a, float),
                np.asarray(b, float),
                r,
                np.zeros(3) if axis is None else np.asarray(axis, float),
                sigma,
                np.asarray(col_a, float),
                np.asarray(col_a if col_b is None else col_b, float),
                split,
                kind,
            )
        )

    def sphere(self, c: F64, r: float, kind: int, col: Any, col2: Any, frame: F64) -> None:
        self.sph.append((np.asarray(c, float), r, kind, np.asarray(col, float), np.asarray(col2, float), frame))

    def build(self, uid: int, oid: int, **extra: Any) -> Body:
        def col(rows: list[tuple[Any, ...]], i: int, shape: tuple[int, ...], dtype: Any = float) -> npt.NDArray[Any]:
            return np.array([r[i] for r in rows], dtype).reshape(shape)

        nc, ns = len(self.caps), len(self.sph)
        return Body(
            uid=uid,
            oid=oid,
            cap_a=col(self.caps, 0, (nc, 3)),
            cap_b=col(self.caps, 1, (nc, 3)),
            cap_r=col(self.caps, 2, (nc,)),
            cap_axis=col(self.caps, 3, (nc, 3)),
            cap_sigma=col(self.caps, 4, (nc,)),
            cap_col_a=col(self.caps, 5, (nc, 3)),
            cap_col_b=col(self.caps, 6, (nc, 3)),
            cap_split=col(self.caps, 7, (nc,)),
            cap_kind=col(self.caps, 8, (nc,), np.int64),
            sph_c=col(self.sph, 0, (ns, 3)),
            sph_r=col(self.sph, 1, (ns,)),
            sph_kind=col(self.sph, 2, (ns,), np.int64),
            sph_col=col(self.sph, 3, (ns, 3)),
            sph_col2=col(self.sph, 4, (ns, 3)),
            sph_frame=col(self.sph, 5, (ns, 3, 3)),
            **extra,
        )


def goal_bodies(arena: Arena = ARENA) -> list[Body]:
    """The two goal frames (posts, crossbar and the ground frame behind): static bodies."""
    out = []
    white = (0.93, 0.93, 0.92)
    r = arena.post_radius
    for uid, s in ((0, -1.0), (1, 1.0)):
        x0 = s * arena.half_length
        x1 = s * (arena.half_length + arena.goal_depth)
        w, h = arena.goal_half_width, arena.goal_height
        b = _BodyBuilder()
        b.capsule(np.array([x0, -w, 0.0]), np.array([x0, -w, h]), r, white)
        b.capsule(np.array([x0, w, 0.0]), np.array([x0, w, h]), r, white)
        b.capsule(np.array([x0, -w, h]), np.array([x0, w, h]), r, white)
        b.capsule(np.array([x0, -w, h]), np.array([x1, -w, 0.25]), 0.025, (0.75, 0.75, 0.75))
        b.capsule(np.array([x0, w, h]), np.array([x1, w, 0.25]), 0.025, (0.75, 0.75, 0.75))
        b.capsule(np.array([x1, -w, 0.03]), np.array([x1, w, 0.03]), 0.03, (0.75, 0.75, 0.75))
        b.capsule(np.array([x0, -w, 0.03]), np.array([x1, -w, 0.03]), 0.03, (0.75, 0.75, 0.75))
        b.capsule(np.array([x0, w, 0.03]), np.array([x1, w, 0.03]), 0.03, (0.75, 0.75, 0.75))
        out.append(b.build(uid, ID_GOAL))
    return out


# --- players and ball ------------------------------------------------------------------------------

TEAM_KITS = (
    # shirt, shorts, socks, number colour
    ((0.80, 0.07, 0.11), (0.95, 0.95, 0.95), (0.80, 0.07, 0.11), (1.0, 1.0, 1.0)),
    ((0.98, 0.80, 0.08), (0.07, 0.11, 0.34), (0.98, 0.80, 0.08), (0.07, 0.11, 0.34)),
)
SKIN_TONES = ((0.92, 0.74, 0.62), (0.80, 0.60, 0.45), (0.62, 0.43, 0.30), (0.42, 0.28, 0.19), (0.96, 0.80, 0.70))
HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.30, 0.18, 0.09), (0.75, 0.60, 0.30), (0.12, 0.10, 0.09))
BOOT_COLOURS = ((0.05, 0.05, 0.05), (0.95, 0.95, 0.95), (0.95, 0.45, 0.05), (0.10, 0.35, 0.90))


@dataclass(frozen=True)
class PlayerSpec:
    """One player's look and path: an ellipse (plus a second harmonic) run ``laps`` times per loop."""

    index: int
    team: int
    number: int
    scale: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    boots: tuple[float, float, float]
    centre: tuple[float, float]
    radii: tuple[float, float]
    angle: float
    direction: float
    phase: float
    wobble: float
    wobble_phase: float
    laps: int
    stride_cycles: int
    stride_phase: float


@dataclass(frozen=True)
class PassSpec:
    """One pass of the ball: from a player's foot at ``t0`` to another's at ``t1`` in ``arcs`` hops."""

    giver: int
    taker: int
    t0: float
    t1: float
    arcs: int
    spin_turns: int


class Scene:
    """The venue at any time t: deterministic from ``seed``; periodic with period ``loop`` seconds."""

    def __init__(self, seed: int = 0, loop: float = 3.0, n_players: int = 8, arena: Arena = ARENA) -> None:
        if not 2 <= n_players <= 16:
            raise ValueError(f"n_players must be 2..16, got {n_players}")
        if loop <= 0:
            raise ValueError(f"loop must be positive seconds, got {loop}")
        self.seed = int(seed)
        self.loop = float(loop)
        self.n_players = n_players
        self.arena = arena
        self.players = self._make_players()
        self.passes = self._make_passes()
        self.static_bodies = goal_bodies(arena)

    def params(self) -> dict[str, Any]:
        """Everything that determines the pictures (for cache keys)."""
        return {"seed": self.seed, "loop": self.loop, "n_players": self.n_players, "arena": self.arena.params()}

    @property
    def pivot(self) -> F64:
        return np.asarray(self.arena.pivot, float)

    # --- motion ------------------------------------------------------------------------------

    def _make_players(self) -> list[PlayerSpec]:
        rng = np.random.default_rng([self.seed, 7101])
        L = self.loop
        px, py = self.arena.pivot[0], self.arena.pivot[1]
        numbers = [list(rng.permutation(np.arange(2, 24))[: self.n_players]) for _ in range(2)]
        specs: list[PlayerSpec] = []
        taus = np.linspace(0.0, L, 97)[:-1]
        tracks: list[F64] = []
        half = (self.n_players + 1) // 2
        for i in range(self.n_players):
            team = 0 if i < half else 1
            for _attempt in range(400):
                speed = rng.uniform(3.0, 6.5)
                laps = max(1, round(speed * L / (2 * math.pi * 3.2)))
                r_mean = speed * L / (2 * math.pi * laps)
                e = rng.uniform(0.45, 0.9)
                a = r_mean * math.sqrt(2 / (1 + e * e))
                spec = PlayerSpec(
                    index=i,
                    team=team,
                    number=int(numbers[team][i]),
                    scale=float(rng.uniform(0.94, 1.05)),
                    skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
                    hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
                    boots=BOOT_COLOURS[int(rng.integers(len(BOOT_COLOURS)))],
                    centre=(px + float(rng.uniform(-6.5, 6.5)), py + float(rng.uniform(-3.5, 3.5))),
                    radii=(a, e * a),
                    angle=float(rng.uniform(0, 2 * math.pi)),
                    direction=float(rng.choice([-1.0, 1.0])),
                    phase=float(rng.uniform(0, 2 * math.pi)),
                    wobble=float(rng.uniform(0.0, 0.2) * e * a),
                    wobble_phase=float(rng.uniform(0, 2 * math.pi)),
                    laps=laps,
                    stride_cycles=max(1, round((1.25 + 0.06 * speed) * L)),
                    stride_phase=float(rng.uniform(0, 2 * math.pi)),
                )
                track = np.array([self._path(spec, t)[0] for t in taus])
                inside = np.all(np.abs(track[:, 0] - px) < 9.5) and np.all(np.abs(track[:, 1] - py) < 6.5)
                clear = all(np.min(np.linalg.norm(track - other, axis=1)) > 1.2 for other in tracks)
                if inside and clear:
                    break
            specs.append(spec)
            tracks.append(track)
        return specs

    def _path(self, p: PlayerSpec, t: float) -> tuple[F64, F64]:
        """Ground position (x, y) and velocity of a player at time t."""
        w = 2 * math.pi * p.laps / self.loop
        th = w * (t % self.loop) + p.phase
        a, b = p.radii
        ca, sa = math.cos(p.angle), math.sin(p.angle)
        rot = np.array([[ca, -sa], [sa, ca]])
        th2 = 2 * th + p.wobble_phase
        pos = rot @ np.array([a * math.cos(th), p.direction * b * math.sin(th)])
        pos += p.wobble * np.array([math.cos(th2), math.sin(th2)])
        vel = rot @ np.array([-a * w * math.sin(th), p.direction * b * w * math.cos(th)])
        vel += 2 * w * p.wobble * np.array([-math.sin(th2), math.cos(th2)])
        return pos + np.array(p.centre), vel

    def player_position(self, i: int, t: float) -> tuple[F64, F64]:
        """Ground position (x, y, 0) and unit heading of player i at time t."""
        pos, vel = self._path(self.players[i], t)
        heading = vel / np.linalg.norm(vel)
        return np.array([pos[0], pos[1], 0.0]), np.array([heading[0], heading[1], 0.0])

    def _foot_point(self, i: int, t: float) -> F64:
        pos, heading = self.player_position(i, t)
        return pos + 0.35 * heading + np.array([0.0, 0.0, BALL_RADIUS])

    def _make_passes(self) -> list[PassSpec]:
        rng = np.random.default_rng([self.seed, 7102])
        n = max(1, round(self.loop / 1.0))
        dt = self.loop / n
        best: list[int] | None = None
        best_score = -1.0
        for _ in range(200):
            order = [int(rng.integers(self.n_players))]
            for _k in range(1, n):
                nxt = int(rng.integers(self.n_players - 1))
                order.append(nxt if nxt < order[-1] else nxt + 1)
            if n > 1 and order[0] == order[-1]:
                continue
            dists = []
            for k in range(n):
                a = self._foot_point(order[k], k * dt)
                b = self._foot_point(order[(k + 1) % n], (k + 1) * dt)
                dists.append(float(np.linalg.norm((a - b)[:2])))
            score = min(min(d, 14.0 - d) for d in dists) if n > 1 else 1.0
            if score > best_score:
                best, best_score = order, score
        order = best if best is not None else [0] * n
        if n == 1:  # a lone pass must come back to its giver: keep the loop seamless
            order = [order[0]]
        passes = []
        for k in range(n):
            taker = order[(k + 1) % n]
            passes.append(
                PassSpec(
                    giver=order[k],
                    taker=taker,
                    t0=k * dt,
                    t1=(k + 1) * dt,
                    arcs=int(rng.choice([1, 1, 2])),
                    spin_turns=int(rng.integers(1, 4)),
                )
            )
        return passes

    def ball_state(self, t: float) -> tuple[F64, F64]:
        """Ball centre and rotation (ball frame → world) at time t: ballistic hops between players' feet."""
        tau = t % self.loop
        for p in self.passes:
            if p.t0 <= tau < p.t1 or p is self.passes[-1]:
                break
        u = (tau - p.t0) / (p.t1 - p.t0)
        a = self._foot_point(p.giver, p.t0)
        b = self._foot_point(p.taker, p.t1)
        pos = a + (b - a) * u
        hop = (p.t1 - p.t0) / p.arcs
        s = (tau - p.t0) % hop
        pos[2] = BALL_RADIUS + 0.5 * GRAVITY * s * (hop - s)  # leaves and lands at ball height
        travel = b - a
        travel[2] = 0.0
        norm = np.linalg.norm(travel)
        axis = np.cross(np.array([0.0, 0.0, 1.0]), travel / norm) if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
        angle = -2 * math.pi * p.spin_turns * u
        return pos, rodrigues(axis / np.linalg.norm(axis) * angle)

    # --- bodies ------------------------------------------------------------------------------

    def player_body(self, i: int, t: float) -> Body:
        """Player i at time t as capsules and a sphere: a running figure with swinging arms and legs."""
        p = self.players[i]
        sc = p.scale
        pos, f = self.player_position(i, t)
        _, vel = self._path(p, t)
        speed = float(np.linalg.norm(vel))
        up = np.array([0.0, 0.0, 1.0])
        right = np.cross(f, up)
        phase = 2 * math.pi * p.stride_cycles * (t % self.loop) / self.loop + p.stride_phase
        amp = min(0.75, 0.3 + 0.065 * speed)
        knee_amp = 0.45 + 0.12 * speed
        lean = 0.04 + 0.022 * speed
        kit = TEAM_KITS[p.team]
        shirt, shorts, socks, num_col = (np.asarray(c, float) for c in kit)
        skin = np.asarray(p.skin)

        thigh, shin, ankle_h = 0.44 * sc, 0.43 * sc, 0.07 * sc
        hip_h = thigh + shin + ankle_h
        pelvis = np.array([0.0, 0.0, hip_h])  # relative to the ground point under the player

        def sag(angle: float) -> F64:
            """Unit vector in the sagittal plane, ``angle`` forward of straight down."""
            return np.asarray(math.sin(angle) * f - math.cos(angle) * up)

        b = _BodyBuilder()
        boots: list[tuple[F64, F64]] = []
        legs = []
        for side, ph in ((-1.0, phase), (1.0, phase + math.pi)):
            alpha = amp * math.sin(ph)
            beta = 0.12 + knee_amp * max(0.0, math.cos(ph)) ** 1.5
            hip = pelvis + side * 0.095 * sc * right
            knee = hip + thigh * sag(alpha)
            ankle = knee + shin * sag(alpha - beta)
            toe_dir = math.cos(alpha - beta) * f + math.sin(alpha - beta) * up
            sole = ankle + 0.035 * sc * sag(alpha - beta)  # the boot sits below the ankle joint
            boot_a = sole - 0.05 * sc * toe_dir
            boot_b = sole + 0.17 * sc * toe_dir
            legs.append((hip, knee, ankle))
            boots.append((boot_a, boot_b))
        boot_r = 0.045 * sc
        lowest = min(min(a[2], bb[2]) for a, bb in boots) - boot_r
        lift = np.array([pos[0], pos[1], -lowest])

        for (hip, knee, ankle), (ba, bb) in zip(legs, boots, strict=True):
            b.capsule(hip + lift, knee + lift, 0.075 * sc, shorts, skin, split=0.42)
            b.capsule(knee + lift, ankle + lift, 0.058 * sc, skin, socks, split=0.22)
            b.capsule(ba + lift, bb + lift, boot_r, p.boots)
        torso_axis = math.cos(lean) * up + math.sin(lean) * f
        torso_a = pelvis + 0.07 * sc * torso_axis
        torso_b = pelvis + 0.44 * sc * torso_axis
        b.capsule(
            torso_a + lift,
            torso_b + lift,
            0.175 * sc,
            shorts,
            shirt,
            split=0.12,
            kind=KIND_SHIRT,
            axis=f,
            sigma=1.5,
        )
        b.capsule(pelvis - 0.1 * sc * right + lift, pelvis + 0.1 * sc * right + lift, 0.105 * sc, shorts)
        shoulder_c = pelvis + 0.47 * sc * torso_axis
        for side, ph in ((-1.0, phase), (1.0, phase + math.pi)):
            gamma = -0.85 * amp * math.sin(ph)
            shoulder = shoulder_c + side * 0.2 * sc * right - 0.03 * sc * up
            elbow = shoulder + 0.29 * sc * sag(gamma) + side * 0.03 * sc * right
            wrist = elbow + 0.26 * sc * sag(gamma + 1.35) + side * 0.02 * sc * right
            b.capsule(shoulder + lift, elbow + lift, 0.05 * sc, shirt, skin, split=0.45)
            b.capsule(elbow + lift, wrist + lift, 0.042 * sc, skin)
        head_c = pelvis + 0.73 * sc * torso_axis
        frame = np.stack([f, right, up])
        b.sphere(head_c + lift, 0.112 * sc, KIND_HEAD, skin, p.hair, frame)
        return b.build(3 + i, ID_PLAYER0 + i, frame=frame, number=p.number, number_col=num_col)

    def ball_body(self, t: float) -> Body:
        c, rot = self.ball_state(t)
        b = _BodyBuilder()
        b.sphere(c, BALL_RADIUS, KIND_BALL, (0.96, 0.96, 0.95), (0.05, 0.05, 0.06), rot.T)
        return b.build(2, ID_BALL)

    def bodies_at(self, t: float) -> list[Body]:
        """The moving bodies at time t: the ball, then the players."""
        return [self.ball_body(t)] + [self.player_body(i, t) for i in range(self.n_players)]

    def torso_centre(self, i: int, t: float) -> F64:
        """Middle of player i's torso at time t (a point that is certainly inside that player)."""
        body = self.player_body(i, t)
        k = int(np.flatnonzero(body.cap_kind == KIND_SHIRT)[0])
        return np.asarray(0.5 * (body.cap_a[k] + body.cap_b[k]))


# --- textures (drawn once with OpenCV's vector fonts) --------------------------------------------

ADVERTISERS = (
    ("GENLOCK", (0.05, 0.20, 0.55), (1.0, 1.0, 1.0)),
    ("SLOTWISE", (0.85, 0.10, 0.10), (1.0, 1.0, 1.0)),
    ("PIVOT AIR", (0.05, 0.05, 0.08), (0.98, 0.80, 0.10)),
    ("TAI TIME", (0.95, 0.95, 0.95), (0.05, 0.25, 0.60)),
    ("BULLET CAM", (0.00, 0.45, 0.30), (1.0, 1.0, 1.0)),
    ("UYVY COLA", (0.70, 0.00, 0.05), (1.0, 0.95, 0.85)),
    ("FRAMESET", (0.98, 0.55, 0.05), (0.05, 0.05, 0.05)),
    ("KEYFRAME", (0.35, 0.10, 0.55), (0.95, 0.95, 1.0)),
)
AD_TEX_W, AD_TEX_H = 320, 72


@functools.lru_cache(maxsize=1)
def board_atlas() -> F32:
    """Advertising panels, (n, H, W, 3) RGB in 0..1: a name, a logo mark, a stripe."""
    out = np.zeros((len(ADVERTISERS), AD_TEX_H, AD_TEX_W, 3), np.float32)
    for k, (text, bg, fg) in enumerate(ADVERTISERS):
        img = np.zeros((AD_TEX_H, AD_TEX_W, 3), np.uint8)
        img[:] = np.array(bg[::-1]) * 255
        fgc = tuple(int(c * 255) for c in fg[::-1])
        cv2.circle(img, (36, AD_TEX_H // 2), 22, fgc, 5, cv2.LINE_AA)
        pts = np.array([[24 + (k % 3) * 4, 46], [36, 18 + k % 4], [48, 46]], np.int32)
        cv2.fillPoly(img, [pts], fgc, cv2.LINE_AA)
        font = cv2.FONT_HERSHEY_DUPLEX
        scale = 1.0
        (w, _h), _ = cv2.getTextSize(text, font, scale, 2)
        scale = min(1.25, 230.0 / w)
        (w, h), _ = cv2.getTextSize(text, font, scale, 2)
        cv2.putText(img, text, (72 + (240 - w) // 2, (AD_TEX_H + h) // 2), font, scale, fgc, 2, cv2.LINE_AA)
        cv2.rectangle(img, (0, AD_TEX_H - 6), (AD_TEX_W, AD_TEX_H), fgc, -1)
        out[k] = img[:, :, ::-1].astype(np.float32) / 255.0
    return out


NUMBER_TEX = 64


@functools.lru_cache(maxsize=1)
def number_atlas() -> F32:
    """Shirt numbers 0..99 as coverage masks (100, 64, 64) in 0..1: bold digits filling the square."""
    out = np.zeros((100, NUMBER_TEX, NUMBER_TEX), np.float32)
    font = cv2.FONT_HERSHEY_DUPLEX
    for n in range(100):
        big = np.zeros((160, 240), np.uint8)
        cv2.putText(big, str(n), (10, 130), font, 4.0, 255, 12, cv2.LINE_AA)
        ys, xs = np.nonzero(big)
        ink = big[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        ih, iw = ink.shape
        scale = min(0.9 * NUMBER_TEX / ih, 0.9 * NUMBER_TEX / iw)
        small = cv2.resize(ink, (max(1, round(iw * scale)), max(1, round(ih * scale))), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape
        y0, x0 = (NUMBER_TEX - sh) // 2, (NUMBER_TEX - sw) // 2
        out[n, y0 : y0 + sh, x0 : x0 + sw] = small.astype(np.float32) / 255.0
    return out
