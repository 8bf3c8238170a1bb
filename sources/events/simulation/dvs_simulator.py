"""A small, deterministic DVS (event camera) pixel model.

Each pixel remembers the log intensity at its last event (its *reference*). When the log intensity
moves one contrast threshold away from the reference, the pixel emits an event (ON for an increase,
OFF for a decrease) and the reference moves by one threshold; a change spanning several thresholds
emits several events. Between two frames the log intensity is taken to change linearly in time, so
each threshold crossing gets its own interpolated timestamp. Per-pixel thresholds differ slightly
(``threshold_mismatch``, drawn once from the seed). An event closer than ``refractory_us`` to the
pixel's previous event is dropped (the reference still moves, as if the pixel had reset).
Background noise (Poisson, ``noise_rate_hz`` per pixel, random polarity) and optional hot pixels
are independent of the signal and do not touch the references.

The maths is in pure functions over explicit state (:class:`DvsState`); :class:`DvsPixelArray`
only holds configuration and state for streaming frame by frame. Inputs are *samples*: a flat pixel
index with the log intensity at the start and end of an interval, so a renderer that knows which
pixels changed (:mod:`spikestream.sources.events.simulation.synthetic_gestures`) need not build full frames.
Log intensities are natural logs (``ln``); thresholds are in the same units (0.2 ≈ 22 % contrast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize

_CROSSING_TOLERANCE = 1e-9  # a change within 1e-9 thresholds of a crossing counts (guards float rounding)
_NEVER_US = -(2**62)  # "last event" time of a pixel that has not fired yet


@dataclass(frozen=True)
class DvsConfig:
    """Pixel model parameters. Thresholds in ln-intensity units; rates per pixel in Hz."""

    on_threshold: float = 0.2
    off_threshold: float = 0.2
    threshold_mismatch: float = 0.03  # relative standard deviation of each pixel's thresholds
    refractory_us: int = 500
    noise_rate_hz: float = 0.1
    hot_pixel_count: int = 0
    hot_pixel_rate_hz: float = 200.0

    def __post_init__(self) -> None:
        if self.on_threshold <= 0 or self.off_threshold <= 0:
            raise ValueError(f"DvsConfig: thresholds must be > 0, got on={self.on_threshold}, off={self.off_threshold}")
        if self.threshold_mismatch < 0 or self.refractory_us < 0 or self.noise_rate_hz < 0:
            raise ValueError(f"DvsConfig: mismatch, refractory_us and noise_rate_hz must be >= 0, got {self}")
        if self.hot_pixel_count < 0 or self.hot_pixel_rate_hz < 0:
            raise ValueError(f"DvsConfig: hot pixel count and rate must be >= 0, got {self}")


class PixelThresholds(NamedTuple):
    """Per-pixel contrast thresholds, each ``[H*W]`` float64 (flat index ``y*W + x``)."""

    on: np.ndarray
    off: np.ndarray


class DvsState(NamedTuple):
    """Per-pixel state, each ``[H*W]``: reference ln-intensity (float64), last event time (int64 µs)."""

    reference_log: np.ndarray
    last_event_us: np.ndarray


def draw_pixel_thresholds(pixel_count: int, config: DvsConfig, rng: np.random.Generator) -> PixelThresholds:
    """Thresholds ``θ·(1 + mismatch·N(0,1))``, clipped to at least ``θ/4``; ``[pixel_count]`` each."""
    factors = 1.0 + config.threshold_mismatch * rng.standard_normal((2, pixel_count))
    factors = np.maximum(factors, 0.25)
    return PixelThresholds(on=config.on_threshold * factors[0], off=config.off_threshold * factors[1])


def draw_hot_pixels(pixel_count: int, config: DvsConfig, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of ``config.hot_pixel_count`` distinct hot pixels, ``[hot_pixel_count]`` int64."""
    count = min(config.hot_pixel_count, pixel_count)
    return np.sort(rng.choice(pixel_count, size=count, replace=False)).astype(np.int64)


def initial_state(log_frame: np.ndarray) -> DvsState:
    """State whose references equal ``log_frame`` (``[H, W]`` or flat) and that has never fired."""
    reference = np.array(log_frame, dtype=np.float64).ravel()
    return DvsState(reference, np.full(reference.size, _NEVER_US, dtype=np.int64))


