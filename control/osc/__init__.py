"""OSC control: the ``/fvr/<channel>/…`` address space on UDP, with feedback to subscribed clients.

:class:`OscSurface` is what the ``fvreplay.controls`` entry point ``osc`` loads; the address space, the
feedback and the timed-bundle rules are documented in :mod:`control.osc.server` and the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from control.osc.server import KEEPALIVE_S, OscServer

__all__ = ["OscServer", "OscSurface"]


class OscSurface:
    """The OSC server of a profile (``control.osc``: enabled, bind, port), or of ``--osc PORT``."""

    def __init__(self, engine: Any, bind: str, port: int, enabled: bool = True,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.enabled = enabled
        self.server = OscServer(engine, bind, port, keepalive_s=keepalive_s)

    @classmethod
    def from_profile(cls, engine: Any, profile: Any, overrides: Mapping[str, Any] | None = None) -> OscSurface:
        """``overrides["port"]`` (``--osc PORT``) enables OSC on that port whatever the profile says;
        ``overrides["bind"]`` changes the address it listens on."""
        osc = profile.control.osc
        given = overrides or {}
        bind = str(given.get("bind") or osc.bind)
        if given.get("port") is not None:
            return cls(engine, bind, int(given["port"]), enabled=True)
        return cls(engine, bind, osc.port, enabled=bool(osc.enabled))

    def start(self) -> None:
        if self.enabled:
            self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def describe(self) -> list[str]:
        if not self.enabled:
            return []
        host, port = self.server.address
        return [f"OSC: udp://{host}:{port} (/fvr/<channel>/…; /fvr/subscribe [port] for feedback)"]

    def state(self) -> dict[str, Any]:
        """Packets, messages, malformed packets, unknown addresses, rejected arguments, refused commands,
        held and late timed commands, subscribers."""
        return self.server.state()
