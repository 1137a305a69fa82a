"""The REST benchmark runs end to end and reports what it promises (its numbers are not judged here)."""

from __future__ import annotations

from control.rest.bench import bench


def test_rest_bench_reports_latency_and_repeats() -> None:
    out = bench({"seconds": 1.0, "rate": 40, "cameras": 2, "width": 64, "height": 36, "warmup": 1.0})
    assert out["requests"]["sent"] == 40
    assert out["requests"]["statuses"] == {"200": 40} and out["requests"]["ok"] == 40
    assert set(out["latency_by_kind"]) == {"get_status", "get_channels", "patch_speed"}
    assert all(row["count"] > 0 for row in out["latency_by_kind"].values())
    assert {"p50_ms", "p99_ms"} <= set(out["latency_all"])
    assert out["output"]["frames_out"] > 0
    assert isinstance(out["output"]["repeated"], int)
    assert out["output"]["channel_state_after"] == "PLAYING"
