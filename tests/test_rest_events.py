"""The WebSocket event stream: a snapshot first, then deltas pushed from the engine thread after each tick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from plugin.engine import Engine
from tests.conftest import wait_until
from tests.rest_helpers import client_for, driven_engine

WS = "ws://127.0.0.1:8080"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with driven_engine(tmp_path, period_s=0.01) as e:
        yield e


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with client_for(engine) as c:
        yield c


def wait_for(ws: WebSocketTestSession, key: str, value: Any, limit: int = 500) -> dict[str, Any]:
    """Read deltas until ``key`` has ``value``; return that message."""
    for _ in range(limit):
        msg = ws.receive_json()
        assert msg["type"] == "delta"
        if msg["changes"].get(key) == value:
            return msg
    raise AssertionError(f"{key} never became {value!r}")


@pytest.mark.parametrize("path", ["/events", "/api/v1/events"])
def test_snapshot_then_the_change_a_command_made(client: TestClient, path: str) -> None:
    with client.websocket_connect(WS + path) as ws:
        first = ws.receive_json()
        assert first["type"] == "snapshot"
        assert first["state"]["channels.PGM1.state"] == "LIVE"
        assert client.post("/api/v1/channels/1/play", json={"speed": 0.5}).status_code == 200
        msg = wait_for(ws, "channels.PGM1.state", "PLAYING")
        assert msg["version"] > first["version"]
        client.patch("/api/v1/channels/1", json={"view_s": 2.5})
        wait_for(ws, "channels.PGM1.view_s", 2.5)


def test_deltas_are_newer_than_the_snapshot_and_in_order(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}/events") as ws:
        version = ws.receive_json()["version"]
        for _ in range(20):
            msg = ws.receive_json()
            assert msg["version"] > version
            version = msg["version"]


def test_a_client_can_ask_for_a_fresh_snapshot(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}/events") as ws:
        ws.receive_json()
        ws.send_json({"type": "snapshot"})
        for _ in range(200):
            if ws.receive_json()["type"] == "snapshot":
                break
        else:
            raise AssertionError("no snapshot came back")
        ws.send_text("not json")  # ignored, the stream goes on
        assert ws.receive_json()["type"] in ("delta", "snapshot")


def test_a_slow_client_gets_merged_changes_and_listening_stops_after_the_last(client: TestClient,
                                                                            engine: Engine) -> None:
    hub = client.app.state.events  # type: ignore[attr-defined]
    with client.websocket_connect(f"{WS}/events?interval_ms=200") as ws:
        ws.receive_json()
        assert hub.clients == 1 and len(engine.state._listeners) == 1
        first = ws.receive_json()  # the first change goes at once
        merged = ws.receive_json()  # then at most one message per 200 ms, holding every tick since
        assert merged["version"] - first["version"] >= 5, (first["version"], merged["version"])
        assert "channels.PGM1.timecode" in merged["changes"]
    wait_until(lambda: hub.clients == 0, "the closed socket's client to go", timeout=1.0)
    assert engine.state._listeners == {}
