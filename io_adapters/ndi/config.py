"""The NDI SDK's configuration file (``ndi-config.v1.json``): plain JSON, written before the runtime starts.

Nothing here loads the runtime, so a process (or a test session) can keep NDI on loopback before it
knows whether it will use NDI at all, and on a machine whose runtime cannot load.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from plugin.errors import AdapterError

CONFIG_NAME = "ndi-config.v1.json"


def config_path() -> Path:
    """The SDK's configuration file: ``$NDI_CONFIG_DIR/ndi-config.v1.json``, else ``~/.ndi/…``."""
    folder = os.environ.get("NDI_CONFIG_DIR")
    return Path(folder) / CONFIG_NAME if folder else Path.home() / ".ndi" / CONFIG_NAME


def read_config(error: type[AdapterError] = AdapterError) -> dict[str, Any]:
    """The effective SDK configuration (empty when there is no file).

    A file that exists but cannot be read is an ``error``, not an empty configuration: writing a new one
    from nothing would drop its settings (e.g. the allowed network adapters) without a word. Callers on
    the source side pass SourceError and the sink side SinkError, which the capture loop and the engine
    catch (a camera shows LOST with the reason instead of its thread dying).
    """
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise error(f"{path}: not valid JSON ({exc}); fix or remove it") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read the NDI configuration ({exc.strerror})") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: the NDI configuration must be a JSON object")
    return data


def write_config(
    folder: str | os.PathLike[str],
    *,
    discovery: str | None = None,
    adapters: str | None = None,
    base: dict[str, Any] | None = None,
) -> Path:
    """Write an SDK configuration file into ``folder`` and return the folder (for NDI_CONFIG_DIR).

    ``discovery``: Discovery Server(s) ``host[:port]``; a sender with one configured skips mDNS.
    ``adapters``: the only local NIC addresses NDI may use, comma-separated. Multicast sending is
    always off. ``base`` is an existing configuration to extend.
    """
    cfg = json.loads(json.dumps(base or {}))
    ndi = cfg.setdefault("ndi", {})
    if discovery is not None:
        ndi.setdefault("networks", {})["discovery"] = discovery
    if adapters is not None:
        ndi.setdefault("adapters", {})["allowed"] = adapters
    ndi.setdefault("multicast", {}).setdefault("send", {})["enable"] = False
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_NAME).write_text(json.dumps(cfg, indent=2))
    return path


def loopback_config(folder: str | os.PathLike[str]) -> Path:
    """A configuration for tests and single-machine demos: loopback only, no mDNS, no multicast.

    Point ``NDI_CONFIG_DIR`` at the returned folder before the first NDI object is created. The
    Discovery Server named (port 9, where nothing listens) only makes senders skip mDNS
    advertising; receivers then connect by address (``ndi://127.0.0.1:5961``).
    """
    return write_config(folder, discovery="127.0.0.1:9", adapters="127.0.0.1")


def use_loopback(prefix: str, *, replace: bool = False) -> Path:
    """Keep this process's NDI on loopback: write :func:`loopback_config` into a new temporary folder
    (named ``prefix…``) and point ``NDI_CONFIG_DIR`` at it; return the folder NDI will read.

    An ``NDI_CONFIG_DIR`` already set (by the caller, or an earlier call) is kept and returned, unless
    ``replace``. Call it before the first NDI object is created: the SDK reads the file once.
    """
    if "NDI_CONFIG_DIR" in os.environ and not replace:
        return Path(os.environ["NDI_CONFIG_DIR"])
    folder = loopback_config(tempfile.mkdtemp(prefix=prefix))
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    return folder
