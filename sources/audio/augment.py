"""Waveform augmentation for training audio models (pure NumPy functions of an explicit RNG).

Each function takes float32 mono samples ``[N]`` and returns new samples; none changes its input.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import soxr


def coloured_noise(sample_count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ``∝ 1/f^exponent`` (0 white, 1 pink, 2 brown), unit RMS, ``[N]``."""
    spectrum = rng.standard_normal(sample_count // 2 + 1) + 1j * rng.standard_normal(sample_count // 2 + 1)
    frequencies = np.arange(spectrum.size, dtype=np.float64)
    frequencies[0] = 1.0
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2.0), n=sample_count)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def hum(sample_count: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz with decaying harmonics), unit RMS."""
    base_hz = rng.choice([50.0, 60.0])
    t = np.arange(sample_count) / sample_rate_hz
    signal = sum(np.sin(2 * np.pi * base_hz * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
    return (signal / (np.sqrt(np.mean(signal**2)) + 1e-12)).astype(np.float32)


def background_noise(sample_count: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A random background: white/pink/brown noise, hum, or a mix; unit RMS."""
    kind = rng.integers(0, 4)
    if kind == 3:
        return hum(sample_count, sample_rate_hz, rng)
    return coloured_noise(sample_count, float(kind), rng)


def random_stretch(
    bank: list[np.ndarray], sample_count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(stretch [N], recording)``: a random stretch of ``sample_count`` samples of a random one of
    ``bank``'s recordings, looped if shorter, and the recording it was cut from."""
    recording = bank[int(rng.integers(0, len(bank)))]
    if recording.size < sample_count:
        recording = np.tile(recording, -(-sample_count // max(1, recording.size)))
    start = int(rng.integers(0, recording.size - sample_count + 1))
    return recording[start : start + sample_count], recording


def noise_excerpt(bank: list[np.ndarray], sample_count: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of one of ``bank``'s real background recordings, looped if shorter, unit RMS ``[N]``."""
    excerpt = random_stretch(bank, sample_count, rng)[0].astype(np.float32)
    return (excerpt / rms(excerpt)).astype(np.float32)


def field_excerpt(bank: list[np.ndarray], sample_count: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch ``[N]`` of one of ``bank``'s field recordings (barks, engines, rain; looped if
    shorter) at its own loudness relative to the recording's peak, times a gain of −35…0 dB: quiet and
    silent stretches stay quiet, unlike :func:`noise_excerpt`'s unit RMS."""
    stretch, recording = random_stretch(bank, sample_count, rng)
    peak = float(np.max(np.abs(recording))) + 1e-9
    gain = 10.0 ** (rng.uniform(-35.0, 0.0) / 20.0)
    return np.clip(stretch / peak * gain, -1.0, 1.0).astype(np.float32)


def speech_bounds(samples: np.ndarray, sample_rate_hz: int, floor_db: float, margin_ms: float = 0.0) -> tuple[int, int]:
    """``(start, end)`` sample indices from the first to the last 20 ms frame within ``floor_db`` of the
    clip's loudest frame, widened by ``margin_ms`` either side (the whole clip when under two frames)."""
    frame = max(1, int(0.02 * sample_rate_hz))
    count = samples.size // frame
    if count < 2:
        return 0, samples.size
    energy = np.mean(np.square(samples[: count * frame].reshape(count, frame), dtype=np.float64), axis=1)
    level_db = 10.0 * np.log10(energy + 1e-12)
    loud = np.flatnonzero(level_db >= level_db.max() - floor_db)
    margin = int(margin_ms * sample_rate_hz / 1000.0)
    return max(0, loud[0] * frame - margin), min(samples.size, (loud[-1] + 1) * frame + margin)


def trim_silence(
    samples: np.ndarray, sample_rate_hz: int, floor_db: float = 30.0, margin_ms: float = 60.0
) -> np.ndarray:
    """The clip cut to :func:`speech_bounds` with ``margin_ms`` kept either side: a one-second Speech
    Commands recording cut to its word, so that per-step targets line up with the word as they do for
    tightly cut FSDD clips. ``[M]``."""
    start, end = speech_bounds(samples, sample_rate_hz, floor_db, margin_ms)
    return samples[start:end].copy()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)) + 1e-12))


def change_speed(samples: np.ndarray, speed_factor: float, sample_rate_hz: int) -> np.ndarray:
    """Play ``speed_factor`` times faster (tempo and pitch together), by resampling."""
    if abs(speed_factor - 1.0) < 1e-3:
        return samples.copy()
    return soxr.resample(samples, sample_rate_hz * speed_factor, sample_rate_hz).astype(np.float32)


def tilt_filter(samples: np.ndarray, coefficient: float) -> np.ndarray:
    """First-order spectral tilt ``y[n] = x[n] − c·x[n−1]`` (c > 0 brightens, c < 0 darkens):
    a cheap stand-in for a different microphone or room."""
    shifted = np.concatenate([[0.0], samples[:-1]]).astype(np.float32)
    return (samples - coefficient * shifted).astype(np.float32)


