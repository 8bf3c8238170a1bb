"""Folders of labelled recordings (audio clips or event recordings) for training and evaluation.

Two layouts are understood:

* **file-name labels** as in the Free Spoken Digit Dataset: ``{label}_{speaker}_{take}.wav``
  (e.g. ``7_jackson_32.wav``); the official FSDD split puts takes 0–4 in the test set;
* **one sub-folder per label**: ``DIR/<label>/*.wav`` (any file names).

Which files count is a list of extensions: audio (the default) or event recordings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .audio.audio_file import AUDIO_EXTENSIONS

FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>\d+)$")


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    label: str
    speaker: str | None = None
    take: int | None = None


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
    audio = sorted(path for path in folder.rglob("*") if path.suffix.lower() in extensions and path.is_file())
    if not audio:
        raise ValueError(f"{folder}: no {what} ({', '.join(extensions)}) found")
    clips, unlabelled = [], []
    for path in audio:
        match = FSDD_NAME.match(path.stem)
        if path.parent != folder:
            clips.append(
                LabelledClip(
                    path, path.parent.name, match["speaker"] if match else None, int(match["take"]) if match else None
                )
            )
        elif match:
            clips.append(LabelledClip(path, match["label"], match["speaker"], int(match["take"])))
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
    test = [clip for clip in clips if clip.take is not None and clip.take in test_takes]
    train = [clip for clip in clips if clip.take is None or clip.take not in test_takes]
    return train, test


def sorted_labels(clips: list[LabelledClip]) -> list[str]:
    """Distinct labels, numeric ones in numeric order."""
    labels = {clip.label for clip in clips}
    return sorted(labels, key=lambda label: (0, int(label)) if label.isdigit() else (1, label))
