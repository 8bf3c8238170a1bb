"""Folders of labelled recordings (audio clips or event recordings) for training and evaluation.

Two layouts are understood:

* **file-name labels** as in the Free Spoken Digit Dataset: ``{label}_{speaker}_{take}.wav``
  (e.g. ``7_jackson_32.wav``); the official FSDD split puts takes 0–4 in the test set;
* **one sub-folder per label**: ``DIR/<label>/*.wav`` (any file names). The speaker is read from
  Speech Commands names ``<speaker>_nohash_<n>`` or FSDD names; otherwise each file is its own speaker.

A take that is not a number (``7_ana_kitchen.wav``) is kept as text; only numbered takes 0–4 of
FSDD-named files count as the official test split. Held-back sets are chosen **by speaker**
(:func:`split_by_speaker`), never by clip, so a model is measured on voices it never heard.

Which files count is a list of extensions: audio (the default) or event recordings.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from .audio.audio_file import AUDIO_EXTENSIONS

FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>[^_]+)$")
SPEECH_COMMANDS_NAME = re.compile(r"^(?P<speaker>.+)_nohash_(?P<take>\d+)$")


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    label: str
    speaker: str | None = None
    take: int | str | None = None  # an int when the name's take is a number


def _take(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def recordings_under(folder: Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """Every file under ``folder`` (recursively) whose extension is in ``extensions``, sorted by path."""
    return sorted(path for path in Path(folder).rglob("*") if path.suffix.lower() in extensions and path.is_file())


def list_labelled_clips(
    folder: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS, what: str = "audio files"
) -> list[LabelledClip]:
    """Every file under ``folder`` whose extension is in ``extensions`` with its label, sorted by path.

    Raises ``ValueError`` naming the folder when it is missing, holds no such file, or mixes files
    whose labels cannot be read from either layout.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(
            f"{folder}: not a folder; expected a folder of labelled recordings (FSDD names or one sub-folder per label)"
        )
    audio = recordings_under(folder, extensions)
    if not audio:
        raise ValueError(f"{folder}: no {what} ({', '.join(extensions)}) found")
    clips, unlabelled = [], []
    for path in audio:
        match = FSDD_NAME.match(path.stem)
        if path.parent != folder:
            commands = SPEECH_COMMANDS_NAME.match(path.stem)
            if commands:  # Speech Commands: the speaker, and a repetition count that is no FSDD take
                clips.append(LabelledClip(path, path.parent.name, commands["speaker"]))
            else:
                speaker, take = (match["speaker"], _take(match["take"])) if match else (None, None)
                clips.append(LabelledClip(path, path.parent.name, speaker, take))
        elif match:
            clips.append(LabelledClip(path, match["label"], match["speaker"], _take(match["take"])))
        else:
            unlabelled.append(path.name)
    if unlabelled:
        raise ValueError(
            f"{folder}: cannot read a label for {len(unlabelled)} file(s) such as {unlabelled[0]!r}; "
            "name them {label}_{speaker}_{take}.wav or put them in one sub-folder per label"
        )
    return clips


def split_by_take(
    clips: list[LabelledClip], test_takes: range = range(0, 5)
) -> tuple[list[LabelledClip], list[LabelledClip]]:
    """Official FSDD split: takes in ``test_takes`` are the test set, the rest train.
    Clips without a take number go to the training set."""
    test = [clip for clip in clips if isinstance(clip.take, int) and clip.take in test_takes]
    train = [clip for clip in clips if not (isinstance(clip.take, int) and clip.take in test_takes)]
    return train, test


def speaker_of(clip: LabelledClip) -> str:
    """The clip's speaker, or its file name when the layout names none (each file its own speaker)."""
    return clip.speaker if clip.speaker is not None else clip.path.stem


def split_by_speaker(
    clips: list[LabelledClip], held_fraction: float = 0.1
) -> tuple[list[LabelledClip], list[LabelledClip]]:
    """Hold back about ``held_fraction`` of the *speakers* (all their clips), chosen by a stable hash of
    the speaker's name as Speech Commands does, so the choice does not change when files are added.
    Returns ``(train, held)``; ``held`` is never empty when there are two speakers or more."""
    if not 0.0 < held_fraction < 1.0:
        raise ValueError(f"held_fraction {held_fraction}: expected a fraction between 0 and 1")
    buckets = {speaker_of(clip): zlib.crc32(speaker_of(clip).encode()) % 10_000 for clip in clips}
    held_speakers = {speaker for speaker, bucket in buckets.items() if bucket < held_fraction * 10_000}
    if not held_speakers and len(buckets) > 1:  # few speakers: hold back the lowest bucket
        held_speakers = {min(buckets, key=buckets.get)}
    if len(held_speakers) == len(buckets):
        held_speakers.discard(max(buckets, key=buckets.get))
    held = [clip for clip in clips if speaker_of(clip) in held_speakers]
    return [clip for clip in clips if speaker_of(clip) not in held_speakers], held


def hold_back(clips: list[LabelledClip]) -> tuple[list[LabelledClip], list[LabelledClip]]:
    """``(train, held)``: FSDD's test takes 0–4 when the names carry them and other takes are left to
    train (:func:`split_by_take`), else about a tenth of the speakers (:func:`split_by_speaker`). ``held``
    is empty only when every clip is one speaker's (one's own voice, takes 0–4 included)."""
    train, held = split_by_take(clips)
    if held and train:
        return train, held
    return split_by_speaker(clips)


def sorted_labels(clips: list[LabelledClip]) -> list[str]:
    """Distinct labels, numeric ones in numeric order."""
    labels = {clip.label for clip in clips}
    return sorted(labels, key=lambda label: (0, int(label)) if label.isdigit() else (1, label))
