"""The REST API through httpx (FastAPI's TestClient) against the real app and a real, ticking engine."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.rest import create_app
from control.rest.models import ChannelOut
from plugin import errors
from plugin.engine import ChannelStatus, Engine
from tests.conftest import wait_until
from tests.rest_helpers import URL, client_for, driven_engine, make_rest_engine
from timing import errors as timing_errors

API = "/api/v1"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with driven_engine(tmp_path, prime=300) as e:
        yield e


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with client_for(engine, show_name="test show") as c:
        yield c


def problem(resp: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem document with ``status``; return it."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["detail"]
    return body


def channel(client: TestClient, ch: str = "PGM1") -> dict[str, Any]:
    resp = client.get(f"{API}/channels/{ch}")
    assert resp.status_code == 200
    return resp.json()


def recorded_timecode(client: TestClient, back: int = 20) -> tuple[str, int]:
    """A timecode (and its slot) ``back`` frames before the newest recorded one."""
    rec = client.get(f"{API}/cameras/cam01").json()["record"]
    slot = rec["last_slot"] - back
    tc = client.post(f"{API}/channels/1/cue", json={"slot": slot}).json()["channel"]["timecode"]
    return tc, slot


def save_clip(client: TestClient, name: str = "goal", frames: int = 10) -> dict[str, Any]:
    _tc, slot = recorded_timecode(client, back=60)
    assert client.post(f"{API}/channels/1/mark-in").status_code == 200
    resp = client.post(f"{API}/channels/1/mark-out", json={"slot": slot + frames})
    assert resp.status_code == 200, resp.text
    resp = client.post(f"{API}/clips", json={"name": name})
    assert resp.status_code == 201, resp.text
    return resp.json()


# --- discovery, status, cameras ----------------------------------------------------------------------------------


def test_openapi_lists_every_resource(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/status", "/api/v1/info", "/api/v1/cameras", "/api/v1/cameras/{name}", "/api/v1/cameras/{name}/preview.jpg",
        "/api/v1/channels", "/api/v1/channels/{ch}", "/api/v1/channels/{ch}/play", "/api/v1/channels/{ch}/stop",
        "/api/v1/channels/{ch}/mark-in", "/api/v1/channels/{ch}/mark-out", "/api/v1/channels/{ch}/take",
        "/api/v1/channels/{ch}/live", "/api/v1/channels/{ch}/cue", "/api/v1/channels/{ch}/jog",
        "/api/v1/channels/{ch}/preview.jpg", "/api/v1/clips", "/api/v1/clips/{clip_id}", "/api/v1/clips/{clip_id}/cue",
        "/api/v1/playlists", "/api/v1/playlists/{playlist_id}/play", "/api/v1/views/render",
        "/api/v1/views/pivot-from-pixel", "/metrics",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/channels/{ch}"]) == {"get", "patch"}
    assert set(paths["/api/v1/clips/{clip_id}"]) == {"get", "patch", "delete"}


def test_status_is_the_engine_state_map(client: TestClient) -> None:
    resp = client.get(f"{API}/status")
    state = resp.json()
    assert state["channels.PGM1.state"] == "LIVE"
    assert state["reference.state"] == "LOCKED"  # the ManualClock the test engine runs on
    assert "cameras.cam02.fps" in state
    assert int(resp.headers["x-state-version"]) > 0
    info = client.get(f"{API}/info").json()
    assert info["cameras"] == ["cam01", "cam02", "cam03"] and info["channels"] == ["PGM1"]
    assert info["format"] == {"width": 64, "height": 36, "rate": "50", "pixel_format": "uyvy"}
    assert info["name"] == "test show" and info["protected"] is False


def test_cameras_with_health_format_calibration_and_record(client: TestClient) -> None:
    cams = client.get(f"{API}/cameras").json()
    assert [c["name"] for c in cams] == ["cam01", "cam02", "cam03"]
    cam = client.get(f"{API}/cameras/2").json()
    assert cam["name"] == "cam02" and cam["index"] == 2
    assert cam["format"]["width"] == 64
    assert cam["calibration"]["width"] == 64 and len(cam["calibration"]["K"]) == 3
    assert cam["record"]["last_slot"] > cam["record"]["first_slot"]
    assert cam["health"]["gaps"] == 0
    assert client.get(f"{API}/cameras/cam01").json()["on_channels"] == ["PGM1"]
    body = problem(client.get(f"{API}/cameras/cam99"), 404)
    assert "cam01" in body["detail"] and body["type"].endswith("unknown-camera")


# --- channels: transport -----------------------------------------------------------------------------------------


def test_a_channel_has_every_field_of_the_engine_channel_status() -> None:
    """channel_out passes a ChannelStatus's fields on by name: one ChannelOut lacked would be dropped unsaid."""
    missing = {f.name for f in dataclasses.fields(ChannelStatus)} - set(ChannelOut.model_fields)
    assert not missing, f"ChannelOut lacks ChannelStatus fields {sorted(missing)}"


