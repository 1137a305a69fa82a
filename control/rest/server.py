"""The REST surface as the engine's control-surface plugin: uvicorn serving the app from a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import uvicorn

from control.rest.app import create_app
from control.rest.deps import EngineAPI
from control.rest.settings import RestSettings
from plugin.errors import ControlError

log = logging.getLogger("fvreplay.rest")

#: How long ``start()`` waits for the server to accept connections.
START_TIMEOUT_S = 10.0


class RestSurface:
    """``fvreplay.controls`` entry point ``rest``: the REST API, WebSocket events, /metrics and the web page.

    ``start()`` returns once the server accepts connections (port 0 picks a free port: see ``port``);
    ``stop()`` closes it. The engine's lifetime is the caller's.
    """

    name = "rest"

    def __init__(self, engine: EngineAPI, settings: RestSettings) -> None:
        settings.check()
        self.engine = engine
        self.settings = settings
        self.app = create_app(engine, settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = settings.port
        self._error: BaseException | None = None

    @classmethod
    def from_profile(cls, engine: EngineAPI, profile: Any, overrides: Mapping[str, Any] | None = None) -> RestSurface:
        """Read ``control.rest`` from the profile; ``overrides`` may hold ``{"bind": "HOST:PORT"}`` (``--rest``)."""
        return cls(engine, RestSettings.from_profile(profile, overrides))

    @property
    def port(self) -> int:
        """The port it listens on (the real one once started with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        return f"http://{shown}:{self._port}/"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> socket.socket:
        host, port = self.settings.host, self.settings.port
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ControlError(f"control.rest.bind: cannot resolve host {host!r}: {exc.strerror}") from exc
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            hint = " (another fvreplay or web server is using it; pick another port with --rest)" \
                if exc.errno in (98, 48) else ""
            raise ControlError(f"REST: cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc
        return sock

    def start(self) -> None:
        """Serve in a background thread; return once connections are accepted (ControlError if it cannot)."""
        if self.running:
            return
        sock = self._bind()
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the application owns logging; uvicorn must not reconfigure it
            log_level="warning",
            access_log=False,
            http="h11",
            ws="websockets-sansio",
            loop="asyncio",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server, self._error = server, None

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported by start() or stop(); a thread cannot raise to its caller
                self._error = exc
                log.exception("REST server stopped with an error")
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="fvreplay-rest", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = f": {self._error!r}" if self._error else f" within {START_TIMEOUT_S:g} s"
                raise ControlError(f"REST: the server on {self.settings.host}:{self._port} did not start{why}")
            time.sleep(0.01)
        for line in self.describe():
            log.info("%s", line)

    def stop(self) -> None:
        """Stop serving (open WebSockets are closed) and wait for the thread."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=START_TIMEOUT_S)
            if thread.is_alive():
                if server is not None:
                    server.force_exit = True
                thread.join(timeout=2.0)
        self._thread = None
        self._server = None

    def describe(self) -> list[str]:
        """The startup lines: where the page and API are, and whether the API is protected."""
        s = self.settings
        lines = [f"REST: operator page {self.url} · API /api/v1 (OpenAPI /openapi.json) · events ws /events · "
                 f"metrics /metrics"]
        if s.protected:
            reads = "reads too" if s.protect_reads else "reads open"
            lines.append(f"REST: protected: requests that change anything need the API key from ${s.api_key_env} "
                         f"(Authorization: Bearer or X-API-Key; {reads})")
        else:
            lines.append(f"REST: NOT protected (no API key in ${s.api_key_env}); listening on loopback only")
        if s.cors_origins:
            lines.append(f"REST: CORS allowed for {', '.join(s.cors_origins)}")
        return lines
