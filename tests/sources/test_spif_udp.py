"""aestream's UDP wire format: bit layout, round trips, validation of hostile payloads."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE, SensorSize, make_events
from spikestream.sources.events.live.spif_udp import (
    MAX_EVENTS_PER_PACKET,
    decode_spif_words,
    encode_spif_words,
    out_of_range_mask,
    packetize,
    trailing_fragment_bytes,
)

DAVIS = SensorSize(346, 260)


def _random_events(count: int, sensor: SensorSize, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, sensor.width, count),
        rng.integers(0, sensor.height, count),
        np.sort(rng.integers(0, 1_000_000, count)),
        rng.integers(0, 2, count),
    )


def _word(x: int, y: int, p: int = 0, marker: bool = True) -> int:
    return ((x | (0x8000 if marker else 0)) << 16) | (y & 0x7FFF) | (p << 15)


def test_documented_example_bytes_decode_to_one_event_at_x218_y15() -> None:
    # TESTING.md's example 0x00DA000F lacks the marker bit: aestream ignores the bit, so do we only on request.
    events, n_invalid = decode_spif_words(bytes([0x0F, 0x00, 0xDA, 0x00]), DAVIS, require_marker=False)
    assert n_invalid == 0
    assert (int(events["x"][0]), int(events["y"][0]), int(events["p"][0])) == (218, 15, 0)
    events, n_invalid = decode_spif_words(bytes([0x0F, 0x00, 0xDA, 0x00]), DAVIS)
    assert n_invalid == 1 and len(events) == 0
    events, n_invalid = decode_spif_words(bytes([0x0F, 0x00, 0xDA, 0x80]), DAVIS)
    assert n_invalid == 0
    assert events.dtype == EVENT_DTYPE
    assert (int(events["x"][0]), int(events["y"][0]), int(events["p"][0]), int(events["t"][0])) == (218, 15, 0, 0)


def test_encoded_bytes_follow_the_documented_layout() -> None:
    off = make_events([218], [15], [0], [0])
    on = make_events([218], [15], [0], [1])
    assert encode_spif_words(off, DAVIS).tobytes() == bytes([0x0F, 0x00, 0xDA, 0x80])
    assert encode_spif_words(on, DAVIS).tobytes() == bytes([0x0F, 0x80, 0xDA, 0x80])
    assert encode_spif_words(on, DAVIS).dtype == np.dtype("<u4")


def test_round_trip_keeps_every_coordinate_and_polarity() -> None:
    events = _random_events(5000, DAVIS)
    payload = encode_spif_words(events, DAVIS).tobytes()
    decoded, n_invalid = decode_spif_words(payload, DAVIS)
    assert n_invalid == 0
    for field in ("x", "y", "p"):
        np.testing.assert_array_equal(decoded[field], events[field])
    assert not decoded["t"].any()


def test_round_trip_at_the_largest_15_bit_sensor() -> None:
    sensor = SensorSize(0x8000, 0x8000)
    events = make_events([0, 0x7FFF, 1234], [0x7FFF, 0, 4321], [0, 1, 2], [1, 0, 1])
    decoded, n_invalid = decode_spif_words(encode_spif_words(events, sensor).tobytes(), sensor)
    assert n_invalid == 0
    np.testing.assert_array_equal(decoded[["x", "y", "p"]], events[["x", "y", "p"]])


def test_out_of_range_events_are_dropped_or_clipped_and_counted() -> None:
    sensor = SensorSize(10, 8)
    events = make_events([0, 10, 9, 40000], [0, 0, 8, 3], [0, 1, 2, 3], [1, 1, 0, 1])
    assert out_of_range_mask(events, sensor).tolist() == [False, True, True, True]
    dropped = encode_spif_words(events, sensor)
    assert len(dropped) == 1
    clipped = encode_spif_words(events, sensor, out_of_range="clip")
    decoded, n_invalid = decode_spif_words(clipped.tobytes(), sensor)
    assert n_invalid == 0
    assert list(zip(decoded["x"].tolist(), decoded["y"].tolist())) == [(0, 0), (9, 0), (9, 7), (9, 3)]
    with pytest.raises(ValueError, match="out_of_range"):
        encode_spif_words(events, sensor, out_of_range="wrap")  # type: ignore[arg-type]


def test_invalid_words_are_counted_and_never_decoded() -> None:
    sensor = SensorSize(10, 8)
    words = np.array(
        [_word(1, 2, 1), _word(10, 0), _word(0, 8), _word(3, 3, marker=False), _word(0x7FFF, 0x7FFF), _word(9, 7)],
        dtype="<u4",
    )
    events, n_invalid = decode_spif_words(words.tobytes(), sensor)
    assert n_invalid == 4
    assert list(zip(events["x"].tolist(), events["y"].tolist(), events["p"].tolist())) == [(1, 2, 1), (9, 7, 0)]


@pytest.mark.parametrize("payload_bytes", [1, 2, 3, 5, 9, 515])
def test_truncated_payloads_keep_whole_words_and_drop_the_fragment(payload_bytes: int) -> None:
    words = np.array([_word(1, 1)] * 200, dtype="<u4").tobytes()
    payload = words[:payload_bytes]
    events, n_invalid = decode_spif_words(payload, DAVIS)
    assert trailing_fragment_bytes(len(payload)) == payload_bytes % 4 != 0
    assert len(events) == payload_bytes // 4
    assert n_invalid == 0


def test_empty_payload_is_no_events() -> None:
    events, n_invalid = decode_spif_words(b"", DAVIS)
    assert len(events) == 0 and n_invalid == 0
    assert len(encode_spif_words(np.empty(0, dtype=EVENT_DTYPE), DAVIS)) == 0
    assert packetize(np.empty(0, dtype="<u4")) == []


def test_packetize_splits_at_128_events_and_keeps_order() -> None:
    words = encode_spif_words(_random_events(300, DAVIS), DAVIS)
    packets = packetize(words)
    assert [len(packet) // 4 for packet in packets] == [128, 128, 44]
    assert b"".join(packets) == words.tobytes()
    assert [len(packet) // 4 for packet in packetize(words, 100)] == [100, 100, 100]
    with pytest.raises(ValueError, match="max_events_per_packet"):
        packetize(words, MAX_EVENTS_PER_PACKET + 1)
