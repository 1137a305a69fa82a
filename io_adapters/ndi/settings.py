"""What an ``ndi://`` URL and a profile's adapter options ask for, parsed once into frozen settings.

Sources::

    ndi://<NDI name>[?discovery=HOST[:PORT]&ips=IP,IP&color=…&time=…&queue=N&lost_after=S]
    ndi://<host>:<port>[?…]                 connect by address (networks without discovery)

Sinks::

    ndi://FVR PGM1[?groups=…&host=ADVERTISED_HOST&tc=tai|label]

Query keys may also come from the adapter's profile options (``AdapterContext.options``); the URL
wins. Unknown keys are errors, so a typo never silently changes what an adapter does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote

from plugin.errors import AdapterError, SinkError, SourceError

#: The port every NDI program listens on for "external source" queries; its senders take the ports
#: after it, the first free one each (5961, 5962 …): the SDK cannot be told which.
DISCOVERY_SERVICE_PORT = 5960
#: How a receiver asks the SDK to decode: "auto" follows the house pixel format.
COLORS = ("auto", "fastest", "best", "uyvy", "bgrx")
#: Which of a frame's times files it under a slot.
TIME_BASES = ("timestamp", "timecode", "receive")
#: How a sender fills each frame's NDI timecode.
TIMECODE_MODES = ("tai", "label")

# host:port with a hostname or IPv4 address, or [IPv6]:port. NDI names ("HOST (CAM 1)", "FVR PGM1")
# contain spaces or parentheses, so the two never look alike.
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*):(\d{1,5})$")


def _fail(error: type[AdapterError], url: str, message: str) -> NoReturn:
    raise error(f"{url}: {message}")


def _split(url: str, error: type[AdapterError]) -> tuple[str, dict[str, str]]:
    """The name or address part of an ``ndi://`` URL and its query, percent-decoded."""
    if not url.lower().startswith("ndi://"):
        _fail(error, url, "not an ndi:// URL (write ndi://<NDI name> or ndi://<host>:<port>)")
    # urlsplit would treat '#' and '?' specially; NDI names may hold neither, so split by hand on '?'.
    rest = url[len("ndi://") :]
    target, _, query = rest.partition("?")
    target = unquote(target).strip().rstrip("/")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise error(f"{url}: malformed query {query!r} (write ?key=value&key=value)") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            _fail(error, url, f"query key {key!r} given twice")
        params[key] = value
    return target, params


