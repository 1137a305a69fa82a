"""NDI in and out: ``ndi://`` camera sources, ``ndi://FVR <channel>`` outputs, the multiviewer, the sim rig as NDI.

Sources connect by NDI name (found through mDNS or a Discovery Server, ``?discovery=host``) or by
address (``ndi://10.0.0.5:5961``, for networks without discovery). Outputs are named ``FVR <channel>``
and print where receivers can connect to them (:meth:`NdiSink.describe`). For tests and single-machine
demos, :mod:`io_adapters.ndi.config` writes an SDK configuration that keeps NDI on 127.0.0.1 with no mDNS
(``loopback_config``, ``use_loopback``).

Names are imported on first use, so that a command line can add ``--ndi`` options without loading
the NDI runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from io_adapters.ndi.multiview import Multiviewer
    from io_adapters.ndi.sink import NdiSink
    from io_adapters.ndi.source import NdiSource

__all__ = ["Multiviewer", "NdiSink", "NdiSource"]

_HOMES = {
    "Multiviewer": "io_adapters.ndi.multiview",
    "NdiSink": "io_adapters.ndi.sink",
    "NdiSource": "io_adapters.ndi.source",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'io_adapters.ndi' has no attribute {name!r}")
