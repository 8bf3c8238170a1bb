"""The streaming resampler a paired model uses: chunk-invariant, equal to resampling the whole stream."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.resampling import StreamResampler


def resampled(samples: np.ndarray, cuts: list[int], from_hz: int, to_hz: int) -> np.ndarray:
    resampler = StreamResampler(from_hz, to_hz)
    bounds = [0, *cuts, samples.size]
    return np.concatenate([resampler.push(samples[a:b]) for a, b in zip(bounds[:-1], bounds[1:])] + [resampler.flush()])


@pytest.mark.parametrize("from_hz, to_hz", [(16000, 8000), (8000, 16000), (44100, 16000)])
def test_any_cut_gives_the_whole_stream_resampled(shared_data_dir, from_hz, to_hz):
    path = next(iter(sorted((shared_data_dir / "speech_commands" / "validation" / "yes").glob("*.flac"))))
    samples = read_audio(path, from_hz)
    whole = resampled(samples, [], from_hz, to_hz)
    cut = resampled(samples, [1, 641, 1280, 1281, 7000], from_hz, to_hz)
    assert np.array_equal(whole, cut)
    assert whole.size == round(samples.size * to_hz / from_hz)
    reference = soxr.resample(samples, from_hz, to_hz)
    assert np.abs(whole[: reference.size] - reference).max() < 1e-6


def test_a_rate_of_zero_is_refused():
    with pytest.raises(ValueError, match="sample rates must be > 0"):
        StreamResampler(16000, 0)
