"""Event framing: exact agreement with tonic's ToFrame, streaming chunk invariance, crop/downsample
/binary semantics, config round trip, and rendering to GIF/PNG. The binning tests run on both kernels
(numba-compiled and NumPy fallback, see the ``backend`` fixture)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import tonic
from PIL import Image, ImageSequence

from spikestream.sources.events import render
from spikestream.sources.events.event_array import SensorSize, make_events
from spikestream.sources.events.front_end import binning_kernel, framing
from spikestream.sources.events.front_end.filters import denoise_filter, refractory_filter
from spikestream.sources.events.front_end.framing import (
    EventFrontEndConfig,
    FrameEvents,
    StreamingEventFramer,
    bin_events,
)


def tonic_frame_count(t_us: np.ndarray, bin_us: int) -> int:
    """Number of frames ``ToFrame(time_window=bin_us, include_incomplete=True)`` makes (slicers.py)."""
    return max(1, math.ceil((int(t_us[-1]) - int(t_us[0]) - bin_us) / bin_us) + 1)


def tonic_frames(events: np.ndarray, sensor: SensorSize, bin_us: int) -> np.ndarray:
    to_frame = tonic.transforms.ToFrame(sensor_size=sensor.as_tonic(), time_window=bin_us, include_incomplete=True)
    return to_frame(events.copy())  # ToFrame may overwrite the caller's p field


def random_events(rng: np.random.Generator, count: int, sensor: SensorSize, span_us: int, t0_us: int = 0) -> np.ndarray:
    t_us = np.sort(rng.integers(t0_us, t0_us + span_us, count))
    return make_events(
        rng.integers(0, sensor.width, count), rng.integers(0, sensor.height, count), t_us, rng.integers(0, 2, count)
    )


@pytest.fixture(scope="module")
def nmnist_events(dvs_dir: Path) -> np.ndarray:
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    raw = tonic.io.read_mnist_file(str(dvs_dir / "sample_nmnist.bin"), dtype=dtype)
    return make_events(raw["x"], raw["y"], raw["t"], raw["p"])


@pytest.fixture(scope="module")
def davis_events(dvs_dir: Path) -> np.ndarray:
    raw = tonic.io.read_aedat4(str(dvs_dir / "sample.aedat4"))  # its polarity field is titled "p", named "on"
    return make_events(raw["x"], raw["y"], raw["t"], raw["p"])


NMNIST = SensorSize(34, 34)
DAVIS = SensorSize(346, 260)


@pytest.fixture(params=["numba", "numpy"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the compiled kernel, then on the NumPy fallback (as without numba, in small
    blocks so that blocks straddle bin edges)."""
    if request.param == "numba" and binning_kernel.frame_block_numba is None:
        pytest.skip("numba is not installed")
    if request.param == "numpy":
        monkeypatch.setattr(binning_kernel, "frame_block_numba", None)
        monkeypatch.setattr(binning_kernel, "BLOCK_EVENTS", 257)
    return request.param


@pytest.mark.parametrize("bin_us", [1000, 3333, 20000, 400000])
def test_bin_events_equals_tonic_on_nmnist(backend: str, nmnist_events: np.ndarray, bin_us: int) -> None:
    expected = tonic_frames(nmnist_events, NMNIST, bin_us)
    frames = bin_events(
        nmnist_events, NMNIST, int(nmnist_events["t"][0]), bin_us, tonic_frame_count(nmnist_events["t"], bin_us)
    )
    assert frames.dtype == np.float32 and frames.shape == expected.shape
    np.testing.assert_array_equal(frames, expected)


