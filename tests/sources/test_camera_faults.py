"""Camera faults (hot pixels, flicker, noise bursts) and gesture streams for the fault bench and tests."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.sources.events.event_array import SensorSize
from spikestream.sources.events.simulation.faults import FAULT_KINDS, FaultConfig, fault_events
from spikestream.sources.events.simulation.gesture_examples import gesture_sequence

SENSOR = SensorSize(32, 24)


def test_hot_pixels_fire_at_their_rate_and_nowhere_else():
    config = FaultConfig(hot_pixel_count=5, hot_pixel_rate_hz=2000.0)
    events = fault_events("hot-pixels", SENSOR, 100_000, 600_000, np.random.default_rng(0), config)
    pixels, counts = np.unique(events["y"].astype(int) * SENSOR.width + events["x"], return_counts=True)
    assert len(pixels) == 5
    assert np.all(np.abs(counts - 1000) < 150)  # 2 kHz for 0.5 s, Poisson
    assert events["t"].min() >= 100_000 and events["t"].max() < 600_000


def test_flicker_alternates_on_and_off_once_per_half_period():
    config = FaultConfig(flicker_hz=100.0, flicker_pixel_share=0.25, flicker_jitter_us=0)
    events = fault_events("flicker", SENSOR, 0, 100_000, np.random.default_rng(1), config)
    pixel_count = len(np.unique(events["y"].astype(int) * SENSOR.width + events["x"]))
    assert abs(pixel_count - 0.25 * SENSOR.width * SENSOR.height) < 40
    assert len(events) == 20 * pixel_count  # 10 periods × (ON + OFF)
    on_times, off_times = np.unique(events["t"][events["p"] == 1]), np.unique(events["t"][events["p"] == 0])
    np.testing.assert_array_equal(on_times, np.arange(0, 100_000, 10_000))
    np.testing.assert_array_equal(off_times, np.arange(5_000, 100_000, 10_000))


def test_noise_burst_rate_and_determinism():
    first = fault_events(
        "noise-burst", SENSOR, 0, 200_000, np.random.default_rng(2), FaultConfig(noise_burst_rate_hz=10)
    )
    again = fault_events(
        "noise-burst", SENSOR, 0, 200_000, np.random.default_rng(2), FaultConfig(noise_burst_rate_hz=10)
    )
    np.testing.assert_array_equal(first, again)
    assert abs(len(first) - 10 * SENSOR.width * SENSOR.height * 0.2) < 120


def test_unknown_fault_kind_is_named():
    with pytest.raises(ValueError, match="stuck.*expected one of hot-pixels, flicker, noise-burst"):
        fault_events("stuck", SENSOR, 0, 1000, np.random.default_rng(0))
    assert FAULT_KINDS == ("hot-pixels", "flicker", "noise-burst")


def test_gesture_sequence_places_recordings_after_gaps_in_order():
    rng = np.random.default_rng(3)
    recordings = [
        fault_events("noise-burst", SENSOR, 5_000, 205_000, rng, FaultConfig(noise_burst_rate_hz=1)) for _ in range(3)
    ]
    recordings = [r[np.argsort(r["t"], kind="stable")] for r in recordings]
    events, spans, end_us = gesture_sequence(recordings, SENSOR, (100.0, 200.0), 0.5, rng)
    assert np.all(np.diff(events["t"]) >= 0) and events["t"][-1] < end_us
    previous_end = 0
    for (onset, end), recording in zip(spans, recordings):
        assert 100_000 <= onset - previous_end <= 200_000
        assert end - onset == int(recording["t"][-1] - recording["t"][0]) + 1
        previous_end = end
    assert 100_000 <= end_us - spans[-1][1] <= 200_000
