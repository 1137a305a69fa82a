"""The engine's one flat state map (``channels.PGM1.state`` → value) that OSC, REST and metrics read."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("fvreplay.state")

Listener = Callable[[dict[str, Any]], None]


class StateMap:
    """A flat ``path → value`` map; listeners hear which keys changed after each update.

    Listeners are called on the updating thread (the engine's) and must not block: a control surface
    hands the changes to its own thread.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._tokens = itertools.count(1)
        self.version = 0

    def update(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``values``; notify listeners of those that changed; return them."""
        with self._lock:
            changed = {k: v for k, v in values.items() if self._values.get(k, _MISSING) != v}
            if not changed:
                return changed
            self._values.update(changed)
            self.version += 1
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(changed)
            except Exception:  # one broken listener must not stop the engine or the others
                log.exception("state listener %r failed", listener)
        return changed

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(key, default)

    def snapshot(self, prefix: str = "") -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in self._values.items() if k.startswith(prefix)}

    def subscribe(self, listener: Listener) -> int:
        with self._lock:
            token = next(self._tokens)
            self._listeners[token] = listener
            return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)


_MISSING = object()
