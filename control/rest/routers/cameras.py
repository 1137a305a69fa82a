"""``/cameras``: the rig's cameras in order, with health, format, calibration, record span and a preview."""

from __future__ import annotations

from fastapi import APIRouter, Response

from control.rest.deps import EngineDep, resolve_camera
from control.rest.imaging import PreviewQuality, PreviewWidth, jpeg_response
from control.rest.models import CameraOut
from control.rest.present import camera_out
from control.rest.problems import Problem

router = APIRouter(prefix="/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraOut], summary="Every camera, in rig order")
async def list_cameras(engine: EngineDep) -> list[CameraOut]:
    return [camera_out(engine, name) for name in engine.camera_names]


@router.get("/{name}", response_model=CameraOut, summary="One camera (by name or 1-based position)")
async def get_camera(name: str, engine: EngineDep) -> CameraOut:
    return camera_out(engine, resolve_camera(engine, name))


@router.get(
    "/{name}/preview.jpg",
    response_class=Response,
    summary="The camera's newest frame as JPEG",
    responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "no frame received yet"}},
)
def camera_preview(name: str, engine: EngineDep, width: PreviewWidth = None, quality: PreviewQuality = 80) -> Response:
    camera = resolve_camera(engine, name)
    frame = engine.latest_frame(camera)
    if frame is None:
        raise Problem("no-frame", f"{camera} has delivered no frame yet (see GET /api/v1/cameras/{camera} health)",
                      headers={"Retry-After": "1"})
    return jpeg_response(frame, width, quality)
