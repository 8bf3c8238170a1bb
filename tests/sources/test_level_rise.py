"""Level track: steady sounds do not rise above their own floor, a word does, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.sources.audio.augment import coloured_noise
from spikestream.sources.audio.front_end import AudioFrontEnd, AudioFrontEndConfig
from spikestream.sources.audio.level_rise import LevelRiseConfig, has_stuck_run

RATE_HZ = 8000
HOP_S = 0.01


def levels_of(samples: np.ndarray, chunk: int = 160, lead_silence_ms: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """``(level_db, floor_db)`` of every step of ``samples`` pushed ``chunk`` samples at a time, then flushed."""
    config = AudioFrontEndConfig(level_rise=LevelRiseConfig(), lead_silence_ms=lead_silence_ms, tail_silence_ms=0.0)
    stage = AudioFrontEnd(config)
    steps = 0
    for start in range(0, samples.size, chunk):
        steps += stage.push(samples[start : start + chunk]).shape[0]
    steps += stage.flush().shape[0]
    level_db, floor_db = stage.take_levels()
    assert level_db.shape == floor_db.shape == (steps,)  # one level and floor per spike step
    return level_db, floor_db


def peak_rise_db(level_db: np.ndarray, floor_db: np.ndarray) -> float:
    return float(np.nanmax(level_db - floor_db))


@pytest.mark.parametrize("rms", [1e-4, 1e-2, 0.3])
def test_steady_white_noise_after_digital_silence_does_not_rise(rms):
    noise = (np.random.default_rng(1).standard_normal(10 * RATE_HZ) * rms).astype(np.float32)
    level_db, floor_db = levels_of(noise)
    lead_steps = 30
    assert np.isnan(level_db[:lead_steps]).all()  # the silence before the noise is not its floor
    assert np.nanmedian(level_db) == pytest.approx(20 * np.log10(rms) + 10 * np.log10(3550 / 4000), abs=1.0)
    assert peak_rise_db(level_db, floor_db) < 4.0


def test_a_burst_above_the_floor_rises_by_its_level_and_only_there():
    rng = np.random.default_rng(2)
    noise = (rng.standard_normal(4 * RATE_HZ) * 0.01).astype(np.float32)
    time_s = np.arange(int(0.4 * RATE_HZ)) / RATE_HZ
    noise[2 * RATE_HZ : 2 * RATE_HZ + time_s.size] += (0.3 * np.sin(2 * np.pi * 700 * time_s)).astype(np.float32)
    level_db, floor_db = levels_of(noise, lead_silence_ms=0.0)
    rise_db = level_db - floor_db
    assert rise_db[int(2.1 / HOP_S) : int(2.3 / HOP_S)].min() > 20.0  # a 0.21 RMS tone over 0.01 RMS noise
    assert rise_db[int(0.5 / HOP_S) : int(1.9 / HOP_S)].max() < 4.0


def test_the_band_leaves_dc_and_hum_out():
    rng = np.random.default_rng(4)
    samples = (rng.standard_normal(3 * RATE_HZ) * 0.01).astype(np.float32)
    samples[RATE_HZ : 2 * RATE_HZ] += 0.5  # a DC step: after its edge, no speech-band energy is added
    samples[2 * RATE_HZ :] += (0.5 * np.sin(2 * np.pi * 40 * np.arange(RATE_HZ) / RATE_HZ)).astype(np.float32)
    level_db, floor_db = levels_of(samples, lead_silence_ms=0.0)
    rise_db = level_db - floor_db
    assert np.median(rise_db[110:190]) < 2.0  # DC 34 dB above the noise
    assert np.median(rise_db[210:290]) < 2.0  # 40 Hz hum 34 dB above the noise


def test_a_signal_stuck_at_full_scale_is_no_floor():
    rng = np.random.default_rng(5)
    samples = np.clip(rng.standard_normal(3 * RATE_HZ).cumsum() * 0.05, -1.0, 1.0).astype(np.float32)
    level_db, floor_db = levels_of(samples, lead_silence_ms=0.0)
    stuck = has_stuck_run(np.lib.stride_tricks.sliding_window_view(np.pad(samples, 128), 256)[::80], 16)
    assert stuck.any()  # the clipped random walk sits at ±1 for stretches
    assert np.isnan(level_db[stuck[: level_db.size]]).all()  # those frames give no level, so no floor


def test_levels_do_not_depend_on_how_the_stream_is_cut():
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(2 * RATE_HZ) * np.linspace(0.001, 0.5, 2 * RATE_HZ)).astype(np.float32)
    whole = levels_of(samples, chunk=samples.size)
    for chunk in (37, 800):
        for part, reference in zip(levels_of(samples, chunk=chunk), whole):
            np.testing.assert_allclose(part, reference, atol=1e-4)


def test_stuck_runs_mark_frames():
    frames = np.random.default_rng(6).standard_normal((4, 256)).astype(np.float32)
    frames[1, 10:26] = 0.0  # 16 zeros in a row
    frames[2, ::2] = 0.0  # many zeros, never two in a row
    frames[3, 100:116] = 1.0  # 16 samples stuck at full scale
    assert has_stuck_run(frames, 16).tolist() == [False, True, False, True]


def test_the_setting_travels_in_the_checkpoint_front_end():
    config = AudioFrontEndConfig(level_rise=LevelRiseConfig(floor_window_ms=1500.0))
    assert AudioFrontEndConfig.from_dict(config.to_dict()) == config
    assert "level_rise" not in AudioFrontEndConfig().to_dict()  # checkpoints without it keep their exact form
    with pytest.raises(ValueError, match="band_low_hz"):
        LevelRiseConfig(band_low_hz=4000.0, band_high_hz=300.0)


def test_the_level_track_hears_the_input_before_the_dc_blocker():
    """A DC blocker turns a stretch stuck at full scale into a slow ramp: it must not become the floor."""
    brown = coloured_noise(20 * RATE_HZ, 2.0, np.random.default_rng(7))  # unit RMS: clipped about half the time
    samples = np.clip(brown, -1.0, 1.0).astype(np.float32)
    config = AudioFrontEndConfig(level_rise=LevelRiseConfig(), dc_cutoff_hz=10.0, tail_silence_ms=0.0)
    stage = AudioFrontEnd(config)
    steps = stage.push(samples).shape[0] + stage.flush().shape[0]
    level_db, floor_db = stage.take_levels()
    assert level_db.shape == (steps,)
    assert 0.2 < np.mean(np.isfinite(level_db)) < 0.9  # the stretches stuck at ±1 give no level
    assert peak_rise_db(level_db, floor_db) < 6.0  # through the DC blocker's ramps: above 40 dB
