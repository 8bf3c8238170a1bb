"""Streaming speech-gated cepstral mean normalisation (per-utterance feature normalisation, causal).

A voice or a microphone the model never heard shifts every MFCC frame by a roughly constant vector
(the log spectrum of the vocal tract's and the channel's average colour). Subtracting the mean of the
speech heard so far removes that shift, as cepstral mean normalisation does offline over a whole
utterance, but causally and step by step, so a stream and a training canvas see the same features.

Per frame ``k`` of standardised MFCCs ``z_k [F]`` (the training set's mean and std already removed):

- the frame is *speech* (gate ``g_k = 1``) when its log-energy coefficient ``z_k[0]`` exceeds
  ``gate_z`` (in training-set standard deviations; silence and quiet room noise sit below);
- exponentially forgetting sums over the speech frames, time constant ``time_constant_frames``:
  ``S_k = a·S_{k−1} + g_k·z_k``, ``W_k = a·W_{k−1} + g_k`` with ``a = exp(−1 / time_constant_frames)``;
- the running mean shrinks towards the training mean (0 here) with ``prior_frames`` frames of weight:
  ``m_k = S_k / (W_k + prior_frames)``, so the first frames of a stream are hardly moved;
- output ``z_k − m_k`` for the cepstral coefficients 1…F−1; coefficient 0 (level) is kept as it is.

State is ``S`` and ``W``: bounded memory, and the same output however a stream is cut into chunks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class SpeechMeanConfig:
    """Settings of the speech-gated running mean (plain data, stored in a checkpoint's front end)."""

    time_constant_frames: float = 300.0  # memory of the running mean, in MFCC frames (3 s at 10 ms hops)
    prior_frames: float = 50.0  # weight of the training mean, in speech frames
    gate_z: float = 0.0  # a frame is speech when its standardised c0 exceeds this

    def __post_init__(self) -> None:
        if not 1.0 <= self.time_constant_frames <= 1e6:
            raise ValueError(f"time_constant_frames={self.time_constant_frames}: expected 1 to 1e6 frames")
        if not 0.0 <= self.prior_frames <= 1e6:
            raise ValueError(f"prior_frames={self.prior_frames}: expected 0 to 1e6 frames")
        if not math.isfinite(self.gate_z):
            raise ValueError(f"gate_z={self.gate_z}: expected a finite number")

    def to_dict(self) -> dict:
        return asdict(self)


class SpeechMean:
    """Streaming normaliser; ``push(z [n, F])`` → ``[n, F]`` float32 with the running speech mean removed."""

    def __init__(self, config: SpeechMeanConfig, n_features: int) -> None:
        self.config = config
        self.decay = math.exp(-1.0 / config.time_constant_frames)
        self.n_features = n_features
        self.reset()

    def reset(self) -> None:
        """Start a new stream: nothing heard, the mean is the training mean."""
        self._sums = np.zeros(self.n_features, dtype=np.float64)
        self._weight = 0.0

    def push(self, standardised: np.ndarray) -> np.ndarray:
        if standardised.shape[0] == 0:
            return standardised.astype(np.float32)
        gate = (standardised[:, 0] > self.config.gate_z).astype(np.float64)
        feedback = [1.0, -self.decay]
        sums, _ = lfilter([1.0], feedback, gate[:, None] * standardised, axis=0, zi=self.decay * self._sums[None, :])
        weights, _ = lfilter([1.0], feedback, gate, zi=[self.decay * self._weight])
        self._sums, self._weight = sums[-1].copy(), float(weights[-1])
        means = sums / (weights[:, None] + self.config.prior_frames + 1e-12)
        means[:, 0] = 0.0  # the level coefficient is left alone
        return (standardised - means).astype(np.float32)
