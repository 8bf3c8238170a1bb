"""NumPy event files: ``.npy`` structured arrays (memory-mapped, streamed) and ``.npz`` archives.

``.npy``: a 1-D structured array with integer fields ``x, y, t`` (t in µs) and ``p`` (bool or
integer), e.g. tonic's ``events`` or :data:`EVENT_DTYPE`. Only the header is parsed at open; the
records are then read and converted block by block, so the file size does not matter. (Block reads
rather than ``np.memmap``: a memory map's touched pages count as resident memory, the whole file
by the end of a pass; block reads keep the process at a few MB, at the same speed.) A ``.npy`` has no place for the geometry:
``sensor_size`` must be given to :func:`open_recording`.

``.npz``: either an ``events`` structured array or separate ``x``, ``y``, ``t``, ``p`` arrays, and
optionally ``sensor_size`` = ``[width, height]`` or ``[width, height, polarities]``. Zip members
cannot be memory-mapped, so an ``.npz`` is read whole at open; use ``.npy`` for long recordings.

Coordinates are checked on the stored values before any cast, so negative or huge ones are
dropped and counted, never wrapped into range.
"""

from __future__ import annotations

import zipfile
from tokenize import TokenError
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, file_error

EVENT_FIELDS = ("x", "y", "t", "p")


def checked_events(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray,
                   sensor_size: SensorSize) -> tuple[np.ndarray, int]:
    """Pack raw field arrays into :data:`EVENT_DTYPE`, keeping in-sensor events: ``(events, dropped)``."""
    inside = (x >= 0) & (x < sensor_size.width) & (y >= 0) & (y < sensor_size.height)
    count = int(np.count_nonzero(inside))
    events = np.empty(count, dtype=EVENT_DTYPE)
    if count == len(inside):
        events["x"], events["y"], events["t"], events["p"] = x, y, t_us, np.asarray(p) > 0
    else:
        events["x"], events["y"], events["t"], events["p"] = x[inside], y[inside], t_us[inside], np.asarray(p)[inside] > 0
    return events, len(inside) - count


def _check_dtype(path: Path, dtype: np.dtype, where: str) -> None:
    names = dtype.names or ()
    missing = [name for name in EVENT_FIELDS if name not in names]
    if missing:
        raise file_error(path, f"{where} of dtype {dtype} (missing {missing})", "a structured array with fields x, y, t, p",
                         "Save events as a structured array (write_npy); tonic's (N, 4) gesture files: use DVSGestureFolder.")
    bad = [name for name in ("x", "y", "t") if dtype[name].kind not in "iu"]
    if bad or dtype["p"].kind not in "biu":
        raise file_error(path, f"{where} with non-integer fields {bad or ['p']} ({dtype})",
                         "integer x, y, t (µs) and bool/integer p",
                         "Convert float times to integer microseconds before saving.")


def _need_size(path: Path, sensor_size: SensorSize | None) -> SensorSize:
    if sensor_size is None:
        raise file_error(path, "no sensor geometry (a .npy cannot store it)", "sensor_size",
                         "Pass sensor_size=SensorSize(width, height) to open_recording, or save a .npz with sensor_size.")
    return sensor_size


class NpyRecording(EventRecording):
    """A ``.npy`` structured event array, read in blocks."""

    format_name = "npy"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        super().__init__(Path(path), _need_size(Path(path), sensor_size), allow_truncated)
        try:
            with self.path.open("rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = read_header(handle)
                self.data_offset = handle.tell()
        except (ValueError, OSError, SyntaxError, TokenError) as error:  # numpy's header parser raises all of these
            raise file_error(self.path, f"a corrupt .npy header ({error})", "a NumPy .npy header",
                             "Re-save the array with numpy.save.") from None
        if len(shape) != 1 or dtype.hasobject:
            raise file_error(self.path, f"an array of shape {shape}, dtype {dtype}", "a 1-D structured event array",
                             "Save a 1-D structured array of x, y, t, p.")
        _check_dtype(self.path, dtype, "an array")
        self.dtype = dtype
        stored_bytes = self.path.stat().st_size - self.data_offset
        self.event_count = min(shape[0], stored_bytes // dtype.itemsize)
        if self.event_count < shape[0]:
            self._truncated(f"header announces {shape[0]} events, the file holds {self.event_count}")
        if self.event_count == 0:
            raise file_error(self.path, "an empty event array", "at least one event", "Save a non-empty recording.")

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        with self.path.open("rb") as handle:
            handle.seek(self.data_offset)
            for start in range(0, self.event_count, block_events):
                block = np.fromfile(handle, dtype=self.dtype, count=min(block_events, self.event_count - start))
                events, dropped = checked_events(block["x"], block["y"], block["t"], block["p"], self.sensor_size)
                self.dropped_out_of_range += dropped
                yield events


class NpzRecording(EventRecording):
    """A ``.npz`` archive, read whole at open (see module docstring)."""

    format_name = "npz"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                members = {name: archive[name] for name in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise file_error(path, f"an unreadable .npz ({error})", "a complete zip of .npy members",
                             "The file is truncated or corrupt; re-save it with numpy.savez.") from None
        if "events" in members:
            events = members["events"]
            _check_dtype(path, events.dtype, "member 'events'")
            columns = [events[name] for name in EVENT_FIELDS]
        elif all(name in members for name in EVENT_FIELDS):
            columns = [members[name] for name in EVENT_FIELDS]
            _check_dtype(path, np.dtype([(name, column.dtype) for name, column in zip(EVENT_FIELDS, columns)]),
                         "members x, y, t, p")
        else:
            raise file_error(path, f"members {sorted(members)}", "'events' or 'x', 'y', 't', 'p'", "Save with write_npz.")
        if len({column.shape for column in columns}) != 1 or columns[0].ndim != 1:
            raise file_error(path, f"x, y, t, p shapes {[column.shape for column in columns]}", "four equal 1-D arrays",
                             "Re-save the events.")
        if sensor_size is None and "sensor_size" in members:
            stored = [int(value) for value in np.ravel(members["sensor_size"])]
            if len(stored) not in (2, 3) or min(stored) < 1:
                raise file_error(path, f"sensor_size {stored}", "[width, height] or [width, height, polarities]",
                                 "Re-save with a valid sensor_size.")
            sensor_size = SensorSize(*stored)
        super().__init__(path, _need_size(path, sensor_size), allow_truncated)
        self._columns = columns
        if len(columns[0]) == 0:
            raise file_error(path, "an empty event array", "at least one event", "Save a non-empty recording.")

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self._columns[0]), block_events):
            x, y, t_us, p = (column[start:start + block_events] for column in self._columns)
            events, dropped = checked_events(x, y, t_us, p, self.sensor_size)
            self.dropped_out_of_range += dropped
            yield events


def open_numpy_recording(path: Path, format_name: str, sensor_size: SensorSize | None, allow_truncated: bool) -> EventRecording:
    """Open a ``.npy`` (``format_name='npy'``) or ``.npz`` recording."""
    recording_class = NpyRecording if format_name == "npy" else NpzRecording
    return recording_class(path, sensor_size, allow_truncated)
