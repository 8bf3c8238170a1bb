"""One interface over every event-file format: :func:`open_recording` and :class:`EventRecording`.

Formats: AEDAT 4.0 (iniVation DV), Prophesee DAT / EVT 2.0 / EVT 3.0 ``.raw``, N-MNIST ``.bin``,
AEDAT 3.1 (DVS128 Gesture ``.aedat``), NumPy ``.npy`` / ``.npz``. The format is read from the file's
magic bytes or text header first and from its extension only when the content has no signature
(N-MNIST, a headerless ``.dat``), so a misleading extension never decides.

Every reader streams: :meth:`EventRecording.iter_chunks` yields :data:`EVENT_DTYPE` chunks of exactly
``max_events`` events (the last may be shorter), in file order, holding only about one chunk of the
file in memory. Timestamps are µs as the file states them (never rebased: see ``t0_us``).

Bad input policy (the same for every format):

- missing, empty, unknown, wrong-magic or corrupt-header files raise :class:`EventFileError` from
  :func:`open_recording`, naming the file, what was found, what was expected and what to do;
- a recording that yields no event at all raises :class:`EventFileError` (no silent empty reads);
- a truncated file (cut mid-event or mid-packet) raises :class:`EventFileError`. Formats whose
  layout can be checked from sizes and headers (N-MNIST, DAT, EVT2, EVT3 word alignment, AEDAT 3.1
  packets, ``.npy``) raise it from :func:`open_recording`, before any event is delivered; AEDAT 4
  (compressed packets) only finds the cut while decoding, so ``iter_chunks`` raises it there, after
  the complete chunks before it. With ``allow_truncated=True`` the reader instead delivers every
  complete event before the cut, stores the reason in ``recording.truncation`` and issues an
  :class:`EventFileWarning`;
- events outside the sensor are dropped (never passed on: downstream indexes arrays with them)
  and counted in ``recording.dropped_out_of_range`` (for the latest pass).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .event_array import EVENT_DTYPE, SensorSize

FORMAT_NAMES = ("aedat4", "dat", "evt2", "evt3", "nmnist", "aedat3.1", "npy", "npz")
DEFAULT_MAX_EVENTS = 65_536
DECODE_BLOCK_RANGE = (8_192, 65_536)  # words/events decoded per step, whatever max_events is: fast and bounded
_SNIFF_BYTES = 64


class EventFileError(ValueError):
    """An event file that cannot be read as claimed; the message names the file and the fix."""


class EventFileWarning(UserWarning):
    """A recording was read with losses the caller accepted (e.g. ``allow_truncated=True``)."""


def file_error(path: Path | str, found: str, expected: str, action: str) -> EventFileError:
    """Build an :class:`EventFileError` with the fixed message shape: file, found, expected, action."""
    return EventFileError(f"{path}: found {found}; expected {expected}. {action}")


def in_sensor_mask(events: np.ndarray, sensor_size: SensorSize) -> np.ndarray:
    """Boolean mask, shape ``(N,)``: True where ``x < width`` and ``y < height`` (uint16 fields)."""
    return (events["x"] < sensor_size.width) & (events["y"] < sensor_size.height)


def rechunk(blocks: Iterator[np.ndarray], max_events: int) -> Iterator[np.ndarray]:
    """Regroup arrays of any sizes into chunks of exactly ``max_events`` (the last may be shorter)."""
    pending: list[np.ndarray] = []
    pending_count = 0
    for block in blocks:
        while len(block):
            take = min(len(block), max_events - pending_count)
            pending.append(block[:take])
            pending_count += take
            block = block[take:]
            if pending_count == max_events:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, pending_count = [], 0
    if pending_count:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


class EventRecording(ABC):
    """An opened event file. Subclasses implement :meth:`_decode_blocks` for one format.

    Attributes: ``path``, ``format_name`` (one of :data:`FORMAT_NAMES`), ``sensor_size``,
    ``dropped_out_of_range`` (events outside the sensor in the latest pass), ``truncation``
    (``None``, or why the read stopped early when ``allow_truncated=True``).
    """

    format_name: str = ""

    def __init__(self, path: Path, sensor_size: SensorSize, allow_truncated: bool = False) -> None:
        self.path = Path(path)
        self.sensor_size = sensor_size
        self.allow_truncated = allow_truncated
        self.dropped_out_of_range = 0
        self.truncation: str | None = None
        self._t0_us: int | None = None

    def __repr__(self) -> str:
        size = self.sensor_size
        return f"{type(self).__name__}({str(self.path)!r}, {self.format_name}, {size.width}x{size.height})"

    @abstractmethod
    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        """Yield :data:`EVENT_DTYPE` arrays in file order, each about ``block_events`` long.

        Coordinates are not yet checked against the sensor. Raise :class:`EventFileError` on
        corrupt data; call :meth:`_truncated` where the file is cut.
        """

    def _truncated(self, detail: str) -> None:
        """Raise for a cut file, or (``allow_truncated``) record ``detail`` and warn once."""
        if not self.allow_truncated:
            raise file_error(
                self.path, f"a truncated file ({detail})", "complete events and packets",
                "Re-copy or re-record the file, or open it with allow_truncated=True to read the complete events before the cut.",
            )
        if self.truncation is None:
            self.truncation = detail
            warnings.warn(f"{self.path}: truncated ({detail}); reading the complete events before the cut", EventFileWarning,
                          stacklevel=3)

    def iter_chunks(self, max_events: int = DEFAULT_MAX_EVENTS) -> Iterator[np.ndarray]:
        """Yield :data:`EVENT_DTYPE` chunks of exactly ``max_events`` events (last one shorter).

        Memory stays bounded by a few chunks whatever the file size. Out-of-range events are dropped
        and counted in ``dropped_out_of_range``. Raises :class:`EventFileError` if the file turns
        out to hold no events or (see module docstring) is truncated or corrupt.
        """
        if int(max_events) != max_events or max_events < 1:
            raise ValueError(f"max_events must be a positive integer, got {max_events!r}")
        self.dropped_out_of_range = 0
        delivered = 0
        block_events = min(max(int(max_events), DECODE_BLOCK_RANGE[0]), DECODE_BLOCK_RANGE[1])
        for chunk in rechunk(self._checked_blocks(block_events), int(max_events)):
            delivered += len(chunk)
            yield chunk
        if delivered == 0:
            found = f"no events inside the {self.sensor_size.width}x{self.sensor_size.height} sensor"
            if self.dropped_out_of_range:
                found += f" ({self.dropped_out_of_range} outside it)"
            if self.truncation:
                found += f" before the file's cut ({self.truncation})"
            raise file_error(
                self.path, found, f"at least one {self.format_name} event",
                "Check that the file is a complete recording and that sensor_size is right.",
            )

    def _checked_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        for block in self._decode_blocks(block_events):
            keep = in_sensor_mask(block, self.sensor_size)
            if not keep.all():
                self.dropped_out_of_range += int(len(block) - np.count_nonzero(keep))
                block = block[keep]
            if len(block):
                yield block

    def read_all(self) -> np.ndarray:
        """All events as one :data:`EVENT_DTYPE` array (the whole recording in memory)."""
        chunks = list(self.iter_chunks(1 << 20))
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    @property
    def t0_us(self) -> int:
        """Timestamp of the first in-sensor event, µs (decodes only the first block)."""
        if self._t0_us is None:
            dropped = self.dropped_out_of_range  # some readers count while decoding; keep the last pass's count
            blocks = self._checked_blocks(DECODE_BLOCK_RANGE[0])
            try:
                first = next(blocks, None)
            finally:
                blocks.close()  # closes the file now
                self.dropped_out_of_range = dropped
            if first is None:
                raise file_error(self.path, "no events", f"at least one {self.format_name} event", "Check the file.")
            self._t0_us = int(first["t"][0])
        return self._t0_us


def detect_format(path: Path) -> str:
    """Name of the format of ``path`` (one of :data:`FORMAT_NAMES`), from content first.

    Raises :class:`EventFileError` for missing, empty and unrecognised files.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file", "an event recording",
                         "Check the path (relative paths start at the current directory).")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise file_error(path, "an empty file (0 bytes)", "an event recording", "Re-copy or re-record the file.")
    suffix = path.suffix.lower()
    if head.startswith(b"#!AER-DAT4.0"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT3.1"):
        return "aedat3.1"
    if head.startswith(b"#!AER-DAT"):
        version = head[9:12].decode("ascii", "replace")
        raise file_error(path, f"AEDAT version {version}", "AEDAT 4.0 or 3.1", "Convert the file with DV or jAER to AEDAT 4.0.")
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"%"):
        from .read_prophesee import read_prophesee_header

        return read_prophesee_header(path).format_name
    by_suffix = {".bin": "nmnist", ".dat": "dat"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    known = {".aedat4": "AEDAT 4 magic '#!AER-DAT4.0'", ".aedat": "AEDAT magic '#!AER-DAT3.1'",
             ".raw": "a Prophesee '% ...' header", ".npy": "NumPy magic '\\x93NUMPY'", ".npz": "a zip archive"}
    if suffix in known:
        raise file_error(path, f"first bytes {head[:12]!r}", known[suffix], "The file is corrupt or not what its extension says.")
    raise file_error(
        path, f"an unknown format (extension {suffix or 'none'!r}, first bytes {head[:12]!r})",
        "AEDAT 4.0/3.1, Prophesee DAT/EVT2/EVT3, N-MNIST .bin, .npy or .npz",
        "Pass format_name=... to open_recording if you know the format.",
    )


def open_recording(
    path: str | Path,
    sensor_size: SensorSize | None = None,
    *,
    format_name: str | None = None,
    allow_truncated: bool = False,
) -> EventRecording:
    """Open an event file for streaming (nothing but headers is read here).

    ``sensor_size`` overrides the geometry the file states (or the format's known size); it is
    required for ``.npy`` files and for Prophesee files whose header gives no geometry.
    ``format_name`` (one of :data:`FORMAT_NAMES`) skips detection. See the module docstring for
    ``allow_truncated`` and the error policy.
    """
    path = Path(path)
    if format_name is None:
        format_name = detect_format(path)
    elif format_name not in FORMAT_NAMES:
        raise ValueError(f"format_name must be one of {FORMAT_NAMES}, got {format_name!r}")
    elif not path.is_file() or path.stat().st_size == 0:
        detect_format(path)  # raises the missing / empty file error
    if format_name == "aedat4":
        from .read_aedat4 import Aedat4Recording as recording_class
    elif format_name in ("dat", "evt2", "evt3"):
        from .read_prophesee import PropheseeRecording

        return PropheseeRecording(path, format_name, sensor_size, allow_truncated)
    elif format_name == "nmnist":
        from .read_nmnist import NMnistRecording as recording_class
    elif format_name == "aedat3.1":
        from .read_dvs_gesture import Aedat31Recording as recording_class
    else:
        from .read_numpy import open_numpy_recording

        return open_numpy_recording(path, format_name, sensor_size, allow_truncated)
    return recording_class(path, sensor_size, allow_truncated)


__all__ = [
    "DEFAULT_MAX_EVENTS", "EVENT_DTYPE", "FORMAT_NAMES", "EventFileError", "EventFileWarning",
    "EventRecording", "detect_format", "file_error", "in_sensor_mask", "open_recording", "rechunk",
]
