"""Profile validation: shipped profiles load; each kind of mistake is reported with file, key path and reason."""

from __future__ import annotations

import subprocess
import sys

import pytest

from profiles import ProfileLoadError, load_profile, parse_profile, shipped_profiles
from profiles.schema import parse_size
from tests.conftest import MINIMAL_PROFILE


def problems(text: str) -> list[str]:
    with pytest.raises(ProfileLoadError) as info:
        parse_profile(text, "rig.toml")
    return info.value.problems


@pytest.mark.parametrize("name", sorted(shipped_profiles()))
def test_every_shipped_profile_is_valid(name: str) -> None:
    profile = load_profile(name)
    assert profile.cameras
    assert profile.source_path and profile.source_path.endswith(f"{name}.toml")


def test_demo_is_ten_sim_cameras_at_720p50() -> None:
    p = load_profile("demo")
    assert [c.source.split("://")[0] for c in p.cameras] == ["sim"] * 10
    assert (p.format.width, p.format.height, str(p.format.frame_rate)) == (1280, 720, "50")
    assert [c.name for c in p.channels] == ["PGM1"]


def test_minimal_profile_gets_defaults() -> None:
    p = parse_profile(MINIMAL_PROFILE)
    assert p.buffer.codec == "raw"
    assert p.renderer.device == "auto"
    assert p.control.rest.bind == "127.0.0.1:8080"
    assert p.control.rest.api_key_env == "FVR_API_KEY"


def test_unknown_scheme_names_file_key_and_known_schemes() -> None:
    text = MINIMAL_PROFILE.replace('source = "mem://cam02"', 'source = "ndix://cam02"')
    assert problems(text) == [
        "rig.toml: cameras[1].source: unknown scheme 'ndix' (known: sim, ndi, st2110, file, mem)"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('rate = "50"', 'rate = "fast"'), "rig.toml: format.rate: not a frame rate: 'fast'"),
        (("width = 64", "width = 63"), "rig.toml: format.width: width must be even"),
        (("width = 64", 'width = "wide"'), "rig.toml: format.width: Input should be a valid integer"),
        (('name = "minimal"', 'name = "minimal"\ncolour = "red"'), "rig.toml: colour: unknown key"),
        (('name = "cam02"', 'name = "cam01"'), "camera names must be unique; repeated: cam01"),
        (('name = "minimal"', 'name = "minimal"\nreference = "gps"'), "rig.toml: reference: reference 'gps' must be"),
        (('name = "minimal"', 'name = "minimal"\nreference = "input:cam09"'), "names no camera"),
        (('outputs = ["mem://PGM1"]', 'outputs = ["rtmp://x"]'), "rig.toml: channels[0].outputs: output 'rtmp://x'"),
        (("[[channels]]", "[buffer]\nmemory_limit = 'lots'\n[[channels]]"), "rig.toml: buffer.memory_limit: not a size"),
        (("[[channels]]", "[scene]\ndepth_near = 50\ndepth_far = 10\n[[channels]]"), "depth_far (10.0) must be greater"),
        (("[[channels]]", "[renderer]\nmode = 'nerf'\n[[channels]]"), "rig.toml: renderer.mode: Input should be 'cut'"),
    ],
)
def test_each_kind_of_mistake_is_explained(edit: tuple[str, str], expected: str) -> None:
    found = problems(MINIMAL_PROFILE.replace(*edit))
    assert any(expected in p for p in found), found


def test_invalid_toml_reports_line() -> None:
    (msg,) = problems("[format\nwidth=1")
    assert msg.startswith("rig.toml: not valid TOML") and "line 1" in msg


def test_calibration_inline_and_rig_forms() -> None:
    inline = MINIMAL_PROFILE.replace(
        'source = "mem://cam01"',
        'source = "mem://cam01"\ncalibration = { fx = 50, fy = 50, cx = 32, cy = 18, '
        "rotation = [[1,0,0],[0,1,0],[0,0,1]], translation = [0,0,5] }",
    )
    assert parse_profile(inline).cameras[0].calibration.fx == 50  # type: ignore[union-attr]
    rig = MINIMAL_PROFILE.replace('source = "mem://cam01"', 'source = "mem://cam01"\ncalibration = { rig = "colmap" }')
    assert parse_profile(rig).cameras[0].calibration.rig == "colmap"  # type: ignore[union-attr]
    missing = MINIMAL_PROFILE.replace('source = "mem://cam01"', 'source = "mem://cam01"\ncalibration = { fx = 50 }')
    assert "rig.toml: cameras[0].calibration.fy: required key is missing" in problems(missing)


def test_sizes() -> None:
    assert parse_size("16GB") == 16_000_000_000
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size(1234) == 1234
    with pytest.raises(ValueError, match="not a size"):
        parse_size("16 parsecs")


def test_profile_check_cli(write_profile) -> None:  # type: ignore[no-untyped-def]
    ok = subprocess.run([sys.executable, "-m", "plugin.cli", "profile", "check", "demo"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert 'source = "sim://arena/cam01"' in ok.stdout
    bad = write_profile(MINIMAL_PROFILE.replace("mem://cam02", "ndix://cam02"))
    res = subprocess.run([sys.executable, "-m", "plugin.cli", "profile", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "rig.toml: cameras[1].source: unknown scheme 'ndix'" in res.stderr


def test_unknown_profile_name_lists_shipped() -> None:
    with pytest.raises(ProfileLoadError, match="shipped: .*demo"):
        load_profile("no-such-show")
