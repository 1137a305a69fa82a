"""``fvreplay run`` end to end: a small sim rig, a mem output, stats written at exit, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROFILE = """
name = "tiny sim"
[format]
width = 160
height = 90
rate = "25"
[buffer]
seconds = 2
[storage]
root = "{root}"
[control.rest]
enabled = false
[[channels]]
name = "PGM1"
outputs = ["mem://PGM1"]
[[cameras]]
name = "cam01"
source = "sim://arena/cam01?loop=0.4"
[[cameras]]
name = "cam02"
source = "sim://arena/cam02?loop=0.4"
"""


def test_run_writes_stats_and_ingests_every_camera(tmp_path: Path) -> None:
    profile = tmp_path / "tiny.toml"
    profile.write_text(PROFILE.format(root=tmp_path / "store"))
    stats = tmp_path / "s.json"
    res = subprocess.run(
        [sys.executable, "-m", "plugin.cli", "run", "--profile", str(profile), "--duration", "2", "--stats-json", str(stats)],
        capture_output=True, text=True, timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "output PGM1 → mem://PGM1" in res.stdout
    assert "serving; Ctrl-C to stop" in res.stdout
    data = json.loads(stats.read_text())
    assert data["rate"] == "25"
    assert set(data["cameras"]) == {"cam01", "cam02"}
    assert all(cam["frames_in"] > 0 for cam in data["cameras"].values())
    pgm = data["channels"]["PGM1"]
    assert pgm["frames_out"] > 0
    assert pgm["frames_out"] == data["ticker"]["ticks"]  # exactly one frame per tick


def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    profile = tmp_path / "tiny.toml"
    profile.write_text(PROFILE.format(root=tmp_path / "store"))
    stats = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", "run", "--profile", str(profile), "--stats-json", str(stats)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 200
    serving = False
    for line in proc.stdout:
        if "serving" in line:
            serving = True
            break
        if time.monotonic() > deadline:
            break
    assert serving, "never printed 'serving'"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no stop within 60 s of SIGTERM; its threads (dumped after 20 s) and log:\n{err[-8000:]}")
    assert proc.returncode == 0, err[-2000:]
    assert "stopped: PGM1:" in out
    data = json.loads(stats.read_text())
    assert data["channels"]["PGM1"]["frames_out"] > 0
    assert data["channels"]["PGM1"]["frames_out"] == data["ticker"]["ticks"]


def test_run_refuses_a_broken_profile(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(PROFILE.format(root=tmp_path).replace("sim://arena/cam02", "ndix://cam02"))
    res = subprocess.run([sys.executable, "-m", "plugin.cli", "run", "--profile", str(profile)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "bad.toml: cameras[1].source: unknown scheme 'ndix'" in res.stderr
