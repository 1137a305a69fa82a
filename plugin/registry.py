"""Adapters and control surfaces found through entry points, chosen by URL scheme or surface name."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from plugin.errors import PluginError

GROUPS = {"sources": "fvreplay.sources", "sinks": "fvreplay.sinks", "controls": "fvreplay.controls"}


@dataclass(frozen=True)
class PluginInfo:
    """One entry point: where it points, and whether it loads."""

    group: str
    name: str
    target: str
    loaded: bool
    error: str = ""


def _entry_points(group: str) -> dict[str, EntryPoint]:
    if group not in GROUPS:
        raise PluginError(f"unknown plugin group {group!r} (groups: {', '.join(GROUPS)})")
    return {ep.name: ep for ep in entry_points(group=GROUPS[group])}


def names(group: str) -> list[str]:
    """Names registered in a group (URL schemes for sources and sinks), without loading them."""
    return sorted(_entry_points(group))


def load(group: str, name: str) -> Any:
    """Load the class registered as ``name`` in ``group``; a PluginError says what exists or why not."""
    eps = _entry_points(group)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"no {group[:-1]} adapter for '{name}' (installed: {known})")
    try:
        return eps[name].load()
    except Exception as exc:  # an adapter's import can fail in any way (missing SDK, bad wheel)
        raise PluginError(f"{group[:-1]} '{name}' ({eps[name].value}) failed to load: {exc!r}") from exc


def scheme_of(url: str) -> str:
    if "://" not in url:
        raise PluginError(f"{url!r} is not a URL (write scheme://…, e.g. sim://arena/cam01)")
    return url.split("://", 1)[0].lower()


def build_source(url: str, ctx: Any) -> Any:
    """Build the source adapter for a camera URL."""
    return load("sources", scheme_of(url))(url, ctx)


def build_sink(url: str, ctx: Any) -> Any:
    """Build the sink adapter for an output URL."""
    return load("sinks", scheme_of(url))(url, ctx)


def report() -> list[PluginInfo]:
    """Every registered plugin, loaded once to tell whether it works."""
    out = []
    for group in GROUPS:
        for name, ep in sorted(_entry_points(group).items()):
            try:
                ep.load()
                out.append(PluginInfo(group, name, ep.value, True))
            except Exception as exc:  # reported to the user, not swallowed
                out.append(PluginInfo(group, name, ep.value, False, f"{type(exc).__name__}: {exc}"))
    return out
