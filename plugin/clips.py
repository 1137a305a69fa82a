"""Clips and playlists, kept in SQLite (WAL) beside the saved frames, so a restart or kill -9 loses none.

A clip's frames are copied out of the record trains into its own folder *before* its row is committed:
files are written into a temporary folder, fsynced, renamed into place, and only then is the row
inserted. A kill at any moment leaves either a complete saved clip or an orphan folder that the next
start removes; never a row without its frames.

Clip IDs follow the EVS LSM convention ``PPPA/SS``: a three-digit position (page, bank, key), a camera
letter (A = first angle of the clip), and a two-digit server number. A clip covering cameras
cam03, cam04, cam05 is ``114A/00``; ``114B/00`` names the same clip on its second angle (cam04).
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from plugin.errors import ClipError
from plugin.frames import Frame, PixelFormat, decode_jpeg

log = logging.getLogger("fvreplay.clips")

ANGLES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LSM_ID = re.compile(r"^(\d{3})([A-Z])/(\d{2})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    clip_id   TEXT PRIMARY KEY,
    name      TEXT NOT NULL DEFAULT '',
    in_slot   INTEGER NOT NULL,
    out_slot  INTEGER NOT NULL,
    cameras   TEXT NOT NULL,
    pivot     TEXT,
    move      TEXT,
    speed     REAL NOT NULL DEFAULT 1.0,
    created   REAL NOT NULL,
    folder    TEXT NOT NULL,
    first_slot INTEGER NOT NULL,
    last_slot  INTEGER NOT NULL,
    in_tc     TEXT NOT NULL DEFAULT '',
    out_tc    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS playlists (
    playlist_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS playlist_items (
    playlist_id TEXT NOT NULL REFERENCES playlists(playlist_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    clip_id     TEXT NOT NULL,
    speed       REAL NOT NULL DEFAULT 1.0,
    PRIMARY KEY (playlist_id, position)
);
"""


def normalise_clip_id(text: str) -> str:
    """Accept ``114A/00``, ``114a-00`` or ``114A``; return the canonical ``114A/00``."""
    s = text.strip().upper().replace("-", "/").replace("_", "/")
    if re.fullmatch(r"\d{3}[A-Z]", s):
        s += "/00"
    if not _LSM_ID.match(s):
        raise ClipError(f"clip ID {text!r} is not an LSM ID such as 114A/00")
    return s


def lsm_id_or_none(text: str) -> str | None:
    """``normalise_clip_id(text)``, or None when the text is not an LSM ID (a name, a Louth ID …)."""
    try:
        return normalise_clip_id(text)
    except ClipError:
        return None


def split_angle_id(lsm_id: str) -> tuple[str, int]:
    """A canonical angle ID (``114B/00``, as normalise_clip_id returns) → its clip's ID (``114A/00``) and the
    angle's index (1): the inverse of :meth:`Clip.angle_id`."""
    return f"{lsm_id[:3]}A{lsm_id[4:]}", ANGLES.index(lsm_id[3])


@dataclass(frozen=True)
class Clip:
    """A saved moment: IN..OUT (OUT exclusive) on every covered camera, with its view settings."""

    clip_id: str
    name: str
    in_slot: int
    out_slot: int
    cameras: list[str]
    pivot: tuple[float, float, float] | None = None
    move: dict[str, Any] | None = None
    speed: float = 1.0
    created: float = 0.0
    folder: str = ""
    first_slot: int = 0
    last_slot: int = 0
    in_tc: str = ""
    out_tc: str = ""

    @property
    def frames(self) -> int:
        return self.out_slot - self.in_slot

    def angle_id(self, camera: str) -> str:
        """The LSM ID of this clip on one of its angles (``114C/00`` for the third camera)."""
        m = _LSM_ID.match(self.clip_id)
        if m is None:
            return self.clip_id
        return f"{m.group(1)}{ANGLES[self.cameras.index(camera)]}/{m.group(3)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.clip_id,
            "name": self.name,
            "in_slot": self.in_slot,
            "out_slot": self.out_slot,
            "in_tc": self.in_tc,
            "out_tc": self.out_tc,
            "frames": self.frames,
            "cameras": list(self.cameras),
            "angles": {self.angle_id(c): c for c in self.cameras},
            "pivot": list(self.pivot) if self.pivot else None,
            "move": self.move,
            "speed": self.speed,
            "created": self.created,
        }