@pytest.mark.parametrize("bin_us", [1000, 10000, 33333])
def test_bin_events_equals_tonic_on_davis(backend: str, davis_events: np.ndarray, bin_us: int) -> None:
    expected = tonic_frames(davis_events, DAVIS, bin_us)
    frames = bin_events(
        davis_events, DAVIS.as_tonic(), int(davis_events["t"][0]), bin_us, tonic_frame_count(davis_events["t"], bin_us)
    )
    np.testing.assert_array_equal(frames, expected)
    # the streaming framer and the one-shot transform agree with tonic too
    counts = EventFrontEndConfig(DAVIS.width, DAVIS.height, bin_ms=bin_us / 1000, output_mode="counts")
    np.testing.assert_array_equal(FrameEvents(counts)(davis_events)[: len(expected)], expected)


@pytest.mark.parametrize("small_window_cells", [0, 1 << 40])  # NumPy path: one add.at per bin, or per block
@pytest.mark.parametrize("seed", range(6))
def test_bin_events_equals_tonic_on_random_events(
    monkeypatch: pytest.MonkeyPatch, backend: str, small_window_cells: int, seed: int
) -> None:
    monkeypatch.setattr(binning_kernel, "_SMALL_WINDOW_CELLS", small_window_cells)
    rng = np.random.default_rng(seed)
    sensor = SensorSize(int(rng.integers(1, 40)), int(rng.integers(1, 30)))
    events = random_events(
        rng, int(rng.integers(1, 5000)), sensor, int(rng.integers(1, 200000)), t0_us=int(rng.integers(0, 10**12))
    )
    bin_us = int(rng.integers(1, 20000 if seed % 2 else 300))  # even seeds: many bins per block
    frames = bin_events(events, sensor, int(events["t"][0]), bin_us, tonic_frame_count(events["t"], bin_us))
    np.testing.assert_array_equal(frames, tonic_frames(events, sensor, bin_us))
    tonic_dtype = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])  # tonic's readers' int fields
    as_tonic = np.array(events.tolist(), dtype=tonic_dtype)
    np.testing.assert_array_equal(bin_events(as_tonic, sensor, int(events["t"][0]), bin_us, len(frames)), frames)


@pytest.mark.parametrize(
    "settings",
    [
        dict(output_mode="counts", roi=(3, 2, 20, 17), downsample_factor=3),
        dict(output_mode="binary", roi=(0, 5, 31, 20), downsample_factor=4),
        dict(output_mode="binary", refractory_ms=0.3),
        dict(output_mode="counts", downsample_factor=2, denoise_ms=1.0),
    ],
)
def test_numba_and_numpy_kernels_give_identical_frames(monkeypatch: pytest.MonkeyPatch, settings: dict) -> None:
    if binning_kernel.frame_block_numba is None:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(11)
    events = random_events(rng, 20000, NMNIST, 300_000, t0_us=5)
    config = EventFrontEndConfig(NMNIST.width, NMNIST.height, bin_ms=0.9, **settings)
    compiled = [
        push_in_chunks(StreamingEventFramer(config), events, np.random.default_rng(1)),
        FrameEvents(config)(events),
    ]
    compiled.append(bin_events(events, NMNIST, 3, 700, 500))
    monkeypatch.setattr(binning_kernel, "frame_block_numba", None)
    fallback = [
        push_in_chunks(StreamingEventFramer(config), events, np.random.default_rng(1)),
        FrameEvents(config)(events),
    ]
    fallback.append(bin_events(events, NMNIST, 3, 700, 500))
    for ours, theirs in zip(compiled, fallback):
        assert ours.shape == theirs.shape and ours.sum() > 0
        np.testing.assert_array_equal(ours, theirs)


def test_big_endian_fields_fall_back_to_numpy() -> None:
    events = make_events([0, 1, 1], [0, 0, 1], [10, 11, 30], [1, 0, 1])
    expected = bin_events(
        events, SensorSize(2, 2), 10, 10, 3
    )  # first the native build, then same-looking swapped arrays
    swapped = events.astype(events.dtype.newbyteorder(">"))
    np.testing.assert_array_equal(bin_events(swapped, SensorSize(2, 2), 10, 10, 3), expected)


