"""Errors as RFC 9457 problem details (``application/problem+json``), each with a message a person can act on."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from plugin.errors import CommandError, ReplayError, TimingError
from timing.errors import TimingError as ClockTimingError

log = logging.getLogger("fvreplay.rest")

PROBLEM_JSON = "application/problem+json"

#: Problem types by slug: (HTTP status, title). The type URI is ``urn:fvreplay:problem:<slug>``.
TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "unauthorized": (401, "API key required"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "unknown-channel": (404, "Unknown channel"),
    "unknown-camera": (404, "Unknown camera"),
    "unknown-clip": (404, "Unknown clip"),
    "unknown-playlist": (404, "Unknown playlist"),
    "method-not-allowed": (405, "Method not allowed"),
    "command-refused": (409, "Command refused by the engine"),
    "conflict": (409, "Conflict with the engine's state"),
    "too-large": (413, "Request body too large"),
    "invalid-request": (422, "Invalid request"),
    "busy": (503, "Busy"),
    "engine-timeout": (503, "The engine did not answer"),
    "no-frame": (503, "No frame yet"),
    "internal": (500, "Internal error"),
}


def type_uri(slug: str) -> str:
    return f"urn:fvreplay:problem:{slug}"


class Problem(Exception):
    """Raise from a route to answer with a problem document; ``extra`` adds members (RFC 9457 extensions)."""

    def __init__(
        self, slug: str, detail: str, *, status: int | None = None, headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        default_status, self.title = TYPES[slug]
        self.slug = slug
        self.status = status or default_status
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def jsonable(value: Any) -> Any:
    """Values of the state map and engine results as strict JSON (NaN/inf → null, tuples → lists)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return jsonable(value.tolist())
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, (str, int)):
        return enum_value
    return str(value)


def problem_response(
    slug: str, detail: str, *, status: int | None = None, instance: str | None = None,
    headers: Mapping[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    default_status, title = TYPES[slug]
    body: dict[str, Any] = {"type": type_uri(slug), "title": title, "status": status or default_status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: jsonable(v) for k, v in extra.items()})
    return JSONResponse(body, status_code=body["status"], headers=dict(headers or {}), media_type=PROBLEM_JSON)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return f"{where} {'.'.join(rest)}" if rest else where
    return ".".join(parts)


_HTTP_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


def install(app: FastAPI) -> None:
    """Answer every error, ours or the framework's, as problem+json; an unexpected one is logged, never fatal."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.slug, exc.detail, status=exc.status, instance=request.url.path, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": _loc(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['message']}" for e in errors) or "the request is not valid"
        return problem_response(
            "invalid-request", f"{detail} (see /openapi.json for the schema)", instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _HTTP_SLUGS.get(exc.status_code, "bad-request")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path} (the API lives under /api/v1; see /openapi.json)"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path} (see /openapi.json)"
        return problem_response(slug, detail, status=exc.status_code, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    # plugin's TimingError is also a ReplayError: registered itself, so the MRO finds it before ReplayError.
    @app.exception_handler(TimingError)
    @app.exception_handler(ClockTimingError)
    async def _timing(request: Request, exc: Exception) -> JSONResponse:
        return problem_response("invalid-request", str(exc), instance=request.url.path)

    @app.exception_handler(CommandError)
    async def _command(request: Request, exc: CommandError) -> JSONResponse:
        return problem_response("command-refused", str(exc), instance=request.url.path)

    # Clip, recorder and render errors (and every other ReplayError): Starlette looks handlers up along the MRO.
    @app.exception_handler(ReplayError)
    async def _replay(request: Request, exc: ReplayError) -> JSONResponse:
        return problem_response("conflict", str(exc), instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("REST %s %s failed", request.method, request.url.path)
        return problem_response(
            "internal",
            f"{type(exc).__name__}: {exc}. The engine keeps running; the server log has the traceback.",
            instance=request.url.path,
        )
