"""NDI in and out on loopback: NdiSink → NdiSource pixels, timecode and metadata, tally, loss and return.

Everything stays on 127.0.0.1: tests/conftest.py configures the SDK (NDI_CONFIG_DIR) for loopback with no mDNS
advertising before the first NDI object exists. Pictures are 320×180 to keep the 2-core machines idle.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from io_adapters.ndi import NdiSink, NdiSource
from io_adapters.ndi.settings import SinkSettings, SourceSettings, is_address
from io_adapters.ndi.sink import frame_metadata
from plugin.errors import SinkError, SourceError
from plugin.frames import Frame, PixelFormat
from plugin.ports import AdapterContext, VideoFormat
from tests.conftest import wait_until
from timing import FrameRate, InternalClock, Ticker, slot_start_ns, tai_to_utc_ns, time_of_day_timecode

RATE = FrameRate.parse("50")
FMT = VideoFormat(320, 180, RATE)
CLOCK = InternalClock()


def picture(slot: int) -> Frame:
    """A test card that changes every frame: a horizontal ramp, a moving bar, a per-slot grey level."""
    rgb = np.zeros((FMT.height, FMT.width, 3), np.uint8)
    rgb[..., 0] = np.linspace(16, 235, FMT.width, dtype=np.uint8)[None, :]
    rgb[..., 1] = 40 + slot % 150
    x = (slot * 4) % (FMT.width - 32)
    rgb[40:140, x : x + 32, 2] = 220
    f = Frame.from_rgb(
        rgb,
        camera="PGM1",
        slot=slot,
        tai_ns=slot_start_ns(slot, RATE),
        pixel_format=PixelFormat.UYVY,
        timecode=time_of_day_timecode(slot, RATE),
    )
    f.meta.update(clip='114A/00 "B"', angle="cam03", speed=0.5, view_s=3.25)
    return f


class Feeder:
    """Sends test cards to a sink once per slot of the clock, as the engine's ticker would."""

    def __init__(self, sink: NdiSink) -> None:
        self.sink = sink
        self.sent: dict[int, Frame] = {}
        self._ticker = Ticker(CLOCK, RATE, self._tick, name="test-feeder")

    def _tick(self, slot: int) -> None:
        frame = picture(slot)
        self.sent[slot] = frame
        self.sink.send(frame)

    def __enter__(self) -> Feeder:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()


def make_sink(name: str, channel: str = "PGM1") -> NdiSink:
    sink = NdiSink(f"ndi://{name}?host=127.0.0.1", AdapterContext(channel, FMT, CLOCK))
    sink.configure(FMT)
    return sink


def make_source(url: str, fmt: VideoFormat = FMT) -> NdiSource:
    src = NdiSource(url, AdapterContext("cam01", fmt, CLOCK))
    src.open()
    return src


@pytest.fixture
def sink() -> Iterator[NdiSink]:
    s = make_sink(f"FVR TEST {os.getpid()}")
    yield s
    s.close()


def collect(src: NdiSource, count: int, timeout: float = 5.0) -> list[Frame]:
    got: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        f = src.read(0.1)
        if f is not None:
            got.append(f)
    return got


# --- settings (no SDK) ---------------------------------------------------------------------------------


def test_urls_tell_names_from_addresses() -> None:
    assert is_address("127.0.0.1:5961")
    assert is_address("cam3.venue.lan:5962")
    assert is_address("[::1]:5961")
    assert not is_address("FVR PGM1")
    assert not is_address("STUDIO-PC (CAM 03)")
    assert not is_address("10.0.0.5:99999")

    by_address = SourceSettings.from_url("ndi://10.0.0.5:5961?time=timecode&queue=4", "cam01")
    assert (by_address.url_address, by_address.ndi_name) == ("10.0.0.5:5961", None)
    assert (by_address.time_base, by_address.queue_frames) == ("timecode", 4)

    by_name = SourceSettings.from_url("ndi://STUDIO%20PC (CAM 03)?discovery=10.0.0.2", "cam03")
    assert (by_name.ndi_name, by_name.url_address, by_name.discovery) == ("STUDIO PC (CAM 03)", None, "10.0.0.2")

    from_profile = SourceSettings.from_url("ndi://CAM 3?color=fastest", "cam03", {"color": "best", "lost_after": 2})
    assert (from_profile.color, from_profile.lost_after_s) == ("fastest", 2.0)  # the URL wins over options


