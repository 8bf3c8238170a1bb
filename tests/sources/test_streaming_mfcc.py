"""Streaming MFCC against librosa on real speech, and its one-frame-per-hop contract."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile

from spikestream.sources.audio.mfcc import MfccConfig, StreamingMfcc, reference_mfcc


def stream_in_chunks(samples: np.ndarray, config: MfccConfig, chunk_sizes: np.ndarray) -> np.ndarray:
    stream = StreamingMfcc(config)
    frames, position = [], 0
    for size in chunk_sizes:
        frames.append(stream.push(samples[position : position + size]))
        position += size
        if position >= samples.size:
            break
    frames.append(stream.flush())
    return np.concatenate(frames)


@pytest.mark.parametrize("name", ["7_jackson_32.wav", "0_george_0.wav", "9_yweweler_3.wav"])
def test_matches_librosa_mfcc_on_real_speech(fsdd_dir, name):
    samples, rate = soundfile.read(fsdd_dir / name, dtype="float32")
    config = MfccConfig(sample_rate_hz=rate)
    chunk_sizes = np.random.default_rng(0).integers(1, 400, size=10_000)
    streamed = stream_in_chunks(samples, config, chunk_sizes)
    expected = librosa.feature.mfcc(
        y=samples,
        sr=rate,
        n_mfcc=config.n_mfcc,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
    ).T
    assert streamed.shape == expected.shape
    # float32 arithmetic: a few 1e-4 dB on coefficients of magnitude ~100s
    np.testing.assert_allclose(streamed, expected, atol=2e-3, rtol=1e-4)


def test_digital_silence_differs_only_by_the_documented_top_db_clip():
    config = MfccConfig()
    samples = np.zeros(4000, dtype=np.float32)
    samples[1000:2000] = 0.5 * np.sin(np.arange(1000) * 0.3)
    streamed = stream_in_chunks(samples, config, np.full(100, 80))
    np.testing.assert_allclose(streamed, reference_mfcc(samples, config, top_db=None), atol=2e-3, rtol=1e-4)
    clipped = reference_mfcc(samples, config, top_db=80.0)
    assert np.abs(streamed - clipped).max() > 1.0  # librosa's default clip needs the whole signal


def test_each_hop_yields_exactly_one_frame():
    config = MfccConfig()
    stream = StreamingMfcc(config)
    hop = config.hop_length
    first = stream.push(np.zeros(config.n_fft // 2, dtype=np.float32))
    assert first.shape == (1, config.n_mfcc)  # frame 0 complete once n_fft/2 samples arrived (centred)
    counts = [
        stream.push(np.random.default_rng(i).standard_normal(hop).astype(np.float32) * 0.1).shape[0] for i in range(50)
    ]
    assert counts == [1] * 50
    assert stream.push(np.zeros(hop // 2, dtype=np.float32)).shape[0] == 0


def test_frame_count_matches_librosa_for_any_length():
    config = MfccConfig()
    for length in (1, 79, 80, 81, 255, 256, 1000, 8001):
        samples = np.random.default_rng(length).standard_normal(length).astype(np.float32) * 0.1
        streamed = stream_in_chunks(samples, config, np.full(length + 1, 37))
        assert streamed.shape[0] == 1 + length // config.hop_length


def test_rejects_inconsistent_parameters():
    with pytest.raises(ValueError, match="n_mfcc"):
        MfccConfig(n_mfcc=50, n_mels=40)
    with pytest.raises(ValueError, match="hop"):
        MfccConfig(hop_ms=100.0, n_fft=256)
    with pytest.raises(ValueError, match="log_mel gives n_mels=40 features"):
        MfccConfig(log_mel=True, n_mels=40, n_mfcc=30)


def test_log_mel_features_are_librosas_log_mel_spectrogram_streamed_in_any_chunks(fsdd_dir):
    # log_mel=1: the n_mels log-mel energies in dB, no DCT, so a convolution over the features slides
    # along frequency (the ESC-10 front end's lever)
    samples, rate = soundfile.read(fsdd_dir / "7_jackson_32.wav", dtype="float32")
    config = MfccConfig(sample_rate_hz=rate, n_mels=32, n_mfcc=32, log_mel=True)
    streamed = stream_in_chunks(samples, config, np.random.default_rng(1).integers(1, 400, size=10_000))
    mel_power = librosa.feature.melspectrogram(
        y=samples, sr=rate, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=32, fmin=config.fmin_hz
    )
    expected = librosa.power_to_db(mel_power, amin=config.amin_power, top_db=None).T
    assert streamed.shape == expected.shape == (1 + samples.size // config.hop_length, 32)
    np.testing.assert_allclose(streamed, expected, atol=2e-3, rtol=1e-4)
    tone = (0.3 * np.sin(2 * np.pi * 1000.0 * np.arange(rate) / rate)).astype(np.float32)
    loudest_band = int(np.argmax(stream_in_chunks(tone, config, np.full(100, 800)).mean(axis=0)))
    centres_hz = librosa.mel_frequencies(n_mels=34, fmin=config.fmin_hz, fmax=rate / 2)[1:-1]
    assert loudest_band == int(np.argmin(np.abs(centres_hz - 1000.0)))  # feature k is mel band k
