"""What every classifier decision shares: its settings, the fired record, and the sliding window.

The readout (logits ``[T, K]``, class 0 = background) is turned into probabilities and averaged
over a sliding window of ``window_steps``. Silence and noise keep the background class on top, so
they produce nothing. The kinds differ in when they fire: :mod:`.threshold` at the first crossing,
:mod:`.segment` once the whole event has ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

DECISION_MODES = ("threshold", "segment", "anomaly")


@dataclass(frozen=True)
class DecisionConfig:
    """Thresholds are probabilities in [0, 1]; times in ms (plain data, stored in checkpoints).

    ``mode`` names the decision kind (see :data:`spikestream.pipeline.decisions.DECISION_KINDS`).
    The anomaly kind reads ``score_threshold`` (a reconstruction error, calibrated on normal data),
    re-arms below ``rearm_ratio · score_threshold``, and with ``emit_scores`` reports every window's
    mean score too."""

    window_steps: int = 8
    on_threshold: float = 0.6
    off_threshold: float = 0.6
    refractory_ms: float = 300.0
    max_active_ms: float = 2000.0
    allow_class_switch: bool = False
    mode: str = "threshold"
    min_score: float = 0.3
    evidence_start_fraction: float = 0.0
    evidence_end_fraction: float = 1.0
    score_threshold: float | None = None
    commit_score: float | None = None  # segment: decide as soon as the evidence is this decisive (see segment.py)
    commit_min_ms: float = 150.0
    end_fall_db: float | None = None  # segment: decide once the input has fallen this far below the word (segment.py)
    end_hold_ms: float = 200.0
    end_evidence_start_fraction: float = 0.5  # a segment decided at the word's end: evidence from this fraction on
    rearm_ratio: float = 0.8
    emit_scores: bool = False
    min_rise_db: float | None = None  # segment: the input's level must rise this far above its floor (see segment.py)
    hot_pixel_rate_hz: float | None = None  # anomaly, events: a pixel this steady and fast is a fault (anomaly.py)
    hot_pixel_window_steps: int = 2  # ... firing at that rate in each of this many steps (50 ms of 25 ms bins)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{spec.name} must be a finite number, got {value}")
        if self.window_steps < 1:
            raise ValueError(f"window_steps must be >= 1, got {self.window_steps}")
        for name in ("on_threshold", "off_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        for name in ("refractory_ms", "max_active_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 ms, got {getattr(self, name)}")
        if not 0.0 <= self.evidence_start_fraction < self.evidence_end_fraction <= 1.0:
            raise ValueError(
                "evidence fractions must satisfy 0 <= evidence_start_fraction < evidence_end_fraction <= 1, "
                f"got {self.evidence_start_fraction} and {self.evidence_end_fraction}"
            )
        if self.score_threshold is not None and not self.score_threshold > 0:
            raise ValueError(f"score_threshold must be > 0 (a reconstruction error), got {self.score_threshold}")
        if self.commit_score is not None and not 0.0 < self.commit_score <= 1.0:
            raise ValueError(f"commit_score must be in (0, 1] or None, got {self.commit_score}")
        if self.min_rise_db is not None and not 0.0 <= self.min_rise_db <= 60.0:
            raise ValueError(f"min_rise_db must be in [0, 60] dB or None, got {self.min_rise_db}")
        if self.min_rise_db is not None and self.mode != "segment":
            raise ValueError(f"min_rise_db gates segment decisions only; mode is {self.mode!r}")
        if self.hot_pixel_rate_hz is not None and not self.hot_pixel_rate_hz > 0:
            raise ValueError(f"hot_pixel_rate_hz must be > 0 Hz or None, got {self.hot_pixel_rate_hz}")
        if self.hot_pixel_window_steps < 1:
            raise ValueError(f"hot_pixel_window_steps must be >= 1, got {self.hot_pixel_window_steps}")
        if self.hot_pixel_rate_hz is not None and self.mode != "anomaly":
            raise ValueError(f"hot_pixel_rate_hz is read by anomaly decisions only; mode is {self.mode!r}")
        if self.end_fall_db is not None and not 3.0 <= self.end_fall_db <= 60.0:
            raise ValueError(f"end_fall_db must be in [3, 60] dB or None, got {self.end_fall_db}")
        if self.end_fall_db is not None and self.mode != "segment":
            raise ValueError(f"end_fall_db ends segment decisions only; mode is {self.mode!r}")
        if not 0.0 <= self.end_evidence_start_fraction < 1.0:
            raise ValueError(f"end_evidence_start_fraction must be in [0, 1), got {self.end_evidence_start_fraction}")
        if self.end_hold_ms < 0:
            raise ValueError(f"end_hold_ms must be >= 0 ms, got {self.end_hold_ms}")
        if self.commit_min_ms < 0:
            raise ValueError(f"commit_min_ms must be >= 0 ms, got {self.commit_min_ms}")
        if not 0.0 < self.rearm_ratio <= 1.0:
            raise ValueError(f"rearm_ratio must be in (0, 1], got {self.rearm_ratio}")
        if self.mode == "anomaly" and self.score_threshold is None:
            raise ValueError("an anomaly decision needs score_threshold (calibrated on normal data)")
        if self.mode not in DECISION_MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, DECISION_MODES))}, got {self.mode!r}")


@dataclass(frozen=True)
class Decision:
    """A fired decision: the class index, its score and the step's end time (µs); anomaly decisions
    carry the threshold their score was compared with."""

    class_index: int
    score: float
    time_us: int
    threshold: float | None = None


class StreamDecision:
    """Sliding window of class probabilities over the last ``window_steps`` steps; state only.

    Subclasses implement :meth:`_step` (one step's probabilities ``[K]`` and the window mean ``[K]``
    → a decision or ``None``) and may override :meth:`close`."""

    def __init__(self, config: DecisionConfig, n_classes: int, step_us: int) -> None:
        self.config = config
        self.n_classes = n_classes
        self.step_us = step_us
        self.reset()

    def reset(self) -> None:
        """Forget everything: the window starts in background."""
        self._window = np.zeros((self.config.window_steps, self.n_classes), dtype=np.float64)
        self._window[:, 0] = 1.0
        self._window_sum = self._window.sum(axis=0)
        self._level_window = np.full(self.config.window_steps, np.nan)  # input levels (dB) of the same steps
        self._floor_db = np.nan  # the input's noise floor (dB) at the last step
        self._cursor = 0
        self._steps_seen = 0
        self._active_since_us: int | None = None
        self._last_fired_us: int | None = None

    @property
    def now_us(self) -> int:
        """Stream time (µs) at the end of the last step seen."""
        return self._steps_seen * self.step_us

    def reset_after_gap(self, skipped_steps: int) -> None:
        """Start over after ``skipped_steps`` steps that were not computed (a gap in the input); the
        clock keeps running, so later decisions keep their stream times."""
        steps_seen = self._steps_seen + int(skipped_steps)
        self.reset()
        self._steps_seen = steps_seen

    def update(
        self, logits: torch.Tensor | np.ndarray, levels_db: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[Decision]:
        """Feed readout steps ``[T, K]`` (batch of one stream); returns the decisions fired in them.

        ``levels_db``: ``(level [T], floor [T])`` in dB, each step's input level and the input's noise
        floor (the audio front end's level track, NaN where unknown), read by ``min_rise_db``; without
        it every step counts as a rise (no gate)."""
        probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1).double().numpy()
        probabilities = probabilities.reshape(-1, self.n_classes)
        steps = probabilities.shape[0]
        if levels_db is None:
            levels, floors = np.full(steps, np.inf), np.full(steps, -np.inf)
        else:
            levels, floors = (np.asarray(values, dtype=np.float64).reshape(-1) for values in levels_db)
            if levels.size != steps or floors.size != steps:
                raise ValueError(f"{levels.size} levels and {floors.size} floors for {steps} readout steps")
        fired = []
        window_steps = self.config.window_steps
        for step_probabilities, level_db, floor_db in zip(probabilities, levels, floors):
            self._window_sum += step_probabilities - self._window[self._cursor]
            self._window[self._cursor] = step_probabilities
            self._level_window[self._cursor] = level_db
            self._floor_db = floor_db
            self._cursor = (self._cursor + 1) % window_steps
            self._steps_seen += 1
            decision = self._step(step_probabilities, self._window_sum / window_steps, self.now_us)
            if decision is not None:
                fired.append(decision)
        return fired

    def _step(self, step_probabilities: np.ndarray, mean: np.ndarray, now_us: int) -> Decision | None:
        raise NotImplementedError

    def _in_refractory_time(self, now_us: int) -> bool:
        return self._last_fired_us is not None and now_us - self._last_fired_us < self.config.refractory_ms * 1000

    def close(self) -> list[Decision]:
        """End of the stream: decisions of an event still open (none for a threshold decision)."""
        return []
