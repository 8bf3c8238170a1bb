"""Threshold decision (gestures): fire at the first crossing, then hysteresis and refractory time.

A detection fires when the best non-background class's window mean reaches ``on_threshold``; the
detector then stays *active* (no new detection) until the background's window mean climbs back to
``off_threshold`` (hysteresis) — or, with ``allow_class_switch`` (gestures, which follow each other
without a pause), until a *different* class reaches ``on_threshold`` — and no detection fires within
``refractory_ms`` of the previous one.
"""

from __future__ import annotations

import numpy as np

from .window import Decision, StreamDecision


class ThresholdDecision(StreamDecision):
    """Fires on the first window mean at or above ``on_threshold``."""

    def reset(self) -> None:
        super().reset()
        self._active_class: int | None = None

    def _step(self, step_probabilities: np.ndarray, mean: np.ndarray, now_us: int) -> Decision | None:
        config = self.config
        best = int(np.argmax(mean[1:])) + 1
        if self._active_since_us is not None:
            timed_out = now_us - self._active_since_us >= config.max_active_ms * 1000
            if mean[0] >= config.off_threshold or timed_out:
                self._active_since_us = self._active_class = None
            elif not config.allow_class_switch or best == self._active_class or mean[best] < config.on_threshold:
                return None
        if self._in_refractory_time(now_us) or mean[best] < config.on_threshold:
            return None
        self._active_since_us = self._last_fired_us = now_us
        self._active_class = best
        return Decision(best, float(mean[best]), now_us)
