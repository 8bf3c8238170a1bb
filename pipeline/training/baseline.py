"""A named non-spiking baseline for audio classifiers: ``mfcc-logreg``.

A logistic regression (scikit-learn, balanced class weights) on each whole clip's MFCC mean and
standard deviation ``[2 · n_mfcc]``, computed by the same streaming MFCC the model's front end uses.
It sees a whole clip at once, cannot stream, and has no background class, so it is a floor for what
a streaming spiking model should beat on the same clips; benchmarks train it in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...sources.audio.mfcc import MfccConfig
from .audio import clip_features

BASELINE_NAME = "mfcc-logreg"


def clip_vector(samples: np.ndarray, mfcc: MfccConfig) -> np.ndarray:
    """MFCC mean and standard deviation over the clip's frames, ``[2 · n_mfcc]``."""
    features = clip_features(samples, mfcc)
    return np.concatenate([features.mean(axis=0), features.std(axis=0)])


class MfccLogisticBaseline:
    """``fit`` on clips ``[N]`` (float32 samples at ``mfcc.sample_rate_hz``) and their labels; ``predict``."""

    def __init__(self, mfcc: MfccConfig) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.mfcc = mfcc
        self.classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))

    def fit(self, clips: Sequence[np.ndarray], labels: Sequence[str]) -> MfccLogisticBaseline:
        self.classifier.fit(np.array([clip_vector(clip, self.mfcc) for clip in clips]), list(labels))
        return self

    def predict(self, clips: Sequence[np.ndarray]) -> list[str]:
        return [str(label) for label in self.classifier.predict(np.array([clip_vector(c, self.mfcc) for c in clips]))]
