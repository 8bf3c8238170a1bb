"""Training augmentations that stand in for another microphone or room: the equaliser's gain curve
is measured on sinusoids, the synthetic room on its decay and direct-to-reverb energy ratio."""

import numpy as np
import pytest
import scipy.signal

from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.augment import band_limit, equalise, reverberate, room_impulse_response
from spikestream.sources.audio.training_examples import CanvasConfig, make_example

RATE_HZ = 8000


def sine(frequency_hz: float, seconds: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency_hz * np.arange(int(seconds * RATE_HZ)) / RATE_HZ).astype(np.float32)


def amplitude_at(samples: np.ndarray, frequency_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) * 2 / samples.size
    return float(spectrum[int(round(frequency_hz * samples.size / RATE_HZ))])


def test_equaliser_applies_its_gain_at_each_anchor_and_interpolates_between_them():
    gains_db = np.array([0.0, -6.0, 0.0, 6.0, 12.0, 0.0])
    anchors_hz = np.geomspace(100.0, RATE_HZ / 2, gains_db.size)  # 100, 209, 437, 914, 1912, 4000 Hz
    for anchor_hz, _gain_db in zip(anchors_hz[1:5], gains_db[1:5]):
        frequency_hz = round(anchor_hz)  # whole Hz: one FFT bin of a 1 s signal
        expected = 10 ** (np.interp(np.log(frequency_hz), np.log(anchors_hz), gains_db) / 20)
        assert amplitude_at(equalise(sine(frequency_hz), gains_db, RATE_HZ), frequency_hz) == pytest.approx(
            expected, rel=0.02
        )
    # half-way (in log-frequency) between the 914 Hz (+6 dB) and 1912 Hz (+12 dB) anchors: +9 dB
    middle_hz = round(np.sqrt(anchors_hz[3] * anchors_hz[4]))
    assert 20 * np.log10(amplitude_at(equalise(sine(middle_hz), gains_db, RATE_HZ), middle_hz)) == pytest.approx(
        9.0, abs=0.1
    )


def test_flat_equaliser_is_the_identity_and_keeps_length(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    out = equalise(speech, np.zeros(6), RATE_HZ)
    assert out.shape == speech.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, speech, atol=1e-6)
    assert equalise(np.zeros(0, np.float32), np.ones(6), RATE_HZ).size == 0


def test_room_impulse_response_has_the_requested_decay_and_direct_to_reverb_ratio():
    rng = np.random.default_rng(0)
    room = room_impulse_response(0.4, RATE_HZ, rng, direct_to_reverb_db=6.0)
    assert room.size == 1 + int(0.4 * RATE_HZ) and room[0] == 1.0
    tail = room[1:].astype(np.float64)
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=0.01)
    # 60 dB across the whole tail, so about 54 dB between the centres of its first and last tenths
    tenth = tail.size // 10
    drop_db = 10 * np.log10(np.mean(tail[:tenth] ** 2) / np.mean(tail[-tenth:] ** 2))
    assert 50.0 < drop_db < 58.0


