"""``/metrics``: Prometheus text, read from the engine (channel status, state map, engine.metrics) at scrape time.

Nothing is counted twice: the engine owns its counters; this collector only translates them when scraped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from control.rest.deps import EngineAPI
from timing import percentile

#: State-map fields (``cameras.<name>.<field>``) that only ever grow: exported as counters.
COUNTER_FIELDS = frozenset({
    "frames", "frames_in", "frames_out", "gaps", "dropped", "late", "repeated", "duplicates", "errors", "reconnects",
    "missing", "overruns", "underruns",
})
#: String fields exported as a one-hot gauge (``fvreplay_reference_state{state="LOCKED"} 1``).
ENUM_FIELDS = frozenset({"state", "status", "tally", "mode", "source"})

_NAME_SAFE = re.compile(r"[^a-zA-Z0-9_]")


def _metric_name(*parts: str) -> str:
    return "_".join(_NAME_SAFE.sub("_", p) for p in parts if p).lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


class EngineCollector(Collector):
    """A custom collector: every scrape reads the engine once; nothing is registered per channel or camera."""

    def __init__(self, engine: EngineAPI, extra: Mapping[str, Any] | None = None) -> None:
        self.engine = engine
        self.extra = extra if extra is not None else {}

    def collect(self) -> Iterable[Metric]:
        yield from self._channels()
        snapshot = self.engine.state.snapshot()
        yield from self._state_map(snapshot)
        yield from self._engine_metrics(getattr(self.engine, "metrics", None) or {})
        yield from self._rest()

    # --- channels: frames out, repeats, late renders, speed, state ---------------------------------------------

    def _channels(self) -> Iterator[Metric]:
        frames = CounterMetricFamily("fvreplay_channel_frames_out", "Frames a channel sent to its outputs",
                                     labels=["channel"])
        repeated = CounterMetricFamily("fvreplay_channel_repeated_frames",
                                       "Frames repeated because a render missed its deadline", labels=["channel"])
        late = CounterMetricFamily("fvreplay_channel_late_renders", "Renders that finished after their deadline",
                                   labels=["channel"])
        speed = GaugeMetricFamily("fvreplay_channel_speed", "Signed play speed (1 = 100 %)", labels=["channel"])
        state = GaugeMetricFamily("fvreplay_channel_state", "Transport state (1 for the current one)",
                                  labels=["channel", "state"])
        tally = GaugeMetricFamily("fvreplay_channel_tally", "1 while on air (program) or on preview",
                                  labels=["channel", "tally"])
        for name in self.engine.channel_names:
            st = self.engine.channel_status(name)
            frames.add_metric([name], float(st.frames_out))
            repeated.add_metric([name], float(st.repeated))
            late.add_metric([name], float(st.late))
            speed.add_metric([name], float(st.speed))
            for s in ("LIVE", "CUED", "PLAYING"):
                state.add_metric([name, s], 1.0 if st.state == s else 0.0)
            for t in ("program", "preview"):
                tally.add_metric([name, t], 1.0 if st.tally == t else 0.0)
        yield from (frames, repeated, late, speed, state, tally)

    # --- the state map: cameras.<name>.<field>, reference.<field>, anything else numeric --------------------------

    def _state_map(self, snapshot: Mapping[str, Any]) -> Iterator[Metric]:
        families: dict[str, Metric] = {}

        def family(name: str, doc: str, labels: list[str], counter: bool) -> Metric:
            if name not in families:
                cls = CounterMetricFamily if counter else GaugeMetricFamily
                families[name] = cls(name, doc, labels=labels)
            return families[name]

        for key, value in snapshot.items():
            parts = key.split(".")
            if parts[0] == "channels":
                continue  # exported above from channel_status, with stable names
            if parts[0] == "cameras" and len(parts) >= 3:
                group, labels, label_values, fields = "camera", ["camera"], [parts[1]], parts[2:]
            else:
                group, labels, label_values, fields = parts[0], [], [], parts[1:]
            field = "_".join(fields)
            number = _number(value)
            if number is not None:
                counter = fields[-1] in COUNTER_FIELDS if fields else False
                name = _metric_name("fvreplay", group, field)
                fam = family(name, f"state map {parts[0]}.*.{'.'.join(fields)}", labels, counter)
                fam.add_metric(label_values, number)  # type: ignore[attr-defined]
            elif isinstance(value, str) and fields and fields[-1] in ENUM_FIELDS:
                name = _metric_name("fvreplay", group, field)
                fam = family(name, f"state map {parts[0]}.*.{'.'.join(fields)} (1 for the current value)",
                             [*labels, fields[-1]], False)
                fam.add_metric([*label_values, value], 1.0)  # type: ignore[attr-defined]
        yield from families.values()

    # --- engine.metrics: commands by name, refusals, command latency; the ticker ---------------------------------

    def _engine_metrics(self, metrics: Mapping[str, Any]) -> Iterator[Metric]:
        commands = CounterMetricFamily("fvreplay_commands", "Commands applied (and superseded) by verb",
                                       labels=["command"])
        for verb, count in dict(metrics.get("commands", {})).items():
            commands.add_metric([str(verb)], float(count))
        yield commands
        refused = _number(metrics.get("refused"))
        if refused is not None:
            yield CounterMetricFamily("fvreplay_commands_refused", "Commands the engine refused", value=refused)
        latencies = sorted(float(v) for v in list(metrics.get("command_latency_s", [])))
        yield self._quantiles(
            "fvreplay_command_latency_seconds",
            "Submit-to-apply latency of the most recent commands (up to 1000), by quantile",
            latencies,
        )
        overhead = sorted(v / 1e9 for v in list(getattr(self.engine, "tick_overhead_ns", [])))
        yield self._quantiles(
            "fvreplay_tick_duration_seconds", "Time one engine tick took (most recent ticks), by quantile", overhead
        )
        stats_of = getattr(self.engine, "ticker_stats", None)
        ticker = stats_of() if callable(stats_of) else {}
        for key, doc in (("ticks", "Genlock ticks fired"), ("missed", "Genlock ticks missed (late wake-ups)"),
                         ("callback_errors", "Ticks whose engine step raised")):
            value = _number(ticker.get(key))
            if value is not None:
                yield CounterMetricFamily(f"fvreplay_ticker_{key}", doc, value=value)
        for key in ("jitter_p50_us", "jitter_p99_us", "jitter_max_us"):
            value = _number(ticker.get(key))
            if value is not None:
                yield GaugeMetricFamily(f"fvreplay_ticker_{key[:-3]}_seconds", f"Ticker wake-up {key[7:-3]} jitter",
                                        value=value / 1e6)

    @staticmethod
    def _quantiles(name: str, doc: str, ordered: list[float]) -> Metric:
        fam = GaugeMetricFamily(name, doc, labels=["quantile"])
        if ordered:
            for pct in (50, 90, 99, 100):
                fam.add_metric([f"{pct / 100:g}"], percentile(ordered, pct))
        return fam

    # --- the REST surface itself ----------------------------------------------------------------------------------

    def _rest(self) -> Iterator[Metric]:
        clients = self.extra.get("websocket_clients")
        if callable(clients):
            yield GaugeMetricFamily("fvreplay_rest_websocket_clients", "WebSocket /events clients connected",
                                    value=float(clients()))


def make_registry(engine: EngineAPI, extra: Mapping[str, Any] | None = None) -> CollectorRegistry:
    """A registry of its own per app (so two apps in one process do not collide)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine, extra))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return bytes(generate_latest(registry))