def _rank_order(pixel_index: np.ndarray, t_start_us: np.ndarray, pixel_count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order [N], bounds [R+1])``: ``order[bounds[r]:bounds[r+1]]`` are the positions of every pixel's
    r-th sample, so each pixel appears at most once per level. Raises ``ValueError`` when a pixel's
    samples are not in time order."""
    key_dtype = np.uint16 if pixel_count <= 65536 else np.int64  # uint16 keys sort by radix
    by_pixel = np.argsort(pixel_index.astype(key_dtype), kind="stable")
    sorted_pixels = pixel_index[by_pixel]
    same_pixel = sorted_pixels[1:] == sorted_pixels[:-1]
    if np.any(same_pixel & (np.diff(t_start_us[by_pixel]) < 0)):
        raise ValueError("crossing_events: the samples of a pixel must be given in time order (sort by t_start_us)")
    counts = np.bincount(sorted_pixels, minlength=pixel_count)
    if counts.max(initial=0) <= 1:
        return by_pixel, np.array([0, by_pixel.size])
    rank = np.arange(by_pixel.size) - (np.cumsum(counts) - counts)[sorted_pixels]
    rank_dtype = np.uint16 if rank.max() < 65536 else np.int64
    by_rank = by_pixel[np.argsort(rank.astype(rank_dtype), kind="stable")]
    return by_rank, np.concatenate([[0], np.cumsum(np.bincount(rank))])


def crossing_events(
    pixel_index: np.ndarray,
    log_start: np.ndarray,
    log_end: np.ndarray,
    t_start_us: np.ndarray,
    t_end_us: np.ndarray,
    state: DvsState,
    thresholds: PixelThresholds,
    refractory_us: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, DvsState]:
    """Threshold-crossing events of pixel samples; the state is not modified, a new one is returned.

    Sample ``i`` says that pixel ``pixel_index[i]`` went linearly from ``log_start[i]`` at
    ``t_start_us[i]`` to ``log_end[i]`` at ``t_end_us[i]`` (all ``[N]``). A pixel may appear in
    several samples, in time order, each starting where the previous ended; pixels absent from the
    samples are taken as unchanged. ``log_start`` must equal the pixel's current log intensity.

    Returns ``(pixel_index [E] int64, t_us [E] int64, polarity [E] uint8 (1 = ON), new_state)``,
    events not sorted by time.
    """
    pixel_index = np.asarray(pixel_index, dtype=np.int64)
    order, bounds = _rank_order(pixel_index, np.asarray(t_start_us, np.int64), state.reference_log.size)
    pixels_all = pixel_index[order]
    log0_all, log1_all = np.asarray(log_start, np.float64)[order], np.asarray(log_end, np.float64)[order]
    t0_all = np.asarray(t_start_us, np.int64)[order]
    duration_all = np.asarray(t_end_us, np.int64)[order] - t0_all
    on_all, off_all = thresholds.on[pixels_all], -thresholds.off[pixels_all]  # signed reference steps
    reference, last_event_us = state.reference_log.copy(), state.last_event_us.copy()
    out_pixels: list[np.ndarray] = []
    out_times: list[np.ndarray] = []
    out_on: list[np.ndarray] = []
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):  # one sample per pixel per level
        pixels = pixels_all[begin:end]
        delta = log1_all[begin:end] - reference[pixels]
        step = np.where(delta > 0, on_all[begin:end], off_all[begin:end])
        firing = np.flatnonzero(delta / step + _CROSSING_TOLERANCE >= 1.0)
        if firing.size == 0:
            continue
        pixels, step, rows = pixels[firing], step[firing], firing + begin
        counts = np.floor(delta[firing] / step + _CROSSING_TOLERANCE).astype(np.int64)
        start_reference = reference[pixels]
        reference[pixels] = start_reference + counts * step
        log0, span = log0_all[rows], log1_all[rows] - log0_all[rows]
        span[span == 0] = np.inf  # cannot happen for consistent samples; puts the event at the interval start
        t0, duration_us, is_on = t0_all[rows], duration_all[rows], step > 0
        for crossing in range(1, int(counts.max()) + 1):
            active = slice(None) if crossing == 1 else np.flatnonzero(counts >= crossing)
            fraction = np.clip(
                (start_reference[active] + crossing * step[active] - log0[active]) / span[active], 0.0, 1.0
            )
            times = t0[active] + np.rint(fraction * duration_us[active]).astype(np.int64)
            fired_pixels = pixels[active]
            kept = np.flatnonzero(times - last_event_us[fired_pixels] >= refractory_us)
            last_event_us[fired_pixels[kept]] = times[kept]
            out_pixels.append(fired_pixels[kept])
            out_times.append(times[kept])
            out_on.append(is_on[active][kept])
    if not out_pixels:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, np.uint8), DvsState(reference, last_event_us)
    return (
        np.concatenate(out_pixels),
        np.concatenate(out_times),
        np.concatenate(out_on).astype(np.uint8),
        DvsState(reference, last_event_us),
    )


def pack_events(pixel_index: np.ndarray, t_us: np.ndarray, polarity: np.ndarray, width: int) -> np.ndarray:
    """Flat pixel indices (``y*width + x``), times (µs) and polarities ``[E]`` → :data:`EVENT_DTYPE` ``[E]``."""
    events = np.empty(len(t_us), dtype=EVENT_DTYPE)
    events["x"] = pixel_index % width
    events["y"] = pixel_index // width
    events["t"] = t_us
    events["p"] = polarity
    return events


def noise_events(
    sensor: SensorSize, t_start_us: int, t_end_us: int, rate_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """Background activity: Poisson events at ``rate_hz`` per pixel in ``[t_start_us, t_end_us)``,
    uniform in space and time, polarity ON or OFF with equal odds. Unsorted :data:`EVENT_DTYPE` ``[E]``."""
    pixel_count = sensor.width * sensor.height
    expected = rate_hz * pixel_count * max(t_end_us - t_start_us, 0) * 1e-6
    count = int(rng.poisson(expected)) if expected > 0 else 0
    pixels = rng.integers(0, pixel_count, size=count)
    times = rng.integers(t_start_us, max(t_end_us, t_start_us + 1), size=count)
    return pack_events(pixels, times, rng.integers(0, 2, size=count), sensor.width)


def hot_pixel_events(
    hot_pixels: np.ndarray, sensor: SensorSize, t_start_us: int, t_end_us: int, rate_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """Poisson events at ``rate_hz`` from each of the flat indices ``hot_pixels`` ``[K]`` in
    ``[t_start_us, t_end_us)``, random polarity. Unsorted :data:`EVENT_DTYPE` ``[E]``."""
    expected = rate_hz * max(t_end_us - t_start_us, 0) * 1e-6
    counts = rng.poisson(expected, size=len(hot_pixels)) if expected > 0 else np.zeros(len(hot_pixels), np.int64)
    pixels = np.repeat(np.asarray(hot_pixels, dtype=np.int64), counts)
    times = rng.integers(t_start_us, max(t_end_us, t_start_us + 1), size=pixels.size)
    return pack_events(pixels, times, rng.integers(0, 2, size=pixels.size), sensor.width)


def sort_by_time(*event_arrays: np.ndarray) -> np.ndarray:
    """Concatenate :data:`EVENT_DTYPE` arrays and sort by ``t`` (stable, so the result is deterministic)."""
    events = np.concatenate(event_arrays) if event_arrays else np.empty(0, dtype=EVENT_DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


def log_intensity(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """Natural log of linear intensities (any shape); raises ``ValueError`` unless all are finite and > 0."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.size and not (np.all(np.isfinite(frames)) and frames.min() > 0):
        raise ValueError(
            f"DVS simulator: {what} must be finite linear intensities > 0, got min {np.nanmin(frames)}; "
            "add a small floor (e.g. frames + 1e-3) before simulating"
        )
    return np.log(frames)