def test_first_bin_starts_at_first_event_like_tonic() -> None:
    """tonic's bins start at t[0], not at 0: an event 2.5 bins after t = 0 lands in tonic's frame 0."""
    events = make_events([1, 2, 3], [0, 0, 0], [2500, 3400, 3600], [1, 1, 0])
    sensor = SensorSize(4, 1)
    expected = tonic_frames(events, sensor, 1000)
    assert (
        expected.shape[0] == 2 and expected[0, 1, 0, 1] == 1 and expected[0, 1, 0, 2] == 1 and expected[1, 0, 0, 3] == 1
    )
    np.testing.assert_array_equal(bin_events(events, sensor, 2500, 1000, 2), expected)
    aligned_to_zero = bin_events(events, sensor, 0, 1000, 4)  # a different convention gives different frames
    assert aligned_to_zero[2].sum() == 1 and aligned_to_zero[3].sum() == 2


def test_tonic_drops_last_event_when_span_is_a_multiple_of_the_bin() -> None:
    events = make_events([0, 1, 2], [0, 0, 0], [100, 600, 1100], [1, 1, 1])
    sensor = SensorSize(3, 1)
    expected = tonic_frames(events, sensor, 500)
    assert expected.shape[0] == 2 and expected.sum() == 2  # tonic loses the event at t[0] + 2·bin
    config = EventFrontEndConfig(3, 1, bin_ms=0.5, output_mode="counts")
    frames = FrameEvents(config)(events)
    np.testing.assert_array_equal(frames[:2], expected)
    assert frames.shape[0] == 3 and frames[2, 1, 0, 2] == 1


def test_channel_zero_is_off_and_one_is_on() -> None:
    events = make_events([0, 1], [0, 0], [0, 1], [0, 1])
    frames = bin_events(events, SensorSize(2, 1), 0, 10, 1)
    np.testing.assert_array_equal(frames[0, 0, 0], [1, 0])
    np.testing.assert_array_equal(frames[0, 1, 0], [0, 1])


