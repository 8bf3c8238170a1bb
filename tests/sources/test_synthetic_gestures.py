"""Synthetic DVS gestures: determinism, balance, bounds, sparse = dense rendering, class-specific motion."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE
from spikestream.sources.events.simulation import synthetic_gestures as gestures
from spikestream.sources.events.simulation.synthetic_gestures import (
    GESTURE_CLASSES,
    GestureSimConfig,
    SyntheticGestures,
    simulate_gesture,
)

QUIET = GestureSimConfig(noise_rate_range_hz=(0.01, 0.01), hot_pixel_probability=0.0)  # motion, not noise
SMALL = GestureSimConfig(sensor_width=64, sensor_height=64, duration_range_ms=(400.0, 600.0))


def test_classes_follow_dvs128_gesture_order() -> None:
    assert len(GESTURE_CLASSES) == 11
    assert GESTURE_CLASSES[0] == "hand_clap" and GESTURE_CLASSES[3] == "right_arm_clockwise"
    assert GESTURE_CLASSES[7] == "arm_roll" and GESTURE_CLASSES[10] == "other_gestures"


@pytest.mark.parametrize("label", range(11))
def test_events_are_valid_time_sorted_and_within_bounds(label: int) -> None:
    config = GestureSimConfig()
    events = simulate_gesture(label, seed=100 + label, config=config)
    assert events.dtype == EVENT_DTYPE
    assert events.size > 2000
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["t"][0] >= 0 and events["t"][-1] <= config.duration_range_ms[1] * 1000
    assert events["x"].max() < config.sensor_width and events["y"].max() < config.sensor_height
    assert 0.3 < events["p"].mean() < 0.7


def test_same_seed_is_identical_and_other_seeds_differ() -> None:
    first = simulate_gesture(4, seed=21, config=SMALL)
    np.testing.assert_array_equal(first, simulate_gesture(4, seed=21, config=SMALL))
    other = simulate_gesture(4, seed=22, config=SMALL)
    assert first.size != other.size or not np.array_equal(first, other)


def test_dataset_is_balanced_deterministic_and_indexable() -> None:
    dataset = SyntheticGestures(33, seed=5, config=SMALL)
    assert len(dataset) == 33
    assert np.bincount(dataset.labels, minlength=11).tolist() == [3] * 11
    events, label = dataset[14]
    assert label == 3
    np.testing.assert_array_equal(events, simulate_gesture(3, dataset.sample_seed(14), SMALL))
    np.testing.assert_array_equal(dataset[-19][0], events)
    assert dataset.sample_seed(14) != SyntheticGestures(33, seed=6, config=SMALL).sample_seed(14)
    assert dataset.sensor_size.as_tonic() == (64, 64, 2)
    with pytest.raises(IndexError):
        dataset[33]
    with pytest.raises(ValueError, match="label"):
        simulate_gesture(11, seed=0)


@pytest.mark.parametrize("label", [0, 3, 7, 10])
def test_sparse_rendering_finds_exactly_the_pixels_that_change(label: int) -> None:
    """The annulus shortcut must agree with rendering every full frame and differencing."""
    config = GestureSimConfig(sensor_width=48, sensor_height=48)
    rng = np.random.default_rng(label)
    t_s = np.arange(120) * 0.002
    background, sprites = gestures.build_scene(label, t_s, config, rng)
    sprites = [sprite._replace(centre_px=np.round(sprite.centre_px * 4) / 4) for sprite in sprites]
    dense = np.stack([gestures.render_log_frame(background, sprites, k, 0.75).ravel() for k in range(t_s.size)])
    interval, pixel = np.nonzero(dense[1:] != dense[:-1])
    sparse_pixel, log_start, log_end, frame = gestures.changed_pixel_samples(background, sprites, 0.75)
    assert sparse_pixel.size > 100
    assert sorted(zip((interval + 1).tolist(), pixel.tolist())) == sorted(zip(frame.tolist(), sparse_pixel.tolist()))
    np.testing.assert_allclose(log_start, dense[frame - 1, sparse_pixel], atol=1e-12)
    np.testing.assert_allclose(log_end, dense[frame, sparse_pixel], atol=1e-12)
    assert np.all(np.diff(frame) >= 0)


def test_hand_waves_happen_on_the_documented_side() -> None:
    """The subject's right hand appears on the image's left (x < width/2), and vice versa."""
    half = QUIET.sensor_width // 2
    for seed in range(6):
        assert np.mean(simulate_gesture(1, seed, QUIET)["x"] < half) > 0.7
        assert np.mean(simulate_gesture(2, seed, QUIET)["x"] < half) < 0.3


def centroid_angular_velocity(events: np.ndarray, image_left: bool, width: int, bin_us: int = 10_000) -> float:
    """Mean angular velocity (rad/s, image coordinates with y down) of the per-bin event centroid
    around its mean, using the events on one image half."""
    side = events[(events["x"] < width // 2) if image_left else (events["x"] >= width // 2)]
    bins = side["t"] // bin_us
    counts = np.bincount(bins)
    busy = counts >= 20
    x = np.bincount(bins, side["x"].astype(float))[busy] / counts[busy]
    y = np.bincount(bins, side["y"].astype(float))[busy] / counts[busy]
    angle = np.unwrap(np.arctan2(y - y.mean(), x - x.mean()))
    return float(np.polyfit(np.flatnonzero(busy) * bin_us * 1e-6, angle, 1)[0])


@pytest.mark.parametrize("label", [3, 4, 5, 6])
def test_arm_circles_turn_in_the_documented_direction(label: int) -> None:
    """Clockwise in the image (y down) means the angle around the circle centre increases."""
    clockwise = GESTURE_CLASSES[label].endswith("_clockwise") and "counter" not in GESTURE_CLASSES[label]
    image_left = GESTURE_CLASSES[label].startswith("right_arm")
    for seed in range(4):
        velocity = centroid_angular_velocity(simulate_gesture(label, seed, QUIET), image_left, QUIET.sensor_width)
        assert (velocity > 2.0) if clockwise else (velocity < -2.0), (label, seed, velocity)


def test_air_drums_move_both_hands_and_air_guitar_strums_on_the_image_left() -> None:
    half = QUIET.sensor_width // 2
    for seed in range(4):
        drums = simulate_gesture(8, seed, QUIET)
        assert 0.25 < np.mean(drums["x"] < half) < 0.75
        guitar_left = simulate_gesture(9, seed, QUIET)
        strum = guitar_left[guitar_left["y"] > guitar_left["y"].mean()]  # the strumming hand is the lower one
        assert np.mean(strum["x"] < half + 8) > 0.6


def test_generation_time_per_sample_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Simulation must stay cheap enough to draw fresh training gestures (1,650 per training) and
    scale with the sensor: about 110 ms and 24 k events per 128x128 gesture, a quarter the events at 64x64."""
    lines, per_sample = [], {}
    for name, config in (
        ("128x128", GestureSimConfig()),
        ("64x64", GestureSimConfig(sensor_width=64, sensor_height=64)),
    ):
        simulate_gesture(0, 0, config)  # warm-up
        start = time.perf_counter()
        counts = [simulate_gesture(label, 1000 + label, config).size for label in range(11)]
        per_sample_ms = (time.perf_counter() - start) * 1000 / 11
        lines.append(f"synthetic gestures {name}: {per_sample_ms:.1f} ms/sample, {np.mean(counts):.0f} events/sample")
        per_sample[name] = (per_sample_ms, float(np.mean(counts)))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert per_sample["128x128"][0] < 1000, lines  # 2 slow shared cores: a tenfold margin
    assert 5_000 < per_sample["128x128"][1] < 100_000, lines
    assert 0.1 < per_sample["64x64"][1] / per_sample["128x128"][1] < 0.5, lines  # events scale with the pixel count


