"""Simulated N-MNIST saccades, checked against the real ATIS recordings of ``nmnist_small``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE
from spikestream.sources.events.formats.dispatch import open_recording
from spikestream.sources.events.simulation.saccades import (
    SaccadeConfig,
    SaccadeDigits,
    SaccadeRandomisation,
    draw_saccade_variant,
    saccade_offsets,
    simulate_saccades,
)
from spikestream.sources.images.mnist import SHARED_MNIST_DIR, mnist_split

SACCADES_US = ((0, 100_000), (100_000, 205_000), (205_000, 310_000))


@pytest.fixture(scope="module")
def real_recordings(dvs_dir) -> list[np.ndarray]:
    paths = sorted((dvs_dir / "nmnist_small").glob("*/*.bin"))
    assert len(paths) == 100
    return [open_recording(path).read_all() for path in paths[::4]]


@pytest.fixture(scope="module")
def simulated_recordings() -> list[np.ndarray]:
    (images, labels), _ = mnist_split(SHARED_MNIST_DIR)
    digits = SaccadeDigits(images[:25], labels[:25], seed=3)
    return [digits[i][0] for i in range(len(digits))]


def per_saccade(recordings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means over recordings: events per saccade ``[3]``, centroid per saccade ``[3, 2]`` (relative to
    the recording's own), events in the 10 ms bins around the saccade peaks and in the rests."""
    counts, centroids, peak_over_rest = [], [], []
    for events in recordings:
        t_us = events["t"] - events["t"][0]
        xy = np.stack([events["x"], events["y"]], axis=1).astype(float)
        inside = [(t_us >= start) & (t_us < end) for start, end in SACCADES_US]
        counts.append([mask.sum() for mask in inside])
        centroids.append([xy[mask].mean(axis=0) - xy.mean(axis=0) for mask in inside])
        rate = np.histogram(t_us, np.arange(0, 310_001, 10_000))[0]
        peak_over_rest.append(rate[[4, 5, 14, 15, 25, 26]].mean() / max(rate[[9, 10, 20, 21]].mean(), 1.0))
    return np.mean(counts, axis=0), np.mean(centroids, axis=0), np.array(peak_over_rest)


def test_simulation_matches_the_real_camera_in_rate_balance_and_rhythm(real_recordings, simulated_recordings):
    real_counts, _, real_rhythm = per_saccade(real_recordings)
    sim_counts, _, sim_rhythm = per_saccade(simulated_recordings)
    real_total = np.mean([len(events) for events in real_recordings])
    sim_total = np.mean([len(events) for events in simulated_recordings])
    assert 0.7 < sim_total / real_total < 1.5, (sim_total, real_total)
    on_share = np.mean([events["p"].mean() for events in simulated_recordings])
    assert 0.47 < on_share < 0.53  # the real camera's ON share is 0.50
    assert np.all(sim_counts > 0.2 * sim_counts.sum()) and np.all(real_counts > 0.2 * real_counts.sum())
    # three bursts: the peaks of each saccade carry several times the events of the rests between them
    assert np.median(real_rhythm) > 4 and np.median(sim_rhythm) > 4


def test_simulated_digit_moves_along_the_real_triangle(real_recordings, simulated_recordings):
    _, real_centroids, _ = per_saccade(real_recordings)
    _, sim_centroids, _ = per_saccade(simulated_recordings)
    assert np.abs(sim_centroids - real_centroids).max() < 1.2, (sim_centroids, real_centroids)
    # saccade 1 goes down, saccade 2 right and up, saccade 3 left (camera moving the other way)
    offsets = saccade_offsets(np.array([0.0, 100.0, 205.0, 305.0]), SaccadeConfig())
    assert offsets[1, 1] > offsets[0, 1] and offsets[2, 0] > offsets[1, 0] and offsets[2, 1] < offsets[1, 1]
    assert np.allclose(offsets[3], offsets[0])  # the triangle closes


