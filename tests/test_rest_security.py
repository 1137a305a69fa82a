"""REST security: the API key (writes, reads when protected, WebSocket), binding beyond loopback, cross-site guards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from control.rest import RestSettings, RestSurface
from control.rest.deps import key_matches
from control.rest.settings import is_loopback, parse_bind
from plugin.engine import Engine
from plugin.errors import ControlError
from profiles import parse_profile
from tests.engine_helpers import profile_text
from tests.rest_helpers import URL, client_for, driven_engine

KEY = "s3cret-key-for-tests-0123"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with driven_engine(tmp_path) as e:
        yield e


def test_with_a_key_writes_need_it_and_reads_stay_open(engine: Engine) -> None:
    with client_for(engine, api_key=KEY) as c:
        resp = c.post("/api/v1/channels/1/play")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert "FVR_API_KEY" in resp.json()["detail"]
        assert engine.channel_status("PGM1").state == "LIVE"
        wrong = c.post("/api/v1/channels/1/play", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "wrong" in wrong.json()["detail"]
        assert c.patch("/api/v1/channels/1", json={"speed": 0.5}, headers={"X-API-Key": "nope"}).status_code == 401
        assert c.post("/api/v1/channels/1/play", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.patch("/api/v1/channels/1", json={"speed": 0.5}, headers={"X-API-Key": KEY}).status_code == 200
        assert engine.channel_status("PGM1").speed == 0.5
        assert c.delete("/api/v1/clips/111A-00").status_code == 401
        assert c.post("/api/v1/views/render", json={"s": 1.0}).status_code == 401
        # reads are open unless protect_reads
        assert c.get("/api/v1/status").status_code == 200
        assert c.get("/metrics").status_code == 200
        assert c.get("/api/v1/cameras/cam01/preview.jpg").status_code == 200
        with c.websocket_connect("/events") as ws:
            assert ws.receive_json()["type"] == "snapshot"


def test_protect_reads_closes_reads_websocket_and_metrics(engine: Engine) -> None:
    with client_for(engine, api_key=KEY, protect_reads=True) as c:
        for path in ("/api/v1/status", "/api/v1/channels", "/api/v1/clips", "/metrics",
                     "/api/v1/cameras/cam01/preview.jpg"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"X-API-Key": KEY}).status_code == 200, path
        # the page itself and the API description hold no show data
        assert c.get("/").status_code == 200
        assert c.get("/openapi.json").status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed, c.websocket_connect("/api/v1/events") as ws:
            ws.receive_json()
        assert closed.value.code == 1008
        with c.websocket_connect(f"/api/v1/events?key={KEY}") as ws:
            assert ws.receive_json()["type"] == "snapshot"
        with c.websocket_connect("/events", headers={"Authorization": f"Bearer {KEY}"}) as ws:
            assert ws.receive_json()["type"] == "snapshot"


def test_key_comparison_is_exact() -> None:
    assert key_matches(KEY, KEY)
    assert not key_matches(KEY[:-1], KEY)
    assert not key_matches(KEY + "x", KEY)
    assert not key_matches(None, KEY)
    assert not key_matches("", KEY)


def profile_with(rest: str = "") -> Any:
    return parse_profile(profile_text(2) + f"\n[control.rest]\n{rest}\n")


def test_binding_beyond_loopback_requires_a_key() -> None:
    with pytest.raises(ControlError, match=r"refusing to listen on 0\.0\.0\.0:8080 without an API key.*FVR_API_KEY"):
        RestSettings.from_profile(profile_with('bind = "0.0.0.0:8080"'), environ={})
    with pytest.raises(ControlError, match="SHOW_KEY"):
        RestSettings.from_profile(profile_with('api_key_env = "SHOW_KEY"'), {"bind": "10.1.2.3:80"}, environ={})
    ok = RestSettings.from_profile(profile_with('bind = "0.0.0.0:8080"'), environ={"FVR_API_KEY": KEY})
    assert ok.protected and ok.host == "0.0.0.0" and ok.port == 8080
    loop = RestSettings.from_profile(profile_with(), {"bind": "localhost:0"}, environ={})
    assert not loop.protected and loop.port == 0
    with pytest.raises(ControlError, match="not HOST:PORT"):
        RestSettings.from_profile(profile_with(), {"bind": "8080"}, environ={})
    with pytest.raises(ControlError, match="outside 0..65535"):
        parse_bind("127.0.0.1:70000")
    assert parse_bind("[::1]:9000") == ("::1", 9000)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("replay.local")


def test_surface_serves_on_a_real_port_and_says_whether_it_is_protected(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FVR_API_KEY", raising=False)
    surface = RestSurface.from_profile(engine, profile_with(), {"bind": "127.0.0.1:0"})
    surface.start()
    try:
        assert surface.port > 0
        lines = surface.describe()
        assert f"http://127.0.0.1:{surface.port}/" in lines[0]
        assert "NOT protected" in lines[1]
        resp = httpx.get(f"http://127.0.0.1:{surface.port}/api/v1/channels/1", timeout=5)
        assert resp.status_code == 200 and resp.json()["name"] == "PGM1"
        page = httpx.get(f"http://127.0.0.1:{surface.port}/", timeout=5)
        assert page.status_code == 200 and "fvreplay" in page.text
        with pytest.raises(ControlError, match="cannot listen"):
            RestSurface.from_profile(engine, profile_with(), {"bind": f"127.0.0.1:{surface.port}"}).start()
    finally:
        surface.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{surface.port}/api/v1/status", timeout=2)


def test_a_websocket_client_over_tcp_sees_a_change_and_is_closed_on_stop(engine: Engine) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    surface = RestSurface(engine, RestSettings(port=0))
    surface.start()
    try:
        with connect(f"ws://127.0.0.1:{surface.port}/events") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
            httpx.post(f"http://127.0.0.1:{surface.port}/api/v1/channels/1/stop", timeout=5).raise_for_status()
            for _ in range(500):
                if json.loads(ws.recv(timeout=5))["changes"].get("channels.PGM1.speed") == 0.0:
                    break
            else:
                raise AssertionError("no delta with the stop")
            started = time.monotonic()
            surface.stop()
            assert time.monotonic() - started < 5
            with pytest.raises(ConnectionClosed):
                for _ in range(1000):
                    ws.recv(timeout=5)
    finally:
        surface.stop()


def test_surface_beyond_loopback_with_a_key(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FVR_API_KEY", KEY)
    surface = RestSurface.from_profile(engine, profile_with(), {"bind": "0.0.0.0:0"})
    surface.start()
    try:
        assert "protected" in surface.describe()[1] and "NOT" not in surface.describe()[1]
        base = f"http://127.0.0.1:{surface.port}"
        assert httpx.post(f"{base}/api/v1/channels/1/stop", timeout=5).status_code == 401
        resp = httpx.post(f"{base}/api/v1/channels/1/stop", headers={"X-API-Key": KEY}, timeout=5)
        assert resp.status_code == 200
    finally:
        surface.stop()
    monkeypatch.delenv("FVR_API_KEY")
    with pytest.raises(ControlError, match="without an API key"):
        RestSurface.from_profile(engine, profile_with(), {"bind": "0.0.0.0:0"})


def test_other_sites_cannot_drive_the_api_through_a_browser(engine: Engine) -> None:
    with client_for(engine) as c:
        evil = c.post("/api/v1/channels/1/play", headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
        assert engine.channel_status("PGM1").state == "LIVE"
        same = c.post("/api/v1/channels/1/stop", headers={"Origin": URL})
        assert same.status_code == 200
        # DNS rebinding: a foreign name that resolves to 127.0.0.1
        rebound = c.get("/api/v1/status", headers={"Host": "evil.example:8080"})
        assert rebound.status_code == 403 and "Host" in rebound.json()["detail"]
        assert c.get("/api/v1/status", headers={"Host": "localhost:8080"}).status_code == 200
        ws_url = "ws://127.0.0.1:8080/events"
        with c.websocket_connect(ws_url, headers={"Origin": URL}) as ws:
            assert ws.receive_json()["type"] == "snapshot"
        with pytest.raises(WebSocketDisconnect) as refused, c.websocket_connect(
            ws_url, headers={"Origin": "http://evil.example"}
        ) as ws:
            ws.receive_json()
        assert refused.value.code == 1008 and "cross-site" in refused.value.reason


def test_no_cors_unless_configured(engine: Engine) -> None:
    preflight = {"Origin": "http://panel.example", "Access-Control-Request-Method": "PATCH"}
    with client_for(engine) as c:
        resp = c.options("/api/v1/channels/1", headers=preflight)
        assert "access-control-allow-origin" not in resp.headers
    with client_for(engine, cors_origins=("http://panel.example",), api_key=KEY) as c:
        resp = c.options("/api/v1/channels/1", headers=preflight)
        assert resp.headers["access-control-allow-origin"] == "http://panel.example"
        patched = c.patch("/api/v1/channels/1", json={"speed": 0.5},
                          headers={"Origin": "http://panel.example", "X-API-Key": KEY})
        assert patched.status_code == 200
        assert patched.headers["access-control-allow-origin"] == "http://panel.example"
