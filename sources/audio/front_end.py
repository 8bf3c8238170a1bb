"""The audio front end: audio chunks → spike steps ``[T, 1, C, F]``, one streaming stage each.

samples → optional :class:`DcBlocker` (``dc_cutoff_hz``) → :class:`StreamingMfcc` (one frame per hop) →
standardise with the training set's per-coefficient mean/std → optionally remove the running mean of
the speech heard so far (``speech_mean``, :mod:`.speech_mean`) → :func:`unit_interval` → spike encoder.
With ``level_rise`` set, each step also carries its frame's speech-band level and the stream's recent
noise floor (:mod:`.level_rise`, dB; :meth:`AudioFrontEnd.take_levels`), which a segment decision
with ``min_rise_db`` reads to stay quiet on steady sounds.
Built from the plain-data ``front_end`` section of a model checkpoint (see
:meth:`AudioFrontEndConfig.from_dict`).

The DC blocker is off unless the checkpoint's front end names a cut-off: checkpoints trained
without it keep their exact features.

**Silence around a stream.** A stream is framed by ``lead_silence_ms`` of digital silence before
its first sample and ``tail_silence_ms`` after its last (when it is flushed), as a word arrives
live: after quiet, followed by quiet. The network then starts from the state silence leaves it in
(not from rest, which it never saw in training), and its delayed response to the last sound (the
causal convolutions reach back up to 240 ms, the readout integrates over tens of ms) still comes
out before the stream closes. A recorded word cut tight at both ends, streamed bare, is otherwise
misread (the shipped digits: 87.6 % on the bare FSDD test takes, 97.6 % with this silence). The
lead is whole hops, and :attr:`AudioFrontEnd.lead_us` tells the stream how much to take off its
step times, so detection times stay those of the recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..spike_encoding import EncoderConfig, SpikeEncoder, unit_interval
from .dc_blocker import DcBlocker, dc_block, dc_blocker_pole
from .level_rise import LevelRise, LevelRiseConfig
from .mfcc import AnalysedFrames, MfccConfig, PowerFrames, StreamingFrames, StreamingMfcc
from .speech_mean import SpeechMean, SpeechMeanConfig


@dataclass(frozen=True)
class AudioFrontEndConfig:
    """Everything needed to rebuild the front end a model was trained with (plain data)."""

    mfcc: MfccConfig = field(default_factory=MfccConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    feature_mean: tuple[float, ...] = ()
    feature_std: tuple[float, ...] = ()
    dc_cutoff_hz: float | None = None  # −3 dB cut-off of the DC blocker ahead of the MFCC (None = off)
    lead_silence_ms: float = 300.0  # digital silence streamed before the first sample (whole hops)
    tail_silence_ms: float = 700.0  # digital silence streamed after the last sample, at flush
    level_rise: LevelRiseConfig | None = None  # per-step level and noise floor (None = not computed)
    speech_mean: SpeechMeanConfig | None = None  # running speech mean removed from the features (None = off)

    kind = "audio"

    def __post_init__(self) -> None:
        if self.dc_cutoff_hz is not None:
            dc_blocker_pole(self.dc_cutoff_hz, self.mfcc.sample_rate_hz)  # raises ValueError when out of range
        for name in ("lead_silence_ms", "tail_silence_ms"):
            if not 0.0 <= getattr(self, name) <= 10_000.0:
                raise ValueError(f"{name}={getattr(self, name)}: expected 0 to 10000 ms")

    @property
    def lead_hops(self) -> int:
        """Whole MFCC hops of silence before the stream."""
        return int(round(self.lead_silence_ms / self.mfcc.hop_ms))

    @property
    def tail_hops(self) -> int:
        """Whole MFCC hops of silence after the stream."""
        return int(round(self.tail_silence_ms / self.mfcc.hop_ms))

    @property
    def step_us(self) -> int:
        """Duration of one SNN step in µs (hop / steps_per_frame)."""
        return int(round(self.mfcc.hop_ms * 1000.0 / self.encoder.steps_per_frame))

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(C, F)`` of one spike step."""
        return (self.encoder.channel_multiplier(), self.mfcc.n_mfcc)

    def to_dict(self) -> dict:
        values = {
            "kind": self.kind,
            "mfcc": self.mfcc.to_dict(),
            "encoder": self.encoder.to_dict(),
            "feature_mean": list(self.feature_mean),
            "feature_std": list(self.feature_std),
            "lead_silence_ms": self.lead_silence_ms,
            "tail_silence_ms": self.tail_silence_ms,
        }
        if self.dc_cutoff_hz is not None:  # absent from checkpoints made without it
            values["dc_cutoff_hz"] = self.dc_cutoff_hz
        if self.level_rise is not None:
            values["level_rise"] = self.level_rise.to_dict()
        if self.speech_mean is not None:  # absent from checkpoints made without it
            values["speech_mean"] = self.speech_mean.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> AudioFrontEndConfig:
        if values.get("kind", "audio") != "audio":
            raise ValueError(f"front end kind {values.get('kind')!r} is not an audio front end")
        return cls(
            mfcc=MfccConfig.from_dict(values["mfcc"]),
            encoder=EncoderConfig(**values["encoder"]),
            feature_mean=tuple(values.get("feature_mean", ())),
            feature_std=tuple(values.get("feature_std", ())),
            dc_cutoff_hz=values.get("dc_cutoff_hz"),
            lead_silence_ms=float(values.get("lead_silence_ms", cls.lead_silence_ms)),
            tail_silence_ms=float(values.get("tail_silence_ms", cls.tail_silence_ms)),
            level_rise=None if values.get("level_rise") is None else LevelRiseConfig.from_dict(values["level_rise"]),
            speech_mean=None if values.get("speech_mean") is None else SpeechMeanConfig(**values["speech_mean"]),
        )


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(features − mean) / std`` per coefficient; identity when no statistics are given."""
    if mean.size == 0:
        return features
    return (features - mean) / std


def remove_dc(samples: np.ndarray, config: AudioFrontEndConfig) -> np.ndarray:
    """A whole clip ``[N]`` through the front end's DC blocker (from rest); unchanged when it is off."""
    if config.dc_cutoff_hz is None:
        return samples
    return dc_block(samples, dc_blocker_pole(config.dc_cutoff_hz, config.mfcc.sample_rate_hz))[0]


