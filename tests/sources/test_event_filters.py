"""Event filters: refractory period (hand-built case, Python reference, chunk invariance) and
denoise (agreement with tonic.transforms.Denoise on real recordings, chunk invariance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tonic

from spikestream.sources.events.event_array import SensorSize, make_events
from spikestream.sources.events.front_end.filters import NEVER_US, denoise_filter, new_filter_state, refractory_filter


def reference_refractory(events: np.ndarray, refractory_us: int) -> np.ndarray:
    """Plain loop: keep an event if its pixel's last kept event is at least ``refractory_us`` older."""
    last_kept: dict[tuple[int, int], int] = {}
    keep = np.zeros(len(events), dtype=bool)
    for index, event in enumerate(events):
        pixel, t_us = (int(event["x"]), int(event["y"])), int(event["t"])
        if pixel not in last_kept or t_us - last_kept[pixel] >= refractory_us:
            keep[index] = True
            last_kept[pixel] = t_us
    return events[keep]


def random_events(rng: np.random.Generator, count: int, sensor: SensorSize, span_us: int) -> np.ndarray:
    t_us = np.sort(rng.integers(0, span_us, count))
    return make_events(
        rng.integers(0, sensor.width, count), rng.integers(0, sensor.height, count), t_us, rng.integers(0, 2, count)
    )


def filter_in_chunks(filter_function, events, window_us, sensor, rng, **options) -> np.ndarray:
    state = new_filter_state(sensor)
    cuts = np.sort(rng.integers(0, len(events) + 1, int(rng.integers(1, 30))))  # repeats → empty chunks
    kept = []
    for chunk in np.split(events, cuts):
        chunk_kept, state = filter_function(chunk, window_us, state, **options)
        kept.append(chunk_kept)
    return np.concatenate(kept)


@pytest.fixture(scope="module")
def davis_events(dvs_dir: Path) -> np.ndarray:
    raw = tonic.io.read_aedat4(str(dvs_dir / "sample.aedat4"))
    return make_events(raw["x"], raw["y"], raw["t"], raw["p"])


@pytest.fixture(scope="module")
def nmnist_events(dvs_dir: Path) -> np.ndarray:
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    raw = tonic.io.read_mnist_file(str(dvs_dir / "sample_nmnist.bin"), dtype=dtype)
    return make_events(raw["x"], raw["y"], raw["t"], raw["p"])


# --- refractory ----------------------------------------------------------------------------------


def test_refractory_by_hand() -> None:
    # pixel (0, 0): 0 kept; 50 (50 after 0) dropped; 100 kept; 160 (60 after 100) dropped; 200 kept;
    # 200 again dropped (0 after); pixel (1, 0) is independent: 55 and 60 → 55 kept, 60 dropped.
    events = make_events(
        x=[0, 0, 1, 1, 0, 0, 0, 0], y=[0] * 8, t_us=[0, 50, 55, 60, 100, 160, 200, 200], p=[1, 0, 1, 1, 1, 1, 0, 1]
    )
    kept, state = refractory_filter(events, 100, sensor_size=SensorSize(2, 1))
    np.testing.assert_array_equal(kept["t"], [0, 55, 100, 200])
    np.testing.assert_array_equal(kept["x"], [0, 1, 0, 0])
    np.testing.assert_array_equal(state, [[200, 55]])
    # the state carries over: at 250 the pixel (0, 0) is still refractory, at 300 it is not
    more, _ = refractory_filter(make_events([0, 0, 1], [0, 0, 0], [250, 300, 300], [1, 1, 1]), 100, state)
    np.testing.assert_array_equal(more["t"], [300, 300])


def test_refractory_zero_keeps_everything() -> None:
    events = make_events([0, 0, 0], [0, 0, 0], [5, 5, 6], [1, 1, 1])
    np.testing.assert_array_equal(refractory_filter(events, 0)[0], events)


