"""``sim://`` cameras: one frame per slot per camera, stamped right, played from a loop built once."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from io_adapters.sim import cache as sim_cache
from io_adapters.sim.cache import LoopSpec, ensure_loop
from io_adapters.sim.source import SimSource
from io_adapters.sim.venue import parse_sim_url, venue_cameras
from plugin.errors import SourceError
from plugin.frames import PixelFormat
from plugin.ports import AdapterContext, Source, VideoFormat
from timing import FrameRate, ManualClock, slot_start_ns, time_of_day_timecode

RATE = FrameRate.parse("25")
FMT = VideoFormat(64, 36, RATE)
URL = "sim://arena/{cam}?loop=0.2&seed=5"  # 5 frames at 25p


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _small_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FVR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every cache build (so tests can check there was exactly one)."""
    calls: list[str] = []
    real = sim_cache._build

    def counting(spec: LoopSpec, folder: Path, **kw: object) -> None:
        calls.append(str(folder))
        real(spec, folder, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sim_cache, "_build", counting)
    return calls


def _sources(clock: ManualClock, cams: tuple[str, ...] = ("cam01", "cam04", "cam10"), fmt: VideoFormat = FMT):
    return [SimSource(URL.format(cam=c), AdapterContext(c, fmt, clock)) for c in cams]


def test_one_frame_per_slot_per_camera(builds: list[str]) -> None:
    clock = ManualClock(slot_start_ns(90_000, RATE) + 1234)
    sources = _sources(clock)
    assert all(isinstance(s, Source) and s.has_clock for s in sources)
    for s in sources:
        s.open()
    assert len(builds) == 1  # one builder for the whole rig
    seen: dict[str, list[int]] = {s.camera: [] for s in sources}
    for _ in range(12):
        slots = set()
        for s in sources:
            f = s.read(timeout=1.0)
            assert f is not None
            assert f.camera == s.camera and f.pixel_format is PixelFormat.UYVY and f.data.shape == (36, 64, 2)
            assert f.tai_ns == slot_start_ns(f.slot, RATE) == clock.now_ns()
            assert f.timecode == time_of_day_timecode(f.slot, RATE)
            assert f.meta["loop_frame"] == f.slot % 5
            seen[s.camera].append(f.slot)
            slots.add(f.slot)
        assert len(slots) == 1  # every camera delivers the same instant
    for slots in seen.values():
        assert slots == list(range(90_001, 90_013))
    assert all(s.state()["dropped"] == 0 and s.state()["delivered"] == 12 for s in sources)


def test_frames_repeat_with_the_loop_and_cameras_differ() -> None:
    clock = ManualClock(slot_start_ns(500, RATE))
    a, b = _sources(clock, ("cam02", "cam09"))
    a.open()
    b.open()
    frames_a = [a.read(1.0) for _ in range(11)]
    frames_b = [b.read(1.0) for _ in range(11)]
    assert frames_a[0] is not None and frames_a[0].slot == 500  # at a boundary: that slot
    data = [f.data for f in frames_a if f is not None]
    assert np.array_equal(data[0], data[5]) and np.array_equal(data[3], data[8])
    assert not np.array_equal(data[0], data[1])  # the players move from frame to frame
    assert frames_b[0] is not None and not np.array_equal(data[0], frames_b[0].data)


