"""``/clips`` and ``/playlists``: the clip library (SQLite, kept across restarts) and playlists.

Clip IDs are LSM IDs such as ``114A/00``. In a URL write them percent-encoded (``/clips/114A%2F00``) or with a
dash (``/clips/114A-00``); ``/clips/114A/00`` works too. An angle's ID (``114B/00``) names the same clip.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from control.rest.deps import (
    SAVE_TIMEOUT_S,
    EngineAPI,
    EngineDep,
    resolve_camera,
    resolve_channel,
    resolve_clip,
    run_command,
)
from control.rest.models import (
    ClipCreate,
    ClipCue,
    ClipOut,
    ClipPatch,
    CommandOut,
    PlaylistCreate,
    PlaylistOut,
    PlaylistPlay,
)
from control.rest.present import clip_out, playlist_out, slot_of_timecode
from control.rest.problems import Problem
from control.rest.routers.channels import cue_clip_command, do_command
from plugin.commands import MarkIn, MarkOut, PlayPlaylist, SaveClip, Take
from plugin.errors import ClipError

router = APIRouter(prefix="/clips", tags=["clips"])
playlists = APIRouter(prefix="/playlists", tags=["playlists"])


@router.get("", response_model=list[ClipOut], summary="Every saved clip")
def list_clips(engine: EngineDep) -> list[ClipOut]:
    return [clip_out(engine, clip) for clip in engine.clips.list()]


@router.post(
    "",
    response_model=ClipOut,
    status_code=201,
    summary="Save a clip from a channel's IN..OUT (or from in/out given here)",
    responses={409: {"description": "no IN/OUT marked, OUT before IN, or the ID is taken"}},
)
async def create_clip(body: ClipCreate, engine: EngineDep, response: Response) -> ClipOut:
    channel = resolve_channel(engine, body.channel)
    if body.in_tc is not None:
        await run_command(engine, MarkIn(channel, slot=slot_of_timecode(engine, body.in_tc, "in")))
    if body.out_tc is not None:
        await run_command(engine, MarkOut(channel, slot=slot_of_timecode(engine, body.out_tc, "out")))
    res = await run_command(engine, SaveClip(channel, name=body.name, clip_id=body.clip_id), SAVE_TIMEOUT_S)
    clip_id = res.data.get("clip_id") or body.clip_id
    if not clip_id:
        raise Problem("conflict", f"the engine saved the clip but did not say its ID ({res.message!r})")
    clip = await run_in_threadpool(engine.clips.get, clip_id)
    response.headers["Location"] = f"/api/v1/clips/{str(clip.clip_id).replace('/', '%2F')}"
    return clip_out(engine, clip)


@router.post("/{clip_id:path}/cue", response_model=CommandOut, summary="Cue a clip on a channel (and roll it)")
async def cue_clip(clip_id: str, body: ClipCue, engine: EngineDep) -> CommandOut:
    channel = resolve_channel(engine, body.channel)
    cmd = await run_in_threadpool(cue_clip_command, engine, channel, clip_id, body.camera, body.timecode)
    if not body.play:
        return await do_command(engine, channel, cmd)
    await run_command(engine, cmd)
    return await do_command(engine, channel, Take(channel))


@router.get("/{clip_id:path}", response_model=ClipOut, summary="One clip (114A%2F00 or 114A-00)")
def get_clip(clip_id: str, engine: EngineDep) -> ClipOut:
    clip, _ = resolve_clip(engine, clip_id)
    return clip_out(engine, clip)


@router.patch("/{clip_id:path}", response_model=ClipOut, summary="Change name, IN/OUT, angles, pivot, move, speed")
def patch_clip(clip_id: str, body: ClipPatch, engine: EngineDep) -> ClipOut:
    clip, _ = resolve_clip(engine, clip_id)
    fields: dict[str, Any] = {}
    given = body.model_fields_set
    if "name" in given and body.name is not None:
        fields["name"] = body.name
    if body.in_tc is not None:
        fields["in_slot"] = slot_of_timecode(engine, body.in_tc, "in", near=int(clip.in_slot))
        fields["in_tc"] = engine.timecode_of(fields["in_slot"])
    if body.out_tc is not None:
        fields["out_slot"] = slot_of_timecode(engine, body.out_tc, "out", near=int(clip.out_slot))
        fields["out_tc"] = engine.timecode_of(fields["out_slot"])
    if body.angles is not None:
        angles = [resolve_camera(engine, cam) for cam in body.angles]
        if angles != list(clip.cameras):
            # The clip store keeps a clip's frames per camera and cannot re-angle a saved clip (yet).
            raise Problem("conflict", f"clip {clip.clip_id}: its angles are fixed when it is saved "
                                      f"({', '.join(clip.cameras)}); save a new clip to change them")
    if "pivot" in given:
        fields["pivot"] = tuple(body.pivot) if body.pivot is not None else None
    if "move" in given:
        fields["move"] = body.move
    if body.speed is not None:
        fields["speed"] = body.speed
    if not fields:
        raise Problem("invalid-request", "nothing to change (name, speed, in and out cannot be null)")
    try:
        updated = engine.clips.update(str(clip.clip_id), **fields)
    except ClipError as exc:
        raise Problem("conflict", f"clip {clip.clip_id}: {exc}") from exc
    return clip_out(engine, updated)


@router.delete("/{clip_id:path}", status_code=204, response_class=Response, summary="Delete a clip")
def delete_clip(clip_id: str, engine: EngineDep) -> Response:
    clip, _ = resolve_clip(engine, clip_id)
    try:
        engine.clips.delete(str(clip.clip_id))
    except ClipError as exc:
        raise Problem("conflict", f"clip {clip.clip_id}: {exc}") from exc
    return Response(status_code=204)


# --- playlists ------------------------------------------------------------------------------------------------


def _playlist(engine: EngineAPI, playlist_id: str) -> Any:
    try:
        return engine.clips.get_playlist(playlist_id)
    except ClipError as exc:
        raise Problem("unknown-playlist", f"no playlist {playlist_id!r} (GET /api/v1/playlists lists them)") from exc


@playlists.get("", response_model=list[PlaylistOut], summary="Every playlist")
def list_playlists(engine: EngineDep) -> list[PlaylistOut]:
    return [playlist_out(p) for p in engine.clips.playlists()]


@playlists.post("", response_model=PlaylistOut, status_code=201, summary="Make a playlist of clips, each at a speed")
def create_playlist(body: PlaylistCreate, engine: EngineDep, response: Response) -> PlaylistOut:
    elements = []
    for i, el in enumerate(body.elements):
        try:
            clip, _ = resolve_clip(engine, el.clip)
        except Problem as exc:
            exc.detail = f"elements[{i}]: {exc.detail}"
            raise
        elements.append((str(clip.clip_id), float(el.speed)))
    try:
        playlist = engine.clips.create_playlist(body.name, elements)
    except ClipError as exc:
        raise Problem("conflict", f"playlist {body.name!r}: {exc}") from exc
    out = playlist_out(playlist)
    response.headers["Location"] = f"/api/v1/playlists/{out.id}"
    return out


@playlists.post("/{playlist_id:path}/play", response_model=CommandOut, summary="Play a playlist on a channel")
async def play_playlist(playlist_id: str, engine: EngineDep, body: PlaylistPlay | None = None) -> CommandOut:
    playlist = await run_in_threadpool(_playlist, engine, playlist_id)
    channel = resolve_channel(engine, body.channel if body else None)
    return await do_command(engine, channel, PlayPlaylist(channel, playlist_id=playlist_out(playlist).id))


@playlists.get("/{playlist_id:path}", response_model=PlaylistOut, summary="One playlist")
def get_playlist(playlist_id: str, engine: EngineDep) -> PlaylistOut:
    return playlist_out(_playlist(engine, playlist_id))
