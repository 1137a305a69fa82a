"""``/views``: render one free-viewpoint view as PNG, and turn a pixel on a camera picture into a pivot."""

from __future__ import annotations

import threading

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from control.rest.deps import EngineAPI, EngineDep, resolve_camera, resolve_channel
from control.rest.imaging import encode, resize_rgb
from control.rest.models import PivotOut, PivotPick, RenderBody
from control.rest.present import camera_model, slot_of_timecode
from control.rest.problems import Problem
from plugin.errors import RenderError
from plugin.freeview.pivot import pick_pivot

router = APIRouter(prefix="/views", tags=["views"])

#: Renders wait this long for the one render slot before answering 503 (a render can take seconds on a CPU).
RENDER_WAIT_S = 10.0


def render_lock(request: Request) -> threading.Semaphore:
    lock: threading.Semaphore = request.app.state.render_lock
    return lock


def _render_png(engine: EngineAPI, lock: threading.Semaphore, body: RenderBody) -> bytes:
    n = len(engine.camera_names)
    if not 1.0 <= body.s <= float(n):
        raise Problem("invalid-request", f"s = {body.s:g} is outside the rig: 1 (first camera) .. {n} (last)")
    pivot = tuple(body.pivot) if body.pivot is not None else None
    if body.slot is not None:
        slot = body.slot
    elif body.timecode is not None:
        slot = slot_of_timecode(engine, body.timecode)
    else:
        channel = resolve_channel(engine, body.channel)
        st = engine.channel_status(channel)
        slot = int(st.slot)
        pivot = pivot or tuple(st.pivot)
    if not lock.acquire(timeout=RENDER_WAIT_S):
        raise Problem("busy", f"another view is being rendered; try again (waited {RENDER_WAIT_S:g} s)",
                      headers={"Retry-After": "2"})
    try:
        rgb = engine.render_view(slot, body.s, pivot=pivot, zoom=body.zoom, mode=body.mode)
    except ValueError as exc:
        raise Problem("invalid-request", f"cannot render s={body.s:g} at slot {slot}: {exc}") from exc
    finally:
        lock.release()
    return encode(resize_rgb(np.asarray(rgb, dtype=np.uint8), body.width), "png")


@router.post(
    "/render",
    response_class=Response,
    summary="Render one view (slot or timecode or what a channel shows, at position s) as PNG",
    responses={200: {"content": {"image/png": {}}}, 409: {"description": "slot not recorded, or render failed"}},
)
async def render(body: RenderBody, engine: EngineDep, request: Request) -> Response:
    png = await run_in_threadpool(_render_png, engine, render_lock(request), body)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post(
    "/pivot-from-pixel",
    response_model=PivotOut,
    summary="The world point under a pixel of a camera picture (on the plane z = height)",
)
def pivot_from_pixel(body: PivotPick, engine: EngineDep) -> PivotOut:
    camera = resolve_camera(engine, body.camera)
    model = camera_model(engine, camera)
    if model is None:
        raise Problem("conflict", f"{camera} has no calibration, so a pixel cannot be turned into a world point; "
                                  f"calibrate the rig (fvreplay calibrate) or give the pivot in metres")
    fmt = engine.fmt
    if (model.width, model.height) != (fmt.width, fmt.height):
        model = model.scaled(fmt.width, fmt.height)
    if not (-0.5 <= body.x <= fmt.width - 0.5 and -0.5 <= body.y <= fmt.height - 0.5):
        raise Problem("invalid-request", f"pixel ({body.x:g}, {body.y:g}) is outside the {fmt.width}x{fmt.height} "
                                         f"picture (pixels of the house format, 0,0 = top-left)")
    try:
        point = pick_pivot(model, (body.x, body.y), height=body.height)
    except RenderError as exc:
        raise Problem("invalid-request", str(exc)) from exc
    distance = float(np.linalg.norm(point - model.center))
    return PivotOut(camera=camera, pivot=[float(v) for v in point], distance=distance)
