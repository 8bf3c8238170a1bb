"""IBM DVS128 Gesture: its AEDAT 3.1 recordings, their ``_labels.csv``, and tonic's ``.npy`` layout.

AEDAT 3.1: ``#`` header lines up to ``#!END-HEADER\\r\\n``, then packets. Each packet has a 28-byte
little-endian header (eventType int16, eventSource int16, eventSize int32, eventTSOffset int32,
eventTSOverflow int32, eventCapacity int32, eventNumber int32, eventValid int32) and
``eventNumber * eventSize`` bytes of events. Polarity events (type 1, 8 bytes: uint32 data,
int32 timestamp µs) are read; data bit 0 = valid, bit 1 = polarity, bits 2..16 = y,
bits 17..31 = x; ``t = (eventTSOverflow << 31) | timestamp``. Other types and events whose valid
bit is 0 are skipped. :func:`open_recording` scans the packet headers (seeks only), so truncation
and corrupt packet headers are found before any event is delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, file_error

DVS_GESTURE_SIZE = SensorSize(128, 128)
CLASS_NAMES = ("Hand clapping", "Right hand wave", "Left hand wave", "Right arm cw", "Right arm ccw", "Left arm cw",
               "Left arm ccw", "Arm roll", "Air drums", "Air guitar", "Other gestures")
PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"), ("ts_overflow", "<i4"),
                          ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
POLARITY_EVENT = np.dtype([("data", "<u4"), ("t", "<i4")])
POLARITY_TYPE = 1
END_OF_HEADER = b"#!END-HEADER"
_MAX_HEADER_BYTES = 1 << 20


def decode_polarity_events(records: np.ndarray, ts_overflow: int) -> np.ndarray:
    """AEDAT 3.1 polarity records (``POLARITY_EVENT``) → :data:`EVENT_DTYPE`, invalid ones removed."""
    data = records["data"]
    valid = (data & 1).astype(bool)
    data = data[valid]
    events = np.empty(len(data), dtype=EVENT_DTYPE)
    events["x"] = (data >> 17) & 0x7FFF
    events["y"] = (data >> 2) & 0x7FFF
    events["t"] = (np.int64(ts_overflow) << 31) | records["t"][valid].astype(np.int64)
    events["p"] = (data >> 1) & 1
    return events


def read_aedat31_header(path: Path) -> tuple[list[str], int]:
    """``(header lines without '#', byte offset of the first packet)``; raises on a missing end."""
    with path.open("rb") as handle:
        head = handle.read(_MAX_HEADER_BYTES)
    end = head.find(END_OF_HEADER)
    if not head.startswith(b"#!AER-DAT3.1") or end < 0:
        found = "no '#!END-HEADER' line" if head.startswith(b"#!AER-DAT3.1") else f"first bytes {head[:12]!r}"
        raise file_error(path, found, "an AEDAT 3.1 header ('#!AER-DAT3.1' ... '#!END-HEADER')",
                         "The file is truncated or corrupt.")
    line_end = head.find(b"\n", end)
    if line_end < 0:
        raise file_error(path, "a cut '#!END-HEADER' line", "'#!END-HEADER\\r\\n'", "The file is truncated.")
    lines = [line.strip().lstrip("#") for line in head[:end].decode("latin-1").splitlines()]
    return lines, line_end + 1


class Aedat31Recording(EventRecording):
    """A DVS128 Gesture ``.aedat`` (AEDAT 3.1) file, 128x128, streamed packet by packet.

    ``packets``: ``(payload byte offset, event count, ts_overflow)`` of each polarity packet;
    ``invalid_events``: events skipped for a cleared valid bit (latest pass).
    """

    format_name = "aedat3.1"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        super().__init__(Path(path), sensor_size or DVS_GESTURE_SIZE, allow_truncated)
        self.header_lines, offset = read_aedat31_header(self.path)
        self.packets: list[tuple[int, int, int]] = []
        self.invalid_events = 0
        file_bytes = self.path.stat().st_size
        with self.path.open("rb") as handle:
            while offset < file_bytes:
                handle.seek(offset)
                raw = handle.read(PACKET_HEADER.itemsize)
                if len(raw) < PACKET_HEADER.itemsize:
                    self._truncated(f"packet header at byte {offset} has {len(raw)} of 28 bytes")
                    break
                header = np.frombuffer(raw, dtype=PACKET_HEADER)[0]
                size, number = int(header["size"]), int(header["number"])
                self._check_packet(header, offset)
                payload_bytes = size * number
                complete = min(number, (file_bytes - offset - PACKET_HEADER.itemsize) // size)
                if header["type"] == POLARITY_TYPE and complete:
                    self.packets.append((offset + PACKET_HEADER.itemsize, complete, int(header["ts_overflow"])))
                if complete < number:
                    self._truncated(f"packet at byte {offset} announces {number} events, the file holds {complete}")
                    break
                offset += PACKET_HEADER.itemsize + payload_bytes
        if not self.packets:
            raise file_error(self.path, "no polarity-event packets", "AEDAT 3.1 packets of type 1",
                             "The recording is empty or holds other event types only.")

    def _check_packet(self, header: np.void, offset: int) -> None:
        size, number, ts_offset = int(header["size"]), int(header["number"]), int(header["ts_offset"])
        problems = []
        if not 0 <= int(header["type"]) < 256 or size < 1 or size > 1 << 16 or number < 0:
            problems.append(f"type {header['type']}, eventSize {size}, eventNumber {number}")
        elif header["type"] == POLARITY_TYPE and (size != POLARITY_EVENT.itemsize or ts_offset != 4):
            problems.append(f"polarity eventSize {size} / eventTSOffset {ts_offset}")
        elif not 0 <= int(header["valid"]) <= number or int(header["ts_overflow"]) < 0:
            problems.append(f"eventValid {header['valid']} of {number}, eventTSOverflow {header['ts_overflow']}")
        if problems:
            raise file_error(self.path, f"a corrupt packet header at byte {offset} ({problems[0]})",
                             "AEDAT 3.1 packet headers (polarity: eventSize 8, eventTSOffset 4)",
                             "The file is damaged; re-copy it.")

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        self.invalid_events = 0
        with self.path.open("rb") as handle:
            for payload_offset, number, ts_overflow in self.packets:
                handle.seek(payload_offset)
                for start in range(0, number, block_events):
                    records = np.fromfile(handle, dtype=POLARITY_EVENT, count=min(block_events, number - start))
                    events = decode_polarity_events(records, ts_overflow)
                    self.invalid_events += len(records) - len(events)
                    yield events


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
        raise file_error(path, f"header {rows[0] if rows else 'nothing'!r}", "'class,startTime_usec,endTime_usec'",
                         "Is this a DVS Gesture labels file?")
    segments = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            label, start_us, end_us = (int(field) for field in row.split(","))
        except ValueError:
            raise file_error(path, f"line {number} {row!r}", "three integers", "Fix or remove that line.") from None
        if not 1 <= label <= len(CLASS_NAMES) or end_us < start_us:
            raise file_error(path, f"line {number} {row!r}", f"class 1..{len(CLASS_NAMES)} and start <= end",
                             "Fix or remove that line.")
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
            raise file_error(self.folder, "no such folder",
                             "tonic's DVSGesture layout root/DVSGesture/ibmGestureTrain|ibmGestureTest",
                             "Pass the folder that contains 'DVSGesture' as root.")
        found = []
        for user_dir in self.folder.iterdir():
            match = _USER_FOLDER.match(user_dir.name)
            if not user_dir.is_dir() or not match:
                continue
            for npy in user_dir.glob("*.npy"):
                if not npy.stem.isdigit() or int(npy.stem) >= len(CLASS_NAMES):
                    raise file_error(npy, "an unexpected file name", f"'<label>.npy' with label 0..{len(CLASS_NAMES) - 1}",
                                     "Move the file out of the dataset folder.")
                found.append((int(match.group(1)), match.group(2), int(npy.stem), npy))
        if not found:
            raise file_error(self.folder, "no user<NN>_<lighting>/<label>.npy files", "DVS Gesture samples",
                             "Check the dataset was extracted there.")
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
            raise file_error(path, f"an unreadable .npy ({error})", "an (N, 4) array x, y, p, t[ms]",
                             "Re-extract the dataset.") from None
        if table.ndim != 2 or table.shape[1] != 4 or table.dtype.names is not None:
            raise file_error(path, f"an array of shape {table.shape}, dtype {table.dtype}", "an (N, 4) array x, y, p, t[ms]",
                             "Re-extract the dataset.")
        t_ms = table[:, 3]
        t_us = np.rint(t_ms * 1000.0) if t_ms.dtype.kind == "f" else t_ms.astype(np.int64) * 1000
        inside = (table[:, 0] >= 0) & (table[:, 0] < 128) & (table[:, 1] >= 0) & (table[:, 1] < 128)
        self.dropped_out_of_range = int(len(table) - np.count_nonzero(inside))
        events = np.empty(int(np.count_nonzero(inside)), dtype=EVENT_DTYPE)
        events["x"], events["y"] = table[inside, 0], table[inside, 1]
        events["t"], events["p"] = t_us[inside], table[inside, 2] > 0
        return events
