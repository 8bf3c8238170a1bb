"""NumPy event files: ``.npy`` structured arrays and ``.npz`` archives, both streamed in blocks.

``.npy``: a 1-D structured array with integer fields ``x, y, t`` (t in µs) and ``p`` (bool or
integer), e.g. tonic's ``events`` or :data:`EVENT_DTYPE`. Only the header is parsed at open; the
records are then read and converted block by block, so the file size does not matter. (Block reads
rather than ``np.memmap``: a memory map's touched pages count as resident memory, the whole file
by the end of a pass; block reads keep the process at a few MB, at the same speed.) A ``.npy`` has
no place for the geometry: ``sensor_size`` must be given to :func:`open_recording`.

``.npz``: either an ``events`` structured array or separate ``x``, ``y``, ``t``, ``p`` arrays, and
optionally ``sensor_size`` = ``[width, height]`` or ``[width, height, polarities]``. The members'
``.npy`` headers are parsed at open and checked against the sizes the zip directory states; the
records are then read block by block from the members' streams (stored or deflated alike), never
with ``numpy.load``, which allocates whatever shape a member's header claims before reading it.

Coordinates are checked on the stored values before any cast, so negative or huge ones are
dropped and counted, never wrapped into range.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tokenize import TokenError
from typing import BinaryIO

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .recording import EventFileError, EventRecording, MissingSensorSizeError, file_error

EVENT_FIELDS = ("x", "y", "t", "p")


def checked_events(
    x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray, sensor_size: SensorSize
) -> tuple[np.ndarray, int]:
    """Pack raw field arrays into :data:`EVENT_DTYPE`, keeping in-sensor events: ``(events, dropped)``."""
    inside = (x >= 0) & (x < sensor_size.width) & (y >= 0) & (y < sensor_size.height)
    count = int(np.count_nonzero(inside))
    events = np.empty(count, dtype=EVENT_DTYPE)
    if count == len(inside):
        events["x"], events["y"], events["t"], events["p"] = x, y, t_us, np.asarray(p) > 0
    else:
        events["x"], events["y"], events["t"] = x[inside], y[inside], t_us[inside]
        events["p"] = np.asarray(p)[inside] > 0
    return events, len(inside) - count


def _check_dtype(path: Path, dtype: np.dtype, where: str) -> None:
    names = dtype.names or ()
    missing = [name for name in EVENT_FIELDS if name not in names]
    if missing:
        raise file_error(
            path,
            f"{where} of dtype {dtype} (missing {missing})",
            "a structured array with fields x, y, t, p",
            "Save events as a structured array (write_npy); tonic's (N, 4) gesture files: use DVSGestureFolder.",
        )
    bad = [name for name in ("x", "y", "t") if dtype[name].kind not in "iu"]
    if bad or dtype["p"].kind not in "biu":
        raise file_error(
            path,
            f"{where} with non-integer fields {bad or ['p']} ({dtype})",
            "integer x, y, t (µs) and bool/integer p",
            "Convert float times to integer microseconds before saving.",
        )


def _need_size(path: Path, sensor_size: SensorSize | None) -> SensorSize:
    if sensor_size is None:
        raise MissingSensorSizeError(
            str(
                file_error(
                    path,
                    "no sensor geometry (a .npy cannot store it)",
                    "sensor_size",
                    "Pass sensor_size=SensorSize(width, height) to open_recording (--sensor WxH on the command line), "
                    "or save a .npz with sensor_size.",
                )
            )
        )
    return sensor_size


_NPY_HEADER_ERRORS = (ValueError, OSError, EOFError, SyntaxError, TokenError)  # what numpy's header parser raises
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    OverflowError,
    RuntimeError,
)  # RuntimeError: encrypted member; NotImplementedError: unknown compression
MAX_SENSOR_SIZE_BYTES = 4096
MAX_NPY_HEADER_BYTES = 10_000  # numpy's own limit for headers it parses (max_header_size)


def read_npy_header(handle: BinaryIO, path: Path, where: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, header bytes)`` of the ``.npy`` stream ``handle`` (read from its start).

    Raises :class:`EventFileError` for a corrupt header, a negative shape or an object dtype
    (``where``: e.g. ``" in member 'x'"``, for the message).
    """
    try:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"format version {version[0]}.{version[1]}; expected 1.0, 2.0 or 3.0")
        # numpy reads the header's stated length in one call, which allocates that many bytes first
        # (up to 4 GiB from a damaged length field): check the length before numpy reads it
        width = 2 if version == (1, 0) else 4
        stated = handle.read(width)
        header_bytes = int.from_bytes(stated, "little")
        if len(stated) < width or header_bytes > MAX_NPY_HEADER_BYTES:
            raise ValueError(f"header length {header_bytes} bytes; expected at most {MAX_NPY_HEADER_BYTES}")
        handle.seek(-width, 1)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran_order, dtype = read_header(handle)
    except _NPY_HEADER_ERRORS as error:
        raise file_error(
            path, f"a corrupt .npy header{where} ({error})", "a NumPy .npy header", "Re-save the array with numpy.save."
        ) from None
    if any(extent < 0 for extent in shape) or dtype.hasobject:
        raise file_error(
            path,
            f"an array of shape {shape}, dtype {dtype}{where}",
            "a non-negative shape and plain dtype",
            "Re-save the array with numpy.save.",
        )
    return shape, dtype, handle.tell()


