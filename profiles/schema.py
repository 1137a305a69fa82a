"""What a show is: the typed, documented schema of a venue/rig profile (TOML).

Every field's docstring is its documentation: the CLI help, the REST schema and
``profiles/shipped/reference.toml`` are all generated from these models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from timing import FrameRate

#: URL schemes the design defines; adapters found through entry points add to these.
KNOWN_SOURCE_SCHEMES = ("sim", "ndi", "st2110", "file", "mem")
KNOWN_SINK_SCHEMES = ("ndi", "st2110", "file", "mem")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Parse '16GB', '512 MiB', '2e9' or an integer of bytes. Decimal units are powers of 1000."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (write e.g. '16GB' or '512MiB')")
    value, unit = float(m.group(1)), m.group(2).upper()
    binary = "I" in unit
    power = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4}[unit[:1] if unit[:1] in "KMGT" else ""]
    return int(value * (1024 if binary else 1000) ** power)


def url_scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


class Model(BaseModel):
    """Base of every profile section: unknown keys are errors, field docstrings are descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Format(Model):
    """The house video format every camera and output runs at."""

    width: Annotated[int, Field(gt=0, le=7680)] = 1920
    """Picture width in pixels (even, for 4:2:2)."""
    height: Annotated[int, Field(gt=0, le=4320)] = 1080
    """Picture height in pixels."""
    rate: str = "50"
    """Frame rate: '50', '59.94', '60000/1001', '25', '29.97', '23.976', '24', '30', '60', '119.88'."""

    @field_validator("width")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"width must be even for 4:2:2 video, got {v}")
        return v

    @field_validator("rate")
    @classmethod
    def _rate(cls, v: str) -> str:
        FrameRate.parse(v)
        return v

    @property
    def frame_rate(self) -> FrameRate:
        return FrameRate.parse(self.rate)


class InlineCalibration(Model):
    """A camera's calibration in the OpenCV model: x_cam = rotation · X_world + translation."""

    fx: float
    """Focal length in pixels, horizontal."""
    fy: float
    """Focal length in pixels, vertical."""
    cx: float
    """Principal point x in pixels (0 = centre of the left pixel)."""
    cy: float
    """Principal point y in pixels."""
    dist: list[float] = Field(default_factory=lambda: [0.0] * 5, max_length=5)
    """Distortion k1, k2, p1, p2, k3 (fewer terms are padded with zeros)."""
    rotation: list[list[float]]
    """World→camera rotation, 3 rows of 3 (world frame Z-up, metres)."""
    translation: list[float] = Field(min_length=3, max_length=3)
    """World→camera translation in metres."""
    width: int | None = None
    """Image width the intrinsics were calibrated at (default: format.width)."""
    height: int | None = None
    """Image height the intrinsics were calibrated at (default: format.height)."""

    @field_validator("rotation")
    @classmethod
    def _rot(cls, v: list[list[float]]) -> list[list[float]]:
        if len(v) != 3 or any(len(row) != 3 for row in v):
            raise ValueError("rotation must be 3 rows of 3 numbers")
        return v


class RigCalibration(Model):
    """A camera's calibration read from a rig folder (COLMAP text model) or an OpenCV JSON file."""

    rig: str
    """Path to a COLMAP model folder (cameras.txt, images.txt) or an OpenCV-style .json file,
    relative to the profile's folder."""
    image: str | None = None
    """The image name (COLMAP) or key (JSON) of this camera; default: the camera's name."""


def _calibration_kind(value: Any) -> str:
    if isinstance(value, RigCalibration) or (isinstance(value, dict) and "rig" in value):
        return "rig"
    return "inline"


CalibrationSpec = Annotated[
    Annotated[InlineCalibration, Tag("inline")] | Annotated[RigCalibration, Tag("rig")],
    Discriminator(_calibration_kind),
]


