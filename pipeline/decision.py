"""Decisions: per-step readout → one detection per event (word, gesture), never one per window.

The readout (logits ``[T, K]``, class 0 = background) is turned into probabilities and averaged
over a sliding window of ``window_steps``. A detection fires when the best non-background class's
window mean reaches ``on_threshold``; the detector then stays *active* (no new detection) until
the background's window mean climbs back to ``off_threshold`` (hysteresis) — or, with
``allow_class_switch`` (gestures, which follow each other without a pause), until a *different*
class reaches ``on_threshold`` — and no
detection fires within ``refractory_ms`` of the previous one. Silence and noise keep the
background class on top, so they produce nothing.

``mode = "segment"`` (spoken words) waits for the whole event instead of firing at the first
crossing: a segment opens when the non-background mass of the window mean reaches
``on_threshold``; every step's class probabilities are kept while it lasts; when the background
returns (``off_threshold``) or ``max_active_ms`` passes, one detection is emitted with the class of
largest summed evidence and, as score, that class's mean probability (emitted if ≥ ``min_score``).
Slower (it waits for the word to end) but it does not commit to the first syllables: "six" and
"seven" start alike.

The evidence is summed over the part of the segment between ``evidence_start_fraction`` and
``evidence_end_fraction`` of its steps. A segment runs from the first syllables until the
background has come back in the window mean; its last part is the readout decaying after the word,
which training leaves unconstrained (see :mod:`spikestream.sources.step_targets`: targets are
ignored from ``hold_ms`` to ``release_ms`` after the word), so audio checkpoints drop it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class DecisionConfig:
    """Thresholds are probabilities in [0, 1]; times in ms (plain data, stored in checkpoints)."""

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

    def __post_init__(self) -> None:
        if self.window_steps < 1:
            raise ValueError(f"window_steps must be >= 1, got {self.window_steps}")
        for name in ("on_threshold", "off_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.evidence_start_fraction < self.evidence_end_fraction <= 1.0:
            raise ValueError(
                "evidence fractions must satisfy 0 <= evidence_start_fraction < evidence_end_fraction <= 1, "
                f"got {self.evidence_start_fraction} and {self.evidence_end_fraction}"
            )
        if self.mode not in ("threshold", "segment"):
            raise ValueError(f"mode must be 'threshold' or 'segment', got {self.mode!r}")


@dataclass(frozen=True)
class Decision:
    """A fired decision: the class index, its window-mean probability and the step's end time (µs)."""

    class_index: int
    score: float
    time_us: int


class StreamingDecision:
    """Sliding-window threshold detector with hysteresis and refractory time; state only."""

    def __init__(self, config: DecisionConfig, n_classes: int, step_us: int) -> None:
        self.config = config
        self.n_classes = n_classes
        self.step_us = step_us
        self.reset()

    def reset(self) -> None:
        self._window = np.zeros((self.config.window_steps, self.n_classes), dtype=np.float64)
        self._window[:, 0] = 1.0  # start in background
        self._window_sum = self._window.sum(axis=0)
        self._cursor = 0
        self._steps_seen = 0
        self._active_since_us: int | None = None
        self._active_class: int | None = None
        self._segment: list[np.ndarray] = []  # per-step probabilities of the open segment
        self._last_fired_us: int | None = None

    def update(self, logits: torch.Tensor | np.ndarray) -> list[Decision]:
        """Feed readout steps ``[T, K]`` (batch of one stream); returns decisions fired in them."""
        probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1).double().numpy()
        fired = []
        window_steps = self.config.window_steps
        for step_probabilities in probabilities.reshape(-1, self.n_classes):
            self._window_sum += step_probabilities - self._window[self._cursor]
            self._window[self._cursor] = step_probabilities
            self._cursor = (self._cursor + 1) % window_steps
            self._steps_seen += 1
            now_us = self._steps_seen * self.step_us
            mean = self._window_sum / window_steps
            if self.config.mode == "segment":
                decision = self._segment_step(step_probabilities, mean, now_us)
                if decision is not None:
                    fired.append(decision)
                continue
            best = int(np.argmax(mean[1:])) + 1
            if self._active_since_us is not None:
                timed_out = now_us - self._active_since_us >= self.config.max_active_ms * 1000
                if mean[0] >= self.config.off_threshold or timed_out:
                    self._active_since_us = self._active_class = None
                elif not self.config.allow_class_switch or best == self._active_class or mean[best] < self.config.on_threshold:
                    continue
            if self._last_fired_us is not None and now_us - self._last_fired_us < self.config.refractory_ms * 1000:
                continue
            if mean[best] >= self.config.on_threshold:
                fired.append(Decision(best, float(mean[best]), now_us))
                self._active_since_us = now_us
                self._active_class = best
                self._last_fired_us = now_us
        return fired

    def _segment_step(self, step_probabilities: np.ndarray, mean: np.ndarray, now_us: int) -> Decision | None:
        """One step of the segment mode (see the module docstring)."""
        if self._active_since_us is None:
            refractory = self._last_fired_us is not None and now_us - self._last_fired_us < self.config.refractory_ms * 1000
            if refractory or 1.0 - mean[0] < self.config.on_threshold:
                return None
            self._active_since_us = now_us
            self._segment = []
        self._segment.append(step_probabilities)
        timed_out = now_us - self._active_since_us >= self.config.max_active_ms * 1000
        if mean[0] < self.config.off_threshold and not timed_out:
            return None
        self._active_since_us = None
        steps = len(self._segment)
        first = int(self.config.evidence_start_fraction * steps)
        last = max(first + 1, steps - int((1.0 - self.config.evidence_end_fraction) * steps + 1e-9))
        evidence_steps = np.asarray(self._segment[first:last])
        best = int(np.argmax(self.segment_evidence(evidence_steps)[1:])) + 1
        score = float(evidence_steps[:, best].mean())
        if score < self.config.min_score:
            return None
        self._last_fired_us = now_us
        return Decision(best, score, now_us)

    def segment_evidence(self, probabilities: np.ndarray) -> np.ndarray:
        """Evidence per class ``[K]`` from a segment's kept step probabilities ``[steps, K]``: their sum.

        The detection takes the non-background class of most evidence (``bench/bench_decision_pooling.py``
        compares other poolings by overriding this method)."""
        return probabilities.sum(axis=0)