def test_sample_recordings_match_their_sidecar() -> None:
    """``recordings/gestures`` (made by ``recordings/make_gesture_recordings.py``): one valid file per
    class, and a sequence whose gestures sit where the sidecar says, with noise-only gaps between."""
    folder = Path(__file__).resolve().parents[2] / "recordings" / "gestures"
    for label, name in enumerate(GESTURE_CLASSES):
        events = np.load(folder / f"gesture_{label:02d}_{name}.npy")
        assert events.dtype == EVENT_DTYPE and events.size > 1000 and np.all(np.diff(events["t"]) >= 0)
    sidecar = json.loads((folder / "gesture_sequence.json").read_text())
    sequence = np.load(folder / "gesture_sequence.npy")
    assert np.all(np.diff(sequence["t"]) >= 0) and sequence["t"][-1] < sidecar["duration_us"]
    edges = (
        [0]
        + [t for entry in sidecar["gestures"] for t in (entry["start_us"], entry["end_us"])]
        + [sidecar["duration_us"]]
    )
    rates = [
        np.count_nonzero((sequence["t"] >= a) & (sequence["t"] < b)) / (b - a) for a, b in zip(edges[:-1], edges[1:])
    ]
    gap_rates, gesture_rates = rates[0::2], rates[1::2]
    assert [entry["name"] for entry in sidecar["gestures"]] == [
        GESTURE_CLASSES[entry["label"]] for entry in sidecar["gestures"]
    ]
    assert min(gesture_rates) > 5 * max(gap_rates)
