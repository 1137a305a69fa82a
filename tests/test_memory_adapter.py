"""The mem:// adapter: hubs, history length, and errors that name the side (source or sink)."""

from __future__ import annotations

import numpy as np
import pytest

from io_adapters import memory
from plugin.errors import SinkError, SourceError
from plugin.frames import Frame, PixelFormat
from plugin.ports import AdapterContext, VideoFormat
from timing import FrameRate, ManualClock, slot_at

CTX = AdapterContext("PGM1", VideoFormat(64, 36, FrameRate.parse("50")), ManualClock())


def test_memory_sink_keep_applies_to_an_existing_hub() -> None:
    memory.MemorySource("mem://PGM1", CTX).open()  # the hub exists with the default history
    sink = memory.MemorySink("mem://PGM1?keep=100", CTX)
    sink.configure(CTX.fmt)
    assert memory.hub("PGM1").history.maxlen == 100
    with pytest.raises(SinkError, match="keep must be at least 1"):
        memory.MemorySink("mem://PGM1?keep=0", CTX)
    with pytest.raises(SinkError, match="name the hub"):
        memory.MemorySink("mem://", CTX)


def test_source_slots_unslotted_frames_without_changing_the_fed_frame() -> None:
    src = memory.MemorySource("mem://cam01", CTX)
    src.open()
    fed = Frame(np.zeros((36, 64, 2), np.uint8), PixelFormat.UYVY, "cam01", -1, 2_000_000_000_123)
    memory.feed("cam01", fed)
    got = src.read(1.0)
    assert got is not None and got.slot == slot_at(fed.tai_ns, "50") == 100_000  # 2000 s at 50p
    assert fed.slot == -1 and memory.hub("cam01").recent()[0].slot == -1  # the hub's copy is untouched
    with pytest.raises(SourceError, match="is not a mem:// URL"):
        memory.MemorySource("ndi://cam01", CTX)
