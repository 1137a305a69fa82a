"""The REST surface's settings: where it listens, its API key, CORS, read protection (from the profile)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.errors import ControlError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def parse_bind(text: str, where: str = "control.rest.bind") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port); port 0 asks the system for a free one."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ControlError(f"{where}: {text!r} is not HOST:PORT (write e.g. 127.0.0.1:8080)")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ControlError(f"{where}: port {port_text!r} in {text!r} is not a number") from exc
    if not 0 <= port <= 65535:
        raise ControlError(f"{where}: port {port} in {text!r} is outside 0..65535")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


@dataclass(frozen=True)
class RestSettings:
    """What the REST app and server need; built once from the profile (``control.rest``) and overrides."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = "FVR_API_KEY"
    protect_reads: bool = False
    cors_origins: tuple[str, ...] = ()
    show_name: str = "show"

    @property
    def protected(self) -> bool:
        return bool(self.api_key)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse to serve beyond loopback without a key: the API moves what goes to air."""
        if not self.loopback and not self.protected:
            raise ControlError(
                f"control.rest.bind: refusing to listen on {self.host}:{self.port} without an API key; "
                f"set the environment variable {self.api_key_env} (named by control.rest.api_key_env) "
                f"to a secret, or bind 127.0.0.1"
            )

    @classmethod
    def from_profile(
        cls, profile: Any, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> RestSettings:
        """Read ``profile.control.rest``; ``overrides`` may hold ``bind`` ("HOST:PORT", from ``--rest``)."""
        rest = profile.control.rest
        overrides = dict(overrides or {})
        unknown = set(overrides) - {"bind", "api_key", "protect_reads", "cors_origins"}
        if unknown:
            raise ControlError(f"REST surface: unknown override(s) {', '.join(sorted(unknown))} (known: bind)")
        bind = str(overrides.get("bind") or rest.bind)
        host, port = parse_bind(bind, "--rest" if overrides.get("bind") else "control.rest.bind")
        env = os.environ if environ is None else environ
        key = overrides.get("api_key") or env.get(rest.api_key_env, "").strip() or None
        settings = cls(
            host=host,
            port=port,
            api_key=key,
            api_key_env=rest.api_key_env,
            protect_reads=bool(overrides.get("protect_reads", rest.protect_reads)),
            cors_origins=tuple(overrides.get("cors_origins", rest.cors_origins)),
            show_name=str(getattr(profile, "name", "show")),
        )
        settings.check()
        return settings
