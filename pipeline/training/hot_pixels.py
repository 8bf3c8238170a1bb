"""Calibrating an event autoencoder's hot-pixel rule on normal recordings.

The rule (:mod:`spikestream.pipeline.decisions.anomaly`) fires when the steady pixel rate of a step —
the busiest pixel that fired in each of the decision window's bins
(:mod:`spikestream.sources.events.front_end.pixel_rate`) — reaches ``hot_pixel_rate_hz``. Its
threshold is set as the reconstruction threshold is: the rate that a share ``false_alarm_rate`` of
the normal recordings' steps reach (the same held-back gestures, whose simulator already gives 30 %
of them 1–3 weak hot pixels at 20–200 Hz: a camera's normal state).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...sources.events.front_end.framing import EventFrontEndConfig
from ...sources.events.front_end.pixel_rate import steady_pixel_rates
from ..decisions.anomaly import calibration_sample, threshold_at

HOT_PIXEL_LABEL = "hot-pixels"  # class 2 of an event autoencoder: ["score", "anomaly", "hot-pixels"]


def pixel_rate_calibration(
    recordings: Iterable[np.ndarray], front_end: EventFrontEndConfig, window_steps: int, samples: int = 1_000
) -> dict:
    """Steady pixel rates (Hz) of every step of the normal ``recordings`` (bins of the front end from each
    one's first event), kept as a sorted sample of at most ``samples``: ``{"pixel_rates_hz", "pixel_rate_steps"}``."""
    rates = [
        steady_pixel_rates(
            events, front_end.sensor_width, front_end.sensor_height, front_end.bin_us, window_steps, int(events["t"][0])
        )  # fmt: skip
        for events in recordings
        if len(events)
    ]
    every = np.concatenate(rates) if rates else np.zeros(1)
    return {"pixel_rates_hz": calibration_sample(every, samples), "pixel_rate_steps": int(len(every))}


def hot_pixel_threshold(calibration: dict, false_alarm_rate: float, bin_us: int) -> float:
    """The steady pixel rate (Hz) that a share ``false_alarm_rate`` of normal steps reach; never below
    one event per bin in every bin (a quiet camera's 0 Hz would flag any pixel that fires twice)."""
    return max(threshold_at(calibration, false_alarm_rate, key="pixel_rates_hz"), 1e6 / bin_us)
