"""N-MNIST / N-Caltech101 ``.bin`` files (ATIS saccades), decoded in NumPy in blocks.

Layout: 5 bytes per event, big-endian bit order: byte 0 = x, byte 1 = y, then 24 bits with the
polarity in the top bit and a 23-bit timestamp (µs) below. As in Orchard's reference reader (and
``tonic.io.read_mnist_file``), an event with ``y == 240`` is a timestamp-overflow marker: it adds
2**13 µs to itself and every later event, and is not an event itself. The file has no header and
no magic bytes, so it is recognised by its ``.bin`` extension; N-MNIST's sensor is 34x34.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize
from .recording import EventRecording, file_error

NMNIST_SIZE = SensorSize(34, 34)
BYTES_PER_EVENT = 5
OVERFLOW_Y = 240
OVERFLOW_STEP_US = 1 << 13


def decode_nmnist_bytes(raw: np.ndarray, overflows_before: int = 0) -> tuple[np.ndarray, int]:
    """Decode ``(N * 5,)`` uint8 bytes → ``(events, overflows_after)``; overflow markers removed.

    ``overflows_before``: markers seen in earlier blocks of the same file (their time offsets carry).
    """
    fields = raw.reshape(-1, BYTES_PER_EVENT).astype(np.int64)
    is_overflow = fields[:, 1] == OVERFLOW_Y
    overflows = overflows_before + np.cumsum(is_overflow)
    t_us = ((fields[:, 2] & 0x7F) << 16) | (fields[:, 3] << 8) | fields[:, 4]
    t_us = t_us + overflows * OVERFLOW_STEP_US
    keep = ~is_overflow
    events = np.empty(int(np.count_nonzero(keep)), dtype=EVENT_DTYPE)
    events["x"] = fields[keep, 0]
    events["y"] = fields[keep, 1]
    events["t"] = t_us[keep]
    events["p"] = fields[keep, 2] >> 7
    return events, int(overflows[-1]) if len(overflows) else overflows_before


class NMnistRecording(EventRecording):
    """An N-MNIST ``.bin`` file; geometry 34x34 unless ``sensor_size`` says otherwise (N-Caltech101)."""

    format_name = "nmnist"

    def __init__(self, path: Path, sensor_size: SensorSize | None = None, allow_truncated: bool = False) -> None:
        super().__init__(Path(path), sensor_size or NMNIST_SIZE, allow_truncated)
        size_bytes = self.path.stat().st_size
        self.record_count = size_bytes // BYTES_PER_EVENT
        if size_bytes % BYTES_PER_EVENT:
            self._truncated(
                f"{size_bytes} bytes is not a whole number of {BYTES_PER_EVENT}-byte events; the last is cut"
            )
        if self.record_count == 0:
            raise file_error(self.path, f"{size_bytes} bytes", "at least one 5-byte N-MNIST event", "Re-copy the file.")

    def _decode_blocks(self, block_events: int) -> Iterator[np.ndarray]:
        overflows = 0
        with self.path.open("rb") as handle:
            for start in range(0, self.record_count, block_events):
                count = min(block_events, self.record_count - start)
                raw = np.fromfile(handle, dtype=np.uint8, count=count * BYTES_PER_EVENT)
                events, overflows = decode_nmnist_bytes(raw, overflows)
                yield events
