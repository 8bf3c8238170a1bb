"""The DC blocker ahead of the MFCC: it removes a constant offset, passes speech frequencies, gives the
same output however a stream is chunked, and makes the features of offset speech those of clean speech."""

import numpy as np
import pytest
import torch

from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.dc_blocker import DcBlocker, dc_block, dc_blocker_pole
from spikestream.sources.audio.front_end import AudioFrontEnd, AudioFrontEndConfig, features_to_steps
from spikestream.sources.audio.mfcc import MfccConfig, StreamingMfcc
from spikestream.sources.spike_encoding import SpikeEncoder

RATE_HZ = 8000
CUTOFF_HZ = 30.0


def test_a_constant_level_decays_to_zero_within_50_ms():
    for level in (0.05, -0.2, 0.5, 1.0):
        output, _ = dc_block(np.full(RATE_HZ, level, np.float32), dc_blocker_pole(CUTOFF_HZ, RATE_HZ))
        after_50_ms = output[int(0.05 * RATE_HZ) :]
        assert np.max(np.abs(after_50_ms)) < 1e-3 * abs(level)
        assert np.max(np.abs(output[-100:])) < 1e-9


def test_a_300_hz_tone_passes_within_half_a_decibel():
    time_s = np.arange(RATE_HZ) / RATE_HZ
    tone = np.sin(2 * np.pi * 300.0 * time_s).astype(np.float32)
    output, _ = dc_block(tone, dc_blocker_pole(CUTOFF_HZ, RATE_HZ))
    settled = slice(RATE_HZ // 4, None)  # after the start-up transient
    gain_db = 20 * np.log10(np.sqrt(np.mean(output[settled] ** 2)) / np.sqrt(np.mean(tone[settled] ** 2)))
    assert abs(gain_db) < 0.5


def test_chunking_does_not_change_the_output():
    rng = np.random.default_rng(0)
    samples = (0.3 * rng.standard_normal(3 * RATE_HZ) + 0.2).astype(np.float32)
    whole, _ = dc_block(samples, dc_blocker_pole(CUTOFF_HZ, RATE_HZ))
    blocker = DcBlocker(CUTOFF_HZ, RATE_HZ)
    cuts = np.sort(rng.choice(np.arange(1, samples.size), size=40, replace=False))
    pieces = [blocker.push(piece) for piece in np.split(samples, cuts)] + [blocker.push(np.zeros(0, np.float32))]
    assert np.max(np.abs(np.concatenate(pieces) - whole)) < 1e-6
    blocker.reset()
    assert np.array_equal(blocker.push(samples), whole)


def test_cutoff_outside_the_band_is_refused():
    with pytest.raises(ValueError, match="dc_cutoff_hz"):
        dc_blocker_pole(0.0, RATE_HZ)
    with pytest.raises(ValueError, match="dc_cutoff_hz"):
        AudioFrontEndConfig(dc_cutoff_hz=RATE_HZ / 2.0)


def test_front_end_without_a_cutoff_keeps_its_exact_features_and_config(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    config = AudioFrontEndConfig()
    assert "dc_cutoff_hz" not in config.to_dict()  # old checkpoints' front ends read back unchanged
    assert AudioFrontEndConfig.from_dict(config.to_dict()) == config
    stream = StreamingMfcc(MfccConfig())
    framed = np.concatenate([np.zeros(2400, np.float32), speech, np.zeros(5600, np.float32)])  # 0.3 s, 0.7 s
    plain = np.concatenate([stream.push(framed), stream.flush()])
    front_end = AudioFrontEnd(config)
    steps = torch.cat([front_end.push(speech), front_end.flush()])
    expected = features_to_steps(plain, config, SpikeEncoder(config.encoder, frame_dt_s=0.01))
    assert torch.allclose(steps, expected, atol=1e-5, rtol=0)  # pushed in other pieces: float rounding only
    with_blocker = AudioFrontEndConfig(dc_cutoff_hz=CUTOFF_HZ)
    assert AudioFrontEndConfig.from_dict(with_blocker.to_dict()).dc_cutoff_hz == CUTOFF_HZ
    offset_front_end = AudioFrontEnd(with_blocker)
    offset_steps = torch.cat([offset_front_end.push(speech + 0.2), offset_front_end.flush()])
    assert offset_steps.shape == steps.shape and not torch.equal(offset_steps, steps)


def test_mfcc_of_speech_with_a_dc_offset_matches_the_clean_speech_after_the_blocker(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    config = MfccConfig()

    def blocked_mfcc(samples: np.ndarray) -> np.ndarray:
        blocker, stream = DcBlocker(CUTOFF_HZ, RATE_HZ), StreamingMfcc(config)
        blocks = [stream.push(blocker.push(samples[i : i + 640])) for i in range(0, samples.size, 640)]
        return np.concatenate(blocks + [stream.flush()])

    clean, offset = blocked_mfcc(speech), blocked_mfcc(speech + 0.2)
    stream = StreamingMfcc(config)
    unblocked = np.concatenate([stream.push(speech + 0.2), stream.flush()])
    settled = slice(5, None)  # after the blocker's 50 ms start-up transient (5 hops)
    error_blocked = np.abs(offset[settled] - clean[settled]).mean()
    error_unblocked = np.abs(unblocked[settled] - clean[settled]).mean()
    assert error_blocked < 0.05  # dB-scale coefficients: the offset leaves no trace
    assert error_unblocked > 20 * error_blocked


def test_a_stream_is_framed_by_silence_and_its_steps_say_how_far(fsdd_dir):
    """The lead of silence comes before the first push, the tail at flush; a second stream through the
    same front end is framed again; without framing the steps are the bare recording's."""
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    front_end = AudioFrontEnd(AudioFrontEndConfig())
    first = torch.cat([front_end.push(speech[:1000]), front_end.push(speech[1000:]), front_end.flush()])
    again = torch.cat([front_end.push(speech), front_end.flush()])
    assert torch.allclose(first, again, atol=1e-5, rtol=0) and front_end.lead_us == 300_000
    bare_front_end = AudioFrontEnd(AudioFrontEndConfig(lead_silence_ms=0.0, tail_silence_ms=0.0))
    bare = torch.cat([bare_front_end.push(speech), bare_front_end.flush()])
    assert first.shape[0] - bare.shape[0] == 30 + 70  # hops of 10 ms
    assert torch.allclose(first[:28], first[:1].expand(28, *first.shape[1:]), atol=1e-4)  # the lead: silence
    assert bare_front_end.lead_us == 0
