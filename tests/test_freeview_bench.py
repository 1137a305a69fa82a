"""``fvreplay bench stages``: a depth frame's time and operations summed by the stages the renderer labels."""

from __future__ import annotations

import contextlib

import torch

from plugin.freeview import bench
from plugin.freeview.path import VirtualView
from plugin.freeview.render import DepthRenderer
from plugin.freeview.render.common import stage

#: The stages of a render with clean plates and the venue depth, in order (at 160 x 90 the sweep has two
#: levels: the full sweep at half size, then the whole picture, which with the venue depth is costed, not swept).
STAGES = [
    "load",
    "pyramid",
    "venue",
    "sweep",
    "sweep.level2",
    "sweep.level1",
    "sweep.finish",
    "masks",
    "players",
    "sample",
    "blend",
    "to_host",
]
TOP = [name for name in STAGES if "." not in name]


def test_stages_label_nothing_without_a_profiler() -> None:
    assert isinstance(stage("sweep"), contextlib.nullcontext)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof, stage("sweep"):
        torch.ones(3).add_(1)
    names = [e.name for e in prof.events()]
    assert "fvreplay.sweep" in names and "aten::add_" in names


def test_stages_account_for_every_operation_of_a_frame() -> None:
    w, h = 160, 90
    rig, images = bench._rig_and_images(w, h)
    view = VirtualView(2.5, rig.default_pivot)
    r = DepthRenderer(rig, device="cpu", quality="normal", near=5.0, far=90.0, sources=4)
    with torch.inference_mode():
        bench._with_venue(r, bench._plates(w, h))
        row = bench._profiled(r, view, images, (w, h), frames=2)
        dispatched = bench._operations(r, view, images, (w, h))
    stages = row["stages"]
    assert list(stages) == STAGES
    # Every operation is in a stage, each counted once at the top, as many as the dispatch counter sees.
    assert row["unlabelled_operations"] == 0
    assert sum(stages[name]["operations"] for name in TOP) == row["operations"] == dispatched
    # A stage includes its parts.
    parts = [name for name in STAGES if name.startswith("sweep.")]
    assert sum(stages[name]["operations"] for name in parts) <= stages["sweep"]["operations"]
    assert sum(stages[name]["host_ms"] for name in parts) <= stages["sweep"]["host_ms"]
    assert sum(stages[name]["host_ms"] for name in TOP) <= row["profiled_ms"]
    assert all(stages[name]["operations"] > 0 for name in STAGES if name != "venue")  # the venue's splat is memoised
    # No GPU here: no GPU time, no waits for it.
    assert row["gpu_busy_ms"] == 0 and row["gpu_waits"] == 0
    assert all(s["gpu_ms"] == 0 for s in stages.values())


def test_the_stages_bench_reports_a_row_per_size() -> None:
    out = bench.bench_stages({"device": "cpu", "sizes": [(160, 90)], "frames": 1, "seconds": 0.01})
    row = out["depth_normal_plates_160x90_4cams"]
    assert out["device"] == "cpu" and row["wall_ms"] > 0 and row["profiled_ms"] > 0
    assert list(row["stages"]) == STAGES
