"""The errors a user can cause, and the one list the command line maps to exit code 2.

Domain errors live beside the code that detects them (``AudioFileError`` in ``sources.audio``,
``EventFileError`` in ``sources.events``, ``CheckpointError`` in ``models``, ``SinkError`` in
``pipeline.sinks``); each names the file or value, what was expected and what to do.
:class:`UsageError` is the pipeline's own: a target, an option or a model that does not fit.
"""

from __future__ import annotations

EXIT_BAD_INPUT = 2  # a message names the file or value and what was expected
EXIT_OUTPUT_INCOMPLETE = 3  # a sink failed or dropped detections (the summary says which and how many)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; sinks were flushed first


class UsageError(ValueError):
    """A problem with what the caller asked for (a target, an option, a model that does not fit the
    input); the message names the value and what was expected."""


def domain_error_types() -> tuple[type[Exception], ...]:
    """Every error that means "bad input" (exit code 2), imported only when needed (they pull torch)."""
    from ..models.checkpoint import CheckpointError
    from ..sources.audio.audio_file import AudioFileError
    from ..sources.audio.microphone import MicrophoneUnavailable
    from ..sources.events.formats.recording import EventFileError
    from .sinks import SinkError

    return (UsageError, AudioFileError, EventFileError, CheckpointError, MicrophoneUnavailable, SinkError)
