"""Training examples for streaming keyword classifiers: a clip on a noisy canvas, a target per step.

Each example places one clip (or none) on a canvas of background noise and assigns a target to
every front-end frame (hop) with :func:`spikestream.sources.step_targets.step_targets`: background
before the word, its label from mid-word until shortly after it, background again later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..step_targets import BACKGROUND_INDEX, TargetTiming, step_targets
from .augment import (
    background_noise,
    band_limit,
    change_speed,
    equalise,
    field_excerpt,
    noise_excerpt,
    nonspeech_background,
    place_on_canvas,
    reverberate,
    room_impulse_response,
    tilt_filter,
)


@dataclass(frozen=True)
class CanvasConfig:
    """How training canvases are made (durations in ms, levels in dB)."""

    canvas_ms: float = 1300.0
    lead_min_ms: float = 50.0
    tail_min_ms: float = 450.0
    timing: TargetTiming = TargetTiming()
    snr_db_range: tuple[float, float] = (5.0, 40.0)
    silent_background_probability: float = 0.15
    gain_db_range: tuple[float, float] = (-20.0, 6.0)
    speed_range: tuple[float, float] = (0.88, 1.12)
    tilt_range: tuple[float, float] = (-0.5, 0.9)
    background_only_probability: float = 0.1
    equaliser_max_db: float = 0.0  # per clip, gains uniform in ±this at equaliser_bands anchors (0 = off)
    equaliser_bands: int = 6
    reverb_probability: float = 0.0  # share of clips put in a synthetic room (0 = off)
    reverb_rt60_s_range: tuple[float, float] = (0.1, 0.6)
    reverb_direct_to_reverb_db_range: tuple[float, float] = (0.0, 15.0)
    # background-only canvases from the wide non-speech set (noise at any level up to full scale, DC,
    # tones, square waves, clipped: augment.nonspeech_background) instead of quiet noise only; with it,
    # half the word canvases get a DC offset within ±speech_dc_offset_max before clipping
    nonspeech_background: bool = False
    speech_dc_offset_max: float = 0.3
    # share of canvases (words and background alike) band-limited as if recorded at a lower rate, its
    # Nyquist frequency uniform in band_limit_hz_range (0 = off): 8 kHz recordings and telephone speech
    band_limit_probability: float = 0.0
    band_limit_hz_range: tuple[float, float] = (3400.0, 7000.0)
    # with a bank of field recordings (barks, engines, rain: --background-recordings), this share of the
    # background-only canvases is a stretch of one of them; they are never laid under a word
    field_background_probability: float = 0.5


def frame_targets(
    frame_count: int,
    hop_samples: int,
    onset_samples: int,
    clip_samples: int,
    label_index: int,
    sample_rate_hz: int,
    config: CanvasConfig,
) -> np.ndarray:
    """Per-frame targets ``[frame_count]`` int64; frame ``k`` is centred on sample ``k·hop_samples``
    (librosa's ``center=True``)."""
    to_us = 1_000_000 / sample_rate_hz
    step_times_us = np.arange(frame_count) * hop_samples * to_us
    return step_targets(
        step_times_us, int(onset_samples * to_us), int(clip_samples * to_us), label_index, config.timing
    )


def make_example(
    clip: np.ndarray | None,
    label_index: int,
    sample_rate_hz: int,
    hop_samples: int,
    config: CanvasConfig,
    rng: np.random.Generator,
    noise_bank: list[np.ndarray] | None = None,
    field_bank: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented canvas ``[canvas_samples]`` float32 and its frame targets ``[1 + N // hop]``
    (:func:`augmented_canvas`), band-limited with ``config.band_limit_probability`` to a random
    bandwidth below Nyquist (:func:`~spikestream.sources.audio.augment.band_limit`)."""
    canvas, targets = augmented_canvas(
        clip, label_index, sample_rate_hz, hop_samples, config, rng, noise_bank, field_bank
    )
    if config.band_limit_probability > 0 and rng.random() < config.band_limit_probability:
        bandwidth_hz = rng.uniform(*config.band_limit_hz_range)  # no draws when off: earlier recipes replay
        if 2.0 * bandwidth_hz < sample_rate_hz:
            canvas = np.clip(band_limit(canvas, sample_rate_hz, 2.0 * bandwidth_hz), -1.0, 1.0)
    return canvas.astype(np.float32), targets


def augmented_canvas(
    clip: np.ndarray | None,
    label_index: int,
    sample_rate_hz: int,
    hop_samples: int,
    config: CanvasConfig,
    rng: np.random.Generator,
    noise_bank: list[np.ndarray] | None = None,
    field_bank: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented canvas ``[canvas_samples]`` float32 and its frame targets ``[1 + N // hop]``.

    ``noise_bank``: real background recordings (e.g. Speech Commands' ``_background_noise_``); with
    it, half the canvases lie on a random stretch of one of them instead of synthetic noise, and
    background-only canvases are such a stretch at −55…−5 dBFS RMS (or, with
    ``config.nonspeech_background``, half the time the wide non-speech set).

    ``field_bank``: real non-speech field recordings (e.g. ESC-10's barks and engines); with it, a share
    ``config.field_background_probability`` of background-only canvases is a stretch of one of them
    (:func:`~spikestream.sources.audio.augment.field_excerpt`), never laid under a word.

    ``clip=None`` makes a background-only example (all targets background): quiet noise, or with
    ``config.nonspeech_background`` any non-speech signal at any level. Augmentation: speed (tempo +
    pitch), spectral tilt, optionally a smooth random equaliser and a synthetic room, gain, background
    noise at a random SNR, random onset, optionally a DC offset; the canvas is clipped to [-1, 1].
    """
    canvas_samples = int(config.canvas_ms * sample_rate_hz / 1000.0)
    frame_count = 1 + canvas_samples // hop_samples
    if clip is None and field_bank and rng.random() < config.field_background_probability:  # no draw without
        return field_excerpt(field_bank, canvas_samples, rng), np.full(frame_count, BACKGROUND_INDEX, dtype=np.int64)
    noise = background_noise(canvas_samples, sample_rate_hz, rng)
    if noise_bank and rng.random() < 0.5:  # no draws without a bank: earlier recipes replay exactly
        noise = noise_excerpt(noise_bank, canvas_samples, rng)
        if clip is None and not (config.nonspeech_background and rng.random() < 0.5):
            level = 10.0 ** (rng.uniform(-55.0, -5.0) / 20.0)
            canvas = np.clip(noise * level, -1.0, 1.0).astype(np.float32)
            return canvas, np.full(frame_count, BACKGROUND_INDEX, dtype=np.int64)
    if clip is None and config.nonspeech_background:
        background_only = np.full(frame_count, BACKGROUND_INDEX, dtype=np.int64)
        return nonspeech_background(canvas_samples, sample_rate_hz, rng), background_only
    if clip is None:
        level = 10.0 ** (rng.uniform(-60.0, -15.0) / 20.0)
        return (noise * level).astype(np.float32), np.full(frame_count, BACKGROUND_INDEX, dtype=np.int64)
    speech = change_speed(clip, rng.uniform(*config.speed_range), sample_rate_hz)
    speech = tilt_filter(speech, rng.uniform(*config.tilt_range))
    if config.equaliser_max_db > 0:  # no draws when off: earlier recipes replay exactly
        speech = equalise(
            speech,
            rng.uniform(-config.equaliser_max_db, config.equaliser_max_db, config.equaliser_bands),
            sample_rate_hz,
        )
    if config.reverb_probability > 0 and rng.random() < config.reverb_probability:
        room = room_impulse_response(
            rng.uniform(*config.reverb_rt60_s_range),
            sample_rate_hz,
            rng,
            rng.uniform(*config.reverb_direct_to_reverb_db_range),
        )
        speech = reverberate(speech, room)
    peak = float(np.max(np.abs(speech))) + 1e-6
    speech = speech / peak * 0.5 * 10.0 ** (rng.uniform(*config.gain_db_range) / 20.0)
    lead = int(config.lead_min_ms * sample_rate_hz / 1000.0)
    latest_onset = max(lead, canvas_samples - speech.size - int(config.tail_min_ms * sample_rate_hz / 1000.0))
    onset = int(rng.integers(lead, latest_onset + 1))
    snr_db = None if rng.random() < config.silent_background_probability else rng.uniform(*config.snr_db_range)
    canvas = place_on_canvas(speech, canvas_samples, onset, noise, snr_db)
    targets = frame_targets(
        frame_count, hop_samples, onset, min(speech.size, canvas_samples - onset), label_index, sample_rate_hz, config
    )
    if config.nonspeech_background and rng.random() < 0.5:  # no draws when off: earlier recipes replay exactly
        canvas = canvas + rng.uniform(-config.speech_dc_offset_max, config.speech_dc_offset_max)
    return np.clip(canvas, -1.0, 1.0).astype(np.float32), targets
