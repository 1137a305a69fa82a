"""Shared fixtures: profiles written to tmp folders, a clean mem:// hub per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("FVR_CACHE_DIR", str(Path(__file__).parent.parent / ".fvreplay-cache" / "tests"))


def _ndi_on_loopback() -> None:
    """Every test that touches NDI stays on 127.0.0.1: no mDNS, no multicast (set before NDI starts)."""
    from io_adapters.ndi import loopback_config

    os.environ.setdefault("NDI_CONFIG_DIR", str(loopback_config(Path(tempfile.mkdtemp(prefix="fvr-ndi-")))))


_ndi_on_loopback()


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
