"""Convolutional spiking autoencoder (kind ``"sae"``) for spike steps ``[T, B, C, F]`` or ``[T, B, C, H, W]``.

After Alderson's characterisation of convolutional spiking autoencoders (MNIST, DVS Gesture), whose
parameters that matter are kernel size, embedding size, encoding rate and recurrence::

    encoder: [conv → batch-norm → LIF → max-pool] × len(channels)
             → flatten → linear → batch-norm → LIF embedding (N = ``embedding`` neurons; optionally recurrent)
    decoder: linear → batch-norm → LIF → unflatten
             → [upsample → conv → batch-norm → LIF] × (len(channels) − 1)
             → upsample → conv → leaky integrator (readout)

Every layer acts on each step alone (no temporal taps); memory lives in the neurons only, so the
network is causal: the output at step ``t`` depends on inputs ``≤ t``. Neurons are Norse's
current-based LIF (``τ_syn di/dt = −i``, ``τ_mem dv/dt = v_leak − v + i``, spike and reset when
``v > v_th``; SuperSpike surrogate gradient) and its leaky integrator ``LI`` (the same without
threshold). The readout's membrane voltage at every step is the reconstruction ``x̂_t`` of the
input's expected value (for rate-coded images the pixel intensity): ``recon_seq`` has the input's
shape ``[T, B, *input_shape]``. Upsampling goes to the exact size each encoder stage saw, so odd
sizes (28 → 14 → 7 → 3) come back unchanged.

1-D inputs ``(C, F)`` (MFCC steps) use ``Conv1d``/``BatchNorm1d``/``MaxPool1d``; 2-D inputs ``(C, H, W)``
(images, event frames) the 2-D versions.

:class:`SpikingEncoder` and :class:`SpikingDecoder` are shared with the spiking VAEs
(:mod:`.spiking_vae`), which put a stochastic latent between them. In eval mode the network is
deterministic and feeding a sequence whole, step by step or in chunks (state passed back) gives
the same outputs (``tests/models/test_autoencoders.py``); without gradients the time loops use
:mod:`.neuron_loops`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import norse.torch as norse
import torch
import torch.nn.functional as F
from torch import nn

from .neuron_loops import run_li, run_lif


@dataclass(frozen=True)
class SpikingAutoencoderConfig:
    """Architecture and neuron time constants (plain data, stored in checkpoints)."""

    input_shape: tuple[int, ...]
    channels: tuple[int, ...] = (8, 16)  # conv channels per encoder block (the decoder mirrors them)
    kernel_size: int = 5
    pool: int = 2
    embedding: int = 32  # latent neurons
    recurrent: bool = False  # recurrent LIF at the embedding
    step_ms: float = 10.0
    tau_syn_ms: float = 20.0
    tau_mem_ms: float = 40.0
    embedding_tau_mem_ms: float = 80.0
    readout_tau_syn_ms: float = 20.0
    readout_tau_mem_ms: float = 40.0
    v_th: float = 0.5  # below the classifier's 1.0: more latent spikes, reconstructions learnt sooner
    target_delay_steps: int = 0  # x̂_t reconstructs x_{t−d} (see delayed_target); 0 = the same step

    def __post_init__(self) -> None:
        if len(self.input_shape) not in (2, 3):
            raise ValueError(f"input_shape must be (C, F) or (C, H, W), got {self.input_shape}")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must name at least one block of >= 1 channels, got {self.channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (padding kernel_size // 2 keeps sizes), got {self.kernel_size}")
        if not 0 <= self.target_delay_steps <= 100:
            raise ValueError(f"target_delay_steps must be 0 to 100 steps, got {self.target_delay_steps}")
        if self.embedding < 1 or self.pool < 1:
            raise ValueError(f"embedding and pool must be >= 1, got {self.embedding}, {self.pool}")
        for name in ("tau_syn_ms", "tau_mem_ms", "embedding_tau_mem_ms", "readout_tau_syn_ms", "readout_tau_mem_ms"):
            if getattr(self, name) < self.step_ms:
                raise ValueError(f"{name}={getattr(self, name)} must be >= step_ms={self.step_ms} (Euler stability)")
        spatial = encoder_sizes(self.input_shape[1:], len(self.channels), self.pool)[-1]
        if min(spatial) < 1:
            raise ValueError(
                f"input_shape {self.input_shape} is too small for {len(self.channels)} pooling stages of {self.pool}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        """The config from :meth:`to_dict`'s plain data (JSON lists become tuples)."""
        values = dict(values)
        for field in fields(cls):
            if field.name in values and isinstance(values[field.name], list):
                values[field.name] = tuple(values[field.name])
        return cls(**values)


