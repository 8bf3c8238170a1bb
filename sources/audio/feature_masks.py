"""SpecAugment-style masking of training features (Park et al., Interspeech 2019), in the MFCC domain.

A training canvas's MFCC frames ``[T, F]`` get up to ``time_masks`` spans of at most ``time_mask_ms``
and up to ``coefficient_masks`` bands of at most ``coefficient_mask_width`` coefficients replaced by
the training statistics' mean (standardised: 0, the encoder's neutral input), each span and band
drawn uniformly. The model then cannot lean on one stretch of the word or one part of the spectral
envelope, where speakers differ. Masks only shape training examples; the streaming front end never
masks. The masked value is the mean rather than zero because the features are standardised
afterwards with that mean: zero raw MFCCs would be a loud, strange input rather than an absent one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureMaskConfig:
    """How many masks of what size; all zero (the default) leaves the features unchanged."""

    time_masks: int = 0
    time_mask_ms: float = 0.0
    coefficient_masks: int = 0
    coefficient_mask_width: int = 0

    def __post_init__(self) -> None:
        if min(self.time_masks, self.time_mask_ms, self.coefficient_masks, self.coefficient_mask_width) < 0:
            raise ValueError(f"feature masks must not be negative, got {self}")

    @property
    def active(self) -> bool:
        return (self.time_masks > 0 and self.time_mask_ms > 0) or (
            self.coefficient_masks > 0 and self.coefficient_mask_width > 0
        )


def mask_features(
    features: np.ndarray, mean: np.ndarray, hop_ms: float, config: FeatureMaskConfig, rng: np.random.Generator
) -> np.ndarray:
    """A masked copy of MFCC frames ``features [T, F]`` (``mean [F]``: the value a masked cell takes;
    ``hop_ms``: milliseconds per frame). Inactive masks return ``features`` itself, with no draw."""
    if not config.active:
        return features
    masked = features.copy()
    frames, coefficients = masked.shape
    longest_frames = int(config.time_mask_ms / hop_ms)
    for _ in range(config.time_masks if longest_frames > 0 else 0):
        width = int(rng.integers(0, min(longest_frames, frames) + 1))
        start = int(rng.integers(0, frames - width + 1))
        masked[start : start + width] = mean
    for _ in range(config.coefficient_masks):
        width = int(rng.integers(0, min(config.coefficient_mask_width, coefficients) + 1))
        start = int(rng.integers(0, coefficients - width + 1))
        masked[:, start : start + width] = mean[start : start + width]
    return masked