def _merged(
    url: str, params: dict[str, str], options: Mapping[str, Any], known: tuple[str, ...], error: type[AdapterError]
) -> dict[str, str]:
    merged = {str(k): str(v) for k, v in options.items()}
    merged.update(params)
    unknown = sorted(set(merged) - set(known))
    if unknown:
        _fail(error, url, f"unknown option(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return merged


def _choice(url: str, key: str, value: str, allowed: tuple[str, ...], error: type[AdapterError]) -> str:
    v = value.strip().lower()
    if v not in allowed:
        _fail(error, url, f"{key}={value!r} is not one of {', '.join(allowed)}")
    return v


def _number(url: str, key: str, value: str, convert: Callable[[str], Any], low: float, error: type[AdapterError]) -> Any:
    try:
        n = convert(value)
    except ValueError as exc:
        raise error(f"{url}: {key}={value!r} is not a number") from exc
    if n < low:
        _fail(error, url, f"{key}={value!r} must be at least {low}")
    return n


def is_address(target: str) -> bool:
    """True for ``host:port`` (connect directly), False for an NDI name (found through discovery)."""
    m = _ADDRESS.match(target)
    return m is not None and 0 < int(m.group(1)) < 65536


def _discovery(url: str, value: str, error: type[AdapterError]) -> str:
    servers = [s.strip() for s in value.split(",") if s.strip()]
    if not servers:
        _fail(error, url, "discovery= names no server (write discovery=HOST or HOST:PORT, comma-separated)")
    return ",".join(servers)


@dataclass(frozen=True)
class SourceSettings:
    """One camera's NDI receiver, as the profile asks for it."""

    url: str
    """The URL as written in the profile."""
    camera: str
    """The camera's name in the profile; the receiver is named after it."""
    ndi_name: str | None
    """The sender's NDI name (``HOST (NAME)`` or just ``NAME``), when found through discovery."""
    url_address: str | None
    """``host:port`` to connect to directly, when there is no discovery."""
    discovery: str | None = None
    """NDI Discovery Server(s), ``host[:port]`` comma-separated (process-wide in the SDK)."""
    extra_ips: str | None = None
    """Machines to ask directly for their sources (NDI "external sources"), comma-separated."""
    color: str = "auto"
    """Decode request: auto (follow the house pixel format), fastest (UYVY), best (P216), uyvy, bgrx."""
    time_base: str = "timestamp"
    """File frames by the SDK's send timestamp, the sender's timecode (capture time), or arrival."""
    queue_frames: int = 8
    """Frames held between the receive thread and read(); the oldest is dropped when full."""
    lost_after_s: float = 1.0
    """Seconds without a frame before the camera is reported LOST."""
    bandwidth: str = "highest"
    """highest (full quality) or lowest (the sender's proxy stream)."""

    @classmethod
    def from_url(cls, url: str, camera: str, options: Mapping[str, Any] | None = None) -> SourceSettings:
        err = SourceError
        target, params = _split(url, err)
        known = ("discovery", "ips", "color", "time", "queue", "lost_after", "bandwidth")
        opts = _merged(url, params, options or {}, known, err)
        if not target:
            _fail(err, url, "name the sender: ndi://<NDI name> or ndi://<host>:<port>")
        address = is_address(target)
        return cls(
            url=url,
            camera=camera,
            ndi_name=None if address else target,
            url_address=target if address else None,
            discovery=_discovery(url, opts["discovery"], err) if "discovery" in opts else None,
            extra_ips=opts.get("ips") or None,
            color=_choice(url, "color", opts.get("color", "auto"), COLORS, err),
            time_base=_choice(url, "time", opts.get("time", "timestamp"), TIME_BASES, err),
            queue_frames=_number(url, "queue", opts.get("queue", "8"), int, 1, err),
            lost_after_s=_number(url, "lost_after", opts.get("lost_after", "1.0"), float, 0.05, err),
            bandwidth=_choice(url, "bandwidth", opts.get("bandwidth", "highest"), ("highest", "lowest"), err),
        )

    @property
    def target(self) -> str:
        return self.url_address or self.ndi_name or ""


@dataclass(frozen=True)
class SinkSettings:
    """One NDI sender for a channel's output."""

    url: str
    """The URL as written in the profile."""
    channel: str
    """The channel's name in the profile (PGM1 …)."""
    ndi_name: str
    """The sender's NDI name; receivers list it as ``<host> (<ndi_name>)``."""
    groups: str | None = None
    """NDI groups the sender is in (comma-separated); default: the SDK's (public)."""
    discovery: str | None = None
    """NDI Discovery Server(s) to register with, ``host[:port]`` comma-separated (process-wide)."""
    host: str | None = None
    """The host or IP that address() and describe() give receivers; default: this machine's."""
    timecode: str = "tai"
    """Each frame's NDI timecode from its TAI time (UTC, 100 ns) or from its timecode label."""

    @classmethod
    def from_url(cls, url: str, channel: str, options: Mapping[str, Any] | None = None) -> SinkSettings:
        err = SinkError
        target, params = _split(url, err)
        opts = _merged(url, params, options or {}, ("groups", "discovery", "host", "tc"), err)
        name = target or f"FVR {channel}"
        if is_address(name):
            _fail(err, url, "a sender is named, not addressed: write ndi://FVR <channel>; the SDK picks the port")
        if "(" in name or ")" in name:
            _fail(err, url, f"{name!r}: NDI adds the host in parentheses itself; leave them out of the name")
        return cls(
            url=url,
            channel=channel,
            ndi_name=name,
            groups=opts.get("groups") or None,
            discovery=_discovery(url, opts["discovery"], err) if "discovery" in opts else None,
            host=opts.get("host") or None,
            timecode=_choice(url, "tc", opts.get("tc", "tai"), TIMECODE_MODES, err),
        )
