"""State pushed to WebSocket clients: the engine's state-map changes, bridged from the engine thread into asyncio.

The first message is the whole state map, then deltas::

    {"type": "snapshot", "version": 812, "state": {"channels.PGM1.state": "LIVE", ...}}
    {"type": "delta", "version": 813, "changes": {"channels.PGM1.timecode": "10:21:33:13"}}

A client that reads slowly is never queued for: its pending changes are merged, so it gets the newest value of
every key that changed since its last message. Sending ``{"type": "snapshot"}`` asks for a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from control.rest.deps import EngineAPI
from control.rest.problems import jsonable

log = logging.getLogger("fvreplay.rest.events")


class _Client:
    """One WebSocket client: changes merged since its last message, woken through its own event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[str, Any] = {}
        self.version = -1
        self.floor = -1  # deltas at or below this version are already in the snapshot sent
        self.wake = asyncio.Event()
        self.want_snapshot = False

    def push(self, changes: dict[str, Any], version: int) -> None:
        """Runs on the client's loop (scheduled with call_soon_threadsafe)."""
        if version <= self.floor:
            return
        self.pending.update(changes)
        self.version = max(self.version, version)
        self.wake.set()


class EventHub:
    """Subscribes to ``engine.state`` while at least one client listens; fans changes out to the clients."""

    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._token: Any = None

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _on_change(self, changes: dict[str, Any]) -> None:
        """Called from the engine thread after a tick: hand the changes to each client's loop, never block."""
        version = int(self.engine.state.version)
        changed = dict(changes)
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(client.push, changed, version)
            except RuntimeError:
                # The client's loop closed between its disconnect and its removal; it no longer needs changes.
                continue

    def _attach(self, client: _Client) -> None:
        with self._lock:
            self._clients.add(client)
            if self._token is None:
                self._token = self.engine.state.subscribe(self._on_change)

    def _detach(self, client: _Client) -> None:
        with self._lock:
            self._clients.discard(client)
            token, empty = self._token, not self._clients
            if empty:
                self._token = None
        if empty and token is not None:
            self.engine.state.unsubscribe(token)

    def close(self) -> None:
        """Stop listening to the engine (the app is shutting down)."""
        with self._lock:
            token, self._token = self._token, None
            self._clients.clear()
        if token is not None:
            self.engine.state.unsubscribe(token)

    def _snapshot(self, client: _Client) -> str:
        # Version first, then the map: the map is at least that new, so deltas up to it can be dropped.
        version = int(self.engine.state.version)
        state = self.engine.state.snapshot()
        client.floor = version
        client.pending.clear()
        client.version = version
        return json.dumps({"type": "snapshot", "version": version, "state": jsonable(state)})

    async def serve(self, websocket: WebSocket, interval_s: float = 0.0) -> None:
        """Run one accepted client until it disconnects (or the server shuts down)."""
        client = _Client(asyncio.get_running_loop())
        self._attach(client)
        try:
            await websocket.send_text(self._snapshot(client))
            async with anyio.create_task_group() as tasks:

                async def until_done(part: Awaitable[None]) -> None:
                    try:
                        await part
                    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                        log.debug("WebSocket client left: %r", exc)
                    tasks.cancel_scope.cancel()  # one side ended: end the other

                tasks.start_soon(until_done, self._send(websocket, client, interval_s))
                tasks.start_soon(until_done, self._receive(websocket, client))
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            # The client went away while we sent its snapshot: nothing to clean but the subscription.
            log.debug("WebSocket client left early: %r", exc)
        finally:
            self._detach(client)

    async def _send(self, websocket: WebSocket, client: _Client, interval_s: float) -> None:
        while True:
            await client.wake.wait()
            client.wake.clear()
            if client.want_snapshot:
                client.want_snapshot = False
                await websocket.send_text(self._snapshot(client))
                continue
            changes, client.pending = client.pending, {}
            if changes:
                message = {"type": "delta", "version": client.version, "changes": jsonable(changes)}
                await websocket.send_text(json.dumps(message))
            if interval_s > 0:
                await asyncio.sleep(interval_s)

    async def _receive(self, websocket: WebSocket, client: _Client) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if not text:
                continue
            try:
                request = json.loads(text)
            except ValueError:
                continue  # clients may send keep-alives in any form; only {"type": "snapshot"} means something
            if isinstance(request, dict) and request.get("type") == "snapshot":
                client.want_snapshot = True
                client.wake.set()