def test_channels_by_name_any_case_or_index(client: TestClient) -> None:
    assert [c["name"] for c in client.get(f"{API}/channels").json()] == ["PGM1"]
    assert channel(client, "pgm1")["name"] == channel(client, "1")["name"] == "PGM1"
    body = problem(client.get(f"{API}/channels/PGM9"), 404)
    assert "PGM1" in body["detail"]
    problem(client.post(f"{API}/channels/PGM9/play"), 404)


def test_play_stop_live_change_the_channel(client: TestClient) -> None:
    resp = client.post(f"{API}/channels/1/play", json={"speed": 0.5})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["ok"] and out["command"] == "play" and out["slot"] > 0
    assert out["channel"]["state"] == "PLAYING" and out["channel"]["speed"] == 0.5
    stopped = client.post(f"{API}/channels/1/stop").json()["channel"]
    assert stopped["speed"] == 0.0
    assert client.post(f"{API}/channels/1/live", json={"camera": "cam03"}).json()["channel"]["state"] == "LIVE"
    assert channel(client)["camera"] == "cam03"
    client.post(f"{API}/channels/1/play")  # an empty body is allowed
    assert channel(client)["state"] == "PLAYING"


def test_patch_applies_each_field(client: TestClient) -> None:
    tc, slot = recorded_timecode(client)
    resp = client.patch(f"{API}/channels/PGM1", json={"position": tc, "camera": "cam02", "speed": 0.25})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [r["command"] for r in out["results"]] == ["cue_timecode", "select_camera", "set_speed"]
    assert out["channel"]["camera"] == "cam02" and out["channel"]["speed"] == 0.25
    assert out["channel"]["slot"] >= slot
    lever = client.patch(f"{API}/channels/1", json={"lever": 1.0}).json()["channel"]
    assert lever["speed"] == pytest.approx(1.0)
    view = client.patch(f"{API}/channels/1", json={"view_s": 1.5, "pivot": [1.0, 2.0, 0.0]}).json()["channel"]
    assert view["view_s"] == 1.5 and view["pivot"] == [1.0, 2.0, 0.0]
    zoom = client.patch(f"{API}/channels/1", json={"zoom": 2.0}).json()["channel"]
    assert zoom["view_s"] == 1.5 and zoom["zoom"] == 2.0
    assert client.patch(f"{API}/channels/1", json={"camera_step": 1}).json()["channel"]["camera"] == "cam03"
    live = client.patch(f"{API}/channels/1", json={"live": True, "camera": "cam01"}).json()["channel"]
    assert live["state"] == "LIVE" and live["camera"] == "cam01"


def test_patch_view_s_alone_keeps_zoom(client: TestClient) -> None:
    zoomed = client.patch(f"{API}/channels/1", json={"view_s": 1.5, "zoom": 2.0}).json()["channel"]
    assert zoomed["view_s"] == 1.5 and zoomed["zoom"] == 2.0
    moved = client.patch(f"{API}/channels/1", json={"view_s": 2.0}).json()["channel"]
    assert moved["view_s"] == 2.0 and moved["zoom"] == 2.0  # as OSC /view/s with one argument


