"""The one exception tree of fvreplay.

::

    ReplayError                      anything fvreplay raises on purpose
    ├── ProfileError                 a show profile is wrong (file, key path, reason)
    ├── PluginError                  an adapter or control surface could not be found or loaded
    ├── TimingError                  a rate, timecode, slot or reference clock problem (also a timing.errors.TimingError)
    │   └── TimecodeError            a timecode label that does not exist or cannot be parsed
    ├── AdapterError                 frames in or out failed (SDK, socket, file) at an adapter
    │   ├── SourceError              a camera source failed to open or deliver
    │   └── SinkError                an output failed to open or accept a frame
    ├── RecorderError                record trains: memory does not fit, a slot is not held
    │   └── BufferTooLargeError      the profile's record trains need more memory than allowed
    ├── ClipError                    clip and playlist store: unknown ID, bad IN/OUT, storage
    ├── CommandError                 a command refused by the engine (the message says why)
    ├── RenderError                  free-viewpoint geometry or rendering failed
    │   └── CalibrationError         a rig or camera calibration is missing or malformed
    └── ControlError                 a control surface (9-pin, OSC, REST) failed to start or serve

Every message is for a person: it says what was wrong, where, and what to do. Lower-level errors
(OSError, an SDK's exception) are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from timing import errors as _timing_errors


class ReplayError(Exception):
    """Base of every error fvreplay raises on purpose."""


class ProfileError(ReplayError):
    """A show profile is invalid; ``problems`` lists each as 'file: key.path: reason'."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class PluginError(ReplayError):
    """An adapter or control surface could not be found or loaded."""


class TimingError(ReplayError, _timing_errors.TimingError):
    """A frame rate, slot, or reference clock problem.

    ``timing`` (standard library only) raises ``timing.errors.TimingError``; this class is also one,
    so ``except timing.errors.TimingError`` catches both.
    """


class TimecodeError(TimingError, _timing_errors.TimecodeError):
    """A timecode label that does not exist at its rate, or cannot be parsed."""


class AdapterError(ReplayError):
    """Frames in or out failed at an adapter."""


class SourceError(AdapterError):
    """A camera source failed to open or to deliver frames."""


class SinkError(AdapterError):
    """An output failed to open or to accept a frame."""


class RecorderError(ReplayError):
    """A record-train problem: a slot not held, a camera unknown."""


class BufferTooLargeError(RecorderError):
    """The profile's record trains need more memory than the limit allows."""


class ClipError(ReplayError):
    """A clip or playlist problem: unknown ID, bad IN/OUT, storage failure."""


class CommandError(ReplayError):
    """The engine refused a command; the message says why and what would work."""


class RenderError(ReplayError):
    """Free-viewpoint geometry or rendering failed."""


class CalibrationError(RenderError):
    """A rig or camera calibration is missing or malformed."""


class ControlError(ReplayError):
    """A control surface failed to start or to serve."""
