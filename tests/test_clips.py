"""Clips and playlists: LSM IDs, guardbands, edits, and surviving a SIGKILL right after saving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plugin import commands as c
from plugin.clips import ClipStore, normalise_clip_id
from plugin.errors import ClipError
from tests.engine_helpers import decode, make_engine, record

BASE = 2_000_000
ROOT = Path(__file__).parent.parent


def test_lsm_ids() -> None:
    assert normalise_clip_id("114a-00") == "114A/00"
    assert normalise_clip_id("114B") == "114B/00"
    with pytest.raises(ClipError, match="not an LSM ID"):
        normalise_clip_id("clip one")


def test_save_with_guardbands_angles_and_edits(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 100)
    e.submit(c.MarkIn("PGM1", slot=BASE + 20))
    e.submit(c.MarkOut("PGM1", slot=BASE + 30))
    fut = e.submit(c.SaveClip("PGM1", name="header", clip_id="114A/00"))
    e.tick(BASE + 101)
    res = fut.result(10)
    assert res.ok, res.message
    clip = e.clips.get("114A/00")
    assert (clip.in_slot, clip.out_slot, clip.frames) == (BASE + 20, BASE + 30, 10)
    # guardband 0.1 s at 50p = 5 frames each side
    assert (clip.first_slot, clip.last_slot) == (BASE + 15, BASE + 34)
    assert clip.cameras == ["cam01", "cam02", "cam03"]
    assert e.clips.resolve("114C/00") == (clip, "cam03")
    with pytest.raises(ClipError, match="has 3 angles"):
        e.clips.resolve("114D/00")
    assert decode(e.clips.frame(clip, "cam02", BASE + 15)) == (2, (BASE + 15) % 200)  # type: ignore[arg-type]
    # IN/OUT may move within the saved guardbands, not beyond.
    assert e.clips.update("114A/00", in_slot=BASE + 16, name="header 2").in_slot == BASE + 16
    with pytest.raises(ClipError, match="within the saved frames"):
        e.clips.update("114A/00", in_slot=BASE + 10)
    dup = e.submit(c.MarkIn("PGM1", slot=BASE + 40))
    e.submit(c.MarkOut("PGM1", slot=BASE + 45))
    again = e.submit(c.SaveClip("PGM1", clip_id="114A/00"))
    e.tick(BASE + 102)
    assert dup.result(1).ok and not again.result(10).ok and "exists" in again.result(10).message
    e.clips.delete("114A/00")
    assert e.clips.list() == []
    e.stop()


def test_save_needs_marks(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 10)
    fut = e.submit(c.SaveClip("PGM1"))
    e.tick(BASE + 11)
    assert fut.result(1).message == "save_clip: save: mark IN and OUT first"
    e.stop()


CHILD = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from plugin import commands as c
from tests.engine_helpers import make_engine, record
BASE = {base}
e = make_engine(Path({tmp!r}))
record(e, BASE, BASE + 200)
ids = []
for first in (BASE + 10, BASE + 60, BASE + 120):
    e.submit(c.MarkIn("PGM1", slot=first))
    e.submit(c.MarkOut("PGM1", slot=first + 25))
    fut = e.submit(c.SaveClip("PGM1", name=f"clip at {{first}}"))
    e.tick(BASE + 201)
    r = fut.result(30)
    assert r.ok, r.message
    ids.append(r.data["clip_id"])
e.clips.create_playlist("highlights", [(ids[0], 0.5), (ids[2], 1.0)])
print("SAVED", " ".join(ids), flush=True)
# Keep saving while the parent kills us: a save in flight must not corrupt the store.
while True:
    e.submit(c.MarkIn("PGM1", slot=BASE + 150))
    e.submit(c.MarkOut("PGM1", slot=BASE + 190))
    e.submit(c.SaveClip("PGM1"))
    e.tick(BASE + 202)
"""


