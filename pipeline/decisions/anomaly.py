"""Anomaly decision (autoencoders): per-step reconstruction error → "anomaly" detections.

The score of a step is its reconstruction error (mean squared error over the step's features,
computed by the streaming model); the decision averages it over a sliding window of
``window_steps``. A detection fires when the window mean reaches ``score_threshold`` (calibrated on
normal data at a chosen false-alarm rate, stored in the checkpoint), then the detector waits until
the mean falls below ``rearm_ratio · score_threshold`` (hysteresis) and for ``refractory_ms``. With
``emit_scores`` every completed window's mean is reported as well (class 0, "score"), so a stream
shows its anomaly score as it flows.

With ``hot_pixel_rate_hz`` (event autoencoders; calibrated like the score threshold, on the steady
pixel rates of the same normal recordings) a second rule reads the front end's steady pixel rate per
step (:mod:`spikestream.sources.events.front_end.pixel_rate`: the busiest pixel that fired in every
bin of the window): a "hot-pixels" detection (class 2) fires when it reaches the threshold, with the
same hysteresis and refractory time, apart from the reconstruction rule. A hot pixel is a fault the
reconstruction error cannot see (one pixel among 16,384 barely moves a step's mean error).
"""

from __future__ import annotations

import numpy as np
import torch

from .window import Decision, DecisionConfig, StreamDecision

SCORE_CLASS, ANOMALY_CLASS, HOT_PIXEL_CLASS = 0, 1, 2  # labels: ["score", "anomaly"(, "hot-pixels")]


class AnomalyDecision(StreamDecision):
    """Window mean of per-step scores against a calibrated threshold, with hysteresis."""

    def __init__(self, config: DecisionConfig, n_classes: int, step_us: int) -> None:
        super().__init__(config, n_classes, step_us)

    def reset(self) -> None:
        super().reset()
        self._scores = np.zeros(self.config.window_steps, dtype=np.float64)
        self._score_sum = 0.0
        self._active = False
        self._pixel_active, self._pixel_fired_us = False, -(10**18)

    def update(
        self,
        scores: torch.Tensor | np.ndarray,
        levels_db: tuple[np.ndarray, np.ndarray] | None = None,
        pixel_rates_hz: np.ndarray | None = None,
    ) -> list[Decision]:
        """Feed per-step scores ``[T]`` (or ``[T, 1]``) and, for the hot-pixel rule, the steps' steady
        pixel rates ``[T]`` Hz; returns the decisions fired in them (an input level track, ``levels_db``,
        is not read: reconstruction error is the score)."""
        values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).numpy()
        config, threshold, window_steps = self.config, float(self.config.score_threshold), self.config.window_steps
        read_pixels = config.hot_pixel_rate_hz is not None and pixel_rates_hz is not None
        if read_pixels and len(pixel_rates_hz) != len(values):
            raise ValueError(f"{len(pixel_rates_hz)} pixel rates for {len(values)} scores: expected one per step")
        fired = []
        for step, score in enumerate(values):
            self._score_sum += score - self._scores[self._cursor]
            self._scores[self._cursor] = score
            self._cursor = (self._cursor + 1) % window_steps
            self._steps_seen += 1
            if read_pixels:
                fired += self._hot_pixels(float(pixel_rates_hz[step]))
            if self._steps_seen < window_steps:
                continue  # the window is not full yet: its mean would understate the error
            mean, now_us = self._score_sum / window_steps, self.now_us
            if config.emit_scores and self._steps_seen % window_steps == 0:
                fired.append(Decision(SCORE_CLASS, float(mean), now_us, threshold))
            if self._active:
                self._active = mean >= config.rearm_ratio * threshold
                continue
            if mean >= threshold and not self._in_refractory_time(now_us):
                self._active, self._last_fired_us = True, now_us
                fired.append(Decision(ANOMALY_CLASS, float(mean), now_us, threshold))
        return fired

    def _hot_pixels(self, rate_hz: float) -> list[Decision]:
        """The hot-pixel rule at the step just counted: fire on reaching the rate, re-arm below
        ``rearm_ratio`` of it, and not within ``refractory_ms`` of its last detection."""
        threshold_hz, now_us = float(self.config.hot_pixel_rate_hz), self.now_us
        if self._pixel_active:
            self._pixel_active = rate_hz >= self.config.rearm_ratio * threshold_hz
            return []
        if rate_hz < threshold_hz or now_us - self._pixel_fired_us < self.config.refractory_ms * 1000.0:
            return []
        self._pixel_active, self._pixel_fired_us = True, now_us
        return [Decision(HOT_PIXEL_CLASS, rate_hz, now_us, threshold_hz)]


def calibration_sample(values: np.ndarray, samples: int = 1_000) -> list[float]:
    """Normal scores ``[N]`` sorted and thinned to at most ``samples`` evenly spaced ones (the sample a
    checkpoint keeps for :func:`threshold_at`, from the lowest to the highest)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return [float(v) for v in ordered[np.linspace(0, len(ordered) - 1, min(samples, len(ordered))).astype(int)]]


def threshold_at(calibration: dict, false_alarm_rate: float, key: str = "window_scores") -> float:
    """The score threshold that a share ``false_alarm_rate`` of normal windows exceed (of the held-back
    streams' relative errors with ``key="relative_scores"``)."""
    scores = np.asarray(calibration[key], dtype=np.float64)
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(f"--false-alarm-rate {false_alarm_rate}: expected a share between 0 and 1, e.g. 0.01")
    return float(np.quantile(scores, 1.0 - false_alarm_rate))