def push_in_chunks(framer: StreamingEventFramer, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cuts = np.sort(rng.integers(0, len(events) + 1, int(rng.integers(0, 40))))  # repeats give empty chunks
    frames = [framer.push(chunk) for chunk in np.split(events, cuts)]
    frames.append(framer.flush())
    return np.concatenate(frames)


CONFIGS = [
    dict(output_mode="counts"),
    dict(output_mode="binary"),
    dict(output_mode="counts", roi=(3, 2, 20, 17), downsample_factor=3),
    dict(output_mode="binary", downsample_factor=4, refractory_ms=0.5),
    dict(output_mode="counts", roi=(0, 5, 31, 20), denoise_ms=2.0, refractory_ms=0.2),
    dict(output_mode="log-counts", downsample_factor=2),
]


@pytest.mark.parametrize("settings", CONFIGS)
@pytest.mark.parametrize("seed", range(3))
def test_streaming_framer_is_chunking_invariant(
    backend: str, nmnist_events: np.ndarray, settings: dict, seed: int
) -> None:
    config = EventFrontEndConfig(NMNIST.width, NMNIST.height, bin_ms=1.0, **settings)
    reference = FrameEvents(config)(nmnist_events)
    assert reference.shape[1:] == config.output_shape and reference.shape[0] > 200
    rng = np.random.default_rng(seed)
    framer = StreamingEventFramer(config)
    np.testing.assert_array_equal(push_in_chunks(framer, nmnist_events, rng), reference)
    # flush reset the framer: a second recording through the same object gives the same frames
    np.testing.assert_array_equal(push_in_chunks(framer, nmnist_events, rng), reference)


def test_streaming_counts_match_bin_events_on_random_events_with_tiny_chunks(backend: str) -> None:
    rng = np.random.default_rng(7)
    sensor = SensorSize(5, 4)
    events = random_events(rng, 3000, sensor, 50_000, t0_us=123)
    config = EventFrontEndConfig(5, 4, bin_ms=0.7, output_mode="counts")
    framer = StreamingEventFramer(config, t_start_us=123)
    streamed = np.concatenate([framer.push(events[i : i + 3]) for i in range(0, len(events), 3)] + [framer.flush()])
    bin_count = (int(events["t"][-1]) - 123) // 700 + 1
    np.testing.assert_array_equal(streamed, bin_events(events, sensor, 123, 700, bin_count))


def test_log_counts_are_ln_one_plus_counts_whatever_the_chunking(backend: str) -> None:
    rng = np.random.default_rng(8)
    sensor = SensorSize(6, 5)
    events = random_events(rng, 4000, sensor, 40_000, t0_us=50)
    counts = EventFrontEndConfig(6, 5, bin_ms=1.3, output_mode="counts", downsample_factor=2)
    logs = dataclasses.replace(counts, output_mode="log-counts")
    reference = FrameEvents(counts, t_start_us=50)(events)
    assert reference.max() >= 3  # several events share a cell: the compression is visible
    framer = StreamingEventFramer(logs, t_start_us=50)
    streamed = np.concatenate([framer.push(events[i : i + 7]) for i in range(0, len(events), 7)] + [framer.flush()])
    np.testing.assert_allclose(streamed, np.log1p(reference), rtol=1e-6)


def test_bins_are_emitted_as_soon_as_they_are_proven_complete(backend: str) -> None:
    framer = StreamingEventFramer(EventFrontEndConfig(2, 1, bin_ms=1.0, output_mode="counts"))
    assert framer.push(make_events([0], [0], [5000], [1])).shape == (0, 2, 1, 2)  # bin [5000, 6000) opens
    assert framer.push(make_events([1], [0], [5999], [1])).shape[0] == 0  # another event may still come at 5999
    frames = framer.push(make_events([1, 0], [0, 0], [6000, 8500], [0, 1]))  # an event at the bin end closes it
    assert frames.shape[0] == 3  # [5000, 6000), [6000, 7000), [7000, 8000)
    np.testing.assert_array_equal(frames[:, 1, 0], [[1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(frames[:, 0, 0], [[0, 0], [0, 1], [0, 0]])
    assert framer.next_bin_start_us == 8000
    last = framer.flush()
    assert last.shape[0] == 1 and last[0, 1, 0, 0] == 1
    assert framer.flush().shape[0] == 0


def test_advance_to_emits_empty_bins_on_silence() -> None:
    framer = StreamingEventFramer(EventFrontEndConfig(3, 3, bin_ms=10.0, output_mode="counts"))
    assert framer.advance_to(1_000_000).shape[0] == 0  # no origin yet: the first bin starts here
    assert framer.next_bin_start_us == 1_000_000
    first = framer.push(make_events([1], [1], [1_004_000], [1]))
    assert first.shape[0] == 0
    silence = framer.advance_to(1_049_999)
    assert silence.shape == (4, 2, 3, 3) and silence[0, 1, 1, 1] == 1 and silence[1:].sum() == 0
    assert framer.advance_to(1_050_000).shape[0] == 1
    framer.advance_to(1_055_000)
    with pytest.raises(ValueError, match="time must not decrease"):
        framer.advance_to(1_054_999)
    assert framer.flush().shape[0] == 0  # no event fell in the open bin


def test_push_before_advanced_time_or_out_of_order_raises(backend: str) -> None:
    framer = StreamingEventFramer(EventFrontEndConfig(3, 3, bin_ms=1.0))
    framer.push(make_events([0], [0], [100], [1]))
    framer.advance_to(2000)
    with pytest.raises(ValueError, match="earlier than 2000"):
        framer.push(make_events([0], [0], [1500], [1]))
    with pytest.raises(ValueError, match="time order"):
        StreamingEventFramer(EventFrontEndConfig(3, 3, bin_ms=1.0)).push(make_events([0, 1], [0, 0], [10, 5], [1, 1]))
    with pytest.raises(ValueError, match="time order"):
        bin_events(make_events([0, 1], [0, 0], [10, 5], [1, 1]), SensorSize(3, 3), 0, 5, 3)
    with pytest.raises(ValueError, match="0 <= x < 3"):
        bin_events(make_events([3], [0], [10], [1]), SensorSize(3, 3), 0, 5, 3)


def test_t_start_us_fixes_the_bin_grid() -> None:
    framer = StreamingEventFramer(EventFrontEndConfig(2, 1, bin_ms=1.0, output_mode="counts"), t_start_us=0)
    frames = np.concatenate([framer.push(make_events([0], [0], [2500], [1])), framer.flush()])
    assert frames.shape[0] == 3 and frames[2, 1, 0, 0] == 1 and frames[:2].sum() == 0


def test_downsample_crop_and_binary_by_hand(backend: str) -> None:
    # sensor 7x5, roi x 1..5, y 1..4 (width 5, height 4), factor 2 → output ceil(4/2) x ceil(5/2) = 2 x 3
    events = make_events(
        x=[0, 1, 2, 2, 5, 5, 6, 3], y=[0, 1, 1, 2, 4, 4, 1, 3], t_us=range(8), p=[1, 1, 1, 0, 1, 1, 1, 1]
    )
    config = EventFrontEndConfig(7, 5, bin_ms=1.0, roi=(1, 1, 5, 4), downsample_factor=2, output_mode="counts")
    assert config.output_shape == (2, 2, 3)
    counts = FrameEvents(config, t_start_us=0)(events).sum(axis=0)
    # kept (roi coords → pooled): (1,1)→(0,0) (0,0) ON; (2,1)→(1,0) (0,0) ON; (2,2)→(1,1) (0,0) OFF;
    # (5,4)→(4,3) (2,1) ON twice; (3,3)→(2,2) (1,1) ON; dropped: x=0 and x=6 (outside roi)
    expected = np.zeros((2, 2, 3), np.float32)
    expected[1, 0, 0], expected[0, 0, 0], expected[1, 1, 2], expected[1, 1, 1] = 2, 1, 2, 1
    np.testing.assert_array_equal(counts, expected)
    binary = FrameEvents(dataclasses.replace(config, output_mode="binary", bin_ms=100.0), t_start_us=0)(events)
    np.testing.assert_array_equal(binary[0], np.minimum(expected, 1))
    # the standalone transforms agree with the framer
    cropped = framing.downsample_events(framing.crop_events(events, (1, 1, 5, 4)), 2)
    np.testing.assert_array_equal(bin_events(cropped, SensorSize(3, 2), 0, 100, 1)[0], expected)


def test_downsample_output_size_ceil_divides() -> None:
    config = EventFrontEndConfig(346, 260, downsample_factor=4)
    assert config.output_shape == (2, 65, 87)
    frames = FrameEvents(config)(make_events([345], [259], [0], [1]))
    assert frames.shape == (1, 2, 65, 87) and frames[0, 1, 64, 86] == 1


def test_filters_inside_the_framer_match_the_filter_functions(backend: str, davis_events: np.ndarray) -> None:
    events = davis_events[:40000]
    config = EventFrontEndConfig(346, 260, bin_ms=5.0, output_mode="counts", refractory_ms=1.0, denoise_ms=5.0)
    filtered, _ = refractory_filter(events, 1000, sensor_size=DAVIS)
    filtered, _ = denoise_filter(filtered, 5000, sensor_size=DAVIS)
    expected = bin_events(
        filtered, DAVIS, int(events["t"][0]), 5000, (int(events["t"][-1]) - int(events["t"][0])) // 5000 + 1
    )
    np.testing.assert_array_equal(FrameEvents(config)(events), expected)


def test_config_round_trips_through_json() -> None:
    config = EventFrontEndConfig(346, 260, bin_ms=2.5, roi=(10, 20, 128, 128), downsample_factor=4, refractory_ms=1.0)
    restored = EventFrontEndConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(config))))
    assert restored == config and restored.roi == (10, 20, 128, 128)
    assert EventFrontEndConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.output_shape == (2, 32, 32) and config.bin_us == 2500


@pytest.mark.parametrize(
    "settings, message",
    [(dict(bin_ms=0), "bin_ms"), (dict(bin_ms=-1.0), "bin_ms"), (dict(bin_ms=0.0005), "bin_ms")]
    + [(dict(roi=(30, 0, 10, 10)), "roi"), (dict(roi=(-1, 0, 10, 10)), "roi"), (dict(roi=(0, 0, 0, 10)), "roi")]
    + [(dict(downsample_factor=0), "downsample_factor"), (dict(output_mode="spikes"), "output_mode")]
    + [(dict(refractory_ms=0), "refractory_ms"), (dict(downsample_factor=1.5), "downsample_factor")],
)
def test_config_rejects_bad_values(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventFrontEndConfig(34, 34, **settings)


def test_from_dict_rejects_unknown_settings_and_other_kinds() -> None:
    with pytest.raises(ValueError, match="bin_size"):
        EventFrontEndConfig.from_dict({"sensor_width": 3, "sensor_height": 3, "bin_size": 2})
    with pytest.raises(ValueError, match="audio"):
        EventFrontEndConfig.from_dict({"kind": "audio", "sensor_width": 3, "sensor_height": 3})


def test_gif_has_one_frame_per_bin_and_documented_colours(tmp_path: Path, nmnist_events: np.ndarray) -> None:
    frames = FrameEvents(EventFrontEndConfig(34, 34, bin_ms=20.0))(nmnist_events)
    frames[3:6] = 0  # identical empty bins must still be separate GIF frames
    path = render.write_gif(frames, tmp_path / "nmnist.gif", bin_ms=20.0)
    scale = render.upscale_factor(34, 34, 256)
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames)
        assert gif.width == 34 * scale >= 256
        pictures = [(frame.convert("RGB"), frame.info["duration"]) for frame in ImageSequence.Iterator(gif)]
    on, off = frames[:, 1] > 0, frames[:, 0] > 0
    assert (on & off).any() and (on & ~off).any() and (off & ~on).any()
    expected = np.empty((len(frames), 34, 34, 3), np.uint8)
    expected[~on & ~off], expected[on & ~off] = render.BACKGROUND_RGB, render.ON_RGB
    expected[off & ~on], expected[on & off] = render.OFF_RGB, render.BOTH_RGB
    for index, (picture, duration_ms) in enumerate(pictures):
        assert duration_ms == 20
        np.testing.assert_array_equal(np.asarray(picture)[: 34 * scale : scale, ::scale], expected[index])


def test_frames_to_rgb_and_png_montage(tmp_path: Path) -> None:
    frames = np.zeros((5, 2, 3, 4), np.float32)
    frames[0, 1, 0, 0] = 1
    frames[4, 0, 2, 3] = 3
    rgb = render.frames_to_rgb(frames, scale=2)
    assert rgb.shape == (5, 6, 8, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 1, 1]) == render.ON_RGB and tuple(rgb[4, 5, 7]) == render.OFF_RGB
    assert tuple(rgb[1, 0, 0]) == render.BACKGROUND_RGB
    path = render.write_png_montage(frames, tmp_path / "montage.png", columns=3, min_side_px=8, gap_px=1)
    with Image.open(path) as png:
        montage = np.asarray(png.convert("RGB"))
    assert montage.shape == (2 * 6 + 1, 3 * 8 + 2, 3)
    assert tuple(montage[0, 0]) == render.ON_RGB and tuple(montage[7 + 5, 9 + 7]) == render.OFF_RGB
