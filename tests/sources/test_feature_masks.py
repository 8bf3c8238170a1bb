"""SpecAugment-style training masks on real MFCC frames: where they fall, what they write, and that off means off."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.pipeline.training.audio import clip_features
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.feature_masks import FeatureMaskConfig, mask_features
from spikestream.sources.audio.mfcc import MfccConfig


@pytest.fixture
def frames(fsdd_dir) -> np.ndarray:
    """MFCC frames ``[T, 20]`` of a real spoken digit."""
    return clip_features(read_audio(fsdd_dir / "7_jackson_0.wav", 8000), MfccConfig())


def test_inactive_masks_return_the_frames_untouched_without_a_draw(frames):
    rng = np.random.default_rng(0)
    for config in (FeatureMaskConfig(), FeatureMaskConfig(time_masks=3), FeatureMaskConfig(coefficient_mask_width=4)):
        assert mask_features(frames, frames.mean(0), 10.0, config, rng) is frames
    assert rng.integers(0, 1 << 30) == np.random.default_rng(0).integers(0, 1 << 30)


def test_masks_write_the_mean_within_their_bounds_and_leave_the_rest(frames):
    mean = frames.mean(axis=0)
    config = FeatureMaskConfig(time_masks=2, time_mask_ms=80.0, coefficient_masks=2, coefficient_mask_width=3)
    rng = np.random.default_rng(3)
    widths_seen = set()
    for _ in range(50):
        masked = mask_features(frames, mean, 10.0, config, rng)
        changed = masked != frames
        assert np.all(masked[changed] == np.broadcast_to(mean, frames.shape)[changed])  # masked cells hold the mean
        whole_frames = np.flatnonzero(changed.all(axis=1))
        assert whole_frames.size <= 2 * 8  # two spans of at most 80 ms at 10 ms per frame
        whole_bands = np.flatnonzero(changed.all(axis=0))
        assert whole_bands.size <= 2 * 3
        widths_seen.add(int(changed.sum()))
    assert len(widths_seen) > 10  # the spans are drawn, not fixed
    assert np.array_equal(mask_features(frames, mean, 10.0, FeatureMaskConfig(), rng), frames)


def test_negative_mask_sizes_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        FeatureMaskConfig(time_masks=-1)
