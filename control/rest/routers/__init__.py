"""One router per resource: channels, clips (and playlists), cameras, views, system."""
