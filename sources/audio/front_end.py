"""The audio front end: audio chunks → spike steps ``[T, 1, C, F]``, one streaming stage each.

samples → optional :class:`DcBlocker` (``dc_cutoff_hz``) → :class:`StreamingMfcc` (one frame per hop) →
standardise with the training set's per-coefficient mean/std → :func:`unit_interval` → spike encoder.
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
from .mfcc import MfccConfig, StreamingMfcc


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


def features_to_steps(features: np.ndarray, config: AudioFrontEndConfig, encoder: SpikeEncoder) -> torch.Tensor:
    """MFCC frames ``[T, F]`` → spike steps ``[T', 1, C, F]`` with the configured encoder."""
    mean = np.asarray(config.feature_mean, dtype=np.float32)
    std = np.asarray(config.feature_std, dtype=np.float32)
    normalised = unit_interval(torch.from_numpy(standardise(features, mean, std)).float())
    return encoder(normalised[:, None, None, :])


class AudioFrontEnd:
    """Streaming audio front end; ``push(samples)`` → new spike steps ``[T_new, 1, C, F]``."""

    def __init__(self, config: AudioFrontEndConfig, seed: int = 0) -> None:
        self.config = config
        self.mfcc = StreamingMfcc(config.mfcc)
        rate_hz = config.mfcc.sample_rate_hz
        self.dc_blocker = None if config.dc_cutoff_hz is None else DcBlocker(config.dc_cutoff_hz, rate_hz)
        self.encoder = SpikeEncoder(config.encoder, frame_dt_s=config.mfcc.hop_ms / 1000.0, seed=seed)
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

    def push(self, samples: np.ndarray) -> torch.Tensor:
        if self._lead_due:
            self._lead_due = False
            samples = np.concatenate([self._silence(self.config.lead_hops), np.asarray(samples, np.float32)])
        if self.dc_blocker is not None:
            samples = self.dc_blocker.push(samples)
        return features_to_steps(self.mfcc.push(samples), self.config, self.encoder)

    def advance_to(self, t_us: int) -> torch.Tensor:
        """Audio time is carried by its samples: nothing closes without them (no steps)."""
        return torch.zeros((0, 1) + self.config.input_shape)

    def skip_to(self, t_us: int) -> tuple[torch.Tensor, int]:
        """Audio streams have no gaps (silence is samples): no steps, nothing skipped."""
        return torch.zeros((0, 1) + self.config.input_shape), 0

    def flush(self) -> torch.Tensor:
        """The tail of silence and the last frames (only the last frames when nothing was pushed)."""
        if self._lead_due:  # no stream to frame
            return features_to_steps(self.mfcc.flush(), self.config, self.encoder)
        tail = self.push(self._silence(self.config.tail_hops))
        last = features_to_steps(self.mfcc.flush(), self.config, self.encoder)
        self._lead_due = True  # the next push starts a new stream
        return torch.cat([tail, last])
