"""``python -m io_adapters.ndi.loopback DIR``: write a loopback-only NDI config into DIR and print DIR.

Used by ``make run`` so the demo's NDI outputs stay on this machine (no mDNS, no multicast) unless
``NDI=network`` is asked for.
"""

from __future__ import annotations

import sys
from pathlib import Path

from io_adapters.ndi.config import loopback_config

if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".fvreplay-cache/ndi-loopback")
    folder.mkdir(parents=True, exist_ok=True)
    print(loopback_config(folder))  # noqa: T201 (the folder is the command's output)
