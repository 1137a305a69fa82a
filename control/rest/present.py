"""Engine objects (ChannelStatus, Clip, Playlist, camera state) as the REST API's response bodies."""

from __future__ import annotations

import dataclasses
from typing import Any

from control.rest.deps import EngineAPI
from control.rest.models import CameraOut, ChannelOut, ClipOut, FormatOut, PlaylistOut, RecordOut
from control.rest.problems import Problem, jsonable
from timing.errors import TimingError as ClockTimingError
from timing.timecode import timecode_to_frames


def check_timecode(engine: EngineAPI, label: str, where: str = "timecode") -> str:
    """422 unless ``label`` exists at the house rate (frames in range, drop-frame labels not skipped)."""
    try:
        timecode_to_frames(label, engine.rate)
    except ClockTimingError as exc:  # plugin.errors.TimingError is one too
        raise Problem("invalid-request", f"{where}: {exc} at {engine.rate} fps") from exc
    return label


def slot_of_timecode(engine: EngineAPI, label: str, where: str = "timecode", near: int | None = None) -> int:
    """The slot a timecode names (the nearest such slot to ``near``, default now)."""
    check_timecode(engine, label, where)
    try:
        return int(engine.slot_of_timecode(label, near=near))
    except ClockTimingError as exc:  # plugin.errors.TimingError is one too
        raise Problem("invalid-request", f"{where}: {exc}") from exc


def _tc(engine: EngineAPI, slot: int | None) -> str | None:
    return None if slot is None else str(engine.timecode_of(slot))


def channel_out(engine: EngineAPI, name: str) -> ChannelOut:
    st = engine.channel_status(name)  # a ChannelStatus: ChannelOut has its fields, and these three
    return ChannelOut(
        **dataclasses.asdict(st),
        index=list(engine.channel_names).index(st.name) + 1,
        mark_in_tc=_tc(engine, st.mark_in),
        mark_out_tc=_tc(engine, st.mark_out),
    )


def camera_model(engine: EngineAPI, name: str) -> Any:
    """The camera's calibrated model (plugin.freeview.camera.CameraModel) from ``engine.rig``, or None."""
    rig = getattr(engine, "rig", None)
    if rig is None or name not in rig.names:
        return None
    return rig.camera(name)


def record_of(engine: EngineAPI, camera: str) -> RecordOut | None:
    span = engine.recorder.range(camera)
    if span is None:
        return None
    first, last = int(span[0]), int(span[1])
    return RecordOut(
        first_slot=first,
        last_slot=last,
        first_tc=str(engine.timecode_of(first)),
        last_tc=str(engine.timecode_of(last)),
        seconds=(last - first + 1) / float(engine.rate),
    )


def format_out(engine: EngineAPI) -> FormatOut:
    fmt = engine.fmt
    pix = getattr(fmt.pixel_format, "value", fmt.pixel_format)
    return FormatOut(width=int(fmt.width), height=int(fmt.height), rate=str(engine.rate), pixel_format=str(pix))


def camera_out(engine: EngineAPI, name: str) -> CameraOut:
    p = f"cameras.{name}."
    health = {k[len(p):]: jsonable(v) for k, v in engine.state.snapshot(p).items()}
    model = camera_model(engine, name)
    on_channels = [ch for ch in engine.channel_names if engine.channel_status(ch).camera == name]
    return CameraOut(
        name=name,
        index=list(engine.camera_names).index(name) + 1,
        health=health,
        format=format_out(engine),
        calibration=jsonable(model.to_dict()) if model is not None else None,
        record=record_of(engine, name),
        on_channels=on_channels,
    )


def clip_out(engine: EngineAPI, clip: Any) -> ClipOut:
    cameras = [str(c) for c in clip.cameras]
    return ClipOut(
        id=str(clip.clip_id),
        name=str(clip.name or ""),
        in_tc=str(clip.in_tc or engine.timecode_of(clip.in_slot)),
        out_tc=str(clip.out_tc or engine.timecode_of(clip.out_slot)),
        in_slot=int(clip.in_slot),
        out_slot=int(clip.out_slot),
        frames=int(clip.out_slot) - int(clip.in_slot),
        angles=cameras,
        angle_ids={clip.angle_id(cam): cam for cam in cameras},
        pivot=None if clip.pivot is None else [float(v) for v in clip.pivot],
        move=jsonable(clip.move) if clip.move is not None else None,
        speed=float(clip.speed if clip.speed is not None else 1.0),
        created=float(clip.created or 0.0),
    )


def playlist_out(playlist: Any) -> PlaylistOut:
    elements = [{"clip": str(clip_id), "speed": float(speed)} for clip_id, speed in playlist.elements]
    return PlaylistOut(id=str(playlist.playlist_id), name=str(playlist.name), elements=elements)
