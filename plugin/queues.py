"""Bounded hand-over queues for real-time producers: a full queue loses its oldest item, never blocks."""

from __future__ import annotations

import contextlib
import queue
from typing import TypeVar

T = TypeVar("T")


def put_dropping_oldest(q: queue.Queue[T], item: T) -> int:
    """Put ``item``; while the queue is full, drop its oldest item. Returns how many were dropped.

    A camera's receive thread or an output hub must never wait for a slow reader: a late frame is
    worth less than the next one.
    """
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            # A reader may take the oldest meanwhile: then the put succeeds next round.
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
                dropped += 1
