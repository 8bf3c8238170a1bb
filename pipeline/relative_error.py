"""An autoencoder's reconstruction error relative to a running mean of its input.

A speech autoencoder reconstructs environmental sounds with a *smaller* error than speech: they
change more slowly than the 10 ms MFCC frames of words, so any smooth guess is close. Relative to
what a trivial predictor that knows nothing of speech gets on the same input — the running mean
of the input so far, ``m_t = m_{t−1} + (x_t − m_{t−1}) / τ`` with ``τ`` = :data:`RUNNING_MEAN_STEPS`,
scored against the same (delayed) target ``x_{t−d}`` — the autoencoder is good on speech (it follows
what the mean cannot) and no better than the mean on steady sound::

    relative error = Σ_t ‖x̂_t − x_{t−d}‖² / Σ_t ‖m_t − x_{t−d}‖²      (over a whole stream)

Measured with ``speech-ae`` (``bench/bench_autoencoders.py --parts audio``): AUROC of ESC-10 sounds
against unheard speech 0.94 with this score, 0.44 with the plain MSE. It is a score of a whole
recording (``evaluate --normal/--anomalous``, ``reconstruction_metrics``): over a window of steady
silence both sums are close to zero and their ratio means nothing, so the live anomaly decision
keeps the windowed MSE.

The mean starts at the stream's first step (which stands for the steps before it, as in
:func:`~spikestream.models.autoencoder.delayed_target`), so a stream in chunks gives the same sums.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import lfilter

RUNNING_MEAN_STEPS = 50.0  # τ of the baseline's running mean (500 ms at 10 ms steps); 100: 0.93, 200: 0.91


class RunningMeanBaseline:
    """Squared error of the running-mean predictor of a stream, chunk by chunk."""

    def __init__(self, time_constant_steps: float = RUNNING_MEAN_STEPS) -> None:
        self.decay = 1.0 - 1.0 / time_constant_steps
        self.mean: np.ndarray | None = None  # [B·features] after the last step

    def reset(self) -> None:
        self.mean = None

    def squared_error(self, steps: torch.Tensor, target: torch.Tensor) -> float:
        """``Σ (m_t − target_t)²`` over the chunk's steps ``[T, B, ...]`` (``m_t`` after step ``t``'s input)."""
        if steps.shape[0] == 0:
            return 0.0
        values = steps.reshape(steps.shape[0], -1).double().numpy()
        if self.mean is None:
            self.mean = values[0].copy()
        means, _ = lfilter([1.0 - self.decay], [1.0, -self.decay], values, axis=0, zi=(self.decay * self.mean)[None])
        self.mean = means[-1]
        return float(((means - target.reshape(target.shape[0], -1).double().numpy()) ** 2).sum())