def test_bad_urls_say_what_is_wrong() -> None:
    with pytest.raises(SourceError, match=r"unknown option\(s\) colour .*known: discovery"):
        SourceSettings.from_url("ndi://CAM 1?colour=best", "cam01")
    with pytest.raises(SourceError, match="time='clock' is not one of timestamp, timecode, receive"):
        SourceSettings.from_url("ndi://CAM 1?time=clock", "cam01")
    with pytest.raises(SourceError, match="queue='0' must be at least 1"):
        SourceSettings.from_url("ndi://CAM 1?queue=0", "cam01")
    with pytest.raises(SourceError, match="name the sender"):
        SourceSettings.from_url("ndi://", "cam01")
    with pytest.raises(SinkError, match="NDI adds the host in parentheses itself"):
        SinkSettings.from_url("ndi://HOST (FVR PGM1)", "PGM1")
    with pytest.raises(SinkError, match="a sender is named, not addressed"):
        SinkSettings.from_url("ndi://127.0.0.1:5961", "PGM1")
    assert SinkSettings.from_url("ndi://", "PGM2").ndi_name == "FVR PGM2"


def test_frame_metadata_is_escaped_xml() -> None:
    f = picture(1234)
    xml = frame_metadata(f)
    assert xml.startswith('<fvr clip=\'114A/00 "B"\' angle="cam03" speed="0.5" view_s="3.25" tc="')
    assert xml.endswith(' slot="1234"/>')
    import xml.etree.ElementTree as ET

    attrs = ET.fromstring(xml).attrib
    assert attrs["clip"] == '114A/00 "B"' and attrs["tc"] == f.timecode


# --- over NDI on loopback ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_roundtrip_keeps_pixels_slots_timecode_and_metadata(sink: NdiSink) -> None:
    assert sink.describe() == f'NDI output PGM1: "{sink.full_name}" at {sink.address()}'
    assert sink.full_name.endswith(f"(FVR TEST {os.getpid()})")
    src = make_source(f"ndi://{sink.address()}?time=timecode&queue=64")
    try:
        with Feeder(sink) as feeder:
            got = collect(src, 25)
        assert len(got) == 25
        for frame in got:
            sent = feeder.sent[frame.slot]  # filed under exactly the slot it was sent for
            assert frame.pixel_format is PixelFormat.UYVY and frame.data.shape == (180, 320, 2)
            err = np.abs(frame.data.astype(int) - sent.data.astype(int))
            assert err.mean() < 2.0 and np.percentile(err, 99) < 16  # NDI's codec is visually lossless
            assert frame.meta["ndi_timecode"] == tai_to_utc_ns(sent.tai_ns) // 100
            assert frame.meta["ndi_metadata"] == frame_metadata(sent)
            assert frame.timecode == sent.timecode
        slots = [f.slot for f in got]
        assert slots == list(range(slots[0], slots[0] + len(slots)))
        st = src.state()
        assert st["state"] == "LIVE" and st["format"] == "320x180 uyvy 50" and st["format_ok"]
        assert st["frames"] >= 25 and st["dropped_queue"] == 0 and st["gaps"] == 0
        assert 'long_name="fvreplay' in src.connection_metadata
        assert sink.state()["connections"] == 1
    finally:
        src.close()


