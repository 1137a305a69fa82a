"""Sony 9-pin / Odetics control: fvreplay looks like a VTR or disk recorder on RS-422 serial ports.

One :class:`~control.sony9pin.device.Sony9PinDevice` serves one channel on one port, on its own thread;
:class:`Sony9PinSurface` is what the ``fvreplay.controls`` entry point ``sony9pin`` loads: every port of
the profile's ``[[control.sony9pin]]`` plus those given on the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from control.sony9pin.device import Sony9PinDevice
from control.sony9pin.library import ClipLibrary
from control.sony9pin.protocol import DEVICE_TYPES
from plugin.errors import ControlError

__all__ = ["PortSpec", "Sony9PinDevice", "Sony9PinSurface", "parse_port_spec"]

log = logging.getLogger("fvreplay.control.sony9pin")


@dataclass(frozen=True)
class PortSpec:
    """One serial port: the device path or pyserial URL, the channel it serves and the type it answers."""

    port: str
    channel: str
    device_type: str = "odetics"


def parse_port_spec(text: str, default_channel: str) -> PortSpec:
    """Parse a ``--sony9pin`` value: ``DEVICE[=CHANNEL]`` or ``DEVICE[,channel=NAME|N][,type=TYPE]``.

    TYPE is bvw-75, odetics (the default) or hyperdeck. A pyserial URL with a query
    (``spy:///dev/ttyUSB0?file=9pin.log``) keeps its ``=``: give its channel as ``,channel=…``.
    """
    parts = [s.strip() for s in text.split(",")]
    device, channel, device_type = parts[0], default_channel, "odetics"
    if "=" in device and "?" not in device:
        device, _, short = device.partition("=")
        channel = short.strip() or default_channel
    if not device:
        raise ControlError(f"--sony9pin {text!r}: give a serial device first, e.g. /dev/ttyUSB0=PGM1")
    for option in parts[1:]:
        key, _, value = option.partition("=")
        key = key.strip().lower()
        if key == "channel" and value.strip():
            channel = value.strip()
        elif key in ("type", "device_type") and value.strip().lower() in DEVICE_TYPES:
            device_type = value.strip().lower()
        else:
            raise ControlError(
                f"--sony9pin {text!r}: unknown option {option!r} (write DEVICE[=CHANNEL] or DEVICE[,channel=PGM1]"
                f"[,type={'|'.join(DEVICE_TYPES)}])"
            )
    return PortSpec(device, channel, device_type)


def _override_spec(item: Any, default_channel: str) -> PortSpec:
    """One ``overrides["ports"]`` item: a ``--sony9pin`` string, or a dict with port, channel, device_type."""
    if isinstance(item, str):
        return parse_port_spec(item, default_channel)
    if isinstance(item, Mapping) and item.get("port"):
        port, channel = str(item["port"]), item.get("channel")
        if channel and "?" in port:
            # "spy:///dev/ttyUSB0?file=x.log" split at its "=" by a DEVICE=CHANNEL parser: put it back.
            port, channel = f"{port}={channel}", None
        spec = parse_port_spec(port, str(channel or default_channel))
        device_type = str(item.get("device_type") or spec.device_type).lower()
        if device_type not in DEVICE_TYPES:
            raise ControlError(f"Sony 9-pin {port}: device type {device_type!r} is not one of {', '.join(DEVICE_TYPES)}")
        return PortSpec(spec.port, spec.channel, device_type)
    raise ControlError(f"Sony 9-pin: cannot read the port override {item!r} (give a device path or URL)")


class Sony9PinSurface:
    """Every configured 9-pin port, started and stopped together (the ``sony9pin`` control entry point)."""

    def __init__(self, engine: Any, ports: Sequence[PortSpec]) -> None:
        self.engine = engine
        self.library = ClipLibrary(engine)
        seen: dict[str, PortSpec] = {}
        for spec in ports:
            seen[spec.port] = spec  # the same port twice: the later (command line) wins
        self.devices = [
            Sony9PinDevice(engine, s.port, s.channel, s.device_type, library=self.library) for s in seen.values()
        ]

    @classmethod
    def from_profile(cls, engine: Any, profile: Any, overrides: Mapping[str, Any] | None = None) -> Sony9PinSurface:
        """Ports from ``profile.control.sony9pin`` plus ``overrides["ports"]``: the ``--sony9pin`` values as
        given (``DEVICE[=CHANNEL]`` or ``DEVICE[,channel=…][,type=…]``) or dicts {port, channel, device_type}.
        A port named in both takes the command line's settings; the default channel is the first."""
        specs = [PortSpec(s.port, s.channel, s.device_type) for s in profile.control.sony9pin]
        extra = (overrides or {}).get("ports") or []
        if isinstance(extra, (str, Mapping)):
            extra = [extra]
        default_channel = engine.channel_names[0]
        specs += [_override_spec(item, default_channel) for item in extra]
        return cls(engine, specs)

    @property
    def enabled(self) -> bool:
        return bool(self.devices)

    def start(self) -> None:
        started: list[Sony9PinDevice] = []
        try:
            for device in self.devices:
                device.start()
                started.append(device)
        except ControlError:
            for device in started:
                device.stop()
            raise

    def stop(self) -> None:
        for device in self.devices:
            device.stop()

    def describe(self) -> list[str]:
        return [d.describe() for d in self.devices]

    def state(self) -> dict[str, Any]:
        """Counters per port: commands, ACKs, NAKs by error byte, late replies, reply latency p50/p99/max."""
        return {d.port_name: d.stats.summary() for d in self.devices}
