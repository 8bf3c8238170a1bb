"""aestream's UDP wire format (SPIF words) as pure functions.

One datagram carries up to :data:`MAX_EVENTS_PER_PACKET` little-endian ``uint32`` words, one per
event, and nothing else (no header, no timestamp)::

    word = ((x | 0x8000) << 16) | (y & 0x7FFF) | (p << 15)

bit 31 is a marker that is always set, bits 30..16 hold ``x``, bit 15 the polarity and bits 14..0
``y``. The bytes ``0F 00 DA 00`` are one OFF event at x=218, y=15. Timestamps do not travel: a
receiver stamps events with their arrival time.

aestream's own receiver trusts every word (no bounds check: an out-of-range coordinate writes
outside its frame). The encoder here therefore never emits an out-of-range coordinate, and the
decoder validates every word.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize

MARKER_BIT = 0x8000_0000  # bit 31 of each word
POLARITY_BIT = 0x0000_8000  # bit 15 of each word
COORDINATE_MASK = 0x7FFF  # 15 bits each for x and y
MAX_EVENTS_PER_PACKET = 128  # aestream reads datagrams into a 512-byte buffer
WORD_BYTES = 4
WORD_DTYPE = np.dtype("<u4")


def out_of_range_mask(events: np.ndarray, sensor_size: SensorSize) -> np.ndarray:
    """Boolean mask ``[N]``: events whose ``x >= width`` or ``y >= height`` (or beyond 15 bits)."""
    width = min(sensor_size.width, COORDINATE_MASK + 1)
    height = min(sensor_size.height, COORDINATE_MASK + 1)
    return (events["x"].astype(np.int64) >= width) | (events["y"].astype(np.int64) >= height)


def encode_spif_words(
    events: np.ndarray,
    sensor_size: SensorSize,
    out_of_range: Literal["drop", "clip"] = "drop",
) -> np.ndarray:
    """Encode an :data:`EVENT_DTYPE` array ``[N]`` as SPIF words ``[M]`` (``<u4``, ``M <= N``).

    Out-of-range coordinates (``x >= width``, ``y >= height``) are dropped (``"drop"``, the default)
    or clamped to the last row/column (``"clip"``); count them with :func:`out_of_range_mask`.
    Timestamps are not encoded. Polarity ``p > 0`` becomes 1.
    """
    if out_of_range not in ("drop", "clip"):
        raise ValueError(f"encode_spif_words: out_of_range must be 'drop' or 'clip', got {out_of_range!r}")
    bad = out_of_range_mask(events, sensor_size)
    x = events["x"].astype(np.uint32)
    y = events["y"].astype(np.uint32)
    p = (events["p"] > 0).astype(np.uint32)
    if out_of_range == "drop":
        keep = ~bad
        x, y, p = x[keep], y[keep], p[keep]
    else:
        x = np.minimum(x, min(sensor_size.width, COORDINATE_MASK + 1) - 1)
        y = np.minimum(y, min(sensor_size.height, COORDINATE_MASK + 1) - 1)
    words = ((x | 0x8000) << 16) | (y & COORDINATE_MASK) | (p << 15)
    return words.astype(WORD_DTYPE, copy=False)


def words_to_events(
    words: np.ndarray, sensor_size: SensorSize, require_marker: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Decode SPIF words ``[M]`` into ``(events [K], valid_mask [M])`` with ``t = 0``.

    A word is valid when ``x < width``, ``y < height`` and (if ``require_marker``) its marker bit
    is set; invalid words are left out of ``events`` (``K = valid_mask.sum()``), so no caller ever
    indexes with them. aestream itself ignores the marker bit; ``require_marker=False`` does too.
    """
    words = np.asarray(words, dtype=np.uint32)
    x = (words >> 16) & COORDINATE_MASK
    y = words & COORDINATE_MASK
    valid = (x < sensor_size.width) & (y < sensor_size.height)
    if require_marker:
        valid &= (words & MARKER_BIT) != 0
    events = np.zeros(int(valid.sum()), dtype=EVENT_DTYPE)
    events["x"] = x[valid]
    events["y"] = y[valid]
    events["p"] = (words[valid] & POLARITY_BIT) != 0
    return events, valid


def trailing_fragment_bytes(payload_bytes: int) -> int:
    """Bytes after the last whole word (``payload_bytes % 4``); nonzero means a malformed packet."""
    return payload_bytes % WORD_BYTES


def decode_spif_words(payload: bytes, sensor_size: SensorSize, require_marker: bool = True) -> tuple[np.ndarray, int]:
    """Decode one datagram into ``(events [K] with t = 0, n_invalid)``.

    ``n_invalid`` counts whole words that fail validation (see :func:`words_to_events`). A payload
    whose length is not a multiple of 4 is malformed (:func:`trailing_fragment_bytes` is nonzero):
    its whole words are decoded and the trailing fragment is dropped; the caller counts it.
    """
    whole_bytes = len(payload) - trailing_fragment_bytes(len(payload))
    words = np.frombuffer(payload, dtype=WORD_DTYPE, count=whole_bytes // WORD_BYTES)
    events, _ = words_to_events(words, sensor_size, require_marker)
    return events, int(len(words) - len(events))


def packetize(words: np.ndarray, max_events_per_packet: int = MAX_EVENTS_PER_PACKET) -> list[bytes]:
    """Split words ``[M]`` into datagram payloads of at most ``max_events_per_packet`` words each."""
    if not 1 <= max_events_per_packet <= MAX_EVENTS_PER_PACKET:
        raise ValueError(
            f"packetize: max_events_per_packet must be in 1..{MAX_EVENTS_PER_PACKET} "
            f"(aestream cuts longer datagrams), got {max_events_per_packet}"
        )
    data = np.ascontiguousarray(words, dtype=WORD_DTYPE).tobytes()
    step = max_events_per_packet * WORD_BYTES
    return [data[start : start + step] for start in range(0, len(data), step)]