@pytest.mark.integration
def test_sixteen_bit_frames_when_asked_for_best(sink: NdiSink) -> None:
    src = make_source(f"ndi://{sink.address()}", VideoFormat(320, 180, RATE, PixelFormat.P216))
    try:
        with Feeder(sink) as feeder:
            got = collect(src, 3)
        assert got, "no frame arrived"
        frame = got[-1]
        assert frame.pixel_format is PixelFormat.P216
        assert frame.data.dtype == np.uint16 and frame.data.shape == (360, 320)
        sent = feeder.sent[frame.slot].data
        luma = frame.data[:180] >> 8  # 8-bit sources arrive left-aligned in 16 bits
        assert np.abs(luma.astype(int) - sent[..., 1]).mean() < 2.0
        chroma = frame.data[180:] >> 8  # the interleaved CbCr plane, UYVY's even bytes
        assert np.abs(chroma.astype(int) - sent[..., 0]).mean() < 2.0
    finally:
        src.close()


@pytest.mark.integration
def test_tally_from_a_receiver_reaches_the_output(sink: NdiSink) -> None:
    src = make_source(f"ndi://{sink.address()}")
    try:
        with Feeder(sink):
            assert collect(src, 1)
            assert sink.state()["tally_program"] is False
            src.set_tally(True, False)
            wait_until(lambda: sink.state()["tally_program"])
            assert sink.state()["tally_preview"] is False
            src.set_tally(False, True)
            wait_until(lambda: sink.state()["tally_preview"] and not sink.state()["tally_program"])
    finally:
        src.close()
    # The receiver gone, nothing is on air any more.
    wait_until(lambda: not sink.state()["tally_preview"])


@pytest.mark.integration
def test_a_sender_that_goes_is_lost_and_reingested_when_it_returns() -> None:
    name = f"FVR RETURN {os.getpid()}"
    first = make_sink(name)
    address = first.address()
    src = make_source(f"ndi://{address}?lost_after=0.3&queue=64")
    try:
        with Feeder(first):
            assert collect(src, 5)
        first.close()
        wait_until(lambda: src.state()["state"] == "LOST")
        assert src.state()["lost"] == 1
        # The port is free only once no socket holds it any more, a moment after close() returns (a second
        # sender made before then took the next port in 2 of 4 fresh-clone runs): wait, as a restart would.
        port = int(address.rsplit(":", 1)[1])
        wait_until(lambda: _sockets(port) == 0, "the first sender's port to be released")
        second = make_sink(name)
        try:
            if second.address() != address and _discovery_listeners() > 1:
                pytest.skip("another NDI program on this machine took the freed port")
            assert second.address() == address  # the freed port is the first free one again
            with Feeder(second) as feeder:
                wait_until(lambda: src.state()["state"] == "LIVE", timeout=10.0)
                fresh = collect(src, 50)
            assert any(f.slot in feeder.sent for f in fresh)
            assert src.state()["reconnects"] == 1
        finally:
            second.close()
    finally:
        src.close()


@pytest.mark.integration
def test_each_sender_is_found_at_the_address_it_reports() -> None:
    sinks = [make_sink(f"FVR ORDER {os.getpid()} {i}", channel=f"ORD{i}") for i in range(3)]
    try:
        ports = [int(s.address().rsplit(":", 1)[1]) for s in sinks]
        assert len(set(ports)) == 3 and min(ports) > 5960
        if _discovery_listeners() == 1:  # alone on the machine: the first free port, in creation order
            assert ports == sorted(ports)
        for i in (0, 2):
            src = make_source(f"ndi://{sinks[i].address()}")
            try:
                with Feeder(sinks[i]):
                    assert collect(src, 1)
                # The connection metadata names the channel: this address is that sender's.
                wait_until(lambda: f'session_name="ORD{i}"' in src.connection_metadata)  # noqa: B023
            finally:
                src.close()
    finally:
        for s in sinks:
            s.close()