def _check_1d(path: Path, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    if len(shape) != 1:
        raise file_error(
            path,
            f"{where} of shape {shape}, dtype {dtype}",
            "a 1-D structured event array",
            "Save a 1-D structured array of x, y, t, p.",
        )


class NpyRecording(EventRecording):
    """A ``.npy`` structured event array, read in blocks."""

    format_name = "npy"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        super().__init__(Path(path), _need_size(Path(path), sensor_size), allow_truncated)
        with self.path.open("rb") as handle:
            shape, dtype, self.data_offset = read_npy_header(handle, self.path)
        _check_1d(self.path, shape, dtype, "an array")
        _check_dtype(self.path, dtype, "an array")
        self.dtype = dtype
        stored_bytes = self.path.stat().st_size - self.data_offset
        self.event_count = min(shape[0], stored_bytes // max(dtype.itemsize, 1))
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


@dataclass(frozen=True)
class NpzMember:
    """One ``.npy`` member of an ``.npz``: its zip entry, ``shape`` and ``dtype`` (from its header),
    ``data_offset`` (header bytes inside the member) and ``stored`` (whole records the member holds)."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    data_offset: int
    stored: int


def _member_name(filename: str) -> str:
    """The name ``numpy.load`` gives a member: ``x.npy`` → ``x``."""
    return filename[:-4] if filename.endswith(".npy") else filename


def _read_member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> NpzMember:
    where = f" in member {info.filename!r}"
    with archive.open(info) as handle:
        shape, dtype, data_offset = read_npy_header(handle, path, where)
    stored = max(0, info.file_size - data_offset) // max(dtype.itemsize, 1)
    return NpzMember(info, shape, dtype, data_offset, stored)


def _read_exactly(handle: BinaryIO, byte_count: int, path: Path, info: zipfile.ZipInfo) -> bytes:
    data = handle.read(byte_count)
    if len(data) != byte_count:
        raise file_error(
            path,
            f"member {info.filename!r} ending after {len(data)} of {byte_count} bytes",
            "the member size its zip directory states",
            "The file is damaged; re-save it with numpy.savez.",
        )
    return data


def _read_sensor_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> SensorSize:
    """The ``sensor_size`` member, read only after its header shows it is a few small numbers."""
    member = _read_member_header(archive, info, path)
    value_count = math.prod(member.shape)
    if value_count not in (2, 3) or member.dtype.kind not in "iuf" or info.file_size > MAX_SENSOR_SIZE_BYTES:
        raise file_error(
            path,
            f"sensor_size of shape {member.shape}, dtype {member.dtype}",
            "[width, height] or [width, height, polarities] integers",
            "Re-save with a valid sensor_size.",
        )
    with archive.open(info) as handle:
        raw = _read_exactly(handle, member.data_offset + value_count * member.dtype.itemsize, path, info)
    values = np.frombuffer(raw[member.data_offset :], dtype=member.dtype)
    whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
    if not whole or values.min() < 1 or values.max() >= 1 << 31:
        raise file_error(
            path,
            f"sensor_size {values.tolist()}",
            "[width, height] or [width, height, polarities]",
            "Re-save with a valid sensor_size.",
        )
    return SensorSize(*(int(value) for value in values))


class NpzRecording(EventRecording):
    """A ``.npz`` archive, its members streamed in blocks (see the module docstring).

    ``members``: the :class:`NpzMember` read (``events``, or ``x, y, t, p``); ``event_count``:
    the records they all hold."""

    format_name = "npz"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                infos = {_member_name(info.filename): info for info in archive.infolist()}
                if "events" in infos:
                    names: tuple[str, ...] = ("events",)
                elif all(name in infos for name in EVENT_FIELDS):
                    names = EVENT_FIELDS
                else:
                    raise file_error(
                        path, f"members {sorted(infos)}", "'events' or 'x', 'y', 't', 'p'", "Save with write_npz."
                    )
                members = [_read_member_header(archive, infos[name], path) for name in names]
                if sensor_size is None and "sensor_size" in infos:
                    sensor_size = _read_sensor_size(archive, infos["sensor_size"], path)
        except EventFileError:
            raise
        except _ZIP_ERRORS as error:
            raise file_error(
                path,
                f"an unreadable .npz ({error})",
                "a complete zip of .npy members",
                "The file is truncated or corrupt; re-save it with numpy.savez.",
            ) from None
        if names == ("events",):
            _check_1d(path, members[0].shape, members[0].dtype, "member 'events'")
            _check_dtype(path, members[0].dtype, "member 'events'")
        else:
            if len({member.shape for member in members}) != 1 or len(members[0].shape) != 1:
                raise file_error(
                    path,
                    f"x, y, t, p shapes {[member.shape for member in members]}",
                    "four equal 1-D arrays",
                    "Re-save the events.",
                )
            combined = np.dtype([(name, member.dtype) for name, member in zip(names, members, strict=True)])
            _check_dtype(path, combined, "members x, y, t, p")
        super().__init__(path, _need_size(path, sensor_size), allow_truncated)
        self.members = members
        announced = members[0].shape[0]
        self.event_count = min(announced, *(member.stored for member in members))
        if self.event_count < announced:
            self._truncated(f"members announce {announced} events, the archive holds {self.event_count}")
        if self.event_count == 0:
            raise file_error(path, "an empty event array", "at least one event", "Save a non-empty recording.")

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        try:
            with zipfile.ZipFile(self.path) as archive:
                handles = [archive.open(member.info) for member in self.members]
                for handle, member in zip(handles, self.members, strict=True):
                    _read_exactly(handle, member.data_offset, self.path, member.info)
                for start in range(0, self.event_count, block_events):
                    count = min(block_events, self.event_count - start)
                    arrays = [
                        np.frombuffer(
                            _read_exactly(handle, count * member.dtype.itemsize, self.path, member.info),
                            dtype=member.dtype,
                        )
                        for handle, member in zip(handles, self.members, strict=True)
                    ]
                    columns = [arrays[0][name] for name in EVENT_FIELDS] if len(arrays) == 1 else arrays
                    events, dropped = checked_events(*columns, self.sensor_size)
                    self.dropped_out_of_range += dropped
                    yield events
        except EventFileError:
            raise
        except _ZIP_ERRORS as error:
            raise file_error(
                self.path,
                f"a corrupt .npz member ({error})",
                "complete, undamaged zip members",
                "The file is damaged; re-save it with numpy.savez.",
            ) from None


def open_numpy_recording(
    path: Path, format_name: str, sensor_size: SensorSize | None, allow_truncated: bool
) -> EventRecording:
    """Open a ``.npy`` (``format_name='npy'``) or ``.npz`` recording."""
    recording_class = NpyRecording if format_name == "npy" else NpzRecording
    return recording_class(path, sensor_size, allow_truncated)
