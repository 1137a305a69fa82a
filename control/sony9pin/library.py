"""A read-only, cached view of the engine's clips and record trains for the 9-pin reply path.

Sense and Odetics list replies must go out within 9 ms, and a clip store read can wait behind a save
committing to disk. So clip lookups never touch SQLite on the reply path: a background thread copies the
clip list every second (and at once when a surface asks, after it changed a clip), and replies read the
copy. Record trains are the engine's cameras, named ``000A/00``, ``000B/00`` … as EVS LSM pseudo-clips.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from control.sony9pin.protocol import TRAIN_LETTERS, train_id, train_index
from plugin.clips import lsm_id_or_none, split_angle_id

log = logging.getLogger("fvreplay.control.sony9pin")


@dataclass(frozen=True, slots=True)
class Entry:
    """What an ID names: a clip angle (``clip`` set) or a record train (``clip`` None)."""

    id: str
    camera: str
    clip: Any = None  # plugin.clips.Clip

    @property
    def is_train(self) -> bool:
        return self.clip is None


class ClipLibrary:
    """The engine's clips (copied in the background) and record trains, looked up by Odetics ID text."""

    def __init__(self, engine: Any, refresh_s: float = 1.0) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self._clips: dict[str, Any] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._users = 0

    # --- lifecycle: shared by every device of a surface ------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="9pin-clips", daemon=True)
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        thread.join(timeout=2.0)

    def invalidate(self) -> None:
        """Ask for a fresh copy now (after this surface saved, erased or renamed a clip)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.refresh()

    def refresh(self) -> None:
        """Copy the clip list from the store (slow path: never called while a reply is being built)."""
        try:
            clips = list(self.engine.clips.list())
        except Exception as exc:  # the store failing must not stop the port; the old copy stays
            log.warning("9-pin clip list: could not read the clip store: %s", exc)
            return
        by_id = {c.clip_id: c for c in clips}
        with self._lock:
            self._clips = by_id
            self._order = sorted(by_id)

    # --- lookups (reply path) -------------------------------------------------------------------------------

    def clip(self, clip_id: str) -> Any | None:
        with self._lock:
            return self._clips.get(clip_id)

    def clip_ids(self) -> list[str]:
        with self._lock:
            return list(self._order)

    def cameras(self) -> list[str]:
        return list(self.engine.camera_names)

    def ids(self) -> list[str]:
        """Every ID a controller can list: the record trains first, then each clip's first angle."""
        trains = [train_id(i) for i in range(min(len(self.cameras()), len(TRAIN_LETTERS)))]
        return trains + self.clip_ids()

    def lookup(self, text: str) -> Entry | None:
        """The clip angle or record train an ID names (``114B/00``, ``114B``, ``000A/00``), else None."""
        t = train_index(text)
        if t is not None:
            cams = self.cameras()
            return Entry(train_id(t), cams[t]) if t < len(cams) else None
        cid = lsm_id_or_none(text)
        if cid is None:
            return None
        base, angle = split_angle_id(cid)
        clip = self.clip(base)
        return None if clip is None or angle >= len(clip.cameras) else Entry(cid, clip.cameras[angle], clip)

    def id_of_camera(self, camera: str) -> str | None:
        cams = self.cameras()
        if camera not in cams:
            return None
        i = cams.index(camera)
        return train_id(i) if i < len(TRAIN_LETTERS) else None

    def loaded_id(self, status: Any) -> str | None:
        """The ID a channel has loaded: its clip's angle, or its record train."""
        if status.clip_id:
            clip = self.clip(status.clip_id)
            if clip is not None and status.camera in clip.cameras:
                return str(clip.angle_id(status.camera))
            return str(status.clip_id)
        return self.id_of_camera(status.camera)
