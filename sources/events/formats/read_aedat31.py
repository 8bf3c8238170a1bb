"""AEDAT 3.1 (the IBM DVS128 Gesture ``.aedat`` recordings): :class:`Aedat31Recording`.

The dataset around those files (their ``_labels.csv``, tonic's ``.npy`` folder layout) is
:mod:`spikestream.sources.events.simulation.dvs_gesture_dataset`.

AEDAT 3.1: ``#`` header lines up to ``#!END-HEADER\\r\\n``, then packets. Each packet has a 28-byte
little-endian header (eventType int16, eventSource int16, eventSize int32, eventTSOffset int32,
eventTSOverflow int32, eventCapacity int32, eventNumber int32, eventValid int32) and
``eventNumber * eventSize`` bytes of events. Polarity events (type 1, 8 bytes: uint32 data,
int32 timestamp µs) are read; data bit 0 = valid, bit 1 = polarity, bits 2..16 = y,
bits 17..31 = x; ``t = (eventTSOverflow << 31) | timestamp``. Other types and events whose valid
bit is 0 are skipped. :func:`~.dispatch.open_recording` scans the packet headers (seeks only), so truncation
and corrupt packet headers are found before any event is delivered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, file_error

DVS_GESTURE_SIZE = SensorSize(128, 128)
PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
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
        raise file_error(
            path, found, "an AEDAT 3.1 header ('#!AER-DAT3.1' ... '#!END-HEADER')", "The file is truncated or corrupt."
        )
    line_end = head.find(b"\n", end)
    if line_end < 0:
        raise file_error(path, "a cut '#!END-HEADER' line", "'#!END-HEADER\\r\\n'", "The file is truncated.")
    lines = [line.strip().lstrip("#") for line in head[:end].decode("latin-1").splitlines()]
    return lines, line_end + 1


class Aedat31Recording(EventRecording):
    """A DVS128 Gesture ``.aedat`` (AEDAT 3.1) file, 128x128, streamed packet by packet.

    Opening walks every packet header once (seeks only) and keeps no per-packet list, so memory
    does not grow with the number of packets; each pass walks them again. ``polarity_packets`` /
    ``polarity_events``: polarity packets and their complete events up to ``data_end`` (the end of
    the last complete packet, or the cut); ``invalid_events``: events skipped for a cleared valid
    bit (latest pass).
    """

    format_name = "aedat3.1"
    pass_counters = (*EventRecording.pass_counters, "invalid_events")

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        super().__init__(Path(path), sensor_size or DVS_GESTURE_SIZE, allow_truncated)
        self.header_lines, self.data_offset = read_aedat31_header(self.path)
        self.invalid_events = 0
        self.polarity_packets = self.polarity_events = 0
        self.data_end = self.data_offset
        for _, number, _ in self._walk_packets(check=True):
            self.polarity_packets += 1
            self.polarity_events += number
        if not self.polarity_packets:
            raise file_error(
                self.path,
                "no polarity-event packets",
                "AEDAT 3.1 packets of type 1",
                "The recording is empty or holds other event types only.",
            )

    def _walk_packets(self, check: bool = False) -> Iterator[tuple[int, int, int]]:
        """``(payload byte offset, complete event count, ts_overflow)`` of each polarity packet with events.

        ``check`` (the first walk, at open): validate every header, report a cut and set ``data_end``;
        later walks stop at ``data_end``."""
        file_bytes = self.path.stat().st_size
        end = file_bytes if check else self.data_end
        offset = self.data_offset
        with self.path.open("rb") as handle:
            while offset < end:
                handle.seek(offset)
                raw = handle.read(PACKET_HEADER.itemsize)
                if len(raw) < PACKET_HEADER.itemsize:
                    self._truncated(f"packet header at byte {offset} has {len(raw)} of 28 bytes")
                    break
                header = np.frombuffer(raw, dtype=PACKET_HEADER)[0]
                size, number = int(header["size"]), int(header["number"])
                if check:
                    self._check_packet(header, offset)
                complete = min(number, (file_bytes - offset - PACKET_HEADER.itemsize) // max(size, 1))
                if header["type"] == POLARITY_TYPE and complete:
                    yield offset + PACKET_HEADER.itemsize, complete, int(header["ts_overflow"])
                if complete < number:
                    if check:
                        self._truncated(f"packet at byte {offset} announces {number} events, the file holds {complete}")
                        self.data_end = offset + 1  # later walks stop after this packet's complete events
                    break
                offset += PACKET_HEADER.itemsize + size * number
                if check:
                    self.data_end = offset

    def iter_packets(self) -> Iterator[tuple[int, int, int]]:
        """``(payload byte offset, event count, ts_overflow)`` of each polarity packet, in file order."""
        return self._walk_packets()

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
            raise file_error(
                self.path,
                f"a corrupt packet header at byte {offset} ({problems[0]})",
                "AEDAT 3.1 packet headers (polarity: eventSize 8, eventTSOffset 4)",
                "The file is damaged; re-copy it.",
            )

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        self.invalid_events = 0
        with self.path.open("rb") as handle:
            for payload_offset, number, ts_overflow in self._walk_packets():
                handle.seek(payload_offset)
                for start in range(0, number, block_events):
                    records = np.fromfile(handle, dtype=POLARITY_EVENT, count=min(block_events, number - start))
                    events = decode_polarity_events(records, ts_overflow)
                    self.invalid_events += len(records) - len(events)
                    yield events