def test_cache_is_built_once_across_threads_and_reopened(builds: list[str]) -> None:
    clock = ManualClock(slot_start_ns(10, RATE))
    sources = _sources(clock, ("cam01", "cam02", "cam03", "cam04"))
    threads = [threading.Thread(target=s.open) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    again = _sources(clock, ("cam05",))[0]
    again.open()
    assert len(builds) == 1
    assert Path(again.state()["cache"], "meta.json").is_file()


def test_late_reader_drops_and_timeout_returns_none() -> None:
    clock = ManualClock(slot_start_ns(100, RATE))
    (s,) = _sources(clock, ("cam03",))
    s.open()
    assert s.read(1.0).slot == 100  # type: ignore[union-attr]
    clock.advance(int(3.5 * 40_000_000))  # the reader sleeps through three and a half frames
    f = s.read(1.0)
    assert f is not None and f.slot == 103 and s.state()["dropped"] == 2
    before = clock.now_ns()
    assert s.read(timeout=0.001) is None  # the next slot is 40 ms away
    assert clock.now_ns() == before + 1_000_000
    assert s.read(1.0).slot == 104  # type: ignore[union-attr]


def test_noise_changes_the_reported_calibration_only() -> None:
    clock = ManualClock(slot_start_ns(0, RATE))
    exact = SimSource("sim://arena/cam06?loop=0.2&seed=5", AdapterContext("cam06", FMT, clock))
    noisy = SimSource("sim://arena/cam06?loop=0.2&seed=5&noise=1", AdapterContext("cam06", FMT, clock))
    truth = venue_cameras("arena", 64, 36)[5]
    assert np.allclose(exact.calibration.R, truth.R) and np.allclose(exact.calibration.t, truth.t)
    assert not np.allclose(noisy.calibration.t, truth.t)
    exact.open()
    noisy.open()
    assert np.array_equal(exact.read(1.0).data, noisy.read(1.0).data)  # type: ignore[union-attr]


def test_rgb_house_format() -> None:
    fmt = VideoFormat(64, 36, RATE, PixelFormat.RGB)
    (s,) = _sources(ManualClock(slot_start_ns(7, RATE)), ("cam01",), fmt)
    s.open()
    f = s.read(1.0)
    assert f is not None and f.pixel_format is PixelFormat.RGB and f.data.shape == (36, 64, 3)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sim://arena", "sim://<venue>/<camera>"),
        ("sim://stadium/cam01", "unknown venue"),
        ("sim://arena/cam11", "cam10"),
        ("sim://arena/cam01?looop=2", "unknown option"),
        ("sim://arena/cam01?loop=abc", "could not convert"),
        ("sim://arena/cam01?mode=fast", "mode"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        parse_sim_url(url)


def test_loop_spec_rounds_to_whole_frames() -> None:
    spec = LoopSpec("arena", 64, 36, FrameRate.parse("59.94"), loop=3.0)
    assert spec.frames == 180
    assert spec.scene_time(180) == spec.scene_time(0) == 0.0
    assert abs(spec.loop_seconds - 180 * 1001 / 60000) < 1e-12
    folder = ensure_loop(LoopSpec("arena", 64, 36, RATE, seed=5, loop=0.2)).folder
    assert folder.name.startswith("arena-64x36-25p-")


def test_live_mode_renders_the_same_pictures_as_the_cache() -> None:
    clock = ManualClock(slot_start_ns(42, RATE))
    cached = SimSource("sim://arena/cam07?loop=0.2&seed=5&mode=cache", AdapterContext("cam07", FMT, clock))
    live = SimSource("sim://arena/cam07?loop=0.2&seed=5&mode=live", AdapterContext("cam07", FMT, clock))
    cached.open()
    live.open()
    assert live.state()["mode"] == "live" and cached.state()["mode"] == "cache"
    for _ in range(3):
        a, b = cached.read(1.0), live.read(1.0)
        assert a is not None and b is not None and a.slot == b.slot
        assert np.array_equal(a.data, b.data)


def test_a_build_in_another_process_is_waited_for_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import subprocess
    import sys

    spec = LoopSpec("arena", 64, 36, RATE, seed=9, loop=0.2)
    folder = spec.folder()
    folder.mkdir(parents=True)
    other = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, json, sys, time\n"
            f"fh = open({str(folder / '.lock')!r}, 'a+')\n"
            "fcntl.flock(fh.fileno(), fcntl.LOCK_EX)\n"
            "print('building', flush=True)\n"
            "time.sleep(0.5)\n"
            f"open({str(folder / 'meta.json')!r}, 'w').write(json.dumps({{'frames': 5, 'by': 'other'}}))\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )
    assert other.stdout is not None and other.stdout.readline().strip() == "building"

    def no_second_build(*args: object, **kw: object) -> None:
        raise AssertionError("rendered a loop another process was building")

    monkeypatch.setattr(sim_cache, "_build", no_second_build)
    got = ensure_loop(spec)  # blocks on the other process's lock, then finds its finished build
    assert got.meta == {"frames": 5, "by": "other"}
    assert other.wait(timeout=10) == 0
    assert json.loads((folder / "meta.json").read_text())["by"] == "other"