def features_to_steps(
    features: np.ndarray, config: AudioFrontEndConfig, encoder: SpikeEncoder, speech_mean: SpeechMean | None = None
) -> torch.Tensor:
    """MFCC frames ``[T, F]`` → spike steps ``[T', 1, C, F]`` with the configured encoder.

    With ``config.speech_mean`` the frames continue ``speech_mean``'s stream (a stream's normaliser),
    or start a new one (``None``: a whole clip or training canvas from its first frame)."""
    mean = np.asarray(config.feature_mean, dtype=np.float32)
    std = np.asarray(config.feature_std, dtype=np.float32)
    standardised = standardise(features, mean, std)
    if config.speech_mean is not None:
        normaliser = speech_mean if speech_mean is not None else SpeechMean(config.speech_mean, features.shape[1])
        standardised = normaliser.push(standardised)
    normalised = unit_interval(torch.from_numpy(np.asarray(standardised, dtype=np.float32)))
    return encoder(normalised[:, None, None, :])


class AudioFrontEnd:
    """Streaming audio front end; ``push(samples)`` → new spike steps ``[T_new, 1, C, F]``."""

    def __init__(self, config: AudioFrontEndConfig, seed: int = 0) -> None:
        self.config = config
        self.mfcc = StreamingMfcc(config.mfcc)
        rate_hz = config.mfcc.sample_rate_hz
        self.dc_blocker = None if config.dc_cutoff_hz is None else DcBlocker(config.dc_cutoff_hz, rate_hz)
        self.encoder = SpikeEncoder(config.encoder, frame_dt_s=config.mfcc.hop_ms / 1000.0, seed=seed)
        mfcc = config.mfcc
        self.level_rise = (
            None
            if config.level_rise is None
            else LevelRise(config.level_rise, mfcc.sample_rate_hz, mfcc.n_fft, mfcc.hop_ms)
        )
        # the level track reads the samples as they arrived: a DC blocker turns a signal stuck at full
        # scale into a decaying ramp that would look like the room's floor (frames aligned one to one;
        # framing and power spectra only, no MFCC)
        self._level_framer = None if self.level_rise is None or self.dc_blocker is None else StreamingFrames(mfcc)
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (level, floor) dB of steps not yet taken
        self.speech_mean = None if config.speech_mean is None else SpeechMean(config.speech_mean, mfcc.n_mfcc)
        self._lead_due = True

    @property
    def step_us(self) -> int:
        return self.config.step_us

    @property
    def lead_us(self) -> int:
        """Stream time of the silence put before the first sample (step times minus this = recording times)."""
        return self.config.lead_hops * self.config.encoder.steps_per_frame * self.step_us

    def _silence(self, hops: int) -> np.ndarray:
        return np.zeros(hops * self.config.mfcc.hop_length, dtype=np.float32)

    def reset(self) -> None:
        self._lead_due = True
        self.mfcc.reset()
        self.encoder.reset()
        if self.dc_blocker is not None:
            self.dc_blocker.reset()
        if self.level_rise is not None:
            self.level_rise.reset()
        if self._level_framer is not None:
            self._level_framer.reset()
        if self.speech_mean is not None:
            self.speech_mean.reset()
        self._levels = []

    def push(self, samples: np.ndarray) -> torch.Tensor:
        if self._lead_due:
            self._lead_due = False
            samples = np.concatenate([self._silence(self.config.lead_hops), np.asarray(samples, np.float32)])
        raw = None if self._level_framer is None else self._level_framer.push(samples)
        if self.dc_blocker is not None:
            samples = self.dc_blocker.push(samples)
        return self._steps(self.mfcc.push_analysed(samples), raw)

    def _steps(self, frames: AnalysedFrames, raw: PowerFrames | None = None) -> torch.Tensor:
        """Spike steps of new frames; their levels and floors (one per step, from the frames of the samples
        before the DC blocker, ``raw``, when there is one) are kept for :meth:`take_levels`."""
        if self.level_rise is not None:
            repeat = self.config.encoder.steps_per_frame
            heard = frames if raw is None else raw
            level_db, floor_db = self.level_rise.push(heard.samples, heard.power)
            self._levels.append((np.repeat(level_db, repeat), np.repeat(floor_db, repeat)))
        return features_to_steps(frames.features, self.config, self.encoder, self.speech_mean)

    def take_levels(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(level_db [T], floor_db [T])`` of the ``T`` steps returned since the last call (NaN where a
        frame is not clean or no floor is known yet, :mod:`.level_rise`), or ``None`` when the front end
        computes none (``level_rise`` unset)."""
        if self.level_rise is None:
            return None
        taken, self._levels = self._levels, []
        if not taken:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        return np.concatenate([level for level, _ in taken]), np.concatenate([floor for _, floor in taken])

    def advance_to(self, t_us: int) -> torch.Tensor:
        """Audio time is carried by its samples: nothing closes without them (no steps)."""
        return torch.zeros((0, 1) + self.config.input_shape)

    def skip_to(self, t_us: int) -> tuple[torch.Tensor, int]:
        """Audio streams have no gaps (silence is samples): no steps, nothing skipped."""
        return torch.zeros((0, 1) + self.config.input_shape), 0

    def flush(self) -> torch.Tensor:
        """The tail of silence and the last frames (only the last frames when nothing was pushed)."""
        tail = self.push(self._silence(self.config.tail_hops)) if not self._lead_due else None
        raw = None if self._level_framer is None else self._level_framer.flush()
        last = self._steps(self.mfcc.flush_analysed(), raw)
        self._lead_due = True  # the next push starts a new stream
        if self.level_rise is not None:
            self.level_rise.reset()
        if self.speech_mean is not None:
            self.speech_mean.reset()
        return last if tail is None else torch.cat([tail, last])
