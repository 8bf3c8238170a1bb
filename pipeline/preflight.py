"""What the command line can check before it loads the heavy modules: the checkpoints its options
name and the recording a replay reads. ``spikestream replay typo.wav`` or ``--model keyword`` then
fails at once with the message the full path would give, instead of after the seconds torch, Norse
and SciPy take to import (``tests/pipeline/test_cli_audio.py`` checks torch is never imported then)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..models.checkpoint_paths import resolve_checkpoint
from .errors import UsageError

CHECKPOINT_OPTIONS = ("model", "anomaly_model", "init_from", "shared_layers_from")  # each names a checkpoint
STREAMED_RECORDING_COMMANDS = ("replay", "show-activity")  # their `recording` goes through open_stream


def check_recording_path(path: str | Path) -> None:
    """Raise ``UsageError`` unless ``path`` names one recording: a path that does not exist (a name too long
    for the file system cannot) or a folder. ``open_stream`` checks the same."""
    try:
        exists = Path(path).exists()
    except OSError:  # ENAMETOOLONG and the like
        exists = False
    if not exists:
        from ..sources.audio.audio_file import AUDIO_EXTENSIONS  # numpy and soundfile only

        expected = f"an audio file ({' '.join(AUDIO_EXTENSIONS)}) or an event recording"
        raise UsageError(f"{path}: no such file; expected {expected}")
    if Path(path).is_dir():
        raise UsageError(
            f"{path}: a folder; expected one recording (audio or events); "
            "`spikestream batch FOLDER` processes a folder of audio files"
        )


def check_before_loading(args: argparse.Namespace) -> None:
    """Raise ``CheckpointError`` for an option naming no checkpoint, then ``UsageError`` for a streamed
    recording that does not exist (the order the handlers meet them in) or is a folder."""
    for option in CHECKPOINT_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            resolve_checkpoint(value)
    recording = getattr(args, "recording", None)
    if getattr(args, "command", None) in STREAMED_RECORDING_COMMANDS and recording is not None:
        check_recording_path(recording)