@dataclass(frozen=True)
class Playlist:
    """Clips played one after another, each at its own speed."""

    playlist_id: str
    name: str
    elements: list[tuple[str, float]] = field(default_factory=list)
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.playlist_id,
            "name": self.name,
            "elements": [{"clip_id": c, "speed": s} for c, s in self.elements],
            "created": self.created,
        }


class _FrameFile:
    """One camera's saved frames: a blob file of concatenated frames and an index (slot, offset, size)."""

    def __init__(self, folder: Path, camera: str) -> None:
        meta = json.loads((folder / f"{camera}.json").read_text())
        self.codec: str = meta["codec"]
        self.shape = tuple(meta["shape"])
        self.index = np.load(folder / f"{camera}.index.npy")
        self.path = folder / f"{camera}.frames"
        self.camera = camera
        self._by_slot = {int(s): i for i, s in enumerate(self.index[:, 0])}

    def read(self, slot: int) -> Frame | None:
        i = self._by_slot.get(slot)
        if i is None:
            return None
        _, offset, size, tai = (int(x) for x in self.index[i])
        with open(self.path, "rb") as f:
            f.seek(offset)
            blob = f.read(size)
        if self.codec == "jpeg":
            rgb = decode_jpeg(blob)
            if rgb is None:
                raise ClipError(f"{self.path}: frame at slot {slot} is not a readable JPEG")
            return Frame(rgb, PixelFormat.RGB, self.camera, slot, tai)
        fmt = PixelFormat(self.codec)
        data = np.frombuffer(blob, dtype=fmt.dtype).reshape(self.shape).copy()
        return Frame(data, fmt, self.camera, slot, tai)


