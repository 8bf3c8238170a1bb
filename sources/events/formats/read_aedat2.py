"""AEDAT 2.0 (jAER ``.aedat``, first line ``#!AER-DAT2.0``): :class:`Aedat2Recording`.

Layout (jAER's ``AEFileInputStream``, iniVation's AedatTools): ``#`` text lines, then 8-byte
big-endian records (uint32 address, uint32 timestamp µs) to the end of the file. The header ends at
the first line that does not start with ``#``, or just after a ``# End Of ASCII Header`` line (which
jAER writes, so that a first record whose top byte is 0x23 is not read as a header line); it is
searched in the first :data:`MAX_HEADER_BYTES`. The header names the jAER chip class
(``# AEChip: eu.seebetter.ini.chips.davis.Davis346red``) and the wall-clock start
(``# Creation time: System.currentTimeMillis() 1695355587880``, ms since the epoch), never the geometry.

The address layout follows from the sensor size when one is given (128x128: DVS128; 240x180 and
346x260: DAVIS), else from the chip name (``DVS128`` / ``Tmpdiff128``, ``Davis240``, ``Davis346``);
a file naming another chip needs ``sensor_size`` (:class:`MissingSensorSizeError`), and is then read
with the DAVIS layout unless the size is 128x128.

- DVS128: x address = bits 1..7, y address = bits 8..14, polarity ON when bit 0 is 0; bit 15 (sync)
  or bit 31 marks a special (external) event, skipped and counted in ``special_events``.
- DAVIS: bit 31 set marks an APS (frame) sample when bit 11 is clear and an IMU sample when it is
  set (``aps_samples``, ``imu_samples``); bit 31 clear with bit 10 set is a special event; else a
  polarity event with y address = bits 22..30, x address = bits 12..21, polarity ON = bit 11.

Coordinates: jAER puts row 0 at the *bottom* of the sensor; :data:`EVENT_DTYPE` (like DV, libcaer and
the other formats here) puts it at the top, so the reader stores ``y = height - 1 - y_address`` for both
layouts. x: DAVIS as stored (as jAER's DAVIS extractor and iniVation's aedat4to2 converter do); DVS128
``x = width - 1 - x_address``, because the DVS128's raw x runs right to left: jAER's DVS128 extractor
(``setFlipx(true)``, ``x = sizeX - 1 - x_address``) and libcaer's DVS128 driver ("flip along X axis, to
correct for flipped camera") both mirror it, so this reads a DVS128 file as jAER shows it and as
cAER/DV recorded the same camera (AedatTools flips neither axis: read with a top-left origin, its
image is turned by 180°).
Flipped coordinates are computed in int64 and one beyond the sensor is marked out of range before
any cast (never wrapped), so the base class drops and counts it.

Timestamps are 32 bits and wrap every 2**32 µs (71.6 min): a backward step of more than 2**31 µs
between consecutive records (of any kind, they share one clock) is a wrap and adds 2**32 µs to that
record and all later ones, carried across decode blocks; smaller backward steps are kept as they
are (the chunker drops late events). Sizes show every cut: a data part that is not a whole number
of records is reported as truncated at open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .recording import EventFileError, EventRecording, MissingSensorSizeError, file_error

AEDAT2_MAGIC = b"#!AER-DAT2.0"
AEDAT2_RECORD = np.dtype([("address", ">u4"), ("t", ">u4")])
MAX_HEADER_BYTES = 1 << 20
TIMESTAMP_WRAP_US = 1 << 32
DVS128_SIZE = SensorSize(128, 128)
DAVIS240_SIZE = SensorSize(240, 180)
DAVIS346_SIZE = SensorSize(346, 260)
LAYOUT_LIMITS = {"dvs128": (128, 128), "davis": (1024, 512)}  # (width, height) an address can hold
SIZE_LAYOUTS = {(128, 128): "dvs128", (240, 180): "davis", (346, 260): "davis"}
CHIP_PATTERNS = (  # lower-case pattern in the AEChip class name → (layout, sensor size)
    (re.compile(r"dvs128|tmpdiff128"), "dvs128", DVS128_SIZE),
    (re.compile(r"davis?240"), "davis", DAVIS240_SIZE),
    (re.compile(r"davis?346"), "davis", DAVIS346_SIZE),  # also aedat4to2's 'DAVI346'
)
_END_OF_HEADER = re.compile(rb"#\s*end of ascii header", re.IGNORECASE)  # matched at a line start
_CREATION_MS = re.compile(r"currentTimeMillis(?:\(\))?\s*[:=]?\s*(\d{1,19})(?!\d)")  # no int() of a huge string
_OUTSIDE = 0xFFFF  # a coordinate no sensor of these layouts reaches: dropped and counted by the base class


@dataclass(frozen=True)
class Aedat2Header:
    """What an AEDAT 2.0 header states: ``data_version`` (2.0), ``start_time_ms`` (wall clock, ms since
    the epoch, or None), ``chip_class`` (the jAER AEChip class, or None), the ``lines`` without ``#``
    and ``data_offset``, the byte where the records start."""

    data_version: float
    start_time_ms: int | None
    chip_class: str | None
    lines: tuple[str, ...]
    data_offset: int

    @property
    def chip(self) -> str | None:
        """The chip class without its package, e.g. ``Davis346red``."""
        return self.chip_class.rsplit(".", 1)[-1] if self.chip_class else None


def _header_error(path: Path, found: str) -> EventFileError:
    return file_error(
        path,
        found,
        f"an AEDAT 2.0 header ('#!AER-DAT2.0', '#' lines within {MAX_HEADER_BYTES >> 20} MiB, then records)",
        "The file is truncated or corrupt; re-copy it.",
    )


def _header_end(path: Path, head: bytes, file_bytes: int) -> int:
    """Byte offset where the ``#`` lines of ``head`` (the file's first bytes) end; raises if none does."""
    position = 0
    while position < len(head):
        if head[position : position + 1] != b"#":
            return position
        line_end = head.find(b"\n", position)
        if line_end < 0:
            if len(head) < file_bytes:
                break  # the bound, not the file, ends here
            raise _header_error(path, f"a header cut inside a line (at byte {position})")
        if _END_OF_HEADER.match(head, position, line_end):
            return line_end + 1
        position = line_end + 1
    if len(head) < file_bytes:
        raise _header_error(path, f"no end of the '#' header lines in the first {len(head)} bytes")
    return position  # a header that fills the file: no records