def test_use_loopback_keeps_a_configuration_already_set_unless_told_to_replace_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io_adapters.ndi.config import read_config, use_loopback

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its folders go under tmp_path
    monkeypatch.delenv("NDI_CONFIG_DIR", raising=False)  # restored after the test
    first = use_loopback("fvr-test-")
    assert first.parent == tmp_path and first.name.startswith("fvr-test-")
    assert os.environ["NDI_CONFIG_DIR"] == str(first)
    assert read_config()["ndi"]["adapters"]["allowed"] == "127.0.0.1"
    assert use_loopback("fvr-other-") == first  # already set: kept
    replaced = use_loopback("fvr-other-", replace=True)
    assert replaced != first and os.environ["NDI_CONFIG_DIR"] == str(replaced)


def test_a_broken_sdk_configuration_is_a_source_error_on_the_source_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The capture loop and the engine catch SourceError/SinkError only: a plain AdapterError from a broken
    # ndi-config.v1.json would kill the capture thread instead of showing the camera LOST with the reason.
    from io_adapters.ndi import _sdk

    (tmp_path / "ndi-config.v1.json").write_text("{not json")
    monkeypatch.setenv("NDI_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(_sdk, "_started", False)  # as in a process that has not started NDI yet
    src = NdiSource("ndi://127.0.0.1:5999", AdapterContext("cam01", FMT, CLOCK))
    with pytest.raises(SourceError, match="ndi-config.v1.json: not valid JSON"):
        src.open()  # fails before the runtime or a receiver thread starts
    assert not [t for t in threading.enumerate() if t.name == "ndi-rx-cam01"]
    with pytest.raises(SinkError, match="ndi-config.v1.json: not valid JSON"):
        _sdk.local_host()  # an output asking where receivers reach it


@pytest.mark.integration
def test_a_source_that_never_appears_stays_connecting_and_closes_cleanly() -> None:
    src = make_source("ndi://127.0.0.1:5999?lost_after=0.1")
    try:
        assert src.read(0.3) is None
        assert src.state()["state"] == "CONNECTING" and src.state()["frames"] == 0
    finally:
        started = time.monotonic()
        src.close()
    assert time.monotonic() - started < 2.0
    assert not [t for t in threading.enumerate() if t.name == "ndi-rx-cam01"]


def test_names_match_with_or_without_the_host() -> None:
    from io_adapters.ndi._sdk import name_matches

    assert name_matches("STUDIO (FVR PGM1)", "FVR PGM1")
    assert name_matches("STUDIO (FVR PGM1)", "STUDIO (FVR PGM1)")
    assert not name_matches("STUDIO (FVR PGM10)", "FVR PGM1")
    assert not name_matches("STUDIO (FVR PGM1)", "OTHER (FVR PGM1)")


def _sockets(port: int, state: str | None = None) -> int:
    """TCP sockets on this machine whose local port is ``port`` (only those in ``state``, e.g. "0A" listening)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            rows = [line.split() for line in fh]
        count += sum(1 for f in rows[1:] if f[1].endswith(f":{port:04X}") and state in (None, f[3]))
    return count


def _discovery_listeners() -> int:
    """Processes listening on NDI's port 5960 (each NDI program has one; the kernel shares it out)."""
    return _sockets(5960, "0A")


@pytest.mark.integration
def test_a_source_named_without_its_host_is_found_by_asking_the_machine(sink: NdiSink) -> None:
    # Without mDNS, "ips=127.0.0.1" asks this machine's NDI port 5960 for its sources. When another
    # NDI program runs here too, the kernel may hand the question to that program's listener instead.
    if _discovery_listeners() > 1:
        pytest.skip("another NDI program on this machine shares port 5960")
    src = make_source(f"ndi://FVR TEST {os.getpid()}?ips=127.0.0.1")
    try:
        with Feeder(sink):
            assert collect(src, 3)
        assert src.state()["source"] == sink.full_name
    finally:
        src.close()