class ClipStore:
    """Clips and playlists in SQLite (WAL, synchronous=FULL) with frames under ``root/clips``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.clips_dir = self.root / "clips"
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "clips.sqlite"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._files: dict[tuple[str, str], _FrameFile] = {}
        self._remove_orphans()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- clips -----------------------------------------------------------------------------------

    def _remove_orphans(self) -> None:
        """Folders left by a save that was killed before its row was committed are not clips."""
        known = {row[0] for row in self._db.execute("SELECT folder FROM clips")}
        for path in self.clips_dir.iterdir():
            if path.name not in known:
                log.info("removing unfinished clip folder %s", path)
                shutil.rmtree(path, ignore_errors=True)

    def next_id(self) -> str:
        """The next free LSM ID, counting positions 111, 112 … 119, 110, 121 … like LSM keys F1–F10."""
        used = {c.clip_id[:3] for c in self.list()}
        for page in range(1, 10):
            for bank in range(1, 10):
                for key in (1, 2, 3, 4, 5, 6, 7, 8, 9, 0):
                    pos = f"{page}{bank}{key}"
                    if pos not in used:
                        return f"{pos}A/00"
        raise ClipError("every clip position 111..990 is used; delete clips first")

    def save(
        self,
        frames_by_camera: dict[str, list[tuple[int, int, bytes, str, tuple[int, ...]]]],
        *,
        in_slot: int,
        out_slot: int,
        name: str = "",
        clip_id: str | None = None,
        pivot: tuple[float, float, float] | None = None,
        move: dict[str, Any] | None = None,
        speed: float = 1.0,
        in_tc: str = "",
        out_tc: str = "",
    ) -> Clip:
        """Write a clip's frames and then its row. Frames per camera: (slot, tai_ns, bytes, codec, shape)."""
        if out_slot <= in_slot:
            raise ClipError(f"OUT ({out_slot}) must be after IN ({in_slot}); OUT is exclusive")
        cameras = list(frames_by_camera)
        if not cameras:
            raise ClipError("a clip needs at least one camera")
        if len(cameras) > len(ANGLES):
            raise ClipError(f"a clip covers at most {len(ANGLES)} angles, got {len(cameras)}")
        with self._lock:
            cid = normalise_clip_id(clip_id) if clip_id else self.next_id()
            if self._db.execute("SELECT 1 FROM clips WHERE clip_id = ?", (cid,)).fetchone():
                raise ClipError(f"clip {cid} exists; delete it or choose another ID")
        folder = uuid.uuid4().hex
        tmp = self.clips_dir / f".tmp-{folder}"
        tmp.mkdir()
        slots: list[int] = []
        for camera, frames in frames_by_camera.items():
            index = []
            offset = 0
            with open(tmp / f"{camera}.frames", "wb") as f:
                for slot, tai, blob, _codec, _shape in frames:
                    f.write(blob)
                    index.append((slot, offset, len(blob), tai))
                    offset += len(blob)
                    slots.append(slot)
                f.flush()
                os.fsync(f.fileno())
            codec = frames[0][3] if frames else "jpeg"
            shape = list(frames[0][4]) if frames else []
            np.save(tmp / f"{camera}.index.npy", np.asarray(index, dtype=np.int64).reshape(-1, 4))
            (tmp / f"{camera}.json").write_text(json.dumps({"codec": codec, "shape": shape}))
        _fsync_dir(tmp)
        final = self.clips_dir / folder
        os.rename(tmp, final)
        _fsync_dir(self.clips_dir)
        if not slots:
            shutil.rmtree(final, ignore_errors=True)
            raise ClipError(f"no frames held between IN and OUT on {', '.join(cameras)}")
        clip = Clip(
            cid, name, in_slot, out_slot, cameras, pivot, move, speed, time.time(), folder,
            min(slots), max(slots), in_tc, out_tc,
        )
        with self._lock:
            columns = _columns(clip)
            self._db.execute(
                f"INSERT INTO clips ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                tuple(columns.values()),
            )
        log.info("saved clip %s (%d frames × %d cameras)", cid, out_slot - in_slot, len(cameras))
        return clip

    def _row(self, row: tuple[Any, ...]) -> Clip:
        pivot = json.loads(row[5]) if row[5] else None
        return Clip(
            clip_id=row[0], name=row[1], in_slot=row[2], out_slot=row[3], cameras=json.loads(row[4]),
            pivot=tuple(pivot) if pivot else None, move=json.loads(row[6]) if row[6] else None, speed=row[7],
            created=row[8], folder=row[9], first_slot=row[10], last_slot=row[11], in_tc=row[12], out_tc=row[13],
        )

    def list(self) -> list[Clip]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM clips ORDER BY clip_id").fetchall()
        return [self._row(r) for r in rows]

    def get(self, clip_id: str) -> Clip:
        cid = normalise_clip_id(clip_id)
        with self._lock:
            row = self._db.execute("SELECT * FROM clips WHERE clip_id = ?", (cid,)).fetchone()
        if row is None:
            raise ClipError(f"no clip {cid}")
        return self._row(row)

    def resolve(self, lsm_id: str) -> tuple[Clip, str]:
        """An angle's LSM ID (``114B/00``) → the clip (``114A/00``) and that angle's camera."""
        cid = normalise_clip_id(lsm_id)
        base, angle = split_angle_id(cid)
        clip = self.get(base)
        if angle >= len(clip.cameras):
            raise ClipError(f"clip {base} has {len(clip.cameras)} angles; {cid} names angle {ANGLES[angle]}")
        return clip, clip.cameras[angle]

    def update(self, clip_id: str, **fields: Any) -> Clip:
        """Change name, IN/OUT (within the saved frames), pivot, move or speed."""
        clip = self.get(clip_id)
        allowed = {"name", "in_slot", "out_slot", "pivot", "move", "speed", "in_tc", "out_tc", "cameras"}
        unknown = set(fields) - allowed
        if unknown:
            raise ClipError(f"cannot change {', '.join(sorted(unknown))} of a clip (changeable: {', '.join(sorted(allowed))})")
        new = replace(clip, **fields)
        if new.out_slot <= new.in_slot:
            raise ClipError(f"OUT ({new.out_slot}) must be after IN ({new.in_slot})")
        if new.in_slot < clip.first_slot or new.out_slot > clip.last_slot + 1:
            raise ClipError(
                f"IN/OUT must stay within the saved frames (slots {clip.first_slot}..{clip.last_slot + 1})"
            )
        saved = {p.name.removesuffix(".frames") for p in (self.clips_dir / clip.folder).glob("*.frames")}
        if not new.cameras or len(set(new.cameras)) != len(new.cameras) or not set(new.cameras) <= saved:
            raise ClipError(
                f"angles must be distinct cameras saved with the clip ({', '.join(sorted(saved))}); got {new.cameras}"
            )
        changed = {k: v for k, v in _columns(new).items() if k in allowed}
        with self._lock:
            self._db.execute(
                f"UPDATE clips SET {', '.join(f'{k}=?' for k in changed)} WHERE clip_id=?",
                (*changed.values(), clip.clip_id),
            )
        return self.get(clip.clip_id)

    def delete(self, clip_id: str) -> None:
        clip = self.get(clip_id)
        with self._lock:
            self._db.execute("DELETE FROM clips WHERE clip_id = ?", (clip.clip_id,))
            self._db.execute("DELETE FROM playlist_items WHERE clip_id = ?", (clip.clip_id,))
            for key in [k for k in self._files if k[0] == clip.clip_id]:
                del self._files[key]
        shutil.rmtree(self.clips_dir / clip.folder, ignore_errors=True)

    def frame(self, clip: Clip, camera: str, slot: int) -> Frame | None:
        """A saved frame of a clip (IN/OUT guardbands included)."""
        if camera not in clip.cameras:
            return None
        key = (clip.clip_id, camera)
        with self._lock:
            ff = self._files.get(key)
            if ff is None:
                ff = _FrameFile(self.clips_dir / clip.folder, camera)
                self._files[key] = ff
        return ff.read(slot)

    # --- playlists -------------------------------------------------------------------------------

    def create_playlist(
        self, name: str, elements: builtins.list[tuple[str, float]], playlist_id: str | None = None
    ) -> Playlist:
        canon = [(self.get(cid).clip_id, float(speed)) for cid, speed in elements]
        for _, speed in canon:
            if not -4.0 <= speed <= 4.0:
                raise ClipError(f"playlist speed {speed} outside −4 … +4")
        pid = playlist_id or f"PL{len(self.playlists()) + 1:02d}"
        with self._lock:
            if self._db.execute("SELECT 1 FROM playlists WHERE playlist_id = ?", (pid,)).fetchone():
                raise ClipError(f"playlist {pid} exists")
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO playlists VALUES (?,?,?)", (pid, name, time.time()))
                self._db.executemany(
                    "INSERT INTO playlist_items VALUES (?,?,?,?)",
                    [(pid, i, cid, speed) for i, (cid, speed) in enumerate(canon)],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
        return self.get_playlist(pid)

    def get_playlist(self, playlist_id: str) -> Playlist:
        with self._lock:
            row = self._db.execute("SELECT * FROM playlists WHERE playlist_id = ?", (playlist_id,)).fetchone()
            if row is None:
                raise ClipError(f"no playlist {playlist_id}")
            items = self._db.execute(
                "SELECT clip_id, speed FROM playlist_items WHERE playlist_id = ? ORDER BY position", (playlist_id,)
            ).fetchall()
        return Playlist(row[0], row[1], [(c, s) for c, s in items], row[2])

    def playlists(self) -> builtins.list[Playlist]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT playlist_id FROM playlists ORDER BY playlist_id")]
        return [self.get_playlist(i) for i in ids]

    def delete_playlist(self, playlist_id: str) -> None:
        self.get_playlist(playlist_id)
        with self._lock:
            self._db.execute("DELETE FROM playlists WHERE playlist_id = ?", (playlist_id,))


def _columns(clip: Clip) -> dict[str, Any]:
    """A clip as its SQLite row, by column name (lists and dicts as JSON; no pivot or move as NULL)."""
    return {
        "clip_id": clip.clip_id,
        "name": clip.name,
        "in_slot": clip.in_slot,
        "out_slot": clip.out_slot,
        "cameras": json.dumps(list(clip.cameras)),
        "pivot": json.dumps(list(clip.pivot)) if clip.pivot else None,
        "move": json.dumps(clip.move) if clip.move else None,
        "speed": float(clip.speed),
        "created": clip.created,
        "folder": clip.folder,
        "first_slot": clip.first_slot,
        "last_slot": clip.last_slot,
        "in_tc": clip.in_tc,
        "out_tc": clip.out_tc,
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
