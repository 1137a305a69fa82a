"""``/status`` (the engine's flat state map) and ``/info`` (what the show is: format, cameras, channels)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from control.rest.deps import EngineDep, SettingsDep
from control.rest.present import format_out
from control.rest.problems import jsonable
from plugin import __version__

router = APIRouter(tags=["system"])


@router.get(
    "/status",
    summary="The engine's state map: flat 'path': value (channels.PGM1.state, cameras.cam03.fps, reference.state …)",
    response_model=dict[str, Any],
)
async def status(engine: EngineDep, response: Response) -> dict[str, Any]:
    version = int(engine.state.version)
    state: dict[str, Any] = jsonable(engine.state.snapshot())
    response.headers["X-State-Version"] = str(version)
    return state


@router.get("/info", summary="The show: name, version, format, cameras and channels in order, API protection")
async def info(engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    return {
        "name": settings.show_name,
        "version": __version__,
        "format": format_out(engine).model_dump(),
        "cameras": list(engine.camera_names),
        "channels": list(engine.channel_names),
        "protected": settings.protected,
        "protect_reads": settings.protect_reads,
        "has_rig": getattr(engine, "rig", None) is not None,
    }