def test_marks_jog_and_take(client: TestClient) -> None:
    tc, slot = recorded_timecode(client, back=40)
    mark = client.post(f"{API}/channels/1/mark-in").json()
    assert mark["channel"]["mark_in"] == slot and mark["channel"]["mark_in_tc"] == tc
    out = client.post(f"{API}/channels/1/mark-out", json={"timecode": tc}).json()["channel"]
    assert out["mark_out"] == slot
    jog = client.post(f"{API}/channels/1/jog", json={"frames": 3}).json()["channel"]
    assert jog["slot"] == slot + 3
    assert client.post(f"{API}/channels/1/clear-marks").json()["channel"]["mark_in"] is None
    assert client.post(f"{API}/channels/1/take").json()["channel"]["state"] == "PLAYING"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"speed": 9}, "body speed"),
        ({"speed": "fast"}, "body speed"),
        ({"lever": -0.1}, "body lever"),
        ({"position": "25:61:00:00"}, "position"),
        ({"position": "10:00:00:60"}, "position"),  # frame 60 does not exist at 50 fps
        ({"pivot": [1, 2]}, "body pivot"),
        ({"colour": "red"}, "body colour"),
        ({}, "nothing to change"),
        ({"speed": 1, "lever": 0.5}, "speed or lever"),
        ({"live": True, "position": "10:00:00:00"}, "live or position"),
        ({"live": False}, "body live"),
    ],
)
def test_patch_validation_names_the_problem(client: TestClient, body: dict[str, Any], where: str) -> None:
    before = channel(client)
    doc = problem(client.patch(f"{API}/channels/1", json=body), 422)
    assert where in doc["detail"], doc["detail"]
    after = channel(client)
    assert after["state"] == before["state"] and after["speed"] == before["speed"]


def test_bodies_that_are_not_json_or_not_finite_are_refused(client: TestClient) -> None:
    problem(client.patch(f"{API}/channels/1", content=b'{"speed": NaN}', headers={"content-type": "application/json"}), 422)
    problem(client.patch(f"{API}/channels/1", content=b"speed=1", headers={"content-type": "application/json"}), 422)
    problem(client.patch(f"{API}/channels/1", content=b"{}", headers={"content-type": "text/plain"}), 422)
    problem(client.post(f"{API}/channels/1/jog", json={"frames": 1.5}), 422)
    problem(client.post(f"{API}/channels/1/cue", json={}), 422)
    problem(client.get(f"{API}/channels/1/preview.jpg?width=5"), 422)
    assert channel(client)["state"] == "LIVE"  # the engine kept running and nothing changed


def test_refused_commands_answer_409_with_the_engine_message(client: TestClient) -> None:
    doc = problem(client.post(f"{API}/channels/1/take"), 409)
    assert "nothing is cued" in doc["detail"] and doc["command"] == "take"
    doc = problem(client.post(f"{API}/channels/1/cue", json={"timecode": "00:00:01:00"}), 409)
    assert "not in the record train" in doc["detail"]
    doc = problem(client.patch(f"{API}/channels/1", json={"camera": "cam02", "view_s": 7.0}), 409)
    assert "outside the rig" in doc["detail"] and doc["applied"] == ["select_camera"]
    assert channel(client)["camera"] == "cam02"
    problem(client.post(f"{API}/clips", json={"name": "no marks"}), 409)


