"""The errors a user can cause, and the one list the command line maps to exit code 2.

Domain errors live beside the code that detects them (``AudioFileError`` in ``sources.audio``,
``EventFileError`` in ``sources.events``, ``CheckpointError`` in ``models``, ``SinkError`` in
``pipeline.sinks``); each names the file or value, what was expected and what to do.
:class:`UsageError` is the pipeline's own: a target, an option or a model that does not fit.
"""

from __future__ import annotations

import errno

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


UNUSABLE_PATH_ERRNOS = (errno.ENAMETOOLONG, errno.ELOOP)  # a path no file system call can follow
SHOWN_PATH_CHARACTERS = 120


def unusable_path_message(error: BaseException) -> str | None:
    """The bad-input message for an ``OSError`` about a path that cannot exist (a name longer than the
    file system allows, a loop of symbolic links) wherever a command met it; ``None`` for any other error."""
    if not isinstance(error, OSError) or error.errno not in UNUSABLE_PATH_ERRNOS:
        return None
    path = str(error.filename)
    shown = path if len(path) <= SHOWN_PATH_CHARACTERS else f"{path[:SHOWN_PATH_CHARACTERS]}… ({len(path)} characters)"
    return f"{shown}: {error.strerror}; expected a path to an existing file or folder"