def _seeded_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """``(pixel_rng, noise_rng)``: one for thresholds/hot pixels (drawn once), one for noise."""
    pixel_seed, noise_seed = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(pixel_seed), np.random.default_rng(noise_seed)


def simulate_dvs(
    frames: np.ndarray, timestamps_us: np.ndarray, config: DvsConfig = DvsConfig(), seed: int = 0
) -> np.ndarray:
    """Events of a DVS watching ``frames`` ``[T, H, W]`` (linear intensity > 0) taken at ``timestamps_us``
    ``[T]`` (increasing). The first frame sets the references; crossings fall in
    ``(timestamps_us[0], timestamps_us[-1]]``, noise in ``[timestamps_us[0], timestamps_us[-1])``.
    Returns a time-sorted :data:`EVENT_DTYPE` array."""
    frames = np.asarray(frames)
    timestamps_us = np.asarray(timestamps_us, dtype=np.int64)
    if frames.ndim != 3 or len(timestamps_us) != len(frames) or len(frames) == 0:
        raise ValueError(
            f"simulate_dvs: expected frames [T, H, W] and timestamps_us [T], "
            f"got {frames.shape} and {timestamps_us.shape}"
        )
    if np.any(np.diff(timestamps_us) <= 0):
        raise ValueError("simulate_dvs: timestamps_us must be strictly increasing")
    sensor = SensorSize(width=frames.shape[2], height=frames.shape[1])
    pixel_count = sensor.width * sensor.height
    logs = log_intensity(frames).reshape(len(frames), pixel_count)
    pixel_rng, noise_rng = _seeded_generators(seed)
    thresholds = draw_pixel_thresholds(pixel_count, config, pixel_rng)
    hot_pixels = draw_hot_pixels(pixel_count, config, pixel_rng)
    interval, pixels = np.nonzero(logs[1:] != logs[:-1])  # frame-major: each pixel's samples in time order
    pixels, times, polarity, _ = crossing_events(
        pixels, logs[interval, pixels], logs[interval + 1, pixels],
        timestamps_us[interval], timestamps_us[interval + 1],
        initial_state(logs[0]), thresholds, config.refractory_us,
    )  # fmt: skip
    t_first, t_last = int(timestamps_us[0]), int(timestamps_us[-1])  # noise in [first, last frame)
    return sort_by_time(
        pack_events(pixels, times, polarity, sensor.width),
        noise_events(sensor, t_first, t_last, config.noise_rate_hz, noise_rng),
        hot_pixel_events(hot_pixels, sensor, t_first, t_last, config.hot_pixel_rate_hz, noise_rng),
    )


