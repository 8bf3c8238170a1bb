"""Spike encoders: feature frames → spike steps. Pure functions on explicit state, plus small
frozen dataclasses that hold their parameters (tonic's transform shape).

All encoders take ``features`` shaped ``[T, B, C, ...]`` (one frame per front-end step) and return
spike steps ``[T', B, C', ...]`` float32. ``x`` below is a feature normalised to ``[0, 1]``
(see :func:`unit_interval`).

* **direct** (current injection): the normalised real-valued feature itself is the input current
  of the first layer; no spikes are drawn (``T' = T``, ``C' = C``).
* **rate**: Bernoulli draws with ``p = dt · [(f_on − f_off) · x + f_off]`` per step, ``dt`` in
  seconds, ``f_on``/``f_off`` the firing rates in Hz for ``x = 1`` / ``x = 0``, repeated
  ``steps_per_frame`` times per frame (``T' = T · steps_per_frame``).
* **latency**: each frame becomes ``steps_per_frame`` sub-steps; a feature emits one spike at
  sub-step ``round((1 − x) · (steps_per_frame − 1))`` (strong inputs fire first) if
  ``x ≥ threshold``, none otherwise.
* **delta** (ON/OFF threshold crossing, as an event camera does): a per-feature reference ``r``
  starts at the first frame; when ``x − r ≥ θ`` an ON spike fires and ``r += θ``, when
  ``r − x ≥ θ`` an OFF spike fires and ``r −= θ`` (at most one spike per channel per frame, the
  reference then moves one ``θ`` towards ``x``). Output channels are ``[ON; OFF]`` (``C' = 2C``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

ENCODER_NAMES = ("direct", "rate", "latency", "delta")


def unit_interval(standardised: torch.Tensor, clip_sigma: float = 3.0) -> torch.Tensor:
    """Map standardised features (zero mean, unit variance) linearly to ``[0, 1]``,
    clipping at ``±clip_sigma``: ``x = clamp((z + clip_sigma) / (2 · clip_sigma), 0, 1)``."""
    return ((standardised + clip_sigma) / (2.0 * clip_sigma)).clamp(0.0, 1.0)


def rate_encode(
    x: torch.Tensor,
    dt_s: float,
    f_on_hz: float,
    f_off_hz: float,
    steps_per_frame: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Bernoulli rate code, ``[T, ...] → [T · steps_per_frame, ...]``; ``p = dt·[(f_on − f_off)·x + f_off]``."""
    probability = (dt_s * ((f_on_hz - f_off_hz) * x + f_off_hz)).clamp(0.0, 1.0)
    probability = probability.repeat_interleave(steps_per_frame, dim=0)
    return torch.bernoulli(probability, generator=generator)


def latency_encode(x: torch.Tensor, steps_per_frame: int, threshold: float) -> torch.Tensor:
    """Time-to-first-spike code within each frame, ``[T, ...] → [T · steps_per_frame, ...]``."""
    sub_step = torch.round((1.0 - x) * (steps_per_frame - 1)).long()
    spikes = torch.zeros((x.shape[0], steps_per_frame) + tuple(x.shape[1:]), dtype=torch.float32)
    spikes.scatter_(1, sub_step.unsqueeze(1), (x >= threshold).float().unsqueeze(1))
    return spikes.reshape((x.shape[0] * steps_per_frame,) + tuple(x.shape[1:]))


def delta_encode(
    x: torch.Tensor, threshold: float, reference: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """ON/OFF threshold-crossing code, ``[T, B, C, ...] → [T, B, 2C, ...]``; returns the new reference state."""
    if reference is None:
        reference = x[0].clone()
    on_steps, off_steps = [], []
    for frame in x:
        on = (frame - reference >= threshold).float()
        off = (reference - frame >= threshold).float()
        reference = reference + threshold * (on - off)
        on_steps.append(on)
        off_steps.append(off)
    spikes = torch.cat([torch.stack(on_steps), torch.stack(off_steps)], dim=2)
    return spikes, reference


@dataclass(frozen=True)
class EncoderConfig:
    """Which encoder turns normalised frames into spike steps, with its parameters (plain data)."""

    name: str = "direct"
    steps_per_frame: int = 1
    f_on_hz: float = 200.0
    f_off_hz: float = 0.0
    latency_threshold: float = 0.1
    delta_threshold: float = 0.05

    def __post_init__(self) -> None:
        if self.name not in ENCODER_NAMES:
            raise ValueError(f"unknown spike encoder {self.name!r}; expected one of {ENCODER_NAMES}")
        if self.steps_per_frame < 1:
            raise ValueError(f"steps_per_frame must be >= 1, got {self.steps_per_frame}")
        if self.name == "delta" and self.steps_per_frame != 1:
            raise ValueError("the delta encoder emits one step per frame; set steps_per_frame=1")

    def channel_multiplier(self) -> int:
        return 2 if self.name == "delta" else 1

    def to_dict(self) -> dict:
        return asdict(self)


class SpikeEncoder:
    """Stateful wrapper (delta reference, random generator) around the pure encoders above."""

    def __init__(self, config: EncoderConfig, frame_dt_s: float, seed: int = 0) -> None:
        self.config = config
        self.step_dt_s = frame_dt_s / config.steps_per_frame
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        self._reference: torch.Tensor | None = None
        self._generator = torch.Generator().manual_seed(self._seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Encode normalised frames ``x`` in ``[0, 1]``, shaped ``[T, B, C, ...]``."""
        name = self.config.name
        if x.shape[0] == 0:
            empty_shape = (0, x.shape[1], x.shape[2] * self.config.channel_multiplier()) + tuple(x.shape[3:])
            return x.new_zeros(empty_shape)
        if name == "direct":
            return x
        if name == "rate":
            return rate_encode(
                x,
                self.step_dt_s,
                self.config.f_on_hz,
                self.config.f_off_hz,
                self.config.steps_per_frame,
                self._generator,
            )
        if name == "latency":
            return latency_encode(x, self.config.steps_per_frame, self.config.latency_threshold)
        spikes, self._reference = delta_encode(x, self.config.delta_threshold, self._reference)
        return spikes