class Camera(Model):
    """One camera of the rig. Cameras are listed in order along the arc."""

    name: str
    """Short name shown to operators and used in URLs and the state map, e.g. 'cam03'."""
    source: str
    """Where its frames come from: sim://arena/cam03, ndi://CAM 03, ndi://10.0.0.5:5961,
    st2110://cam3.sdp, file:///iso/cam03.mov, mem://cam03."""
    calibration: CalibrationSpec | None = None
    """Calibration inline, from a rig folder, or absent (cut mode only; sim sources know theirs)."""
    enabled: bool = True
    """A disabled camera is neither ingested nor offered to the renderers."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"camera name {v!r} must be 1-32 letters, digits, '_', '.', '-'")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        scheme = url_scheme(v)
        known = known_schemes("sources")
        if scheme not in known:
            shown = f"'{scheme}'" if scheme else "missing (write scheme://...)"
            raise ValueError(f"unknown scheme {shown} (known: {', '.join(known)})")
        return v


class Scene(Model):
    """What the renderers may assume about the venue."""

    pivot: list[float] | None = Field(default=None, min_length=3, max_length=3)
    """Default pivot [x, y, z] in metres; absent = where the cameras' optical axes converge."""
    depth_near: float = Field(default=5.0, gt=0)
    """Nearest scene depth in metres seen by any camera (bounds the depth sweep)."""
    depth_far: float = Field(default=120.0, gt=0)
    """Farthest scene depth in metres seen by any camera."""
    ground_plane: bool = True
    """The pitch is the plane z = 0 (the depth renderer uses it as a strong prior)."""
    bounds: list[list[float]] | None = None
    """Optional world bounding box [[xmin, ymin, zmin], [xmax, ymax, zmax]] of the action."""

    @model_validator(mode="after")
    def _range(self) -> Scene:
        if self.depth_far <= self.depth_near:
            raise ValueError(f"depth_far ({self.depth_far}) must be greater than depth_near ({self.depth_near})")
        return self


class Buffer(Model):
    """Record trains: one ring per camera holding the most recent seconds."""

    seconds: float = Field(default=30.0, gt=0, le=86400)
    """Seconds of every camera kept in its record train."""
    codec: Literal["raw", "jpeg"] = "raw"
    """How frames are held: raw (as they arrived) or jpeg (compressed, for longer trains)."""
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    """JPEG quality when codec = "jpeg"."""
    memory_limit: str = "16GB"
    """Most memory all record trains together may take, e.g. '16GB', '512MiB'."""
    guardband_seconds: float = Field(default=2.0, ge=0)
    """Extra seconds saved before IN and after OUT when a clip is saved."""

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_size(v)
        return v

    @property
    def memory_limit_bytes(self) -> int:
        return parse_size(self.memory_limit)


class Renderer(Model):
    """How views between cameras are made."""

    mode: Literal["cut", "switch", "depth"] = "switch"
    """cut: nearest real camera; switch: cameras re-aimed at the pivot; depth: synthesised in-betweens."""
    device: Literal["cpu", "cuda", "auto"] = "auto"
    """Where to render: auto picks CUDA when a GPU is present."""
    quality: Literal["draft", "normal", "high"] = "normal"
    """Trades speed for quality (depth planes, resolution of the depth sweep; "high" also works out the
    depth of views wider than 960 at full size, the others at half size)."""
    render_ahead: int = Field(default=100, ge=1, le=10000)
    """Frames of a cued move rendered ahead into a bounded queue (for renderers slower than real time)."""
    plates_every_s: float = Field(default=30.0, ge=0.0, le=3600.0)
    """depth: rebuild each camera's clean plate (the venue without players) from the record train this
    often, in seconds; the renderer finds the players by them. 0: no plates."""
    plate_frames: int = Field(default=9, ge=3, le=64)
    """Frames per camera, spread evenly over the record train, whose per-pixel median makes a plate."""