class DvsPixelArray:
    """Streaming DVS: feed frames one at a time with :meth:`step`; holds configuration and state only.

    With zero noise, stepping through frames gives exactly the events of :func:`simulate_dvs` on the
    same frames and seed (noise is drawn per step, so with noise the two differ but each is
    deterministic for its seed).
    """

    def __init__(self, sensor: SensorSize, config: DvsConfig = DvsConfig(), seed: int = 0) -> None:
        self.sensor = sensor
        self.config = config
        self.seed = seed
        pixel_count = sensor.width * sensor.height
        pixel_rng, self._noise_rng = _seeded_generators(seed)
        self.thresholds = draw_pixel_thresholds(pixel_count, config, pixel_rng)
        self.hot_pixels = draw_hot_pixels(pixel_count, config, pixel_rng)
        self.state: DvsState | None = None
        self._last_log: np.ndarray | None = None
        self._last_t_us: int | None = None

    def reset(self) -> None:
        """Forget the references (the next frame sets them again); thresholds and noise stream stay."""
        self.state, self._last_log, self._last_t_us = None, None, None

    def step(self, frame: np.ndarray, t_us: int) -> np.ndarray:
        """Events between the previous frame and ``frame`` ``[H, W]`` (linear intensity > 0) taken at
        ``t_us``; the first frame after construction or :meth:`reset` only sets the references and
        returns no events. Returns a time-sorted :data:`EVENT_DTYPE` array."""
        expected = (self.sensor.height, self.sensor.width)
        if np.shape(frame) != expected:
            raise ValueError(f"DvsPixelArray.step: frame shape {np.shape(frame)} != sensor (H, W) {expected}")
        log_frame = log_intensity(frame, "frame").ravel()
        if self.state is None or self._last_log is None or self._last_t_us is None:
            self.state, self._last_log, self._last_t_us = initial_state(log_frame), log_frame, int(t_us)
            return np.empty(0, dtype=EVENT_DTYPE)
        if t_us <= self._last_t_us:
            raise ValueError(f"DvsPixelArray.step: t_us {t_us} must be after the previous frame's {self._last_t_us}")
        pixels = np.nonzero(log_frame != self._last_log)[0]
        count = pixels.size
        pixels, times, polarity, self.state = crossing_events(
            pixels, self._last_log[pixels], log_frame[pixels],
            np.full(count, self._last_t_us), np.full(count, int(t_us)),
            self.state, self.thresholds, self.config.refractory_us,
        )  # fmt: skip
        noise_from, noise_to = self._last_t_us, int(t_us)  # [previous frame, this frame)
        self._last_log, self._last_t_us = log_frame, int(t_us)
        config, rng = self.config, self._noise_rng
        return sort_by_time(
            pack_events(pixels, times, polarity, self.sensor.width),
            noise_events(self.sensor, noise_from, noise_to, config.noise_rate_hz, rng),
            hot_pixel_events(self.hot_pixels, self.sensor, noise_from, noise_to, config.hot_pixel_rate_hz, rng),
        )
