"""Request and response bodies of the REST API (pydantic): every body a client sends is validated here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: ``HH:MM:SS:FF`` (``;`` before the frames for drop-frame); checked against the house rate by the routes.
TIMECODE_PATTERN = r"^\d{2}:\d{2}:\d{2}[:;.]\d{2,3}$"
Timecode = Annotated[
    str, Field(pattern=TIMECODE_PATTERN, examples=["10:21:33:12", "10:21:33;12"], description="HH:MM:SS:FF")
]
Speed = Annotated[float, Field(ge=-4.0, le=4.0, description="signed speed, 1.0 = 100 %, 0 = still")]
Point3 = Annotated[list[float], Field(min_length=3, max_length=3, description="[x, y, z] in metres, world Z up")]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class In(BaseModel):
    """Base of request bodies: unknown members are errors, and NaN / infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True)


class Out(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(use_attribute_docstrings=True)


# --- channels ---------------------------------------------------------------------------------------------


class ChannelOut(Out):
    """A channel (replay output) as the engine reports it."""

    name: str
    """Channel name, e.g. PGM1."""
    index: int
    """1-based position; usable in URLs instead of the name."""
    state: str
    """LIVE (E-E on a camera), CUED, or PLAYING."""
    speed: float
    """Signed speed, 1.0 = 100 %, 0 = still."""
    camera: str
    """The camera shown."""
    slot: int
    """The slot shown (frame periods since the SMPTE epoch)."""
    timecode: str
    """The timecode of the slot shown (time of day)."""
    mark_in: int | None
    """IN mark as a slot."""
    mark_out: int | None
    """OUT mark as a slot (exclusive)."""
    mark_in_tc: str | None
    """IN mark as a timecode."""
    mark_out_tc: str | None
    """OUT mark as a timecode."""
    clip_id: str | None
    """The clip cued or playing."""
    playlist_id: str | None
    """The playlist playing."""
    cue_complete: bool
    """The cued frame is ready."""
    view_s: float | None
    """Virtual camera position along the rig (1 = first camera), or None for a real camera."""
    zoom: float
    """Virtual camera zoom."""
    pivot: list[float]
    """The world point the virtual camera orbits, [x, y, z] metres."""
    tally: str
    """'program', 'preview' or ''."""
    frames_out: int
    """Frames sent since start."""
    repeated: int
    """Frames repeated because a render missed its deadline."""
    late: int
    """Renders that finished after their deadline."""
    held: int
    """Ticks that held the picture while a move rendered ahead or a still's new view rendered (not repeats)."""


class ChannelPatch(In):
    """Change a channel's state; fields are applied in this order: live/position, camera, speed/lever, view, pivot."""

    live: Literal[True] | None = None
    """true: go live (E-E) on ``camera`` or the channel's camera."""
    position: Timecode | None = None
    """Cue (still) the record train at this timecode."""
    camera: Name | None = None
    """Show this camera (name or 1-based position) at the same slot."""
    camera_step: Annotated[int, Field(ge=-100, le=100)] | None = None
    """Step ±n cameras along the rig."""
    speed: Speed | None = None
    """Play at this signed speed (0 = still)."""
    lever: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """LSM T-bar position 0..1 (mapped to 0..1× by the channel's lever curve)."""
    view_s: Annotated[float, Field(ge=0.0, le=1000.0)] | None = None
    """Virtual camera position s along the rig (1 = first camera, 1.5 = halfway to the second); alone it keeps
    the channel's zoom."""
    zoom: Annotated[float, Field(gt=0.0, le=20.0)] | None = None
    """Virtual camera zoom (with view_s; alone it keeps the channel's s)."""
    pivot: Point3 | None = None
    """World point the virtual camera orbits."""

    @model_validator(mode="after")
    def _exclusive(self) -> ChannelPatch:
        if self.live and self.position is not None:
            raise ValueError("give live or position, not both: live shows the newest frame, position cues a moment")
        if self.speed is not None and self.lever is not None:
            raise ValueError("give speed or lever, not both")
        if self.camera is not None and self.camera_step is not None:
            raise ValueError("give camera or camera_step, not both")
        if not self.model_fields_set:
            raise ValueError(
                "nothing to change: give one or more of live, position, camera, camera_step, speed, lever, "
                "view_s, zoom, pivot"
            )
        return self


class PlayBody(In):
    speed: Speed | None = None
    """Play at this speed (default: the channel's play speed, 1.0 unless a lever/speed was set)."""


class MarkBody(In):
    timecode: Timecode | None = None
    """Mark at this timecode instead of what the channel shows."""
    slot: Annotated[int, Field(ge=0)] | None = None
    """Mark at this slot instead of what the channel shows."""


class LiveBody(In):
    camera: Name | None = None
    """Go live on this camera (default: the channel's camera)."""


class JogBody(In):
    frames: Annotated[int, Field(ge=-100000, le=100000)]
    """Frames to step, signed (the channel goes still first)."""


class CueBody(In):
    """Cue a clip (at its IN, or at ``timecode`` inside it), or the record train at a timecode or slot."""

    clip: Name | None = None
    """Clip ID, e.g. 114A/00 (an angle's ID cues that angle)."""
    timecode: Timecode | None = None
    """With clip: a timecode inside it; alone: a record-train timecode."""
    slot: Annotated[int, Field(ge=0)] | None = None
    """A record-train slot (instead of a timecode)."""
    camera: Name | None = None
    """With clip: the angle's camera (default: the clip's first angle)."""

    @model_validator(mode="after")
    def _target(self) -> CueBody:
        if self.clip is None and self.timecode is None and self.slot is None:
            raise ValueError("say what to cue: clip, timecode or slot")
        if self.slot is not None and (self.clip is not None or self.timecode is not None):
            raise ValueError("slot cues the record train: give it alone")
        if self.camera is not None and self.clip is None:
            raise ValueError("camera picks a clip's angle: give clip too (or PATCH the channel's camera)")
        return self


class CommandOut(Out):
    """What the engine answered to a command, and the channel after it."""

    ok: bool
    command: str
    message: str
    slot: int | None
    """The slot the command took effect at."""
    data: dict[str, Any] = {}
    channel: ChannelOut | None = None


class PatchOut(Out):
    """The commands a PATCH turned into, each as the engine answered, and the channel after them."""

    results: list[CommandOut]
    channel: ChannelOut


# --- cameras ----------------------------------------------------------------------------------------------


class FormatOut(Out):
    width: int
    height: int
    rate: str
    pixel_format: str


class RecordOut(Out):
    """What a camera's record train holds."""

    first_slot: int
    last_slot: int
    first_tc: str
    last_tc: str
    seconds: float


class CameraOut(Out):
    name: str
    index: int
    """1-based position along the rig: the view position s of this camera."""
    health: dict[str, Any]
    """The camera's entries of the state map (fps, gaps, source state …)."""
    format: FormatOut
    calibration: dict[str, Any] | None
    """OpenCV model: K, dist (k1 k2 p1 p2 k3), R (world→camera), t, image size; null if uncalibrated."""
    record: RecordOut | None
    """The record train's span; null while it is empty."""
    on_channels: list[str]
    """Channels showing this camera."""


# --- clips and playlists -------------------------------------------------------------------------------------


class ClipOut(Out):
    id: str
    """LSM ID, e.g. 114A/00 (in URLs: 114A%2F00 or 114A-00)."""
    name: str
    in_tc: str
    out_tc: str
    """OUT is exclusive."""
    in_slot: int
    out_slot: int
    frames: int
    angles: list[str]
    """Cameras of the angles A, B, … in order."""
    angle_ids: dict[str, str]
    """Each angle's ID → its camera, e.g. {"114A/00": "cam03", "114B/00": "cam04"}."""
    pivot: list[float] | None
    move: dict[str, Any] | None
    speed: float
    created: float
    """Unix time it was saved."""


class ClipCreate(In):
    """Save a clip on a channel: its IN..OUT marks, or ``in``/``out`` given here (which set the marks)."""

    channel: Name | None = None
    """Channel whose marks to save (default: the first channel)."""
    name: Annotated[str, Field(max_length=200)] = ""
    clip_id: Name | None = None
    """LSM ID to save under, e.g. 114A/00 (default: the next free one)."""
    in_tc: Timecode | None = Field(default=None, alias="in")
    """IN timecode (sets the channel's IN mark first)."""
    out_tc: Timecode | None = Field(default=None, alias="out")
    """OUT timecode, exclusive (sets the channel's OUT mark first)."""

    model_config = ConfigDict(populate_by_name=True)


class ClipPatch(In):
    """Change a saved clip. Absent members stay as they are; ``pivot``/``move`` null clears them."""

    name: Annotated[str, Field(max_length=200)] | None = None
    in_tc: Timecode | None = Field(default=None, alias="in")
    """New IN timecode."""
    out_tc: Timecode | None = Field(default=None, alias="out")
    """New OUT timecode (exclusive)."""
    angles: Annotated[list[Name], Field(min_length=1, max_length=26)] | None = None
    """Cameras of the angles A, B, … in order."""
    pivot: Point3 | None = None
    move: dict[str, Any] | None = None
    """A free-viewpoint move (plugin.freeview Move.to_dict form)."""
    speed: Speed | None = None
    """Default play speed."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _something(self) -> ClipPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give name, in, out, angles, pivot, move or speed")
        return self


class ClipCue(In):
    channel: Name | None = None
    """Channel to cue on (default: the first channel)."""
    timecode: Timecode | None = None
    """Cue at this timecode inside the clip (default: its IN)."""
    camera: Name | None = None
    """Angle's camera (default: the clip's first angle)."""
    play: bool = False
    """Roll as soon as it is cued (cue then take)."""


class PlaylistElement(In):
    clip: Name
    """Clip ID."""
    speed: Speed = 1.0


class PlaylistCreate(In):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    elements: Annotated[list[PlaylistElement], Field(min_length=1, max_length=1000)]


class PlaylistOut(Out):
    id: str
    name: str
    elements: list[dict[str, Any]]
    """Each element: {clip, speed}."""


class PlaylistPlay(In):
    channel: Name | None = None
    """Channel to play on (default: the first channel)."""


# --- views ------------------------------------------------------------------------------------------------


class RenderBody(In):
    """One view as a PNG: at a slot (or timecode, or what ``channel`` shows) and position s."""

    s: Annotated[float, Field(ge=0.0, le=1000.0)]
    """View position along the rig (1 = first camera)."""
    slot: Annotated[int, Field(ge=0)] | None = None
    timecode: Timecode | None = None
    channel: Name | None = None
    """Take the slot (and pivot) this channel shows; the default when neither slot nor timecode is given."""
    pivot: Point3 | None = None
    zoom: Annotated[float, Field(gt=0.0, le=20.0)] = 1.0
    mode: Literal["cut", "switch", "depth"] | None = None
    """Renderer (default: the profile's)."""
    width: Annotated[int, Field(ge=16, le=7680)] | None = None
    """Scale the PNG to this width (default: the house format)."""


class PivotPick(In):
    """A pixel on a camera's picture, in pixels of the house format (0,0 = top-left pixel centre)."""

    camera: Name
    x: Annotated[float, Field(ge=-100000, le=100000)]
    y: Annotated[float, Field(ge=-100000, le=100000)]
    height: Annotated[float, Field(ge=-1000, le=1000)] = 0.0
    """Height of the plane the point lies on (0 = the pitch), metres."""


class PivotOut(Out):
    camera: str
    pivot: list[float]
    """[x, y, z] in metres."""
    distance: float
    """Metres from the camera centre to the point."""
