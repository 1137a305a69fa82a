"""Shared fixtures: profiles written to tmp folders, a clean mem:// hub per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("FVR_CACHE_DIR", str(Path(__file__).parent.parent / ".fvreplay-cache" / "tests"))


@pytest.fixture(autouse=True)
def _clean_memory_hubs() -> Iterator[None]:
    from io_adapters import memory

    memory.reset()
    yield
    memory.reset()


MINIMAL_PROFILE = """
name = "minimal"
[format]
width = 64
height = 36
rate = "50"
[[cameras]]
name = "cam01"
source = "mem://cam01"
[[cameras]]
name = "cam02"
source = "mem://cam02"
[[channels]]
name = "PGM1"
outputs = ["mem://PGM1"]
"""


@pytest.fixture
def write_profile(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str = MINIMAL_PROFILE, name: str = "rig.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