def test_an_oversized_body_is_refused_unread(client: TestClient) -> None:
    doc = problem(client.post(f"{API}/playlists", content=b"{" + b" " * (2 << 20) + b"}",
                              headers={"content-type": "application/json"}), 413)
    assert "bytes" in doc["detail"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(
    st.sampled_from(["speed", "lever", "camera", "camera_step", "live", "position", "view_s", "zoom", "pivot", "x"]),
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.text(max_size=12),
              st.lists(st.floats(-1e9, 1e9), max_size=4)),
    max_size=4,
))
def test_whatever_a_client_patches_the_engine_keeps_running(client: TestClient, body: dict[str, Any]) -> None:
    # json.dumps writes NaN and Infinity as Python's json module reads them: a client could send them
    before = client.get(f"{API}/channels/1").json()["frames_out"]
    resp = client.patch(f"{API}/channels/1", content=json.dumps(body), headers={"content-type": "application/json"})
    assert resp.status_code in (200, 404, 409, 422), resp.text
    if resp.status_code != 200:
        assert resp.headers["content-type"].startswith("application/problem+json")
    wait_until(lambda: client.get(f"{API}/channels/1").json()["frames_out"] > before, "the engine to keep ticking", 2.0)


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    assert "/api/v1" in problem(client.get(f"{API}/nothing-here"), 404)["detail"]
    problem(client.delete(f"{API}/channels/1"), 405)


def test_engine_that_does_not_tick_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from control.rest import deps

    monkeypatch.setattr(deps, "COMMAND_TIMEOUT_S", 0.2)
    engine = make_rest_engine(tmp_path)  # never ticked
    try:
        with TestClient(create_app(engine), base_url=URL) as c:
            doc = problem(c.post(f"{API}/channels/1/play"), 503)
            assert "ticker" in doc["detail"]
            # nothing sent or received yet: the pictures say so and when to ask again
            no_frame = c.get(f"{API}/channels/1/preview.jpg")
            assert problem(no_frame, 503)["type"].endswith("no-frame") and no_frame.headers["retry-after"] == "1"
            problem(c.get(f"{API}/cameras/cam01/preview.jpg"), 503)
    finally:
        engine.stop()


def test_an_unexpected_error_is_a_500_problem_and_the_app_keeps_serving(engine: Engine) -> None:
    app = create_app(engine)

    class Broken:
        def __getattr__(self, name: str) -> Any:
            if name == "channel_names":
                raise RuntimeError("wiring fault")
            return getattr(engine, name)

    from control.rest.deps import get_engine

    app.dependency_overrides[get_engine] = lambda: Broken()
    with TestClient(app, base_url=URL, raise_server_exceptions=False) as c:
        doc = problem(c.get(f"{API}/channels"), 500)
        assert "wiring fault" in doc["detail"] and "keeps running" in doc["detail"]
        assert c.get(f"{API}/status").json()["channels.PGM1.state"] == "LIVE"


# --- clips and playlists -----------------------------------------------------------------------------------------


def test_save_get_patch_delete_a_clip(client: TestClient, engine: Engine) -> None:
    clip = save_clip(client, "goal")
    cid = clip["id"]
    assert cid == "111A/00" and clip["name"] == "goal" and clip["frames"] == 10
    assert clip["angles"] == ["cam01", "cam02", "cam03"]
    assert clip["angle_ids"] == {"111A/00": "cam01", "111B/00": "cam02", "111C/00": "cam03"}
    for ref in ("111A%2F00", "111A-00", "111A/00", "111b-00"):
        got = client.get(f"{API}/clips/{ref}")
        assert got.status_code == 200, ref
        assert got.json()["id"] == cid
    assert [c["id"] for c in client.get(f"{API}/clips").json()] == [cid]
    new_in = engine.timecode_of(clip["in_slot"] + 2)
    patched = client.patch(f"{API}/clips/111A%2F00", json={"name": "goal 2", "pivot": [1, 2, 0], "in": new_in})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "goal 2" and patched.json()["pivot"] == [1.0, 2.0, 0.0]
    assert patched.json()["in_slot"] == clip["in_slot"] + 2 and patched.json()["in_tc"] == new_in
    assert patched.json()["frames"] == clip["frames"] - 2
    cleared = client.patch(f"{API}/clips/111A-00", json={"pivot": None}).json()
    assert cleared["pivot"] is None and cleared["name"] == "goal 2"
    problem(client.patch(f"{API}/clips/111A-00", json={"angles": ["cam03"]}), 409)
    problem(client.patch(f"{API}/clips/111A-00", json={"angles": ["cam09"]}), 404)
    problem(client.patch(f"{API}/clips/111A-00", json={}), 422)
    assert client.delete(f"{API}/clips/111A-00").status_code == 204
    doc = problem(client.get(f"{API}/clips/111A-00"), 404)
    assert doc["type"].endswith("unknown-clip") and doc["detail"].startswith("no clip 111A/00"), doc


