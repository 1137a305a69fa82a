"""Shared fixtures and helpers: profiles written to tmp folders, a clean mem:// hub per test, torch thread
limits, polling until a condition holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from io_adapters.ndi.config import use_loopback

os.environ.setdefault("FVR_CACHE_DIR", str(Path(__file__).parent.parent / ".fvreplay-cache" / "tests"))


# Every test that touches NDI stays on 127.0.0.1: no mDNS, no multicast (set before NDI starts). An
# NDI_CONFIG_DIR set by the caller, or by this module's first import, is kept.
use_loopback("fvr-ndi-")

T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped where torch sees no CUDA GPU (torch is only imported if one is collected)."""
    cuda = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU")
    for item in cuda:
        item.add_marker(skip)


def wait_until(predicate: Callable[[], T], what: str = "condition", timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """At most ``n`` torch threads inside the block (small pictures gain nothing from more, and oversubscribed
    OpenMP threads spin on the 2-core machines)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(before, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    with torch_threads(2):
        yield


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


@pytest.fixture(scope="session")
def venue() -> tuple[object, object, dict[str, object]]:
    """The renderers' small ray-cast venue: (TestScene, a 5-camera 320x180 arc Rig, their pictures by name)."""
    from plugin.freeview.rig import Rig
    from plugin.freeview.testscene import TestScene, arc_cameras

    scene = TestScene()
    cams = arc_cameras(5, width=320, height_px=180)
    return scene, Rig(cams), {c.name: scene.render(c)[0] for c in cams}
