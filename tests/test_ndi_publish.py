"""The sim rig as NDI: command-line options, the ingest profile it writes, and profiles/demo-ndi.toml."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from io_adapters.ndi.publish import (
    FIRST_PORT,
    add_ndi_args,
    demo_ndi_text,
    ingest_profile_text,
    publish_sim,
)
from profiles import load_profile, parse_profile

ROOT = Path(__file__).parent.parent


def test_sim_command_line_options() -> None:
    parser = argparse.ArgumentParser()
    add_ndi_args(parser)
    args = parser.parse_args(["--ndi", "--ndi-loopback", "--ports-file", "p.json", "--write-profile", "rig.toml"])
    assert args.ndi and args.ndi_loopback and args.ndi_prefix == "FVR SIM"
    assert args.ports_file == Path("p.json") and args.write_profile == Path("rig.toml")
    assert parser.parse_args([]).ndi is False


def test_demo_ndi_profile_is_the_demo_rig_over_ndi() -> None:
    shipped = (ROOT / "profiles" / "demo-ndi.toml").read_text()
    assert shipped == demo_ndi_text(), "regenerate: python -m io_adapters.ndi.publish > profiles/demo-ndi.toml"
    demo, ndi = load_profile("demo"), load_profile("demo-ndi")
    assert [c.name for c in ndi.cameras] == [c.name for c in demo.cameras]
    assert [c.source for c in ndi.cameras] == [f"ndi://127.0.0.1:{FIRST_PORT + i}?time=timecode" for i in range(10)]
    assert all(c.calibration is not None for c in ndi.cameras)  # the renderers need it; sim cameras knew theirs
    assert (ndi.format, ndi.buffer, ndi.renderer) == (demo.format, demo.buffer, demo.renderer)
    assert ndi.channels[0].outputs == ["ndi://FVR PGM1"]


def test_ingest_profile_keeps_calibration_given_in_the_profile(write_profile) -> None:  # type: ignore[no-untyped-def]
    rig = load_profile(
        write_profile(
            'name = "two"\n[format]\nwidth = 640\nheight = 360\nrate = "59.94"\n'
            '[[cameras]]\nname = "a"\nsource = "mem://a"\n'
            "calibration = { fx = 500.0, fy = 500.0, cx = 320.0, cy = 180.0, "
            "rotation = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], translation = [0.0, 0.0, 5.0] }\n"
            '[[cameras]]\nname = "b"\nsource = "mem://b"\n'
        )
    )
    text = ingest_profile_text(rig, {"a": "10.0.0.5:5961", "b": "10.0.0.6:5961"}, time_base="timestamp")
    out = parse_profile(text, "out.toml")
    assert out.format.rate == "59.94" and out.name == "two over NDI"
    assert [c.source for c in out.cameras] == ["ndi://10.0.0.5:5961?time=timestamp", "ndi://10.0.0.6:5961?time=timestamp"]
    assert out.cameras[0].calibration == rig.cameras[0].calibration
    assert out.cameras[1].calibration is None


@pytest.mark.integration
def test_publish_sim_prints_addresses_and_writes_them(tmp_path: Path) -> None:
    profile = parse_profile(
        'name = "sim2"\n[format]\nwidth = 320\nheight = 180\nrate = "50"\n'
        '[[cameras]]\nname = "cam01"\nsource = "sim://arena/cam01?loop=0.04"\n'
        '[[cameras]]\nname = "cam02"\nsource = "sim://arena/cam02?loop=0.04"\n',
        "sim2.toml",
    )
    lines: list[str] = []
    ports, rig = tmp_path / "ports.json", tmp_path / "rig.toml"
    publish_sim(
        profile, prefix=f"FVR SIMTEST {os.getpid()}", host="127.0.0.1", ports_file=ports, write_profile=rig,
        duration=0.5, out=lines.append,
    )
    assert lines[0].startswith('NDI output cam01: "') and f"(FVR SIMTEST {os.getpid()} cam01)" in lines[0]
    written = json.loads(ports.read_text())
    assert list(written) == ["cam01", "cam02"] and all(v.startswith("ndi://127.0.0.1:") for v in written.values())
    ingest = load_profile(rig)
    assert [c.source.split("?")[0] for c in ingest.cameras] == list(written.values())
    assert ingest.cameras[0].calibration is not None
