"""The speech-gated running mean (causal per-utterance cepstral mean normalisation): the same features
however a stream is chunked and in training, a microphone's colour largely removed once a voice has
been heard, quiet left alone, and checkpoints without it unchanged."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from spikestream.pipeline.training.audio import clip_features
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.augment import tilt_filter
from spikestream.sources.audio.front_end import AudioFrontEnd, AudioFrontEndConfig, features_to_steps, standardise
from spikestream.sources.audio.mfcc import MfccConfig
from spikestream.sources.audio.speech_mean import SpeechMean, SpeechMeanConfig
from spikestream.sources.labelled_clips import list_labelled_clips
from spikestream.sources.spike_encoding import SpikeEncoder

RATE_HZ = 8000


@pytest.fixture(scope="module")
def speaker_words(fsdd_dir) -> np.ndarray:
    """Twenty words of one FSDD speaker, end to end (about 8 s)."""
    clips = [c for c in list_labelled_clips(fsdd_dir) if c.speaker == "jackson"][:20]
    return np.concatenate([read_audio(c.path, RATE_HZ) for c in clips])


@pytest.fixture(scope="module")
def front_end_config(speaker_words) -> AudioFrontEndConfig:
    mfcc = MfccConfig()
    frames = clip_features(speaker_words, mfcc)
    return AudioFrontEndConfig(
        mfcc=mfcc,
        feature_mean=tuple(frames.mean(axis=0).tolist()),
        feature_std=tuple((frames.std(axis=0) + 1e-3).tolist()),
        lead_silence_ms=0.0,
        tail_silence_ms=0.0,
        speech_mean=SpeechMeanConfig(),
    )


def test_a_stream_in_any_chunks_gets_the_features_training_computes(speaker_words, front_end_config):
    encoder = SpikeEncoder(front_end_config.encoder, frame_dt_s=0.01)
    trained = features_to_steps(clip_features(speaker_words, front_end_config.mfcc), front_end_config, encoder)
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, speaker_words.size), size=60, replace=False))
    front_end = AudioFrontEnd(front_end_config)
    streamed = torch.cat([front_end.push(part) for part in np.split(speaker_words, cuts)] + [front_end.flush()])
    assert streamed.shape == trained.shape
    assert torch.allclose(streamed, trained, atol=1e-5, rtol=0)  # the MFCC in other pieces: float rounding only
    again = torch.cat([front_end.push(speaker_words), front_end.flush()])  # flush ends the stream: a new one starts
    assert torch.allclose(again, trained, atol=1e-5, rtol=0)
    plain = features_to_steps(
        clip_features(speaker_words, front_end_config.mfcc), replace(front_end_config, speech_mean=None), encoder
    )
    assert (trained - plain).abs().max() > 0.05  # it does change the features


def test_a_microphone_colour_is_largely_removed_once_the_voice_has_been_heard(speaker_words, front_end_config):
    config = front_end_config.speech_mean
    mean = np.asarray(front_end_config.feature_mean, np.float32)
    std = np.asarray(front_end_config.feature_std, np.float32)
    clean = standardise(clip_features(speaker_words, front_end_config.mfcc), mean, std)
    darker = standardise(clip_features(tilt_filter(speaker_words, -0.9), front_end_config.mfcc), mean, std)
    speech = (clean[:, 0] > config.gate_z) & (darker[:, 0] > config.gate_z)
    later = np.arange(clean.shape[0]) > 300  # after 3 s
    raw_shift = np.abs((darker - clean)[speech & later, 1:].mean(axis=0)).mean()
    normalised_clean = SpeechMean(config, clean.shape[1]).push(clean)
    normalised_darker = SpeechMean(config, clean.shape[1]).push(darker)
    shift = np.abs((normalised_darker - normalised_clean)[speech & later, 1:].mean(axis=0)).mean()
    # measured: the colour's mean shift 0.32 standard deviations per coefficient -> 0.08
    assert raw_shift > 0.2 and shift < 0.4 * raw_shift, (raw_shift, shift)


def test_quiet_frames_are_left_alone_and_the_level_coefficient_is_never_moved():
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal((500, 20)).astype(np.float32)
    quiet[:, 0] = -2.0  # below the speech gate: nothing is learnt
    assert np.array_equal(SpeechMean(SpeechMeanConfig(), 20).push(quiet), quiet)
    loud = quiet + 3.0
    normalised = SpeechMean(SpeechMeanConfig(), 20).push(loud)
    assert np.array_equal(normalised[:, 0], loud[:, 0])
    assert normalised[0, 1:] == pytest.approx(loud[0, 1:] * (1 - 1 / 51), abs=1e-5)  # one frame against 50 of prior
    assert abs(normalised[-100:, 1:].mean()) < 1.0  # after 5 s the offset of 3 is mostly gone (measured: 0.54)


def test_the_setting_travels_with_the_checkpoint_and_is_absent_when_off(front_end_config):
    values = front_end_config.to_dict()
    assert values["speech_mean"] == {"time_constant_frames": 300.0, "prior_frames": 50.0, "gate_z": 0.0}
    assert AudioFrontEndConfig.from_dict(values) == front_end_config
    assert "speech_mean" not in replace(front_end_config, speech_mean=None).to_dict()  # old checkpoints unchanged
    for bad in ({"time_constant_frames": 0.0}, {"prior_frames": -1.0}, {"gate_z": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SpeechMeanConfig(**bad)
