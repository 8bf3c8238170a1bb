"""Steady pixel rates (the hot-pixel measure of the event front end), against counts done by hand."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.sources.events.event_array import SensorSize
from spikestream.sources.events.front_end.framing import EventFrontEndConfig
from spikestream.sources.events.front_end.pixel_rate import SteadyPixelRate, steady_pixel_rates
from spikestream.sources.events.front_end.streaming import EventFrontEnd
from spikestream.sources.events.simulation.dvs_simulator import pack_events, sort_by_time
from spikestream.sources.events.simulation.faults import fault_events
from spikestream.sources.events.simulation.synthetic_gestures import SyntheticGestures

SENSOR = SensorSize(128, 128)
BIN_US = 25_000


def events_at(pixel: int, times_us: list[int]) -> np.ndarray:
    return pack_events(np.full(len(times_us), pixel), np.asarray(times_us, np.int64), np.ones(len(times_us)), 128)


def by_hand(events: np.ndarray, window_bins: int, t_start_us: int = 0) -> np.ndarray:
    """max over pixels of min over the last window_bins bins of the per-pixel counts, in Hz."""
    bins = (events["t"] - t_start_us) // BIN_US
    counts = np.zeros((int(bins.max()) + 1, SENSOR.width * SENSOR.height), np.int64)
    np.add.at(counts, (bins, events["y"].astype(int) * SENSOR.width + events["x"].astype(int)), 1)
    steady = [counts[max(0, k - window_bins + 1) : k + 1].min(axis=0).max() if k >= window_bins - 1 else 0
              for k in range(len(counts))]  # fmt: skip
    return np.asarray(steady, np.float64) * 1e6 / BIN_US


def test_a_steady_pixel_counts_and_a_passing_burst_does_not():
    steady = events_at(5, list(range(1_000, 100_000, 1_000)))  # 1 kHz from 1 ms to 100 ms: 25 events a bin
    burst = events_at(77, [30_000 + i for i in range(20)])  # 20 events at once in one bin: an edge
    rates = steady_pixel_rates(sort_by_time(steady, burst), 128, 128, BIN_US, 2)
    assert rates[0] == 0.0  # one bin seen: no pixel has fired in two yet
    assert rates[1] == pytest.approx(24 * 40.0)  # bin 0 holds 24 events (1..24 ms), bin 1 25: min 24
    assert rates[3] == pytest.approx(25 * 40.0)  # the burst (20 in bin 1, 0 in bin 2) never counts


def test_streaming_equals_the_whole_recording_whatever_the_chunks():
    rng = np.random.default_rng(3)
    events = SyntheticGestures(2, seed=31)[0][0]
    events = sort_by_time(events, fault_events("hot-pixels", SENSOR, 200_000, 500_000, rng))
    start_us = int(events["t"][0])
    whole = steady_pixel_rates(events, 128, 128, BIN_US, 2, start_us)
    np.testing.assert_array_equal(whole, by_hand(events, 2, start_us))
    assert whole.max() >= 800.0  # the 1 kHz fault pixels
    for seed in range(3):
        cuts = np.sort(np.random.default_rng(seed).integers(0, len(events), 40))
        front_end = EventFrontEnd(EventFrontEndConfig(128, 128, bin_ms=25.0, downsample_factor=8))
        front_end.track_pixel_rates(2)
        rates, steps = [], 0
        for low, high in zip(np.r_[0, cuts], np.r_[cuts, len(events)]):
            steps += front_end.push(events[low:high]).shape[0]
            rates.append(front_end.take_pixel_rates())
        steps += front_end.flush().shape[0]
        rates.append(front_end.take_pixel_rates())
        streamed = np.concatenate(rates)
        assert len(streamed) == steps == len(whole)  # one rate per step the front end returned
        np.testing.assert_array_equal(streamed, whole)


def test_a_gap_starts_the_window_again_and_empty_bins_break_it():
    front_end = EventFrontEnd(EventFrontEndConfig(128, 128, bin_ms=25.0))
    front_end.track_pixel_rates(2)
    front_end.push(events_at(9, list(range(0, 50_000, 1_000))))  # bins 0 and 1 (1 kHz)
    front_end.advance_to(50_000)
    assert front_end.take_pixel_rates().tolist() == [0.0, 1000.0]
    front_end.skip_to(10_000_000)  # a gap: the pixel's history is forgotten
    front_end.push(events_at(9, list(range(10_000_000, 10_025_000, 1_000))))
    front_end.advance_to(10_050_000)  # one bin of 25 events, then an empty one
    assert front_end.take_pixel_rates().tolist() == [0.0, 0.0]
    assert EventFrontEnd(EventFrontEndConfig(128, 128)).take_pixel_rates() is None  # not tracked: no cost
    with pytest.raises(ValueError, match="window_bins must be >= 1"):
        SteadyPixelRate(128, 128, BIN_US, 0)
