"""The REST + WebSocket API and the web operator page (FastAPI), served by uvicorn from a background thread.

Entry point ``fvreplay.controls``: ``rest = "control.rest:RestSurface"``.
"""

from control.rest.app import create_app
from control.rest.server import RestSurface
from control.rest.settings import RestSettings

__all__ = ["RestSettings", "RestSurface", "create_app"]
