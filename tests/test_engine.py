"""The engine on mem:// cameras and a fake clock: one frame per tick, speeds, marks, cues, live, commands."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from io_adapters import memory
from plugin import commands as c
from plugin.engine import Engine
from plugin.errors import BufferTooLargeError
from plugin.frames import Frame, PixelFormat
from plugin.freeview import move as move_mod
from profiles import parse_profile
from tests.conftest import wait_until
from tests.engine_helpers import BASE, H, W, decode, frame_for, make_engine, profile_text, record
from timing import ManualClock, slot_start_ns


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 150)
    yield e
    e.stop()


def run(engine: Engine, ticks: int, start: int = BASE + 151) -> list[int]:
    """Tick the engine and return the source slot each output frame showed."""
    shown = []
    for i in range(ticks):
        engine.tick(start + i)
        shown.append(engine.channel_frame("PGM1").meta["source_slot"])  # type: ignore[union-attr]
    return shown


def output(engine: Engine) -> list:  # type: ignore[type-arg]
    return memory.hub("PGM1").recent()


def test_one_frame_per_tick_with_output_stamps(engine: Engine) -> None:
    for i in range(20):
        engine.tick(BASE + 151 + i)
    frames = output(engine)
    assert [f.slot for f in frames] == list(range(BASE + 151, BASE + 171))
    assert engine.channel_status("PGM1").frames_out == 20
    assert all(f.timecode == engine.timecode_of(f.meta["source_slot"]) for f in frames)


def test_live_follows_newest_slot(engine: Engine) -> None:
    assert engine.channel_status("PGM1").state == "LIVE"
    engine.tick(BASE + 151)
    assert engine.channel_frame("PGM1").meta["source_slot"] == BASE + 150  # type: ignore[union-attr]
    record(engine, BASE + 151, BASE + 155)
    engine.tick(BASE + 152)
    engine.tick(BASE + 153)
    assert engine.channel_frame("PGM1").meta["source_slot"] == BASE + 155  # type: ignore[union-attr]


def test_half_speed_shows_each_slot_twice(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 10))
    engine.tick(BASE + 200)
    engine.submit(c.Play("PGM1", speed=0.5))
    shown = run(engine, 8, start=BASE + 201)
    assert shown == [BASE + 10, BASE + 10, BASE + 11, BASE + 11, BASE + 12, BASE + 12, BASE + 13, BASE + 13]


def test_quarter_and_double_speed(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 20))
    engine.tick(BASE + 200)
    engine.submit(c.SetSpeed("PGM1", 0.25))
    assert run(engine, 8, BASE + 201) == [BASE + 20] * 4 + [BASE + 21] * 4
    engine.submit(c.SetSpeed("PGM1", 2.0))
    shown = run(engine, 3, BASE + 210)
    assert shown[1] - shown[0] == 2 and shown[2] - shown[1] == 2
    engine.submit(c.SetSpeed("PGM1", -1.0))
    back = run(engine, 3, BASE + 220)
    assert back[0] - back[1] == 1


def test_stale_speed_command_is_replaced(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 50))
    engine.tick(BASE + 200)
    stale = engine.submit(c.SetSpeed("PGM1", 3.0))
    fresh = engine.submit(c.SetSpeed("PGM1", 1.0))
    engine.tick(BASE + 201)
    assert not stale.result(1).ok and "superseded" in stale.result(1).message
    assert fresh.result(1).ok and fresh.result(1).slot == BASE + 201
    assert engine.channel_status("PGM1").speed == 1.0
    # Non-transport commands are never dropped by a transport command.
    a = engine.submit(c.MarkIn("PGM1"))
    b = engine.submit(c.Stop("PGM1"))
    engine.tick(BASE + 202)
    assert a.result(1).ok and b.result(1).ok


def test_out_is_exclusive_for_clips(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 30))
    engine.tick(BASE + 200)
    engine.submit(c.MarkIn("PGM1"))
    engine.tick(BASE + 201)
    engine.submit(c.MarkOut("PGM1", slot=BASE + 35))
    engine.tick(BASE + 202)
    res = engine.submit(c.SaveClip("PGM1", name="goal"))
    engine.tick(BASE + 203)
    saved = res.result(10)
    assert saved.ok, saved.message
    clip_id = saved.data["clip_id"]
    assert clip_id == "111A/00"
    engine.submit(c.CueClip("PGM1", clip_id))
    engine.tick(BASE + 204)
    assert engine.channel_status("PGM1").state == "CUED"
    engine.submit(c.Play("PGM1", speed=1.0))
    shown = run(engine, 9, BASE + 205)
    assert shown == [BASE + 30, BASE + 31, BASE + 32, BASE + 33, BASE + 34, BASE + 34, BASE + 34, BASE + 34, BASE + 34]
    assert engine.channel_status("PGM1").speed == 0.0
    # The clip's frames come from the clip store, with the right camera pixels.
    assert decode(engine.channel_frame("PGM1")) == (1, (BASE + 34) % 200)  # type: ignore[arg-type]


def test_jog_and_cue_timecode_land_on_the_right_slots(engine: Engine) -> None:
    label = engine.timecode_of(BASE + 40)
    res = engine.submit(c.CueTimecode("PGM1", label))
    engine.tick(BASE + 200)
    assert res.result(1).ok, res.result(1).message
    assert engine.channel_status("PGM1").slot == BASE + 40
    engine.submit(c.Jog("PGM1", 3))
    engine.tick(BASE + 201)
    assert engine.channel_frame("PGM1").meta["source_slot"] == BASE + 43  # type: ignore[union-attr]
    engine.submit(c.Jog("PGM1", -5))
    engine.tick(BASE + 202)
    assert engine.channel_frame("PGM1").meta["source_slot"] == BASE + 38  # type: ignore[union-attr]
    assert engine.channel_status("PGM1").timecode == engine.timecode_of(BASE + 38)


def test_cue_outside_the_train_is_refused_with_what_it_holds(engine: Engine) -> None:
    far = engine.timecode_of(BASE + 5000)
    res = engine.submit(c.CueTimecode("PGM1", far))
    engine.tick(BASE + 200)
    r = res.result(1)
    assert not r.ok
    assert f"timecode {far} is not in the record train of cam01 (it holds {engine.timecode_of(BASE)}" in r.message


def test_select_camera_keeps_the_slot(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 60))
    engine.tick(BASE + 200)
    engine.submit(c.SelectCamera("PGM1", step=1))
    engine.tick(BASE + 201)
    assert decode(engine.channel_frame("PGM1")) == (2, (BASE + 60) % 200)  # type: ignore[arg-type]
    engine.submit(c.SelectCamera("PGM1", step=-2))
    engine.tick(BASE + 202)
    assert engine.channel_status("PGM1").camera == "cam03"  # wraps around the rig
    engine.submit(c.GoLive("PGM1", camera="2"))
    engine.tick(BASE + 203)
    st = engine.channel_status("PGM1")
    assert (st.state, st.camera) == ("LIVE", "cam02")


def test_lever_maps_through_the_curve(engine: Engine) -> None:
    engine.submit(c.CueSlot("PGM1", BASE + 60))
    engine.tick(BASE + 200)
    for position, expected in ((0.0, 0.0), (1.0, 1.0)):
        engine.submit(c.Lever("PGM1", position))
        engine.tick(BASE + 201)
        assert engine.channel_status("PGM1").speed == expected
    engine.submit(c.Lever("PGM1", 0.5))
    engine.tick(BASE + 202)
    assert 0.1 < engine.channel_status("PGM1").speed < 0.5


def test_nothing_recorded_yet_gives_video_black_every_tick(tmp_path: Path) -> None:
    e = make_engine(tmp_path)  # no camera has delivered a frame
    for i in range(3):
        e.tick(BASE + i)
    frames = output(e)
    assert [f.slot for f in frames] == [BASE, BASE + 1, BASE + 2]
    uyvy = frames[-1].data
    assert uyvy.shape == (e.fmt.height, e.fmt.width, 2)
    assert (uyvy[..., 1] == 16).all() and (uyvy[..., 0] == 128).all()  # limited-range black, neutral chroma
    pgm = e.stats()["channels"]["PGM1"]
    assert (pgm["frames_out"], pgm["black"], pgm["repeated"]) == (3, 3, 0)
    record(e, BASE, BASE + 10)
    e.tick(BASE + 20)
    assert e.stats()["channels"]["PGM1"]["black"] == 3  # pictures once there are any
    assert not (output(e)[-1].data[..., 1] == 16).all()
    e.stop()


def test_gap_repeats_last_frame_and_counts(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 10)
    e.submit(c.CueSlot("PGM1", BASE + 8))
    e.tick(BASE + 100)
    e.submit(c.Play("PGM1"))
    for i in range(6):  # plays 8, 9, 10, then the train ends → held at 10 (no repeats); now a gap:
        e.tick(BASE + 101 + i)
    assert e.channel_status("PGM1").repeated == 0
    record(e, BASE + 14, BASE + 20)  # slots 11..13 never arrived on any camera
    e.submit(c.CueSlot("PGM1", BASE + 10))
    e.tick(BASE + 110)
    e.submit(c.Play("PGM1"))
    for i in range(6):
        e.tick(BASE + 111 + i)
    st = e.channel_status("PGM1")
    assert st.repeated == 3 and st.frames_out == 14
    assert e.recorder.trains["cam01"].gaps == 3
    # A still on a slot nobody recorded repeats too: nothing is rendering that it could be waiting for.
    e.submit(c.CueSlot("PGM1", BASE + 12))
    e.tick(BASE + 120)
    e.tick(BASE + 121)
    after = e.channel_status("PGM1")
    assert after.repeated == st.repeated + 2 and after.held == st.held
    e.stop()


def test_a_renderers_helper_cameras_come_where_there_are_frames_of_them(tmp_path: Path) -> None:
    """The cameras a renderer can do without (``helpers_for``: the depth renderer's judges of where the
    players stand) come with the sources where the record has a frame of them; one without frames (not
    recorded) leaves the render as it is, rather than failing it."""
    e = make_engine(tmp_path)
    given: list[list[str]] = []

    class Helped(SlowRenderer):
        def helpers_for(self, view):  # type: ignore[no-untyped-def]
            return ["cam03", "cam09"]  # cam09 is no camera of this engine

        def render(self, view, images, width, height):  # type: ignore[no-untyped-def]
            given.append(list(images))
            return images["cam02"]

    e.renderer = Helped(0.0)
    record(e, BASE, BASE + 20)
    out = e.render_view(BASE + 5, 2.2)
    assert given == [["cam02", "cam03"]] and out.shape == (H, W, 3)
    e.stop()


def test_views_of_one_moment_get_the_same_source_frames(tmp_path: Path) -> None:
    """An orbit of one slot converts each camera's frame to RGB once: every view gets the very same
    arrays (so the renderer uploads them once); another slot gets new ones."""
    e = make_engine(tmp_path)
    seen: list[list[object]] = []

    class Recording(SlowRenderer):
        def render(self, view, images, width, height):  # type: ignore[no-untyped-def]
            seen.append(list(images.values()))  # kept alive: identity, not a reused id
            return super().render(view, images, width, height)

    e.renderer = Recording(0.0)
    record(e, BASE, BASE + 20)
    for s in (2.2, 2.4):
        e.render_view(BASE + 5, s)
    e.render_view(BASE + 6, 2.4)
    assert seen[0][0] is seen[1][0] and seen[2][0] is not seen[1][0]
    e.stop()


class SlowRenderer:
    """Renders by cutting to the nearest camera, slowly: it misses every deadline at first."""

    mode = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def sources_for(self, view):  # type: ignore[no-untyped-def]
        return [f"cam{round(view.s):02d}"]

    def helpers_for(self, view):  # type: ignore[no-untyped-def]
        return []

    def render(self, view, images, width, height):  # type: ignore[no-untyped-def]
        self.calls += 1
        time.sleep(self.delay)
        (img,) = images.values()
        return img


def test_slow_renderer_never_stalls_the_output(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    e.renderer = SlowRenderer(0.05)
    record(e, BASE, BASE + 100)
    e.submit(c.CueSlot("PGM1", BASE + 10))
    e.tick(BASE + 200)
    e.submit(c.SetView("PGM1", 2.0))
    for i in range(10):
        e.tick(BASE + 201 + i)  # ticks come far faster than 50 ms renders
    st = e.channel_status("PGM1")
    assert st.frames_out == 11  # one frame per tick, always
    assert [f.slot for f in output(e)] == list(range(BASE + 200, BASE + 211))
    assert all(f.meta["source_slot"] == BASE + 10 for f in output(e))
    # A still whose new view is rendering holds its picture (it was still anyway): not a repeat.
    assert st.late >= 1 and st.held >= 1 and st.repeated == 0
    time.sleep(0.3)
    e.tick(BASE + 220)
    assert decode(e.channel_frame("PGM1"))[0] == 2  # type: ignore[arg-type]  # the render arrived
    # Playing, a frame not rendered in time is a repeat: the picture stutters.
    e.submit(c.Play("PGM1", speed=1.0))
    for i in range(5):
        e.tick(BASE + 221 + i)
    assert e.channel_status("PGM1").repeated >= 1
    e.stop()


def test_memory_is_refused_up_front(tmp_path: Path) -> None:
    text = profile_text(12, seconds=30).replace('width = 64', 'width = 1920').replace('height = 36', 'height = 1080')
    with pytest.raises(BufferTooLargeError) as info:
        Engine.from_profile(parse_profile(text), storage_root=tmp_path)
    msg = str(info.value)
    assert msg.startswith("buffer needs 74.6 GB for 12 cameras × 30 s of 1920×1080 UYVY at 50p; limit is 1.0 GB")
    assert 'use codec = "jpeg"' in msg


def test_jpeg_trains_hold_compressed_frames(tmp_path: Path) -> None:
    profile = parse_profile(profile_text(2).replace("[storage]", '[storage]\n').replace(
        'memory_limit = "1GB"', 'memory_limit = "1GB"\ncodec = "jpeg"'))
    e = Engine.from_profile(profile, storage_root=tmp_path)
    e.recorder.trains["cam01"].write(frame_for("cam01", BASE))
    back = e.recorder.read("cam01", BASE)
    assert back is not None and back.pixel_format.value == "rgb"
    assert decode(back)[0] == 1
    e.stop()


def test_source_that_stops_and_returns_is_handled(tmp_path: Path) -> None:
    e = make_engine(tmp_path, cameras=2)
    e.start(ticker=False)
    try:
        def feed(first: int, last: int) -> None:
            for slot in range(first, last + 1):
                for cam in ("cam01", "cam02"):
                    memory.feed(cam, frame_for(cam, slot))

        feed(BASE, BASE + 9)
        wait_until(lambda: e.recorder.trains["cam01"].frames_in == 10)
        feed(BASE + 30, BASE + 34)  # 20 slots missing on both cameras
        wait_until(lambda: e.recorder.trains["cam02"].frames_in == 15)
        assert e.recorder.trains["cam01"].gaps == 20
        assert e.recorder.trains["cam01"].gap_events[-1] == (BASE + 10, 20)
        e.tick(BASE + 35)
        assert e.channel_frame("PGM1").meta["source_slot"] == BASE + 34  # type: ignore[union-attr]
        assert e.state.get("cameras.cam01.gaps") == 20
    finally:
        e.stop()


def test_unknown_channel_and_camera_are_refused(engine: Engine) -> None:
    assert not engine.submit(c.Play("PGM9")).result(1).ok
    res = engine.submit(c.GoLive("PGM1", camera="cam99"))
    engine.tick(BASE + 200)
    assert "no camera 'cam99'" in res.result(1).message
    assert engine.resolve_channel("1") == "PGM1" and engine.resolve_channel("pgm1") == "PGM1"


def test_state_map_is_flat_and_notifies(engine: Engine) -> None:
    seen: list[dict] = []  # type: ignore[type-arg]
    token = engine.state.subscribe(seen.append)
    engine.tick(BASE + 151)
    snap = engine.state.snapshot()
    assert snap["channels.PGM1.state"] == "LIVE"
    assert snap["cameras.cam02.frames_in"] == 151
    assert "reference.state" in snap
    engine.submit(c.Stop("PGM1"))
    engine.tick(BASE + 152)
    assert any(ch.get("channels.PGM1.state") == "PLAYING" for ch in seen)
    engine.state.unsubscribe(token)


def test_playlist_plays_elements_in_order(engine: Engine) -> None:
    ids = []
    for first in (BASE + 10, BASE + 40):
        engine.submit(c.MarkIn("PGM1", slot=first))
        engine.submit(c.MarkOut("PGM1", slot=first + 3))
        fut = engine.submit(c.SaveClip("PGM1"))
        engine.tick(BASE + 200)
        ids.append(fut.result(10).data["clip_id"])
    pl = engine.clips.create_playlist("best", [(ids[0], 1.0), (ids[1], 1.0)])
    engine.submit(c.PlayPlaylist("PGM1", pl.playlist_id))
    shown = run(engine, 8, BASE + 201)
    assert shown == [BASE + 10, BASE + 11, BASE + 12, BASE + 40, BASE + 41, BASE + 42, BASE + 42, BASE + 42]


def test_move_renders_ahead_then_flies_without_repeats(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    e.renderer = SlowRenderer(0.01)
    record(e, BASE, BASE + 100)
    e.submit(c.CueSlot("PGM1", BASE + 50))
    e.tick(BASE + 200)
    orbit = move_mod.orbit(1.0, 3.0, 0.2, "linear")  # 0.2 s at 50p: 11 frames, frozen on slot BASE + 50
    res = e.submit(c.PlayMove("PGM1", move=orbit.to_dict()))
    e.tick(BASE + 201)
    assert res.result(1).ok and "rendering 11 of 11 frames ahead" in res.result(1).message
    tick = BASE + 202
    while e.state.get("channels.PGM1.move_preparing", True) is not False or e.channels["PGM1"].transport.move_preparing:
        e.tick(tick)
        tick += 1
        time.sleep(0.01)
        assert tick < BASE + 2000, "the move never became ready"
    held = e.channels["PGM1"].held
    assert held >= 1  # the channel held its picture while the move rendered
    cams = []
    for _ in range(11):
        e.tick(tick)
        tick += 1
        f = e.channel_frame("PGM1")
        cams.append(decode(f)[0])  # type: ignore[arg-type]
        assert f.meta["source_slot"] == BASE + 50  # type: ignore[union-attr]  # bullet time: one slot
    st = e.channel_status("PGM1")
    assert st.repeated == 0 and st.late == 0
    assert cams == sorted(cams) and cams[0] == 1 and cams[-1] == 3  # flew from camera 1 to camera 3
    assert e.state.get("channels.PGM1.move_wait_s") > 0  # it waited for 11 renders of 10 ms
    e.tick(tick)
    assert e.channel_status("PGM1").view_s == 3.0  # stays on the last view when the flight ends
    e.stop()


def test_a_frame_that_cannot_be_stored_does_not_stop_the_camera(tmp_path: Path) -> None:
    import numpy as np

    from plugin.frames import Frame, PixelFormat

    e = make_engine(tmp_path, cameras=1)
    e.start(ticker=False)
    try:
        memory.feed("cam01", Frame(np.zeros((0, 0, 3), np.uint8), PixelFormat.RGB, "cam01", BASE, 0))
        for slot in range(BASE + 1, BASE + 6):
            memory.feed("cam01", frame_for("cam01", slot))
        wait_until(lambda: e.recorder.trains["cam01"].frames_in == 5)
        capture = e.captures["cam01"]
        assert capture.errors == 1 and "cannot store a 0x0 rgb frame" in capture.reason
        assert e.recorder.read("cam01", BASE + 5) is not None
    finally:
        e.stop()


class PlateRenderer:
    """Stands in for the depth renderer: only the ``background`` the engine sets."""

    mode = "depth"
    background = None


def test_clean_plates_are_the_median_of_the_record_train(tmp_path: Path) -> None:
    profile = parse_profile(profile_text(2, extra="[renderer]\nplates_every_s = 0\nplate_frames = 5\n"))
    renderer = PlateRenderer()
    e = Engine.from_profile(profile, clock=ManualClock(), storage_root=tmp_path / "store", renderer=renderer)
    assert not e.refresh_plates()  # nothing recorded yet
    venue = np.zeros((H, W, 2), np.uint8)
    venue[..., 0], venue[..., 1] = 128, 90
    venue[:, W // 2 :, 1] = 150
    for slot in range(BASE, BASE + 151):  # 3 s at 50p: a 4-pixel-wide player crosses the frame
        for cam in e.camera_names:
            data = venue.copy()
            x = (slot - BASE) * (W - 4) // 150
            data[5:30, x : x + 4, 1] = 235
            e.recorder.trains[cam].write(Frame(data, PixelFormat.UYVY, cam, slot, slot_start_ns(slot, "50")))
    assert e.refresh_plates()
    plates = renderer.background
    assert plates is not None and sorted(plates.names) == ["cam01", "cam02"]
    empty = Frame(venue, PixelFormat.UYVY, "cam01", 0, 0).to_rgb()
    assert np.array_equal(plates.plates["cam01"], empty)  # the player is gone, the venue exact
    assert e.stats()["plates"] == {"built": 1, "span": (BASE, BASE + 150)}
    e.stop()


class VenueRenderer(PlateRenderer):
    """Also makes a venue depth from the plates, as the depth renderer does (counting how often)."""

    venue = None

    def __init__(self) -> None:
        self.made: list[object] = []

    def estimate_venue(self, plates: object) -> FakeVenue:
        self.made.append(plates)
        return FakeVenue(plates)


class FakeVenue:
    def __init__(self, plates: object) -> None:
        self.sizes = {name: p.shape[1::-1] for name, p in plates.plates.items()}  # type: ignore[attr-defined]
        self.completed = False

    def complete(self, cancelled: object = None) -> FakeVenue:
        self.completed = True
        return self

    def known(self) -> float:
        return 0.9

    def made_for(self, plates: object) -> bool:
        return self.sizes == {name: p.shape[1::-1] for name, p in plates.plates.items()}  # type: ignore[attr-defined]


def test_the_venue_depth_is_made_once_with_the_first_plates(tmp_path: Path) -> None:
    """The venue and the locked-off cameras do not move: new plates of the same cameras keep the venue
    depth, made whole in the plates thread before the renderer gets it."""
    profile = parse_profile(profile_text(2, extra="[renderer]\nplates_every_s = 0\nplate_frames = 3\n"))
    renderer = VenueRenderer()
    e = Engine.from_profile(profile, clock=ManualClock(), storage_root=tmp_path / "store", renderer=renderer)
    record(e, BASE, BASE + 150)
    assert e.stats()["venue"] == {"seconds": None, "known": None}
    assert e.refresh_plates()
    first = renderer.venue
    assert isinstance(first, FakeVenue) and first.completed and renderer.made == [renderer.background]
    assert e.refresh_plates()
    assert renderer.venue is first and len(renderer.made) == 1  # new plates, the same venue depth
    venue = e.stats()["venue"]
    assert venue["known"] == 0.9 and venue["seconds"] is not None and venue["seconds"] >= 0
    e.stop()


def test_a_running_engine_builds_plates_on_its_own(tmp_path: Path) -> None:
    profile = parse_profile(profile_text(2, extra="[renderer]\nplates_every_s = 0.5\nplate_frames = 3\n"))
    renderer = PlateRenderer()
    e = Engine.from_profile(profile, clock=ManualClock(), storage_root=tmp_path / "store", renderer=renderer)
    record(e, BASE, BASE + 150)
    e.start(ticker=False, open_timeout=5.0)
    thread = e._plates_thread
    try:
        wait_until(lambda: e.plates_built >= 2, timeout=20.0)  # the first, then again every 0.5 s
        assert renderer.background is not None
    finally:
        e.stop()
    assert thread is not None and not thread.is_alive()  # stop() ended the plates thread
