"""An autoencoder's reconstruction error relative to a running mean of its input.

A speech autoencoder reconstructs environmental sounds with a *smaller* error than speech: they
change more slowly than the 10 ms MFCC frames of words, so any smooth guess is close. Relative to
what a trivial predictor that knows nothing of speech gets on the same input — the running mean
of the input so far, ``m_t = m_{t−1} + (x_t − m_{t−1}) / τ`` with ``τ`` = :data:`RUNNING_MEAN_STEPS`,
scored against the same (delayed) target ``x_{t−d}`` — the autoencoder is good on speech (it follows
what the mean cannot) and no better than the mean on steady sound::

    relative error = Σ_t ‖x̂_t − x_{t−d}‖² / Σ_t ‖m_t − x_{t−d}‖²      (over a whole stream)

Measured with ``speech-ae`` (``bench/bench_autoencoders.py --parts audio``): AUROC of ESC-10 sounds
against unheard speech 0.95 with this score, 0.44 with the plain MSE. It scores a whole recording
(``evaluate --normal/--anomalous``, ``reconstruction_metrics``) or the stretch a paired classifier's
detection came from (:class:`RecentRelativeError`, the last :data:`RELATIVE_WINDOW_STEPS` steps: a
word); not the windows of the live anomaly decision, which keeps the windowed MSE: over steady
silence both sums are close to zero and their ratio means nothing.

The mean starts at the stream's first step (which stands for the steps before it, as in
:func:`~spikestream.models.autoencoder.delayed_target`), so a stream in chunks gives the same sums.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import lfilter

RUNNING_MEAN_STEPS = 50.0  # τ of the baseline's running mean (500 ms at 10 ms steps); 100: 0.93, 200: 0.91
RELATIVE_WINDOW_STEPS = 60  # a paired detection's stretch: 600 ms (keywords on ESC-10: 60 beat 100 and 160)


class RunningMeanBaseline:
    """Squared error of the running-mean predictor of a stream, chunk by chunk."""

    def __init__(self, time_constant_steps: float = RUNNING_MEAN_STEPS) -> None:
        self.decay = 1.0 - 1.0 / time_constant_steps
        self.mean: np.ndarray | None = None  # [B·features] after the last step

    def reset(self) -> None:
        self.mean = None

    def squared_errors(self, steps: torch.Tensor, target: torch.Tensor) -> np.ndarray:
        """``Σ_features (m_t − target_t)²`` per step ``[T]`` of the chunk's steps ``[T, B, ...]`` (``m_t``
        after step ``t``'s input; summed over the batch too)."""
        if steps.shape[0] == 0:
            return np.zeros(0)
        values = steps.reshape(steps.shape[0], -1).double().numpy()
        if self.mean is None:
            self.mean = values[0].copy()
        means, _ = lfilter([1.0 - self.decay], [1.0, -self.decay], values, axis=0, zi=(self.decay * self.mean)[None])
        self.mean = means[-1]
        return ((means - target.reshape(target.shape[0], -1).double().numpy()) ** 2).sum(axis=1)


class RecentRelativeError:
    """The relative error of a stream's last ``window_steps`` steps, from per-step squared errors."""

    def __init__(self, window_steps: int = RELATIVE_WINDOW_STEPS) -> None:
        self.window_steps = window_steps
        self.errors = np.zeros(0)  # [≤ window]: the autoencoder's per-step squared error
        self.baseline_errors = np.zeros(0)  # [≤ window]: the running mean's

    def push(self, errors: np.ndarray, baseline_errors: np.ndarray) -> None:
        self.errors = np.concatenate([self.errors, errors])[-self.window_steps :]
        self.baseline_errors = np.concatenate([self.baseline_errors, baseline_errors])[-self.window_steps :]

    def reset(self) -> None:
        self.errors, self.baseline_errors = np.zeros(0), np.zeros(0)

    def value(self) -> float:
        """``Σ errors / Σ baseline errors`` over the window (0 before any step)."""
        return float(self.errors.sum() / max(self.baseline_errors.sum(), 1e-12)) if self.errors.size else 0.0


def step_squared_errors(reconstruction: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """The autoencoder's ``Σ (x̂_t − target_t)²`` per step ``[T]`` (over features and batch), in float64."""
    return (reconstruction - target).pow(2).flatten(1).sum(dim=1).double().numpy()


def last_relative_error(
    reconstruction: torch.Tensor, steps: torch.Tensor, target: torch.Tensor, window_steps: int = RELATIVE_WINDOW_STEPS
) -> float:
    """Calibration: the relative error of the last ``window_steps`` steps of one whole stream (a held-back
    clip and the silence after it, where a paired classifier decides), from its reconstruction."""
    recent = RecentRelativeError(window_steps)
    recent.push(step_squared_errors(reconstruction, target), RunningMeanBaseline().squared_errors(steps, target))
    return recent.value()
