"""IBM DVS128 Gesture as a dataset: its class names, the ``_labels.csv`` beside each AEDAT 3.1
recording, and tonic's on-disk ``.npy`` folder layout (:class:`DVSGestureFolder`).

The recordings themselves are read by :mod:`spikestream.sources.events.formats.read_aedat31`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..event_array import EVENT_DTYPE
from ..formats.read_aedat31 import DVS_GESTURE_SIZE
from ..formats.recording import file_error

CLASS_NAMES = (
    "Hand clapping",
    "Right hand wave",
    "Left hand wave",
    "Right arm cw",
    "Right arm ccw",
    "Left arm cw",
    "Left arm ccw",
    "Arm roll",
    "Air drums",
    "Air guitar",
    "Other gestures",
)


def is_dvs_gesture_root(data: str | Path | None) -> bool:
    """A tonic DVSGesture layout (``DVSGesture/ibmGestureTrain``, ``…/ibmGestureTest``) under ``data``."""
    return data is not None and (Path(data) / "DVSGesture").is_dir()


class GestureSegment(NamedTuple):
    """One labelled gesture of a recording: 0-based class index and its time span in µs."""

    label_index: int
    start_us: int
    end_us: int


def labels_path_for(recording_path: Path | str) -> Path:
    """``user01_fluorescent.aedat`` → ``user01_fluorescent_labels.csv`` beside it."""
    recording_path = Path(recording_path)
    return recording_path.with_name(f"{recording_path.stem}_labels.csv")


def read_gesture_labels(path: Path | str) -> list[GestureSegment]:
    """Read ``class,startTime_usec,endTime_usec`` rows; classes 1..11 become label indices 0..10."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file", "a DVS Gesture '<recording>_labels.csv'", "Check the path.")
    rows = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not rows or rows[0].replace(" ", "").lower() != "class,starttime_usec,endtime_usec":
        raise file_error(
            path,
            f"header {rows[0] if rows else 'nothing'!r}",
            "'class,startTime_usec,endTime_usec'",
            "Is this a DVS Gesture labels file?",
        )
    segments = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            label, start_us, end_us = (int(field) for field in row.split(","))
        except ValueError:
            raise file_error(path, f"line {number} {row!r}", "three integers", "Fix or remove that line.") from None
        if not 1 <= label <= len(CLASS_NAMES) or end_us < start_us:
            raise file_error(
                path,
                f"line {number} {row!r}",
                f"class 1..{len(CLASS_NAMES)} and start <= end",
                "Fix or remove that line.",
            )
        segments.append(GestureSegment(label - 1, start_us, end_us))
    return segments


_USER_FOLDER = re.compile(r"^user(\d+)_(.+)$")


class DVSGestureFolder:
    """tonic's on-disk DVSGesture: ``root/DVSGesture/ibmGesture{Train,Test}/user<NN>_<lighting>/<label>.npy``.

    Each ``.npy`` is an ``(N, 4)`` array of x, y, p, t with t in **ms**. ``samples`` lists
    ``(path, label_index)`` sorted by user, lighting and label (tonic keeps ``os.walk`` order);
    ``user_ids`` / ``lightings`` run parallel to it. Reads files directly (no ``tonic.datasets``).
    """

    sensor_size = DVS_GESTURE_SIZE

    def __init__(self, root: Path | str, train: bool = True) -> None:
        self.folder = Path(root) / "DVSGesture" / ("ibmGestureTrain" if train else "ibmGestureTest")
        if not self.folder.is_dir():
            raise file_error(
                self.folder,
                "no such folder",
                "tonic's DVSGesture layout root/DVSGesture/ibmGestureTrain|ibmGestureTest",
                "Pass the folder that contains 'DVSGesture' as root.",
            )
        found = []
        for user_dir in self.folder.iterdir():
            match = _USER_FOLDER.match(user_dir.name)
            if not user_dir.is_dir() or not match:
                continue
            for npy in user_dir.glob("*.npy"):
                if not npy.stem.isdigit() or int(npy.stem) >= len(CLASS_NAMES):
                    raise file_error(
                        npy,
                        "an unexpected file name",
                        f"'<label>.npy' with label 0..{len(CLASS_NAMES) - 1}",
                        "Move the file out of the dataset folder.",
                    )
                found.append((int(match.group(1)), match.group(2), int(npy.stem), npy))
        if not found:
            raise file_error(
                self.folder,
                "no user<NN>_<lighting>/<label>.npy files",
                "DVS Gesture samples",
                "Check the dataset was extracted there.",
            )
        found.sort(key=lambda item: item[:3])
        self.samples = [(path, label) for _, _, label, path in found]
        self.user_ids = [user for user, _, _, _ in found]
        self.lightings = [lighting for _, lighting, _, _ in found]
        self.dropped_out_of_range = 0

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> np.ndarray:
        """Events of sample ``index`` as :data:`EVENT_DTYPE` (t in µs = ms * 1000, rounded)."""
        path = self.samples[index][0]
        try:
            table = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise file_error(
                path, f"an unreadable .npy ({error})", "an (N, 4) array x, y, p, t[ms]", "Re-extract the dataset."
            ) from None
        if table.ndim != 2 or table.shape[1] != 4 or table.dtype.names is not None:
            raise file_error(
                path,
                f"an array of shape {table.shape}, dtype {table.dtype}",
                "an (N, 4) array x, y, p, t[ms]",
                "Re-extract the dataset.",
            )
        t_ms = table[:, 3]
        t_us = np.rint(t_ms * 1000.0) if t_ms.dtype.kind == "f" else t_ms.astype(np.int64) * 1000
        inside = (table[:, 0] >= 0) & (table[:, 0] < 128) & (table[:, 1] >= 0) & (table[:, 1] < 128)
        self.dropped_out_of_range = int(len(table) - np.count_nonzero(inside))
        events = np.empty(int(np.count_nonzero(inside)), dtype=EVENT_DTYPE)
        events["x"], events["y"] = table[inside, 0], table[inside, 1]
        events["t"], events["p"] = t_us[inside], table[inside, 2] > 0
        return events