def test_save_clip_from_in_and_out_given(client: TestClient) -> None:
    tc, slot = recorded_timecode(client, back=80)
    out_tc = client.post(f"{API}/channels/1/cue", json={"slot": slot + 5}).json()["channel"]["timecode"]
    resp = client.post(f"{API}/clips", json={"in": tc, "out": out_tc, "name": "given", "clip_id": "222A/00"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == "222A/00" and resp.json()["frames"] == 5
    assert resp.headers["location"] == "/api/v1/clips/222A%2F00"


def test_cue_a_clip_and_roll_it(client: TestClient) -> None:
    cid = save_clip(client)["id"]
    client.post(f"{API}/channels/1/live")
    cued = client.post(f"{API}/clips/111B-00/cue", json={"channel": "PGM1"})
    assert cued.status_code == 200, cued.text
    ch = cued.json()["channel"]
    assert ch["state"] == "CUED" and ch["clip_id"] == cid and ch["camera"] == "cam02"
    rolled = client.post(f"{API}/clips/{cid.replace('/', '%2F')}/cue", json={"play": True}).json()
    assert rolled["command"] == "take" and rolled["channel"]["state"] == "PLAYING"
    via_channel = client.post(f"{API}/channels/1/cue", json={"clip": cid, "camera": "cam03"}).json()["channel"]
    assert via_channel["camera"] == "cam03" and via_channel["state"] == "CUED"
    problem(client.post(f"{API}/clips/999A-00/cue", json={}), 404)
    problem(client.post(f"{API}/channels/1/cue", json={"clip": "999A/00"}), 404)


def test_playlists(client: TestClient) -> None:
    cid = save_clip(client)["id"]
    resp = client.post(f"{API}/playlists", json={"name": "reel", "elements": [{"clip": cid, "speed": 0.5}]})
    assert resp.status_code == 201, resp.text
    pl = resp.json()
    assert pl["elements"] == [{"clip": cid, "speed": 0.5}]
    assert [p["id"] for p in client.get(f"{API}/playlists").json()] == [pl["id"]]
    assert client.get(f"{API}/playlists/{pl['id']}").json()["name"] == "reel"
    played = client.post(f"{API}/playlists/{pl['id']}/play", json={"channel": "1"}).json()["channel"]
    assert played["playlist_id"] == pl["id"] and played["state"] == "PLAYING"
    problem(client.post(f"{API}/playlists/PL99/play"), 404)
    doc = problem(client.post(f"{API}/playlists", json={"name": "bad", "elements": [{"clip": "999A/00"}]}), 404)
    assert doc["detail"].startswith("elements[0]")
    problem(client.post(f"{API}/playlists", json={"name": "x", "elements": []}), 422)


# --- pictures ----------------------------------------------------------------------------------------------------


def decode_image(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_previews_are_jpeg_and_scale(client: TestClient) -> None:
    resp = client.get(f"{API}/channels/PGM1/preview.jpg")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert decode_image(resp.content).shape == (36, 64, 3)
    thumb = client.get(f"{API}/cameras/cam02/preview.jpg?width=32")
    assert decode_image(thumb.content).shape == (18, 32, 3)
    # cam02's frames carry luma 20 + 10·2 on their left half (tests.engine_helpers.frame_for)
    left = cv2.cvtColor(decode_image(thumb.content), cv2.COLOR_BGR2GRAY)[:, :10].mean()
    assert abs(left - (40 - 16) * 255 / 219) < 6


def test_render_a_view_as_png(client: TestClient) -> None:
    resp = client.post(f"{API}/views/render", json={"s": 2.0, "channel": "PGM1", "width": 32})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    assert decode_image(resp.content).shape == (18, 32, 3)
    problem(client.post(f"{API}/views/render", json={"s": 9.0}), 422)
    problem(client.post(f"{API}/views/render", json={"s": 2.0, "slot": 5}), 409)


def test_pivot_from_pixel_finds_the_point_on_the_pitch(client: TestClient) -> None:
    # Every test camera aims at the centre spot: its image centre sees (0, 0, 0).
    centre = {"camera": "cam02", "x": (64 - 1) / 2, "y": (36 - 1) / 2}
    out = client.post(f"{API}/views/pivot-from-pixel", json=centre).json()
    assert out["camera"] == "cam02" and np.allclose(out["pivot"], [0, 0, 0], atol=1e-6)
    assert out["distance"] == pytest.approx(np.hypot(30, 8), rel=1e-6)
    raised = client.post(f"{API}/views/pivot-from-pixel", json={**centre, "height": 1.0}).json()["pivot"]
    assert raised[2] == pytest.approx(1.0)
    problem(client.post(f"{API}/views/pivot-from-pixel", json={**centre, "y": 0.0}), 422)  # above the horizon
    problem(client.post(f"{API}/views/pivot-from-pixel", json={**centre, "x": 500}), 422)
    problem(client.post(f"{API}/views/pivot-from-pixel", json={**centre, "camera": "cam9"}), 404)


def test_pivot_from_pixel_needs_a_calibrated_rig(tmp_path: Path) -> None:
    engine = make_rest_engine(tmp_path, rig=False)
    try:
        with TestClient(create_app(engine), base_url=URL) as c:
            doc = problem(c.post(f"{API}/views/pivot-from-pixel", json={"camera": "cam01", "x": 1, "y": 1}), 409)
            assert "calibrat" in doc["detail"]
    finally:
        engine.stop()


# --- metrics -----------------------------------------------------------------------------------------------------


def test_metrics_in_prometheus_format(client: TestClient) -> None:
    client.post(f"{API}/channels/1/play")
    reference = client.get(f"{API}/status").json()["reference.state"]
    text = client.get("/metrics").text
    for needle in (
        'fvreplay_channel_frames_out_total{channel="PGM1"}',
        'fvreplay_channel_repeated_frames_total{channel="PGM1"}',
        'fvreplay_channel_late_renders_total{channel="PGM1"}',
        'fvreplay_channel_state{channel="PGM1",state="PLAYING"} 1.0',
        'fvreplay_camera_fps{camera="cam01"}',
        'fvreplay_camera_gaps_total{camera="cam03"}',
        f'fvreplay_reference_state{{state="{reference}"}} 1.0',
        'fvreplay_commands_total{command="play"}',
        'fvreplay_command_latency_seconds{quantile="0.99"}',
    ):
        assert needle in text, needle
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(text)}
    assert "fvreplay_channel_frames_out" in names


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ClipError("no clip 999A/00"), 409),
        (errors.RecorderError("slot not held"), 409),
        (errors.BufferTooLargeError("too big"), 409),
        (errors.RenderError("render failed"), 409),
        (errors.CalibrationError("no calibration"), 409),
        (errors.CommandError("refused"), 409),
        (errors.TimingError("bad rate"), 422),
        (errors.TimecodeError("no such label"), 422),
        (timing_errors.TimecodeError("no such label"), 422),
        (RuntimeError("a bug"), 500),
    ],
)
def test_errors_a_route_raises_become_problems_by_class(error: Exception, status: int) -> None:
    from fastapi import FastAPI

    from control.rest import problems

    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    with TestClient(app, raise_server_exceptions=False) as c:
        doc = problem(c.get("/boom"), status)
    assert str(error) in doc["detail"]