class Channel(Model):
    """One replay output (PGM1, PGM2 …)."""

    name: str
    """Channel name, e.g. 'PGM1'; NDI outputs are named 'FVR <name>'."""
    outputs: list[str] = Field(default_factory=list)
    """Sink URLs the channel's frames go to, e.g. ndi://FVR PGM1, mem://PGM1, file:///out/pgm1.mov."""
    camera: str | None = None
    """Camera shown live (E-E) at start; default: the first camera."""
    lever_curve: Literal["linear", "square", "evs"] = "evs"
    """How a lever position 0..1 maps to speed 0..1×: linear, square, or the LSM-like curve."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"channel name {v!r} must be 1-32 letters, digits, '_', '.', '-'")
        return v

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, v: list[str]) -> list[str]:
        known = known_schemes("sinks")
        for url in v:
            scheme = url_scheme(url)
            if scheme not in known:
                raise ValueError(f"output {url!r}: unknown scheme '{scheme}' (known: {', '.join(known)})")
        return v


class Osc(Model):
    """The OSC control surface (UDP)."""

    enabled: bool = False
    """Serve OSC."""
    bind: str = "127.0.0.1"
    """Address to listen on."""
    port: int = Field(default=8000, ge=1, le=65535)
    """UDP port to listen on."""


class Sony9Pin(Model):
    """One RS-422 port serving one channel as a VTR / disk recorder."""

    port: str
    """Serial device, e.g. /dev/ttyUSB0, or any URL pyserial opens (loop://, spy://…)."""
    channel: str = "PGM1"
    """The channel this port controls."""
    device_type: Literal["bvw-75", "odetics", "hyperdeck"] = "odetics"
    """What the device answers to Device Type Request."""


class Rest(Model):
    """The REST + WebSocket API and web operator page."""

    enabled: bool = True
    """Serve the API and the web page."""
    bind: str = "127.0.0.1:8080"
    """HOST:PORT to listen on. Binding beyond loopback requires an API key."""
    api_key_env: str = "FVR_API_KEY"
    """Environment variable holding the API key; with a key set, mutating requests need it."""
    protect_reads: bool = False
    """Also require the key for read-only routes."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS (none by default)."""


class Control(Model):
    """How people and machines drive the engine."""

    osc: Osc = Osc()
    """OSC server."""
    sony9pin: list[Sony9Pin] = Field(default_factory=list)
    """Sony 9-pin / Odetics serial ports."""
    rest: Rest = Rest()
    """REST + WebSocket API."""


class Storage(Model):
    """Where clips, playlists and exports live."""

    root: str = "~/.local/share/fvreplay"
    """Folder for the clip database and saved clip frames (relative paths: to the profile's folder)."""
    clip_db: str = "clips.sqlite"
    """Clip and playlist database file, relative to root."""
    export_dir: str = "exports"
    """Folder for exported clips and renders, relative to root."""
    clip_codec: Literal["jpeg", "raw"] = "jpeg"
    """How saved clips hold their frames: jpeg (compact) or raw (as held in the record train)."""


class Profile(Model):
    """A show: the format, the reference, the rig, the buffer, the renderer, the channels and controls."""

    name: str = "show"
    """A name for the show, shown in logs and the web page."""
    format: Format = Format()
    """The house video format."""
    reference: str = "internal"
    """Timing reference: 'ptp' (CLOCK_TAI via linuxptp), 'internal' (free run), or 'input:<camera>'."""
    cameras: list[Camera] = Field(min_length=1)
    """The cameras, in order along the arc."""
    scene: Scene = Scene()
    """What the renderers may assume about the venue."""
    buffer: Buffer = Buffer()
    """Record trains."""
    renderer: Renderer = Renderer()
    """Free-viewpoint rendering."""
    channels: list[Channel] = Field(default_factory=lambda: [Channel(name="PGM1")], min_length=1)
    """Replay outputs."""
    control: Control = Control()
    """Control surfaces."""
    storage: Storage = Storage()
    """Clip storage."""
    source_path: str | None = Field(default=None, exclude=True)
    """Where the profile was read from (set by the loader)."""

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str) -> str:
        if v in ("ptp", "internal") or (v.startswith("input:") and len(v) > 6):
            return v
        raise ValueError(f"reference {v!r} must be 'ptp', 'internal' or 'input:<camera>'")

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(dupes)}")
        if self.reference.startswith("input:") and self.reference[6:] not in names:
            raise ValueError(f"reference {self.reference!r} names no camera (cameras: {', '.join(names)})")
        chans = [c.name for c in self.channels]
        if len(set(chans)) != len(chans):
            raise ValueError("channel names must be unique")
        for ch in self.channels:
            if ch.camera is not None and ch.camera not in names:
                raise ValueError(f"channel {ch.name}: camera {ch.camera!r} is not in the rig")
        for port in self.control.sony9pin:
            if port.channel not in chans:
                raise ValueError(f"control.sony9pin: channel {port.channel!r} is not defined")
        return self

    @property
    def enabled_cameras(self) -> list[Camera]:
        return [c for c in self.cameras if c.enabled]

    @property
    def folder(self) -> Path:
        return Path(self.source_path).parent if self.source_path else Path.cwd()


def known_schemes(group: Literal["sources", "sinks"]) -> list[str]:
    """Schemes the design defines plus any that installed adapters register through entry points."""
    from importlib.metadata import entry_points

    base = KNOWN_SOURCE_SCHEMES if group == "sources" else KNOWN_SINK_SCHEMES
    found = [ep.name for ep in entry_points(group=f"fvreplay.{group}")]
    return list(dict.fromkeys([*base, *found]))