def encoder_sizes(spatial: tuple[int, ...], blocks: int, pool: int) -> list[tuple[int, ...]]:
    """Spatial size at the input of each encoder block and after the last one (``blocks + 1`` entries)."""
    sizes = [tuple(spatial)]
    for _ in range(blocks):
        sizes.append(tuple(dim // pool for dim in sizes[-1]))
    return sizes


def lif_parameters(tau_syn_ms: float, tau_mem_ms: float, v_th: float) -> norse.LIFParameters:
    return norse.LIFParameters(
        tau_syn_inv=torch.tensor(1000.0 / tau_syn_ms),
        tau_mem_inv=torch.tensor(1000.0 / tau_mem_ms),
        v_th=torch.tensor(v_th),
    )


def per_step(module: nn.Module, x_seq: torch.Tensor) -> torch.Tensor:
    """Apply a step-wise module (conv, norm, pool, linear) to all ``T·B`` steps of ``x_seq [T, B, ...]`` at once."""
    steps, batch = x_seq.shape[:2]
    out = module(x_seq.reshape((steps * batch,) + tuple(x_seq.shape[2:])))
    return out.reshape((steps, batch) + tuple(out.shape[1:]))


def delayed_target(
    x_seq: torch.Tensor, delay_steps: int, history: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What the reconstruction of each step is scored against: ``x_{t−d}`` for ``x_seq [T, B, ...]``, with
    ``history`` (the ``d`` steps before, ``[d, B, ...]``; ``None`` = the stream starts here, and its first
    step stands for the ``d`` before it, as it does for the network's state, :func:`settled_state`)
    → ``(target [T, B, ...], new history)``. ``d = 0``: ``x_seq`` itself and no history.

    Why: every LIF layer answers a step later than its input (its voltage integrates the synaptic
    current of the steps before) and the leaky readout lags further, so a six-layer autoencoder's
    ``x̂_t`` cannot follow a signal that changes within a few steps. Static images (the same target at
    every step) do not care; speech, whose 10 ms MFCC frames change faster than the network answers,
    is reconstructed no better than by the per-feature mean at ``d = 0`` (nRMSE 0.99) and at 0.74 with
    ``d = 8`` (`train autoencoder --target-delay-steps`). Carrying ``history`` keeps streamed targets
    equal whatever the chunk size."""
    if delay_steps == 0 or (history is None and x_seq.shape[0] == 0):
        return x_seq, history
    if history is None:
        history = x_seq[:1].expand((delay_steps,) + tuple(x_seq.shape[1:]))
    padded = torch.cat([history, x_seq])
    return padded[: x_seq.shape[0]], padded[-delay_steps:]


def aligned_steps(
    reconstruction: torch.Tensor, target_seq: torch.Tensor, delay_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Within one sequence ``[T, B, ...]``, the pairs a delayed target scores: ``(x̂_t, x_{t−d})`` for
    ``t ≥ d`` (the first ``d`` reconstructions have no ``x_{t−d}`` in it), as training scores them."""
    return reconstruction[delay_steps:], target_seq[: target_seq.shape[0] - delay_steps]


SETTLING_STEPS = 30  # several membrane time constants (40–80 ms at 10 ms steps)


def settled_state(model: nn.Module, x_seq: torch.Tensor) -> tuple | None:
    """The state a stream starts from, for ``x_seq [T, B, ...]`` (its first steps): a model with a delayed
    target (``target_delay_steps > 0``) has been fed the first step :data:`SETTLING_STEPS` times, as
    :func:`delayed_target` takes that step to stand for the ones before it; from rest, it would
    spend its first steps climbing from zero to the input (an error that is no anomaly, and ended
    up as every stream's loudest window). Other models start from rest (``None``)."""
    if model.config.target_delay_steps == 0 or x_seq.shape[0] == 0:
        return None
    with torch.no_grad():
        _, state = model(x_seq[:1].expand((SETTLING_STEPS,) + tuple(x_seq.shape[1:])))
    return state


def check_input(x_seq: torch.Tensor, input_shape: tuple[int, ...]) -> None:
    expected = tuple(input_shape)
    if x_seq.dim() != len(expected) + 2 or tuple(x_seq.shape[2:]) != expected:
        raise ValueError(f"expected spike steps [T, B, {', '.join(map(str, expected))}], got {list(x_seq.shape)}")


class Upsample(nn.Module):
    """Nearest-neighbour upsampling to an exact spatial size (undoes a floor-dividing pool)."""

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.size, mode="nearest")


class SpikingEncoder(nn.Module):
    """Spike steps ``[T, B, *input_shape]`` → embedding spikes ``[T, B, embedding]``.

    ``state`` = ``(block states…, embedding state)``, one Norse neuron state per layer (``None`` = rest)."""

    def __init__(self, config: SpikingAutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        spatial_dims = len(config.input_shape) - 1
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if spatial_dims == 1 else nn.BatchNorm2d
        pool = nn.MaxPool1d if spatial_dims == 1 else nn.MaxPool2d
        dt_s = config.step_ms / 1000.0
        block_p = lif_parameters(config.tau_syn_ms, config.tau_mem_ms, config.v_th)
        self.blocks = nn.ModuleList()
        self.block_neurons = nn.ModuleList()
        in_channels = config.input_shape[0]
        for out_channels in config.channels:
            self.blocks.append(conv(in_channels, out_channels, config.kernel_size, padding=config.kernel_size // 2))
            self.blocks.append(norm(out_channels))
            self.block_neurons.append(norse.LIF(block_p, dt=dt_s))
            self.blocks.append(pool(config.pool))
            in_channels = out_channels
        last = encoder_sizes(config.input_shape[1:], len(config.channels), config.pool)[-1]
        self.flat_shape = (in_channels,) + last
        flat_features = in_channels * int(torch.tensor(last).prod())
        self.embedding_in = nn.Sequential(nn.Linear(flat_features, config.embedding), nn.BatchNorm1d(config.embedding))
        embedding_p = lif_parameters(config.tau_syn_ms, config.embedding_tau_mem_ms, config.v_th)
        if config.recurrent:
            self.embedding_neurons: nn.Module = norse.LIFRecurrent(
                config.embedding, config.embedding, p=embedding_p, dt=dt_s
            )
        else:
            self.embedding_neurons = norse.LIF(embedding_p, dt=dt_s)

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        check_input(x_seq, self.config.input_shape)
        state = tuple(state) if state is not None else (None,) * (len(self.block_neurons) + 1)
        new_state = []
        x = x_seq
        for index, neuron in enumerate(self.block_neurons):
            conv, norm, pool = self.blocks[3 * index : 3 * index + 3]
            spikes, neuron_state = run_lif(neuron, per_step(norm, per_step(conv, x)), state[index])
            new_state.append(neuron_state)
            x = per_step(pool, spikes)
        current = per_step(self.embedding_in, x.flatten(2))
        spikes, neuron_state = run_lif(self.embedding_neurons, current, state[-1])
        new_state.append(neuron_state)
        return spikes, tuple(new_state)


class SpikingDecoder(nn.Module):
    """Latent steps ``[T, B, latent_features]`` (spikes, or rates in eval mode for the VAEs) → the
    reconstruction ``[T, B, *input_shape]``, the membrane of a leaky-integrator readout.

    ``state`` = ``(input-layer state, block states…, readout state)``."""

    def __init__(self, config: SpikingAutoencoderConfig, latent_features: int) -> None:
        super().__init__()
        self.config = config
        spatial_dims = len(config.input_shape) - 1
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if spatial_dims == 1 else nn.BatchNorm2d
        dt_s = config.step_ms / 1000.0
        block_p = lif_parameters(config.tau_syn_ms, config.tau_mem_ms, config.v_th)
        sizes = encoder_sizes(config.input_shape[1:], len(config.channels), config.pool)
        self.flat_shape = (config.channels[-1],) + sizes[-1]
        flat_features = config.channels[-1] * int(torch.tensor(sizes[-1]).prod())
        self.input_layer = nn.Sequential(nn.Linear(latent_features, flat_features), nn.BatchNorm1d(flat_features))
        self.input_neurons = norse.LIF(block_p, dt=dt_s)
        self.blocks = nn.ModuleList()
        self.block_neurons = nn.ModuleList()
        padding = config.kernel_size // 2
        for block in range(len(config.channels) - 1, 0, -1):  # mirror the encoder, the readout block apart
            self.blocks.append(Upsample(sizes[block]))
            in_channels, out_channels = config.channels[block], config.channels[block - 1]
            self.blocks.append(conv(in_channels, out_channels, config.kernel_size, padding=padding))
            self.blocks.append(norm(out_channels))
            self.block_neurons.append(norse.LIF(block_p, dt=dt_s))
        self.readout_in = nn.Sequential(
            Upsample(sizes[0]), conv(config.channels[0], config.input_shape[0], config.kernel_size, padding=padding)
        )
        readout_p = norse.LIParameters(
            tau_syn_inv=torch.tensor(1000.0 / config.readout_tau_syn_ms),
            tau_mem_inv=torch.tensor(1000.0 / config.readout_tau_mem_ms),
        )
        self.readout = norse.LI(readout_p, dt=dt_s)

    def forward(self, z_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        state = tuple(state) if state is not None else (None,) * (len(self.block_neurons) + 2)
        steps, batch = z_seq.shape[:2]
        spikes, input_state = run_lif(self.input_neurons, per_step(self.input_layer, z_seq), state[0])
        new_state = [input_state]
        x = spikes.reshape((steps, batch) + self.flat_shape)
        for index, neuron in enumerate(self.block_neurons):
            upsample, conv, norm = self.blocks[3 * index : 3 * index + 3]
            x, neuron_state = run_lif(neuron, per_step(norm, per_step(conv, per_step(upsample, x))), state[1 + index])
            new_state.append(neuron_state)
        recon, readout_state = run_li(self.readout, per_step(self.readout_in, x), state[-1])
        new_state.append(readout_state)
        return recon, tuple(new_state)


class SpikingAutoencoder(nn.Module):
    """See the module docstring. ``state`` = ``(encoder state, decoder state)``."""

    def __init__(self, config: SpikingAutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SpikingEncoder(config)
        self.decoder = SpikingDecoder(config, config.embedding)

    def forward_latent(
        self, x_seq: torch.Tensor, state: tuple | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → ``(recon_seq [T, B, *input_shape], latent spikes [T, B, embedding],
        state)``; the state is :meth:`forward`'s."""
        encoder_state, decoder_state = state if state is not None else (None, None)
        latent, encoder_state = self.encoder(x_seq, encoder_state)
        recon, decoder_state = self.decoder(latent, decoder_state)
        return recon, latent, (encoder_state, decoder_state)

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → the per-step reconstruction (same shape) and the new state."""
        recon, _, state = self.forward_latent(x_seq, state)
        return recon, state

    def encode(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq`` → embedding spikes ``[T, B, embedding]`` and the *encoder's* state (not :meth:`forward`'s)."""
        return self.encoder(x_seq, state)