def test_reverberation_keeps_length_and_smears_energy_into_the_silence_after_a_word(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    padded = np.concatenate([speech, np.zeros(RATE_HZ // 2, np.float32)])
    assert np.array_equal(reverberate(padded, np.array([1.0], np.float32)), padded)
    wet = reverberate(padded, room_impulse_response(0.5, RATE_HZ, np.random.default_rng(1), direct_to_reverb_db=0.0))
    assert wet.shape == padded.shape
    after = slice(speech.size + 400, speech.size + 1200)  # 50–150 ms after the clip ends
    assert np.sqrt(np.mean(wet[after] ** 2)) > 0.05 * np.sqrt(np.mean(speech**2))


def test_canvas_with_equaliser_and_room_changes_the_audio_but_not_the_targets(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    plain_canvas, plain_targets = make_example(speech, 4, RATE_HZ, 80, CanvasConfig(), np.random.default_rng(5))
    coloured = CanvasConfig(equaliser_max_db=6.0, reverb_probability=1.0)
    canvas, targets = make_example(speech, 4, RATE_HZ, 80, coloured, np.random.default_rng(5))
    assert canvas.shape == plain_canvas.shape and np.all(np.isfinite(canvas))
    assert not np.allclose(canvas, plain_canvas, atol=1e-3)
    assert set(np.unique(targets)) == set(np.unique(plain_targets))


def test_nonspeech_canvases_are_background_within_full_scale_and_off_by_default(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    wide = CanvasConfig(nonspeech_background=True, gain_db_range=(-35.0, 20.0))
    rng = np.random.default_rng(3)
    levels = []
    for _ in range(40):
        canvas, targets = make_example(None, 4, RATE_HZ, 80, wide, rng)
        assert canvas.dtype == np.float32 and np.all(np.abs(canvas) <= 1.0) and np.all(targets == 0)
        levels.append(np.sqrt(np.mean(canvas.astype(np.float64) ** 2)))
    assert min(levels) < 1e-2 and max(levels) > 0.3  # from very quiet to near full scale
    loud, targets = make_example(speech, 4, RATE_HZ, 80, wide, rng)
    assert np.all(np.abs(loud) <= 1.0) and 4 in targets
    # off by default: the classic recipe draws exactly what it drew before the option existed
    first = make_example(speech, 4, RATE_HZ, 80, CanvasConfig(), np.random.default_rng(5))
    again = make_example(speech, 4, RATE_HZ, 80, CanvasConfig(nonspeech_background=False), np.random.default_rng(5))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


def test_band_limit_removes_what_a_lower_rate_cannot_carry_and_keeps_the_rest():
    rate_hz, rng = 16_000, np.random.default_rng(0)
    noise = (rng.standard_normal(rate_hz) * 0.1).astype(np.float32)
    limited = band_limit(noise, rate_hz, 8_000)  # as an 8 kHz recording played at 16 kHz
    assert limited.shape == noise.shape and limited.dtype == np.float32
    frequencies_hz = np.fft.rfftfreq(rate_hz, 1 / rate_hz)
    power_in, power_out = np.abs(np.fft.rfft(noise)) ** 2, np.abs(np.fft.rfft(limited)) ** 2
    above, below = frequencies_hz > 4_200, frequencies_hz < 3_500
    assert power_out[above].sum() < 1e-4 * power_in[above].sum()  # nothing above the 4 kHz Nyquist of 8 kHz
    assert power_out[below].sum() == pytest.approx(power_in[below].sum(), rel=0.01)
    assert np.array_equal(band_limit(noise, rate_hz, rate_hz), noise)  # the full band: unchanged


def test_band_limited_canvases_keep_their_targets_and_are_off_by_default(fsdd_dir):
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", 16_000)
    plain = make_example(speech, 4, 16_000, 160, CanvasConfig(), np.random.default_rng(5))
    limited = make_example(speech, 4, 16_000, 160, CanvasConfig(band_limit_probability=1.0), np.random.default_rng(5))
    assert np.array_equal(plain[1], limited[1]) and limited[0].dtype == np.float32
    spectrum = np.abs(np.fft.rfft(limited[0])) ** 2
    frequencies_hz = np.fft.rfftfreq(limited[0].size, 1 / 16_000)
    assert spectrum[frequencies_hz > 7_100].sum() < 1e-4 * spectrum.sum()  # bandwidth drawn in 3.4-7 kHz
    again = make_example(speech, 4, 16_000, 160, CanvasConfig(band_limit_probability=0.0), np.random.default_rng(5))
    assert np.array_equal(plain[0], again[0])  # off: the earlier recipes draw exactly what they drew


def test_field_recordings_make_background_canvases_only_and_never_lie_under_a_word(fsdd_dir, shared_data_dir):
    # --background-recordings: real barks and engines teach "this is not a keyword" without being laid
    # under the words (laid under them, stop 34 found 38-54 % more false keywords on field recordings)
    bark = read_audio(sorted((shared_data_dir / "esc10" / "fold1" / "dog_bark").iterdir())[0], RATE_HZ)
    speech = read_audio(fsdd_dir / "3_nicolas_7.wav", RATE_HZ)
    always = CanvasConfig(field_background_probability=1.0)
    rng = np.random.default_rng(2)
    levels = []
    for _ in range(30):
        canvas, targets = make_example(None, 4, RATE_HZ, 80, always, rng, field_bank=[bark])
        assert canvas.dtype == np.float32 and np.all(targets == 0) and np.all(np.abs(canvas) <= 1.0)
        levels.append(float(np.max(np.abs(canvas))))
        if levels[-1] > 1e-3:  # a stretch of the bark itself, only scaled
            running = np.concatenate([[0.0], np.cumsum(bark.astype(np.float64) ** 2)])
            energy = running[canvas.size :] - running[: -canvas.size]  # of each window the canvas could be
            matched = scipy.signal.correlate(bark, canvas, mode="valid", method="fft") / np.sqrt(energy + 1e-12)
            lag = int(np.argmax(matched))  # normalised: the window the canvas was cut from
            piece = bark[lag : lag + canvas.size]
            np.testing.assert_allclose(canvas / levels[-1], piece / np.max(np.abs(piece)), atol=1e-4)
    assert min(levels) < 0.1 and max(levels) > 0.3  # −35…0 dB below the recording's peak
    # with a word, the bank is not drawn from: the same canvas as without it
    with_bank = make_example(speech, 4, RATE_HZ, 80, always, np.random.default_rng(5), field_bank=[bark])
    without = make_example(speech, 4, RATE_HZ, 80, always, np.random.default_rng(5))
    assert np.array_equal(with_bank[0], without[0]) and 4 in with_bank[1]
    # without a bank, background canvases draw exactly what they drew before the option existed
    first = make_example(None, 4, RATE_HZ, 80, CanvasConfig(), np.random.default_rng(7))
    again = make_example(None, 4, RATE_HZ, 80, always, np.random.default_rng(7), field_bank=None)
    assert np.array_equal(first[0], again[0])