@pytest.mark.parametrize("seed", range(6))
def test_refractory_matches_reference_and_is_chunking_invariant(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sensor = SensorSize(int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    events = random_events(rng, int(rng.integers(1, 4000)), sensor, 20_000)
    refractory_us = int(rng.integers(0, 400))
    expected = reference_refractory(events, refractory_us)
    np.testing.assert_array_equal(refractory_filter(events, refractory_us, sensor_size=sensor)[0], expected)
    np.testing.assert_array_equal(filter_in_chunks(refractory_filter, events, refractory_us, sensor, rng), expected)


def test_refractory_on_real_data_matches_reference(davis_events: np.ndarray) -> None:
    events = davis_events[:20000]
    np.testing.assert_array_equal(refractory_filter(events, 2000)[0], reference_refractory(events, 2000))


def test_refractory_survives_timestamps_too_far_apart_for_one_key() -> None:
    events = make_events([0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 3 * 10**18, 3 * 10**18 + 5], [1, 1, 1, 1])
    np.testing.assert_array_equal(refractory_filter(events, 10)[0]["t"], [0, 1, 3 * 10**18])


# --- denoise -------------------------------------------------------------------------------------


@pytest.mark.parametrize("filter_time_us", [1000, 10000])
def test_denoise_equals_tonic_on_davis_recording(davis_events: np.ndarray, filter_time_us: int) -> None:
    assert int(davis_events["t"][0]) >= filter_time_us  # tonic's start-up quirk cannot matter here
    expected = tonic.transforms.Denoise(filter_time=filter_time_us)(davis_events.copy())
    kept, _ = denoise_filter(davis_events, filter_time_us)
    assert 0 < len(kept) < len(davis_events)
    np.testing.assert_array_equal(kept, expected)


def test_denoise_equals_tonic_on_nmnist_after_tonic_start_up(nmnist_events: np.ndarray) -> None:
    """tonic's memory starts at filter_time (as if every pixel fired at 0): before filter_time it keeps
    more. From filter_time on, the decisions are the same (memory holds all events, kept or not)."""
    filter_time_us = 5000
    expected = tonic.transforms.Denoise(filter_time=filter_time_us)(nmnist_events.copy())
    kept, _ = denoise_filter(nmnist_events, filter_time_us, sensor_size=SensorSize(34, 34))
    late = filter_time_us
    np.testing.assert_array_equal(kept[kept["t"] >= late], expected[expected["t"] >= late])
    assert len(expected[expected["t"] < late]) >= len(kept[kept["t"] < late])


@pytest.mark.parametrize("connectivity", [4, 8])
def test_denoise_by_hand(connectivity: int) -> None:
    # (5, 5) at 100: nothing before → dropped. (5, 6) at 150: (5, 5) 50 before, within 100 → kept.
    # (6, 7) at 160: diagonal neighbour (5, 6) → kept only with 8-connectivity.
    # (5, 5) at 300: (5, 6) 150 before → dropped. (4, 5) at 300 after (5, 5) at the same time → kept (array order).
    # (9, 9) at 301 then (9, 8) at 301: the first sees nothing, the second sees the first.
    # (0, 0) at 400: dropped; (1, 0) at 499, 99 after it: kept; (0, 1) at 500, exactly 100 after (0, 0):
    # dropped (the window is strict, as tonic's), but kept with 8-connectivity via (1, 0) at 499.
    events = make_events(
        x=[5, 5, 6, 5, 4, 9, 9, 0, 1, 0],
        y=[5, 6, 7, 5, 5, 9, 8, 0, 0, 1],
        t_us=[100, 150, 160, 300, 300, 301, 301, 400, 499, 500],
        p=[1] * 10,
    )
    kept, state = denoise_filter(events, 100, sensor_size=SensorSize(10, 10), connectivity=connectivity)
    expected_t = [150, 160, 300, 301, 499, 500] if connectivity == 8 else [150, 300, 301, 499]
    np.testing.assert_array_equal(kept["t"], expected_t)
    assert state[5, 5] == 300 and state[7, 6] == 160 and state[0, 0] == 400 and state[9, 0] == NEVER_US


@pytest.mark.parametrize("seed", range(3))
def test_denoise_is_chunking_invariant(davis_events: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    events = davis_events[:30000]
    sensor = SensorSize(346, 260)
    expected, _ = denoise_filter(events, 3000, sensor_size=sensor, connectivity=8)
    np.testing.assert_array_equal(filter_in_chunks(denoise_filter, events, 3000, sensor, rng, connectivity=8), expected)


def test_filters_reject_bad_input() -> None:
    events = make_events([0, 1], [0, 0], [10, 5], [1, 1])
    with pytest.raises(ValueError, match="time order"):
        refractory_filter(events, 10)
    with pytest.raises(ValueError, match="time order"):
        denoise_filter(events, 10)
    with pytest.raises(ValueError, match="refractory_us"):
        refractory_filter(events[:1], -1)
    with pytest.raises(ValueError, match="filter_time_us"):
        denoise_filter(events[:1], 0)
    with pytest.raises(ValueError, match="outside the filter state"):
        denoise_filter(make_events([5], [0], [0], [1]), 10, new_filter_state(SensorSize(3, 3)))
    with pytest.raises(ValueError, match="connectivity"):
        denoise_filter(events[:1], 10, connectivity=6)