def on_minus_off_height_in_saccade_1(recordings: list[np.ndarray]) -> np.ndarray:
    """Per recording: mean y of ``p = 1`` minus mean y of ``p = 0`` events while the digit moves down."""
    separations = []
    for events in recordings:
        moving = events[(events["t"] - events["t"][0] > 20_000) & (events["t"] - events["t"][0] < 80_000)]
        separations.append(moving["y"][moving["p"] == 1].mean() - moving["y"][moving["p"] == 0].mean())
    return np.array(separations)


def test_polarity_as_the_nmnist_files_store_it(real_recordings, simulated_recordings):
    real, simulated = (
        on_minus_off_height_in_saccade_1(real_recordings),
        on_minus_off_height_in_saccade_1(simulated_recordings),
    )
    assert np.all(real < 0) and np.all(simulated < 0)  # p = 1 on the trailing (upper) edge, as the real camera
    assert abs(simulated.mean() - real.mean()) < 1.5, (simulated.mean(), real.mean())
    (images, _), _ = mnist_split(SHARED_MNIST_DIR)
    flipped = simulate_saccades(images[0], 3, replace(SaccadeConfig(), on_polarity=1))
    assert on_minus_off_height_in_saccade_1([flipped])[0] > 0


def test_simulated_recording_looks_like_an_nmnist_file(simulated_recordings):
    events = simulated_recordings[0]
    assert events.dtype == EVENT_DTYPE and np.all(np.diff(events["t"]) >= 0)
    assert events["x"].max() < 34 and events["y"].max() < 34
    assert 290_000 < events["t"][-1] <= 305_000


def test_same_seed_same_events_other_seed_other_events():
    (images, _), _ = mnist_split(SHARED_MNIST_DIR)
    first, again = simulate_saccades(images[0], 7), simulate_saccades(images[0], 7)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, simulate_saccades(images[0], 8))


def test_randomised_variants_stay_in_their_ranges_and_repeat_under_a_seed():
    spread = SaccadeRandomisation()
    base = SaccadeConfig()
    draws = [draw_saccade_variant(base, spread, np.random.default_rng(seed)) for seed in range(50)]
    thresholds = np.array([config.dvs.on_threshold for config in draws])
    low, high = spread.threshold_scale
    nominal = base.dvs.on_threshold
    assert thresholds.min() >= nominal * low * 0.9 and thresholds.max() <= nominal * high * 1.1
    assert thresholds.std() > 0.05  # really spread
    assert all(spread.blur_px[0] <= config.blur_px <= spread.blur_px[1] for config in draws)
    assert draws[3] == draw_saccade_variant(base, spread, np.random.default_rng(3))


def test_brighter_threshold_gives_fewer_events():
    (images, _), _ = mnist_split(SHARED_MNIST_DIR)
    config = SaccadeConfig()
    coarse = replace(config, dvs=replace(config.dvs, on_threshold=1.0, off_threshold=1.0, noise_rate_hz=0.0))
    fine = replace(config, dvs=replace(config.dvs, on_threshold=0.3, off_threshold=0.3, noise_rate_hz=0.0))
    assert len(simulate_saccades(images[1], 0, coarse)) * 2 < len(simulate_saccades(images[1], 0, fine))


def test_bad_settings_and_indices_are_refused():
    with pytest.raises(ValueError, match="one start per vertex"):
        SaccadeConfig(saccade_starts_ms=(0.0,))
    with pytest.raises(ValueError, match="black_level"):
        SaccadeConfig(black_level=0.0)
    digits = SaccadeDigits(np.zeros((2, 1, 28, 28), np.float32), np.array([0, 1]))
    with pytest.raises(IndexError):
        digits[2]
    with pytest.raises(ValueError, match="labels"):
        SaccadeDigits(np.zeros((2, 1, 28, 28), np.float32), np.array([0]))