def read_aedat2_header(path: Path) -> Aedat2Header:
    """Parse the header of an AEDAT 2.0 file (reads at most :data:`MAX_HEADER_BYTES`)."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(MAX_HEADER_BYTES)
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if first_line != AEDAT2_MAGIC:
        raise _header_error(path, f"first line {first_line[:24]!r}")
    data_offset = _header_end(path, head, path.stat().st_size)
    lines = tuple(line.lstrip("#").strip() for line in head[:data_offset].decode("latin-1").splitlines())
    start_time_ms = chip_class = None
    for line in lines:
        if start_time_ms is None and line.lower().startswith("creation time:"):
            match = _CREATION_MS.search(line)
            start_time_ms = int(match.group(1)) if match else None
        elif chip_class is None and line.startswith("AEChip:"):
            chip_class = line.partition(":")[2].strip() or None
    return Aedat2Header(2.0, start_time_ms, chip_class, lines, data_offset)


def chip_geometry(chip_class: str | None) -> tuple[str, SensorSize] | None:
    """``(layout, sensor size)`` of a known jAER chip class name, else None."""
    name = (chip_class or "").lower()
    for pattern, layout, size in CHIP_PATTERNS:
        if pattern.search(name):
            return layout, size
    return None


def layout_for(chip_class: str | None, sensor_size: SensorSize) -> str:
    """The address layout of a recording of ``sensor_size``: the size's own (128x128: DVS128; 240x180,
    346x260: DAVIS), else the chip's, else DAVIS (jAER's layout for every chip after the DVS128)."""
    known = chip_geometry(chip_class)
    return SIZE_LAYOUTS.get((sensor_size.width, sensor_size.height)) or (known[0] if known else "davis")


def choose_layout(path: Path, chip_class: str | None, sensor_size: SensorSize | None) -> tuple[str, SensorSize]:
    """``(layout, sensor size)``: the size given wins (with its own layout if it is a known one),
    else the chip's; see the module docstring. Raises :class:`MissingSensorSizeError` for an unknown
    chip without a size, :class:`EventFileError` for a size the layout's addresses cannot hold."""
    known = chip_geometry(chip_class)
    if sensor_size is None:
        if known is None:
            raise MissingSensorSizeError(
                str(
                    file_error(
                        path,
                        f"the jAER chip {chip_class!r}, whose address layout and size are not known here"
                        if chip_class
                        else "no '# AEChip:' line (the jAER chip, which sets the address layout)",
                        "a DVS128, DAVIS240 or DAVIS346 recording, or a sensor size",
                        "Pass sensor_size=SensorSize(width, height) to open_recording (--sensor WxH on the "
                        "command line): 128x128 reads DVS128 addresses, any other size DAVIS addresses.",
                    )
                )
            )
        return known
    layout = layout_for(chip_class, sensor_size)
    max_width, max_height = LAYOUT_LIMITS[layout]
    if sensor_size.width > max_width or sensor_size.height > max_height:
        raise file_error(
            path,
            f"sensor size {sensor_size.width}x{sensor_size.height}",
            f"at most {max_width}x{max_height} for {layout.upper()} addresses",
            "Pass the sensor size of the camera that recorded the file.",
        )
    return layout, sensor_size


