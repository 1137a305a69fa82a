"""What routes depend on: the engine (swapped in tests with ``app.dependency_overrides``), the API key, commands."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from control.rest.problems import Problem
from control.rest.settings import RestSettings
from plugin.commands import Command, CommandResult
from plugin.errors import ClipError, CommandError

#: How long a route waits for the engine to apply a command (it applies at the next slot boundary).
COMMAND_TIMEOUT_S = 2.0
#: Saving a clip copies every camera's frames IN..OUT (plus guardbands) to disk in a worker: allow for it.
SAVE_TIMEOUT_S = 60.0

#: The engine as routes see it: ``plugin.engine.Engine`` or anything with its documented API (docs/engine-api.md).
EngineAPI = Any


def get_engine(request: Request) -> EngineAPI:
    """The engine this app drives (``create_app(engine, …)``); tests override this dependency."""
    return request.app.state.engine


def get_settings(request: Request) -> RestSettings:
    settings: RestSettings = request.app.state.settings
    return settings


EngineDep = Annotated[EngineAPI, Depends(get_engine)]
SettingsDep = Annotated[RestSettings, Depends(get_settings)]


def presented_key(request: HTTPConnection) -> str | None:
    """The key a client sent: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a key was right."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _unauthorized(settings: RestSettings, given: str | None) -> Problem:
    why = "the API key is wrong" if given else "this request needs the API key"
    return Problem(
        "unauthorized",
        f"{why}: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
        f"(the key is the value of {settings.api_key_env} on the server)",
        headers={"WWW-Authenticate": 'Bearer realm="fvreplay"'},
    )


def check_key(request: Request, settings: RestSettings, *, write: bool) -> None:
    """Raise 401 unless the request may proceed: writes need the key when one is set; reads if protect_reads."""
    if not settings.api_key or not (write or settings.protect_reads):
        return
    given = presented_key(request)
    if not key_matches(given, settings.api_key):
        raise _unauthorized(settings, given)


def require_access(request: Request, settings: SettingsDep) -> None:
    """Router dependency: GET/HEAD are reads, every other method is a write."""
    check_key(request, settings, write=request.method not in ("GET", "HEAD", "OPTIONS"))


def resolve_channel(engine: EngineAPI, ch: str | None) -> str:
    """A channel by name (any case) or 1-based index → its name (none given: the first channel); 404 naming
    the channels otherwise."""
    if not ch:
        return str(engine.channel_names[0])
    try:
        return str(engine.resolve_channel(ch))
    except CommandError as exc:
        raise Problem("unknown-channel", str(exc)) from exc


def resolve_camera(engine: EngineAPI, name: str) -> str:
    """A camera by name (any case) or 1-based rig position; 404 naming the cameras otherwise."""
    try:
        return str(engine.resolve_camera(name))
    except CommandError as exc:
        raise Problem("unknown-camera", str(exc)) from exc


def resolve_clip(engine: EngineAPI, raw: str) -> tuple[Any, str]:
    """A clip by its ID or an angle's ID (``114B/00``; also ``114b-00``) → (clip, that angle's camera); 404."""
    try:
        clip, camera = engine.clips.resolve(raw)
    except ClipError as exc:
        raise Problem(
            "unknown-clip",
            f"{exc}; clip IDs look like 114A/00: write it URL-encoded (114A%2F00) or as 114A-00 "
            f"(GET /api/v1/clips lists them)",
        ) from exc
    return clip, str(camera)


async def run_command(engine: EngineAPI, cmd: Command, timeout: float | None = None) -> CommandResult:
    """Submit a command, wait (without blocking the server) until the engine applied it; 409 if it refused.

    The engine answers after the tick that applied the command has published its state, so the channel
    status read after this already shows the command's effect."""
    timeout = COMMAND_TIMEOUT_S if timeout is None else timeout
    future = engine.submit(cmd)
    waiter = asyncio.wrap_future(future)
    try:
        # shield: a timeout must not cancel the engine's own future (it resolves it from its thread).
        result: CommandResult = await asyncio.wait_for(asyncio.shield(waiter), timeout)
    except TimeoutError as exc:
        raise Problem(
            "engine-timeout",
            f"the engine did not apply {cmd.verb} within {timeout:g} s; is it running (its ticker stopped)?",
            command=cmd.verb,
        ) from exc
    if not result.ok:
        raise Problem("command-refused", result.message or f"{cmd.verb} was refused", command=cmd.verb,
                      data=result.data)
    return result
