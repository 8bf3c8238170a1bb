"""The base class of every event-file reader, :class:`EventRecording`, and the shared error policy.

One reader per format subclasses it (``read_aedat4``, ``read_prophesee``, ``read_nmnist``,
``read_aedat31``, ``read_aedat2``, ``read_numpy``); :func:`~.dispatch.open_recording` (in
:mod:`.dispatch`, apart from this module so that the readers and their base class import no circle)
picks one.

Every reader streams: :meth:`EventRecording.iter_chunks` yields :data:`EVENT_DTYPE` chunks of exactly
``max_events`` events (the last may be shorter), in file order, holding only about one chunk of the
file in memory. Timestamps are µs as the file states them (never rebased: see ``t0_us``).

Bad input policy (the same for every format):

- missing, empty, unknown, wrong-magic or corrupt-header files raise :class:`EventFileError` from
  :func:`~.dispatch.open_recording`, naming the file, what was found, what was expected and what to do;
- a recording that yields no event at all raises :class:`EventFileError` (no silent empty reads);
- a truncated file (cut mid-event or mid-packet) raises :class:`EventFileError`. Formats whose
  layout can be checked from sizes and headers (N-MNIST, DAT, EVT2, EVT3 word alignment, AEDAT 3.1
  packets, AEDAT 2.0 records, ``.npy``, ``.npz``) raise it from :func:`~.dispatch.open_recording`,
  before any event is delivered; AEDAT 4 (compressed packets) only finds the cut while decoding, so ``iter_chunks``
  raises it there, after the complete chunks before it. With ``allow_truncated=True`` the reader instead delivers every
  complete event before the cut, stores the reason in ``recording.truncation`` and issues an
  :class:`EventFileWarning`;
- events outside the sensor are dropped (never passed on: downstream indexes arrays with them)
  and counted in ``recording.dropped_out_of_range`` (for the latest pass);
- whatever the bytes, a reader raises nothing but :class:`EventFileError` and allocates nothing in
  proportion to a length, count or timestamp the file states, only to the blocks it reads (one
  exception: the size an AEDAT 4 packet decompresses to, see :mod:`.read_aedat4`);
  ``tests/sources/test_reader_properties.py`` damages files at random to hold every reader to this.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize

DEFAULT_MAX_EVENTS = 65_536
DECODE_BLOCK_RANGE = (8_192, 65_536)  # words/events decoded per step, whatever max_events is: fast and bounded


class EventFileError(ValueError):
    """An event file that cannot be read as claimed; the message names the file and the fix."""


class MissingSensorSizeError(EventFileError):
    """A recording that states no sensor geometry (``.npy``; a Prophesee or AEDAT 4 header without one;
    an AEDAT 2.0 file of an unknown jAER chip),
    opened without ``sensor_size``; callers with a geometry of their own (a model's) may retry with it."""


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

    Attributes: ``path``, ``format_name`` (one of :data:`.dispatch.FORMAT_NAMES`), ``sensor_size``,
    ``dropped_out_of_range`` (events outside the sensor in the latest pass), ``truncation``
    (``None``, or why the read stopped early when ``allow_truncated=True``).
    """

    format_name: str = ""
    pass_counters: tuple[str, ...] = ("dropped_out_of_range",)  # counts of the latest pass (kept by ``t0_us``)

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
                self.path,
                f"a truncated file ({detail})",
                "complete events and packets",
                "Re-copy or re-record the file (or, from Python, open it with allow_truncated=True "
                "to read the complete events before the cut).",
            )
        if self.truncation is None:
            self.truncation = detail
            warnings.warn(
                f"{self.path}: truncated ({detail}); reading the complete events before the cut",
                EventFileWarning,
                stacklevel=3,
            )

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
                self.path,
                found,
                f"at least one {self.format_name} event",
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
            counts = {name: getattr(self, name) for name in self.pass_counters}  # the probe must not reset them
            blocks = self._checked_blocks(DECODE_BLOCK_RANGE[0])
            try:
                first = next(blocks, None)
            finally:
                blocks.close()  # closes the file now
                for name, count in counts.items():
                    setattr(self, name, count)
            if first is None:
                raise file_error(self.path, "no events", f"at least one {self.format_name} event", "Check the file.")
            self._t0_us = int(first["t"][0])
        return self._t0_us


__all__ = [
    "DEFAULT_MAX_EVENTS",
    "EVENT_DTYPE",
    "EventFileError",
    "EventFileWarning",
    "EventRecording",
    "file_error",
    "in_sensor_mask",
    "rechunk",
]