def unwrap_timestamps(raw_us: np.ndarray, previous_raw_us: int | None, wraps: int) -> tuple[np.ndarray, int, int]:
    """32-bit timestamps ``(N,)`` (µs) → ``(t_us int64 (N,), last raw value, wraps after)``.

    A backward step of more than 2**31 µs from the previous record (``previous_raw_us``: the last one of
    the block before, None at the start) counts one more wrap of 2**32 µs; ``wraps`` carries the count.
    """
    raw = raw_us.astype(np.int64)
    if len(raw) == 0:
        return raw, previous_raw_us, wraps
    before = np.empty_like(raw)
    before[0] = raw[0] if previous_raw_us is None else previous_raw_us
    before[1:] = raw[:-1]
    wrap_count = wraps + np.cumsum(before - raw > TIMESTAMP_WRAP_US >> 1)
    return raw + (wrap_count << 32), int(raw[-1]), int(wrap_count[-1])


def _flipped(address_coordinate: np.ndarray, size: int) -> np.ndarray:
    """``size - 1 - c`` in int64, with coordinates beyond ``size`` set to ``_OUTSIDE`` (never negative)."""
    flipped = (size - 1) - address_coordinate.astype(np.int64)
    flipped[flipped < 0] = _OUTSIDE
    return flipped


def decode_addresses(
    address: np.ndarray, layout: str, sensor_size: SensorSize
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """uint32 addresses ``(N,)`` → ``(keep, x, y, p, skipped)``: ``keep`` (N,) bool selects the polarity
    events; their x, y (int64, top-left origin, see the module docstring; out of range: ``_OUTSIDE``)
    and p (uint8, 1 = ON); ``skipped``: counts of the other words by kind."""
    if layout == "dvs128":
        special = (address & 0x80008000) != 0
        keep = ~special
        kept = address[keep]
        x = _flipped((kept >> 1) & 0x7F, sensor_size.width)
        y, p = _flipped((kept >> 8) & 0x7F, sensor_size.height), (kept & 1) == 0
        skipped = {"aps_samples": 0, "imu_samples": 0, "special_events": int(np.count_nonzero(special))}
    else:
        aps_or_imu = (address & 0x80000000) != 0
        bit11 = (address & 0x800) != 0
        special = ~aps_or_imu & ((address & 0x400) != 0)
        keep = ~aps_or_imu & ~special
        kept = address[keep]
        x = ((kept >> 12) & 0x3FF).astype(np.int64)
        y, p = _flipped((kept >> 22) & 0x1FF, sensor_size.height), (kept & 0x800) != 0
        skipped = {
            "aps_samples": int(np.count_nonzero(aps_or_imu & ~bit11)),
            "imu_samples": int(np.count_nonzero(aps_or_imu & bit11)),
            "special_events": int(np.count_nonzero(special)),
        }
    return keep, x, y, p.astype(np.uint8), skipped


class Aedat2Recording(EventRecording):
    """A jAER AEDAT 2.0 file (DVS128 or DAVIS addresses, see the module docstring), streamed in blocks.

    ``header`` (:class:`Aedat2Header`), ``layout`` (``"dvs128"`` or ``"davis"``), ``record_count``
    (complete 8-byte records); ``aps_samples``, ``imu_samples``, ``special_events``: words skipped in
    the latest pass (not events)."""

    format_name = "aedat2"
    pass_counters = (*EventRecording.pass_counters, "aps_samples", "imu_samples", "special_events")

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        path = Path(path)
        self.header = read_aedat2_header(path)
        self.layout, size = choose_layout(path, self.header.chip_class, sensor_size)
        super().__init__(path, size, allow_truncated)
        self.aps_samples = self.imu_samples = self.special_events = 0
        data_bytes = self.path.stat().st_size - self.header.data_offset
        self.record_count = data_bytes // AEDAT2_RECORD.itemsize
        if data_bytes % AEDAT2_RECORD.itemsize:
            self._truncated(
                f"{data_bytes} bytes after the header is not a whole number of 8-byte records; the last is cut"
            )
        if self.record_count == 0:
            raise file_error(
                self.path,
                f"no events (a {self.header.data_offset}-byte header and {data_bytes} bytes after it)",
                "8-byte AEDAT 2.0 records after the header",
                "The file holds a header only: re-copy or re-export the recording.",
            )

    def skipped_words(self) -> dict[str, int]:
        """Words of the latest pass that are not polarity events: APS and IMU samples, special events."""
        return {"aps_samples": self.aps_samples, "imu_samples": self.imu_samples, "special_events": self.special_events}

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        self.aps_samples = self.imu_samples = self.special_events = 0
        previous_raw_us, wraps = None, 0
        with self.path.open("rb") as handle:
            handle.seek(self.header.data_offset)
            for start in range(0, self.record_count, block_events):
                records = np.fromfile(handle, dtype=AEDAT2_RECORD, count=min(block_events, self.record_count - start))
                t_us, previous_raw_us, wraps = unwrap_timestamps(records["t"], previous_raw_us, wraps)
                keep, x, y, p, skipped = decode_addresses(records["address"], self.layout, self.sensor_size)
                self.aps_samples += skipped["aps_samples"]
                self.imu_samples += skipped["imu_samples"]
                self.special_events += skipped["special_events"]
                events = np.empty(len(x), dtype=EVENT_DTYPE)
                events["x"], events["y"], events["t"], events["p"] = x, y, t_us[keep], p
                yield events
