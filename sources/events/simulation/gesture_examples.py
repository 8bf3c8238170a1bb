"""Training and evaluation examples for streaming gesture classifiers.

A gesture recording is placed between stretches of sensor noise alone (what a static scene gives
an event camera), so the network learns to say "background" before and after a gesture; each SNN
step (time bin) then gets a target from :func:`spikestream.sources.step_targets.step_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...step_targets import TargetTiming, step_targets
from ..event_array import SensorSize
from ..front_end.framing import EventFrontEndConfig
from ..front_end.streaming import events_to_steps
from .dvs_simulator import noise_events, sort_by_time


@dataclass(frozen=True)
class GestureExampleConfig:
    """Noise padding around a gesture (ms) and the per-step target timing."""

    lead_ms_range: tuple[float, float] = (200.0, 500.0)
    tail_ms: float = 500.0
    noise_rate_hz: float = 0.1
    timing: TargetTiming = TargetTiming(early_fraction=0.15, decide_fraction=0.3, hold_ms=100.0, release_ms=300.0)


def pad_with_noise(
    events: np.ndarray, sensor: SensorSize, lead_us: int, tail_us: int, noise_rate_hz: float, rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """Shift a recording (starting near t = 0) by ``lead_us`` and surround it with noise events.

    Returns ``(events, onset_us, duration_us)``; the whole stream spans ``[0, onset + duration + tail)``."""
    shifted = events.copy()
    start_us = int(shifted["t"][0]) if len(shifted) else 0
    duration_us = int(shifted["t"][-1]) - start_us if len(shifted) else 0
    shifted["t"] = shifted["t"] - start_us + lead_us
    end_us = lead_us + duration_us
    padding = [
        noise_events(sensor, 0, lead_us, noise_rate_hz, rng),
        noise_events(sensor, end_us, end_us + tail_us, noise_rate_hz, rng),
    ]
    return sort_by_time(shifted, *padding), lead_us, duration_us


def make_gesture_example(
    events: np.ndarray,
    label_index: int,
    front_end: EventFrontEndConfig,
    config: GestureExampleConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One example: frames ``[T, 2, H, W]`` float32 from t = 0 and targets ``[T]`` int64.

    ``label_index`` counts the background as class 0 (gesture class ``k`` → ``k + 1``)."""
    sensor = SensorSize(front_end.sensor_width, front_end.sensor_height)
    lead_us = int(rng.uniform(*config.lead_ms_range) * 1000)
    padded, onset_us, duration_us = pad_with_noise(
        events, sensor, lead_us, int(config.tail_ms * 1000), config.noise_rate_hz, rng
    )
    bin_count = -(-(onset_us + duration_us + int(config.tail_ms * 1000)) // front_end.bin_us)
    frames = events_to_steps(padded, front_end, 0, bin_count)
    step_end_us = (np.arange(bin_count) + 1) * front_end.bin_us
    return frames, step_targets(step_end_us, onset_us, duration_us, label_index, config.timing)


def gesture_sequence(
    recordings: list[np.ndarray],
    sensor: SensorSize,
    gap_ms_range: tuple[float, float],
    noise_rate_hz: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """Recordings one after another, each after a gap of sensor noise alone (``gap_ms_range``, drawn
    per gap), as one continuous stream from t = 0: ``(events, [(onset_us, end_us)] per recording,
    stream end_us)``; a last gap follows the last recording."""
    parts, spans, now_us = [], [], 0
    for events in recordings:
        gap_us = int(rng.uniform(*gap_ms_range) * 1000)
        parts.append(noise_events(sensor, now_us, now_us + gap_us, noise_rate_hz, rng))
        onset_us = now_us + gap_us
        shifted = events.copy()
        if len(shifted):
            shifted["t"] = shifted["t"] - int(shifted["t"][0]) + onset_us
        end_us = int(shifted["t"][-1]) + 1 if len(shifted) else onset_us
        parts.append(shifted)
        spans.append((onset_us, end_us))
        now_us = end_us
    gap_us = int(rng.uniform(*gap_ms_range) * 1000)
    parts.append(noise_events(sensor, now_us, now_us + gap_us, noise_rate_hz, rng))
    return sort_by_time(*parts), spans, now_us + gap_us
