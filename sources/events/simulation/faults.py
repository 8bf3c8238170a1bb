"""Faults a real event camera has, as events to mix into a recording at known times.

Three kinds, each over ``[start_us, end_us)`` on the whole sensor (parameters in :class:`FaultConfig`):

- ``hot-pixels``: ``hot_pixel_count`` pixels start firing at ``hot_pixel_rate_hz`` each (Poisson,
  random polarity): a pixel whose reset transistor leaks. The gesture simulator already gives
  30 % of its recordings 1–3 hot pixels at 20–200 Hz, so this fault is *more* of them, faster.
- ``flicker``: a light source flickering at ``flicker_hz`` (100 Hz for 50 Hz mains) makes a share
  ``flicker_pixel_share`` of the pixels emit an ON event as it brightens and an OFF event as it
  dims, once per period, with ``flicker_jitter_us`` of per-event timing jitter.
- ``noise-burst``: background activity jumps to ``noise_burst_rate_hz`` per pixel (a change of
  illumination or temperature; the simulator's normal rate is 0.02–0.3 Hz).

All three are :data:`~spikestream.sources.events.event_array.EVENT_DTYPE` arrays, unsorted (merge with
:func:`.dvs_simulator.sort_by_time`), deterministic in the generator passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..event_array import SensorSize
from .dvs_simulator import hot_pixel_events, noise_events, pack_events

FAULT_KINDS = ("hot-pixels", "flicker", "noise-burst")


@dataclass(frozen=True)
class FaultConfig:
    """Strength of each fault kind (fixed before any model was scored on them)."""

    hot_pixel_count: int = 8
    hot_pixel_rate_hz: float = 1000.0
    flicker_hz: float = 100.0
    flicker_pixel_share: float = 0.5
    flicker_jitter_us: int = 1000
    noise_burst_rate_hz: float = 5.0


def flicker_events(
    sensor: SensorSize, start_us: int, end_us: int, config: FaultConfig, rng: np.random.Generator
) -> np.ndarray:
    """ON at the start of each flicker period, OFF half a period later, on a random share of pixels."""
    pixel_count = sensor.width * sensor.height
    pixels = np.flatnonzero(rng.random(pixel_count) < config.flicker_pixel_share)
    period_us = 1e6 / config.flicker_hz
    edges_us = np.arange(start_us, end_us, period_us / 2.0)  # brighten, dim, brighten, ...
    polarity = (np.arange(len(edges_us)) % 2 == 0).astype(np.int64)  # 1 = ON (brighter), 0 = OFF
    all_pixels = np.tile(pixels, len(edges_us))
    times = np.repeat(edges_us, len(pixels)) + rng.integers(0, config.flicker_jitter_us + 1, size=all_pixels.size)
    inside = times < end_us
    return pack_events(
        all_pixels[inside], times[inside].astype(np.int64), np.repeat(polarity, len(pixels))[inside], sensor.width
    )


def fault_events(
    kind: str,
    sensor: SensorSize,
    start_us: int,
    end_us: int,
    rng: np.random.Generator,
    config: FaultConfig = FaultConfig(),
) -> np.ndarray:
    """Events of one fault of ``kind`` (one of :data:`FAULT_KINDS`) over ``[start_us, end_us)``."""
    if kind == "hot-pixels":
        hot = rng.choice(sensor.width * sensor.height, size=config.hot_pixel_count, replace=False).astype(np.int64)
        return hot_pixel_events(hot, sensor, start_us, end_us, config.hot_pixel_rate_hz, rng)
    if kind == "flicker":
        return flicker_events(sensor, start_us, end_us, config, rng)
    if kind == "noise-burst":
        return noise_events(sensor, start_us, end_us, config.noise_burst_rate_hz, rng)
    raise ValueError(f"fault kind {kind!r}: expected one of {', '.join(FAULT_KINDS)}")
