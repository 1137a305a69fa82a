"""The FastAPI app: the API under /api/v1, the WebSocket event stream, /metrics and the web operator page at /."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from control.rest import problems
from control.rest.deps import EngineAPI, check_key, key_matches, presented_key, require_access
from control.rest.events import EventHub
from control.rest.metrics import make_registry, render
from control.rest.routers import cameras, channels, clips, system, views
from control.rest.settings import RestSettings, is_loopback
from plugin import __version__

STATIC_DIR = Path(__file__).parent / "static"
#: The largest request body accepted (a playlist of a thousand clips is a few tens of kilobytes).
MAX_BODY_BYTES = 1 << 20
API_PREFIX = "/api/v1"

DESCRIPTION = """
Drive fvreplay's replay channels, clip library and free-viewpoint views.

* Timecodes are `HH:MM:SS:FF` strings (`;` before the frames for drop-frame); speeds are floats, 1.0 = 100 %.
* Channels are named (`PGM1`, any case) or numbered from 1. Clip IDs such as `114A/00` go in a URL as
  `114A%2F00` or `114A-00`.
* Errors are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`.
* With an API key set (the environment variable named by `control.rest.api_key_env`), every request that changes
  something needs it as `Authorization: Bearer <key>` or `X-API-Key: <key>`; reads too if `protect_reads`.
* State changes are pushed on the WebSocket `/events` (also `/api/v1/events`): a snapshot, then deltas.
"""


def _host_of(value: str) -> str:
    """The host name of a Host header or Origin (``[::1]:8080`` → ``::1``)."""
    netloc = urlsplit(value).netloc if "://" in value else value
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


class BrowserGuard:
    """Keeps other web sites from driving the API through the operator's browser.

    * A write (or a WebSocket) that carries an ``Origin`` other than this server's own, or a configured CORS
      origin, is refused: a page elsewhere could otherwise POST ``/play`` with a plain HTML form.
    * A body larger than any request needs (``MAX_BODY_BYTES``) is refused before it is read.
    * Without an API key the server only listens on loopback; it then also refuses any ``Host`` that is not a
      loopback name, which defeats DNS rebinding (a foreign name resolving to 127.0.0.1).
    """

    def __init__(self, app: ASGIApp, settings: RestSettings) -> None:
        self.app = app
        self.settings = settings

    def refusal(self, scope: Scope) -> tuple[str, str] | None:
        """(problem slug, why) when the request must not reach the app."""
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return "too-large", (f"a {int(length)}-byte body is more than this API ever needs "
                                 f"(at most {MAX_BODY_BYTES} bytes)")
        host = headers.get("host", "")
        if not self.settings.protected and host and not is_loopback(_host_of(host)):
            return "forbidden", (
                f"Host {host!r} is not this machine; without an API key the API answers only requests addressed "
                f"to 127.0.0.1 or localhost (set {self.settings.api_key_env} to serve other names)")
        origin = headers.get("origin")
        writes = scope["type"] == "websocket" or scope.get("method", "GET") not in ("GET", "HEAD", "OPTIONS")
        if origin and writes:
            same = origin.split("://", 1)[-1].rstrip("/") == host
            if not same and origin not in self.settings.cors_origins:
                return "forbidden", (f"cross-site request from {origin} refused; add it to control.rest.cors_origins "
                                     f"if that page should drive this server")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refused = self.refusal(scope)
            if refused is not None:
                slug, why = refused
                if scope["type"] == "websocket":
                    await WebSocketClose(code=1008, reason=why[:120])(scope, receive, send)
                else:
                    await problems.problem_response(slug, why, instance=scope.get("path"))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(engine: EngineAPI, settings: RestSettings | None = None) -> FastAPI:
    """The REST + WebSocket + web-page app for ``engine``. ``settings`` default: loopback, no key."""
    settings = settings or RestSettings()
    hub = EventHub(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        hub.close()

    app = FastAPI(
        title="fvreplay",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.events = hub
    app.state.render_lock = threading.Semaphore(1)
    problems.install(app)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_access)])
    api.include_router(system.router)
    api.include_router(channels.router)
    api.include_router(cameras.router)
    api.include_router(clips.router)
    api.include_router(clips.playlists)
    api.include_router(views.router)
    app.include_router(api)

    async def events(
        websocket: WebSocket,
        key: Annotated[str | None, Query(description="API key, for browsers (which cannot set headers here)")] = None,
        interval_ms: Annotated[int, Query(ge=0, le=10000, description="at most one message per interval")] = 0,
    ) -> None:
        """State changes: first ``{"type": "snapshot", …}``, then ``{"type": "delta", "changes": {…}}``."""
        if settings.api_key and settings.protect_reads:
            given = presented_key(websocket) or key
            if not key_matches(given, settings.api_key):
                await websocket.close(code=1008, reason="API key required (?key= or Authorization: Bearer)")
                return
        await websocket.accept()
        await hub.serve(websocket, interval_ms / 1000.0)

    app.add_api_websocket_route("/events", events, name="events")
    app.add_api_websocket_route(f"{API_PREFIX}/events", events, name="api_events")

    registry = make_registry(engine, {"websocket_clients": lambda: hub.clients})

    @app.get("/metrics", tags=["system"], summary="Prometheus metrics (text exposition format)",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics(request: Request) -> Response:
        check_key(request, settings, write=False)
        return Response(render(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(BrowserGuard, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Location", "X-State-Version", "X-Slot"],
        )
    return app
