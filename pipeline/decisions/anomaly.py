"""Anomaly decision (autoencoders): per-step reconstruction error → "anomaly" detections.

The score of a step is its reconstruction error (mean squared error over the step's features,
computed by the streaming model); the decision averages it over a sliding window of
``window_steps``. A detection fires when the window mean reaches ``score_threshold`` (calibrated on
normal data at a chosen false-alarm rate, stored in the checkpoint), then the detector waits until
the mean falls below ``rearm_ratio · score_threshold`` (hysteresis) and for ``refractory_ms``. With
``emit_scores`` every completed window's mean is reported as well (class 0, "score"), so a stream
shows its anomaly score as it flows.
"""

from __future__ import annotations

import numpy as np
import torch

from .window import Decision, DecisionConfig, StreamDecision

SCORE_CLASS, ANOMALY_CLASS = 0, 1  # an autoencoder checkpoint's labels: ["score", "anomaly"]


class AnomalyDecision(StreamDecision):
    """Window mean of per-step scores against a calibrated threshold, with hysteresis."""

    def __init__(self, config: DecisionConfig, n_classes: int, step_us: int) -> None:
        super().__init__(config, n_classes, step_us)

    def reset(self) -> None:
        super().reset()
        self._scores = np.zeros(self.config.window_steps, dtype=np.float64)
        self._score_sum = 0.0
        self._active = False

    def update(
        self, scores: torch.Tensor | np.ndarray, levels_db: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[Decision]:
        """Feed per-step scores ``[T]`` (or ``[T, 1]``); returns the decisions fired in them (an input
        level track, ``levels_db``, is not read: reconstruction error is the score)."""
        values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).numpy()
        config, threshold, window_steps = self.config, float(self.config.score_threshold), self.config.window_steps
        fired = []
        for score in values:
            self._score_sum += score - self._scores[self._cursor]
            self._scores[self._cursor] = score
            self._cursor = (self._cursor + 1) % window_steps
            self._steps_seen += 1
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


def threshold_at(calibration: dict, false_alarm_rate: float, key: str = "window_scores") -> float:
    """The score threshold that a share ``false_alarm_rate`` of normal windows exceed (of the held-back
    streams' relative errors with ``key="relative_scores"``)."""
    scores = np.asarray(calibration[key], dtype=np.float64)
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(f"--false-alarm-rate {false_alarm_rate}: expected a share between 0 and 1, e.g. 0.01")
    return float(np.quantile(scores, 1.0 - false_alarm_rate))
