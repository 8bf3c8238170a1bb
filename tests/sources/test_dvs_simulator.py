"""The DVS pixel model on hand-built inputs: exact crossings, timing, refractory, noise, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE, SensorSize
from spikestream.sources.events.simulation.dvs_simulator import (
    DvsConfig,
    DvsPixelArray,
    crossing_events,
    draw_pixel_thresholds,
    initial_state,
    simulate_dvs,
)

HALF_LN2 = np.log(2.0) / 2
EXACT = DvsConfig(
    on_threshold=HALF_LN2, off_threshold=HALF_LN2, threshold_mismatch=0.0, refractory_us=0, noise_rate_hz=0.0
)


def frames_of(values: list[float], height: int = 1, width: int = 1) -> np.ndarray:
    """``[T, H, W]`` frames, each uniformly one of ``values``."""
    return np.array(values, dtype=np.float64)[:, None, None] * np.ones((1, height, width))


def test_doubling_with_half_ln2_threshold_gives_two_on_events_at_interpolated_times() -> None:
    events = simulate_dvs(frames_of([1.0, 2.0]), np.array([0, 1000]), EXACT)
    assert events.dtype == EVENT_DTYPE
    assert events["t"].tolist() == [500, 1000]  # ln I crosses ln2/2 halfway, ln2 at the end
    assert events["p"].tolist() == [1, 1]
    assert events["x"].tolist() == [0, 0] and events["y"].tolist() == [0, 0]


def test_doubling_any_level_gives_two_events_despite_rounding() -> None:
    events = simulate_dvs(frames_of([3.3, 6.6]), np.array([0, 1000]), EXACT)  # ln 6.6 − ln 3.3 is ln2 − 1 ulp
    assert events["t"].tolist() == [500, 1000]


def test_decrease_gives_off_events_and_only_the_changed_pixel_fires() -> None:
    frames = np.ones((3, 2, 3))
    frames[2:, 1, 2] = 0.25  # one pixel drops to a quarter (four thresholds) between 1000 and 2000 µs
    events = simulate_dvs(frames, np.array([0, 1000, 2000]), EXACT)
    assert events["p"].tolist() == [0, 0, 0, 0]
    assert events["t"].tolist() == [1250, 1500, 1750, 2000]
    assert set(zip(events["x"].tolist(), events["y"].tolist())) == {(2, 1)}


def test_reference_is_kept_at_the_last_event_so_small_steps_accumulate() -> None:
    step = 0.3 * HALF_LN2  # each frame adds 0.3 thresholds: the 4th interval crosses at 1/3 of its length
    frames = np.exp(step * np.arange(5))
    events = simulate_dvs(frames[:, None, None], np.arange(5) * 3000, EXACT)
    assert events["t"].tolist() == [9000 + 1000]
    assert events["p"].tolist() == [1]
    # 1.5 thresholds then 0.6 more: the reference sits at the crossed level (1.0), so 2.1 crosses again
    log_levels = HALF_LN2 * np.array([0.0, 1.5, 2.1])
    events = simulate_dvs(np.exp(log_levels)[:, None, None], np.array([0, 1500, 2100]), EXACT)
    assert events["t"].tolist() == [1000, 2000]  # level 2.0 is 5/6 of the way from 1.5 to 2.1


def test_refractory_period_drops_events_but_the_reference_still_moves() -> None:
    timestamps = np.array([0, 1000, 2000])
    suppressed = simulate_dvs(frames_of([1.0, 2.0, 2.0]), timestamps, replace(EXACT, refractory_us=600))
    assert suppressed["t"].tolist() == [500]  # the crossing at 1000 µs came 500 µs after: dropped, not delayed
    boundary = simulate_dvs(frames_of([1.0, 2.0]), timestamps[:2], replace(EXACT, refractory_us=500))
    assert boundary["t"].tolist() == [500, 1000]  # exactly one refractory period later is allowed


def test_no_change_and_no_noise_gives_no_events() -> None:
    rng = np.random.default_rng(0)
    static = np.repeat(rng.uniform(0.1, 10.0, (1, 16, 20)), 10, axis=0)
    config = DvsConfig(threshold_mismatch=0.05, refractory_us=0, noise_rate_hz=0.0)
    assert simulate_dvs(static, np.arange(10) * 1000, config, seed=3).size == 0


def test_noise_count_matches_the_poisson_rate() -> None:
    width, height, duration_us, rate_hz = 32, 24, 2_000_000, 5.0
    static = np.ones((2, height, width))
    events = simulate_dvs(static, np.array([0, duration_us]), DvsConfig(noise_rate_hz=rate_hz), seed=11)
    expected = rate_hz * width * height * duration_us * 1e-6  # 7680
    assert abs(events.size - expected) < 5 * np.sqrt(expected)
    assert abs(events["p"].mean() - 0.5) < 5 * 0.5 / np.sqrt(events.size)
    assert events["x"].max() < width and events["y"].max() < height
    assert events["t"].min() >= 0 and events["t"].max() < duration_us
    assert np.all(np.diff(events["t"]) >= 0)


def test_hot_pixels_fire_only_where_drawn() -> None:
    config = DvsConfig(noise_rate_hz=0.0, hot_pixel_count=3, hot_pixel_rate_hz=500.0)
    events = simulate_dvs(np.ones((2, 10, 10)), np.array([0, 1_000_000]), config, seed=5)
    pixels = set(zip(events["x"].tolist(), events["y"].tolist()))
    assert len(pixels) == 3
    assert abs(events.size - 1500) < 5 * np.sqrt(1500)


def moving_bar(frame_count: int = 30, size: int = 24) -> np.ndarray:
    """A bright vertical bar sliding right over a dim gradient, ``[T, H, W]``."""
    x = np.arange(size)
    frames = np.empty((frame_count, size, size))
    for k in range(frame_count):
        frames[k] = 0.5 + 0.02 * x[None, :] + 2.0 * (np.abs(x[None, :] - 0.7 * k - 3) < 2.5)
    return frames


def test_same_seed_gives_identical_events_and_another_seed_differs() -> None:
    frames, timestamps = moving_bar(), np.arange(30) * 1000
    config = DvsConfig(threshold_mismatch=0.1, noise_rate_hz=2.0, hot_pixel_count=1)
    first = simulate_dvs(frames, timestamps, config, seed=7)
    again = simulate_dvs(frames, timestamps, config, seed=7)
    other = simulate_dvs(frames, timestamps, config, seed=8)
    assert first.size > 100
    np.testing.assert_array_equal(first, again)
    assert first.size != other.size or not np.array_equal(first, other)


def test_threshold_mismatch_varies_pixels() -> None:
    uniform = draw_pixel_thresholds(1000, DvsConfig(threshold_mismatch=0.0), np.random.default_rng(0))
    varied = draw_pixel_thresholds(1000, DvsConfig(threshold_mismatch=0.1), np.random.default_rng(0))
    assert np.all(uniform.on == 0.2) and np.all(uniform.off == 0.2)
    assert 0.015 < varied.on.std() < 0.025 and abs(varied.off.mean() - 0.2) < 0.005


def test_streaming_frame_by_frame_equals_the_batch_without_noise() -> None:
    frames, timestamps = moving_bar(), np.arange(30) * 1000
    config = DvsConfig(threshold_mismatch=0.05, refractory_us=300, noise_rate_hz=0.0)
    batch = simulate_dvs(frames, timestamps, config, seed=2)
    camera = DvsPixelArray(SensorSize(24, 24), config, seed=2)
    streamed = np.concatenate([camera.step(frame, int(t)) for frame, t in zip(frames, timestamps)])
    assert batch.size > 100
    np.testing.assert_array_equal(np.sort(batch, order=["t", "y", "x"]), np.sort(streamed, order=["t", "y", "x"]))
    camera.reset()
    assert camera.step(frames[0], 10**9).size == 0  # after reset the first frame only sets references


def test_several_crossings_in_one_interval_keep_per_pixel_order() -> None:
    sensor = 4
    thresholds = draw_pixel_thresholds(sensor, EXACT, np.random.default_rng(0))
    state = initial_state(np.zeros(sensor))
    pixels = np.array([0, 1, 0, 1])  # two consecutive intervals for pixels 0 and 1
    log_start = np.array([0.0, 0.0, 2 * HALF_LN2, -HALF_LN2])
    log_end = np.array([2 * HALF_LN2, -HALF_LN2, 0.0, 0.0])
    t_start, t_end = np.array([0, 0, 1000, 1000]), np.array([1000, 1000, 2000, 2000])
    fired, times, polarity, new_state = crossing_events(
        pixels, log_start, log_end, t_start, t_end, state, thresholds, 0
    )
    by_pixel = {p: sorted(zip(times[fired == p].tolist(), polarity[fired == p].tolist())) for p in (0, 1)}
    assert by_pixel[0] == [(500, 1), (1000, 1), (1500, 0), (2000, 0)]
    assert by_pixel[1] == [(1000, 0), (2000, 1)]
    np.testing.assert_allclose(new_state.reference_log, np.zeros(sensor), atol=1e-12)
    assert state.reference_log.tolist() == [0.0] * sensor  # the input state is not modified
    with pytest.raises(ValueError, match="time order"):
        crossing_events(pixels[::-1], log_start, log_end, t_start[::-1], t_end, state, thresholds, 0)


def test_bad_inputs_are_rejected_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="> 0"):
        simulate_dvs(frames_of([1.0, 0.0]), np.array([0, 1000]))
    with pytest.raises(ValueError, match="increasing"):
        simulate_dvs(frames_of([1.0, 2.0]), np.array([1000, 1000]))
    with pytest.raises(ValueError, match="thresholds"):
        DvsConfig(on_threshold=0.0)
    with pytest.raises(ValueError, match="sensor"):
        DvsPixelArray(SensorSize(4, 3)).step(np.ones((4, 3)), 0)
