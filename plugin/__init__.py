"""fvreplay's engine core: frames, record trains, clips, transport, commands, free-viewpoint rendering."""

__version__ = "0.1.0"