def equalise(samples: np.ndarray, gains_db: np.ndarray, sample_rate_hz: int, lowest_hz: float = 100.0) -> np.ndarray:
    """Zero-phase equaliser with a smooth gain curve: a stand-in for another microphone or room.

    ``gains_db [B]`` are the gains at ``B`` anchor frequencies spaced logarithmically from
    ``lowest_hz`` to Nyquist; between anchors the gain (in dB) is interpolated linearly in
    log-frequency, below ``lowest_hz`` it stays at the first anchor's. Returns ``[N]`` float32.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        return samples.copy()
    anchors_hz = np.geomspace(lowest_hz, sample_rate_hz / 2.0, len(gains_db))
    frequencies_hz = np.fft.rfftfreq(samples.size, 1.0 / sample_rate_hz)
    curve_db = np.interp(
        np.log(np.maximum(frequencies_hz, lowest_hz)), np.log(anchors_hz), np.asarray(gains_db, dtype=np.float64)
    )
    spectrum = np.fft.rfft(samples.astype(np.float64)) * 10.0 ** (curve_db / 20.0)
    return np.fft.irfft(spectrum, n=samples.size).astype(np.float32)


def band_limit(samples: np.ndarray, sample_rate_hz: int, recorded_rate_hz: float) -> np.ndarray:
    """The signal as if recorded at ``recorded_rate_hz`` and resampled up to ``sample_rate_hz``:
    nothing above ``recorded_rate_hz / 2`` (soxr's steep anti-alias filter both ways, as a telephone
    line or an 8 kHz recording played at 16 kHz). ``[N]`` float32, same length and rate."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0 or recorded_rate_hz >= sample_rate_hz:
        return samples.copy()
    low = soxr.resample(samples, sample_rate_hz, recorded_rate_hz)
    restored = soxr.resample(low, recorded_rate_hz, sample_rate_hz)[: samples.size]
    return np.pad(restored, (0, samples.size - restored.size)).astype(np.float32)


def room_impulse_response(
    rt60_s: float, sample_rate_hz: int, rng: np.random.Generator, direct_to_reverb_db: float
) -> np.ndarray:
    """A synthetic room: a unit direct path followed by exponentially decaying noise that falls by
    60 dB in ``rt60_s``, its energy ``direct_to_reverb_db`` below the direct path. ``[1 + rt60·rate]``."""
    length = max(1, int(rt60_s * sample_rate_hz))
    decay = np.exp(-6.9078 * np.arange(length) / length)  # ln(1000): amplitude −60 dB at rt60
    tail = rng.standard_normal(length) * decay
    tail *= 10.0 ** (-direct_to_reverb_db / 20.0) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    return np.concatenate([[1.0], tail]).astype(np.float32)


def reverberate(samples: np.ndarray, impulse_response: np.ndarray) -> np.ndarray:
    """Convolve with a room impulse response, keeping the first ``N`` samples ``[N]``."""
    return scipy.signal.fftconvolve(samples, impulse_response)[: samples.size].astype(np.float32)


def place_on_canvas(
    clip: np.ndarray,
    canvas_samples: int,
    offset_samples: int,
    background: np.ndarray,
    snr_db: float | None,
) -> np.ndarray:
    """Put ``clip`` at ``offset_samples`` inside ``background[:canvas_samples]`` scaled to ``snr_db``
    relative to the clip (``None`` = silent background). The clip is cut if it overruns the canvas."""
    canvas = np.zeros(canvas_samples, dtype=np.float32)
    if snr_db is not None:
        canvas += background[:canvas_samples] * (rms(clip) / (10.0 ** (snr_db / 20.0)))
    end = min(canvas_samples, offset_samples + clip.size)
    canvas[offset_samples:end] += clip[: end - offset_samples]
    return canvas


def tone(
    sample_count: int, frequency_hz: float, sample_rate_hz: int, square: bool, rng: np.random.Generator
) -> np.ndarray:
    """A sine or (``square=True``) square wave of peak 1 at ``frequency_hz`` with a random phase, ``[N]``."""
    phase = 2 * np.pi * frequency_hz * np.arange(sample_count) / sample_rate_hz + rng.uniform(0, 2 * np.pi)
    wave = np.sign(np.sin(phase)) if square else np.sin(phase)
    return wave.astype(np.float32)


def nonspeech_background(sample_count: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A random non-speech signal at any level, clipped to [-1, 1] as a sound card would: ``[N]`` float32.

    A sum of one to three parts: coloured noise (spectral exponent 0–2: white to brown) at −75…+3 dBFS
    RMS, mains hum, a sine or square wave (40–3000 Hz, peak −50…0 dBFS), a constant DC level (±0.6), or
    digital silence; so that a classifier learns that none of them is a word."""
    signal = np.zeros(sample_count, dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 6))
        if kind <= 1:  # noise twice as likely as each other kind
            part = coloured_noise(sample_count, rng.uniform(0.0, 2.0), rng) * 10.0 ** (rng.uniform(-75.0, 3.0) / 20.0)
        elif kind == 2:
            part = hum(sample_count, sample_rate_hz, rng) * 10.0 ** (rng.uniform(-60.0, 0.0) / 20.0)
        elif kind == 3:
            frequency_hz = float(np.exp(rng.uniform(np.log(40.0), np.log(3000.0))))
            peak = 10.0 ** (rng.uniform(-50.0, 0.0) / 20.0)
            part = tone(sample_count, frequency_hz, sample_rate_hz, bool(rng.random() < 0.5), rng) * peak
        elif kind == 4:
            part = np.full(sample_count, rng.uniform(-0.6, 0.6), dtype=np.float32)
        else:
            part = np.zeros(sample_count, dtype=np.float32)
        signal += part.astype(np.float32)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)
