"""``/channels``: replay outputs, their transport (play, stop, cue, take, live, marks) and a preview picture."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response
from fastapi.concurrency import run_in_threadpool

from control.rest.deps import EngineAPI, EngineDep, resolve_camera, resolve_channel, resolve_clip, run_command
from control.rest.imaging import PreviewQuality, PreviewWidth, jpeg_response
from control.rest.models import (
    ChannelOut,
    ChannelPatch,
    CommandOut,
    CueBody,
    JogBody,
    LiveBody,
    MarkBody,
    PatchOut,
    PlayBody,
)
from control.rest.present import channel_out, check_timecode, slot_of_timecode
from control.rest.problems import Problem
from plugin.commands import (
    ClearMarks,
    Command,
    CommandResult,
    CueClip,
    CueSlot,
    CueTimecode,
    GoLive,
    Jog,
    Lever,
    MarkIn,
    MarkOut,
    Play,
    SelectCamera,
    SetPivot,
    SetSpeed,
    Stop,
    Take,
    set_view,
)

router = APIRouter(prefix="/channels", tags=["channels"])

def command_out(cmd: Command, res: CommandResult, channel: ChannelOut | None = None) -> CommandOut:
    return CommandOut(ok=res.ok, command=cmd.verb, message=res.message, slot=res.slot, data=dict(res.data),
                      channel=channel)


async def do_command(engine: EngineAPI, channel: str, cmd: Command) -> CommandOut:
    """Run a command on the channel; answer with the result and the channel after it."""
    res = await run_command(engine, cmd)
    return command_out(cmd, res, channel_out(engine, channel))


def cue_clip_command(
    engine: EngineAPI, channel: str, clip_ref: str, camera: str | None, timecode: str | None
) -> CueClip:
    """Cue a clip (by its ID or an angle's ID) on ``camera`` (default: the angle named), at ``timecode`` or its IN.

    Reads the clip store: call it in a worker thread, not on the event loop."""
    clip, angle_camera = resolve_clip(engine, clip_ref)
    cam = resolve_camera(engine, camera) if camera else angle_camera
    tc = check_timecode(engine, timecode) if timecode else None
    return CueClip(channel, clip_id=str(clip.clip_id), timecode=tc, camera=cam)


@router.get("", response_model=list[ChannelOut], summary="Every channel's state")
async def list_channels(engine: EngineDep) -> list[ChannelOut]:
    return [channel_out(engine, name) for name in engine.channel_names]


@router.get("/{ch}", response_model=ChannelOut, summary="One channel's state")
async def get_channel(ch: str, engine: EngineDep) -> ChannelOut:
    return channel_out(engine, resolve_channel(engine, ch))


def patch_commands(engine: EngineAPI, channel: str, body: ChannelPatch) -> list[Command]:
    """A PATCH as commands, in the order they apply: where (live/position), camera, speed, view, pivot."""
    cmds: list[Command] = []
    camera = resolve_camera(engine, body.camera) if body.camera is not None else None
    if body.live:
        cmds.append(GoLive(channel, camera=camera))
        camera = None
    elif body.position is not None:
        cmds.append(CueTimecode(channel, check_timecode(engine, body.position, "position")))
    if camera is not None:
        cmds.append(SelectCamera(channel, camera=camera))
    elif body.camera_step is not None:
        cmds.append(SelectCamera(channel, step=body.camera_step))
    if body.speed is not None:
        cmds.append(SetSpeed(channel, body.speed))
    elif body.lever is not None:
        cmds.append(Lever(channel, body.lever))
    if body.view_s is not None or body.zoom is not None:
        cmds.append(set_view(channel, engine.channel_status(channel), engine.camera_names, body.view_s, body.zoom))
    if body.pivot is not None:
        x, y, z = body.pivot
        cmds.append(SetPivot(channel, x, y, z))
    return cmds


@router.patch(
    "/{ch}",
    response_model=PatchOut,
    summary="Change speed, lever, camera, live, position (timecode), view s / zoom, pivot",
    responses={409: {"description": "the engine refused one of the changes (the ones before it were applied)"}},
)
async def patch_channel(ch: str, body: ChannelPatch, engine: EngineDep) -> PatchOut:
    channel = resolve_channel(engine, ch)
    cmds = patch_commands(engine, channel, body)
    results: list[CommandOut] = []
    for cmd in cmds:
        # One at a time: transport commands pending together would supersede each other.
        try:
            res = await run_command(engine, cmd)
        except Problem as exc:
            if results:
                done = ", ".join(r.command for r in results)
                exc.detail = f"{cmd.verb}: {exc.detail} (already applied: {done})"
                exc.extra["applied"] = [r.command for r in results]
            raise
        results.append(command_out(cmd, res))
    return PatchOut(results=results, channel=channel_out(engine, channel))


@router.post("/{ch}/play", response_model=CommandOut, summary="Play (at the channel's speed, or the one given)")
async def play(ch: str, engine: EngineDep, body: Annotated[PlayBody | None, Body()] = None) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, Play(channel, speed=body.speed if body else None))


@router.post("/{ch}/stop", response_model=CommandOut, summary="Still on the current frame")
async def stop(ch: str, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, Stop(channel))


@router.post("/{ch}/take", response_model=CommandOut, summary="Play what is cued at its default speed")
async def take(ch: str, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, Take(channel))


@router.post("/{ch}/live", response_model=CommandOut, summary="Go live (E-E) on a camera")
async def live(ch: str, engine: EngineDep, body: Annotated[LiveBody | None, Body()] = None) -> CommandOut:
    channel = resolve_channel(engine, ch)
    camera = resolve_camera(engine, body.camera) if body and body.camera else None
    return await do_command(engine, channel, GoLive(channel, camera=camera))


def _mark_slot(engine: EngineAPI, body: MarkBody | None) -> int | None:
    if body is None:
        return None
    if body.timecode is not None and body.slot is not None:
        raise Problem("invalid-request", "give timecode or slot, not both (or neither: what the channel shows)")
    if body.timecode is not None:
        return slot_of_timecode(engine, body.timecode)
    return body.slot


@router.post("/{ch}/mark-in", response_model=CommandOut, summary="Mark IN (what the channel shows, or a TC/slot)")
async def mark_in(ch: str, engine: EngineDep, body: Annotated[MarkBody | None, Body()] = None) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, MarkIn(channel, slot=_mark_slot(engine, body)))


@router.post("/{ch}/mark-out", response_model=CommandOut, summary="Mark OUT (exclusive)")
async def mark_out(ch: str, engine: EngineDep, body: Annotated[MarkBody | None, Body()] = None) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, MarkOut(channel, slot=_mark_slot(engine, body)))


@router.post("/{ch}/clear-marks", response_model=CommandOut, summary="Forget IN and OUT")
async def clear_marks(ch: str, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, ClearMarks(channel))


@router.post("/{ch}/jog", response_model=CommandOut, summary="Still, then step ±frames")
async def jog(ch: str, body: JogBody, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, ch)
    return await do_command(engine, channel, Jog(channel, body.frames))


@router.post(
    "/{ch}/cue",
    response_model=CommandOut,
    summary="Cue a clip (at IN or a timecode inside it), or the record train at a timecode or slot",
)
async def cue(ch: str, body: CueBody, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, ch)
    cmd: Command
    if body.clip is not None:
        cmd = await run_in_threadpool(cue_clip_command, engine, channel, body.clip, body.camera, body.timecode)
    elif body.timecode is not None:
        cmd = CueTimecode(channel, check_timecode(engine, body.timecode))
    else:
        if body.slot is None:  # the model guarantees one of clip, timecode, slot
            raise Problem("invalid-request", "say what to cue: clip, timecode or slot")
        cmd = CueSlot(channel, body.slot)
    return await do_command(engine, channel, cmd)


@router.get(
    "/{ch}/preview.jpg",
    response_class=Response,
    summary="The channel's last output frame as JPEG",
    responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "no frame sent yet"}},
)
def channel_preview(ch: str, engine: EngineDep, width: PreviewWidth = None, quality: PreviewQuality = 80) -> Response:
    channel = resolve_channel(engine, ch)
    frame = engine.channel_frame(channel)
    if frame is None:
        raise Problem("no-frame", f"{channel} has not sent a frame yet; try again in a moment",
                      headers={"Retry-After": "1"})
    return jpeg_response(frame, width, quality)