def test_sigkill_right_after_saving_loses_nothing(tmp_path: Path) -> None:
    script = CHILD.format(root=str(ROOT), base=BASE, tmp=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    time.sleep(0.3)  # let the child's background saves get under way: the kill lands mid-save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert line.startswith("SAVED"), line
    ids = line.split()[1:]
    # A new engine on the same storage: every clip and playlist is there, with its frames.
    e = make_engine(tmp_path)
    clips = {cl.clip_id: cl for cl in e.clips.list()}
    assert set(ids) <= set(clips)
    for cid in ids:
        clip = clips[cid]
        for cam in clip.cameras:
            for slot in (clip.in_slot, clip.out_slot - 1):
                frame = e.clips.frame(clip, cam, slot)
                assert frame is not None and decode(frame) == (int(cam[-2:]), slot % 200)
    (pl,) = e.clips.playlists()
    assert pl.elements == [(ids[0], 0.5), (ids[2], 1.0)]
    # Clips saved in the background when the kill came are either complete or absent: every frame of
    # every clip in the store is there, for every angle.
    for clip in clips.values():
        for cam in clip.cameras:
            for slot in range(clip.first_slot, clip.last_slot + 1):
                f = e.clips.frame(clip, cam, slot)
                assert f is not None and decode(f) == (int(cam[-2:]), slot % 200), (clip.clip_id, cam, slot)
    leftovers = [p.name for p in (tmp_path / "store" / "clips").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
    # And the restored clip plays.
    e.submit(c.CueClip("PGM1", ids[1]))
    e.tick(BASE + 500)
    e.submit(c.Play("PGM1"))
    e.tick(BASE + 501)
    e.tick(BASE + 502)
    assert e.channel_frame("PGM1").meta["source_slot"] == clips[ids[1]].in_slot + 1  # type: ignore[union-attr]
    e.stop()


def test_store_reopens(tmp_path: Path) -> None:
    store = ClipStore(tmp_path)
    store.close()
    assert ClipStore(tmp_path).list() == []


def test_save_reports_frames_the_trains_no_longer_hold(tmp_path: Path) -> None:
    e = make_engine(tmp_path)
    record(e, BASE, BASE + 20)
    record(e, BASE + 26, BASE + 60)  # slots 21..25 never arrived on any camera
    e.submit(c.MarkIn("PGM1", slot=BASE + 18))
    e.submit(c.MarkOut("PGM1", slot=BASE + 30))
    fut = e.submit(c.SaveClip("PGM1"))
    e.tick(BASE + 61)
    res = fut.result(10)
    assert res.ok
    # guardband 5 each side: slots 13..34 on 3 cameras = 66 frames, of which 5 slots × 3 are missing
    assert res.data["missing_frames"] == 15
    assert "15 of 66 frames were no longer (or never) in the record trains" in res.message
    clip = e.clips.get(res.data["clip_id"])
    assert e.clips.frame(clip, "cam01", BASE + 22) is None and e.clips.frame(clip, "cam01", BASE + 26) is not None
    e.stop()


def test_clip_from_a_jpeg_ring_keeps_the_rings_bytes(tmp_path: Path) -> None:
    """A JPEG record train saves JPEG clips as the very bytes it holds: no decode, no second generation."""
    from plugin.engine import Engine
    from profiles import parse_profile
    from tests.engine_helpers import profile_text

    text = profile_text(2).replace('memory_limit = "1GB"', 'memory_limit = "1GB"\ncodec = "jpeg"').replace(
        'clip_codec = "raw"', 'clip_codec = "jpeg"'
    )
    e = Engine.from_profile(parse_profile(text), storage_root=tmp_path / "store")
    record(e, BASE, BASE + 30)
    e.submit(c.MarkIn("PGM1", slot=BASE + 10))
    e.submit(c.MarkOut("PGM1", slot=BASE + 15))
    fut = e.submit(c.SaveClip("PGM1"))
    e.tick(BASE + 31)
    clip = e.clips.get(fut.result(10).data["clip_id"])
    folder = e.clips.clips_dir / clip.folder
    saved = (folder / "cam02.frames").read_bytes()
    held = b"".join(e.recorder.trains["cam02"].read_encoded(s)[1] for s in range(clip.first_slot, clip.last_slot + 1))  # type: ignore[index]
    assert saved == held
    assert decode(e.clips.frame(clip, "cam02", BASE + 12))[0] == 2  # type: ignore[arg-type]
    e.stop()
