"""Norse convolutional SNN classifier for spike steps of audio ``[T, B, C, F]`` or vision ``[T, B, C, H, W]``.

Architecture (one block per entry of ``channels``)::

    [causal conv (time × space) → batch-norm → LIF → spatial max-pool] × len(channels)
      → flatten → dropout → linear → batch-norm → LIF (or recurrent LIF) → dropout
      → linear → leaky integrator (readout)

With ``downsample = "stride"`` each block's convolution has stride ``pool`` instead of the max-pool
after its LIF layer: every layer then has an exact NIR counterpart (convolution, CubaLIF, affine,
CubaLI; batch-norm folds into the weights, temporal taps become ``Delay`` nodes), so the network can
be exported to neuromorphic hardware (``spikestream export``, :mod:`spikestream.models.nir_export`).

Each block's convolution may reach back in time (``kernel_t`` taps, ``dilation_t`` apart: synaptic
delay lines, see :mod:`.causal_conv`); with ``kernel_t = 1`` it acts on each step alone. Neuron
layers are Norse's ``LIF``/``LIFRecurrent``/``LI`` modules (LIF: ``τ_syn di/dt = −i``,
``τ_mem dv/dt = v_leak − v + i``, spike and reset when ``v > v_th``; SuperSpike surrogate
gradient). The readout's membrane voltage at every step is the output (logits), ``[T, B, n_classes]``.

With ``members = M > 1`` the network is M classifiers merged into one (:mod:`.ensemble`): blocks
after the first are grouped convolutions, one group per member.

``spike_probe``, when set (:class:`~.activity.ActivityMeter` sets it), is called with each neuron
layer's name and output ``[T, B, ...]`` ("input" for the input steps) on every forward call.

``forward(x_seq, state)`` returns ``(y_seq, state)``: training calls it on whole sequences,
streaming on a few steps at a time with the state passed back; in eval mode both give the same
outputs (``tests/models/test_conv_snn.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import norse.torch as norse
import torch
from torch import nn

from .causal_conv import CausalConv
from .neuron_loops import run_li, run_lif

DOWNSAMPLING = ("max-pool", "stride")
STRIDED_MAX_MIN_VALUES = 1 << 15  # below this (a streaming call of a few steps) the pool's one call is faster


def strided_max(x: torch.Tensor, pool: int, spatial_dims: int) -> torch.Tensor:
    """``MaxPool1d/2d(pool)`` of ``x [N, C, *spatial]`` as the maximum of its ``pool**spatial_dims``
    strided views: the same values (an odd remainder dropped, as the pool does), 2–5× faster on CPU for
    a pool of 2, but a different gradient at ties; used only without gradients."""
    ends = [(size // pool) * pool for size in x.shape[2:]]
    views = [x]
    for dim, end in enumerate(ends, start=2):
        views = [view.narrow(dim, offset, end - offset) for view in views for offset in range(pool)]
        views = [view[(slice(None),) * dim + (slice(None, None, pool),)] for view in views]
    out = views[0]
    for view in views[1:]:
        out = torch.maximum(out, view)
    return out


def downsampled_size(size: int, pool: int, downsample: str) -> int:
    """A spatial size after one block: ``size // pool`` (max-pool) or ``(size − 1) // pool + 1``
    (a strided convolution with odd kernel and ``padding = kernel // 2``)."""
    return size // pool if downsample == "max-pool" else (size - 1) // pool + 1


@dataclass(frozen=True)
class ConvSNNConfig:
    """Architecture and neuron time constants (plain data, stored in checkpoints)."""

    input_shape: tuple[int, ...]
    n_classes: int
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 5
    kernel_t: tuple[int, ...] = (1, 1)
    dilation_t: tuple[int, ...] = (1, 1)
    pool: int = 2
    hidden: int = 128
    recurrent: bool = False
    step_ms: float = 10.0
    tau_syn_ms: float = 20.0
    tau_mem_ms: float = 40.0
    hidden_tau_mem_ms: float = 80.0
    readout_tau_syn_ms: float = 20.0
    readout_tau_mem_ms: float = 200.0
    v_th: float = 1.0
    dropout: float = 0.1
    members: int = 1  # > 1: a merged ensemble, blocks after the first split into this many groups (see .ensemble)
    downsample: str = "max-pool"  # "max-pool" after each block's LIF, or "stride": strided convolutions (NIR-exact)

    def __post_init__(self) -> None:
        if not len(self.kernel_t) == len(self.dilation_t) == len(self.channels):
            raise ValueError(
                f"kernel_t {self.kernel_t} and dilation_t {self.dilation_t} need one entry per block of "
                f"channels {self.channels}"
            )
        if self.members < 1 or any(c % self.members for c in self.channels) or self.hidden % self.members:
            raise ValueError(
                f"members={self.members} must divide every entry of channels {self.channels} and hidden={self.hidden}"
            )
        if self.downsample not in DOWNSAMPLING:
            raise ValueError(f"downsample {self.downsample!r}: expected one of {', '.join(DOWNSAMPLING)}")
        if len(self.input_shape) not in (2, 3):
            raise ValueError(f"input_shape must be (C, F) or (C, H, W), got {self.input_shape}")
        for name in ("tau_syn_ms", "tau_mem_ms", "hidden_tau_mem_ms", "readout_tau_syn_ms", "readout_tau_mem_ms"):
            if getattr(self, name) < self.step_ms:
                raise ValueError(f"{name}={getattr(self, name)} must be >= step_ms={self.step_ms} (Euler stability)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ConvSNNConfig:
        values = dict(values)
        values["input_shape"] = tuple(values["input_shape"])
        for key in ("channels", "kernel_t", "dilation_t"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def lif_parameters(tau_syn_ms: float, tau_mem_ms: float, v_th: float) -> norse.LIFParameters:
    return norse.LIFParameters(
        tau_syn_inv=torch.tensor(1000.0 / tau_syn_ms),
        tau_mem_inv=torch.tensor(1000.0 / tau_mem_ms),
        v_th=torch.tensor(v_th),
    )


class ConvSNNClassifier(nn.Module):
    """See the module docstring; ``state`` is a tuple with one entry per neuron layer."""

    def __init__(self, config: ConvSNNConfig) -> None:
        super().__init__()
        self.config = config
        spatial_dims = len(config.input_shape) - 1
        norm = nn.BatchNorm1d if spatial_dims == 1 else nn.BatchNorm2d
        pool = nn.MaxPool1d if spatial_dims == 1 else nn.MaxPool2d
        dt_s = config.step_ms / 1000.0
        hidden_p = lif_parameters(config.tau_syn_ms, config.tau_mem_ms, config.v_th)

        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.conv_neurons = nn.ModuleList()
        self.pools = nn.ModuleList()
        in_channels, size = config.input_shape[0], list(config.input_shape[1:])
        for block, (out_channels, kernel_t, dilation_t) in enumerate(
            zip(config.channels, config.kernel_t, config.dilation_t)
        ):
            groups = 1 if block == 0 else config.members  # the first block reads the shared input
            strided = config.downsample == "stride"
            stride = config.pool if strided else 1
            self.convs.append(
                CausalConv(
                    in_channels, out_channels, spatial_dims, config.kernel_size, kernel_t, dilation_t, groups, stride
                )
            )
            self.norms.append(norm(out_channels))
            self.conv_neurons.append(norse.LIF(hidden_p, dt=dt_s))
            self.pools.append(nn.Identity() if strided or config.pool == 1 else pool(config.pool))
            in_channels = out_channels
            size = [downsampled_size(dim, config.pool, config.downsample) for dim in size]
        flat_features = in_channels * int(torch.tensor(size).prod())
        if flat_features == 0:
            raise ValueError(f"input_shape {config.input_shape} is too small for {len(config.channels)} pooling stages")
        self.dropout = nn.Dropout(config.dropout)
        if config.recurrent:
            self.hidden = norse.LIFRecurrent(flat_features, config.hidden, p=hidden_p, dt=dt_s)
            self.hidden_in: nn.Module = nn.Identity()
        else:
            self.hidden_in = nn.Sequential(nn.Linear(flat_features, config.hidden), nn.BatchNorm1d(config.hidden))
            deep_p = lif_parameters(config.tau_syn_ms, config.hidden_tau_mem_ms, config.v_th)
            self.hidden = norse.LIF(deep_p, dt=dt_s)
        self.readout_in = nn.Linear(config.hidden, config.n_classes)
        readout_p = norse.LIParameters(
            tau_syn_inv=torch.tensor(1000.0 / config.readout_tau_syn_ms),
            tau_mem_inv=torch.tensor(1000.0 / config.readout_tau_mem_ms),
        )
        self.readout = norse.LI(readout_p, dt=dt_s)
        self.spike_probe: Callable[[str, torch.Tensor], None] | None = None

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq`` ``[T, B, *input_shape]`` → logits ``[T, B, n_classes]`` and the new state."""
        expected = tuple(self.config.input_shape)
        if tuple(x_seq.shape[2:]) != expected:
            raise ValueError(f"expected spike steps [T, B, {', '.join(map(str, expected))}], got {list(x_seq.shape)}")
        steps, batch = x_seq.shape[0], x_seq.shape[1]
        state = tuple(state) if state is not None else ((None, None),) * len(self.convs) + (None, None)
        new_state = []
        x = x_seq
        fast = not torch.is_grad_enabled()  # the time loops of neuron_loops: compiled, or unbound for training
        probe = self.spike_probe or (lambda name, values: None)
        probe("input", x_seq)
        for layer, (conv, norm, neuron, pool) in enumerate(zip(self.convs, self.norms, self.conv_neurons, self.pools)):
            history, neuron_state = state[layer]
            current, history = conv(x, history)
            current = norm(current.reshape((steps * batch,) + current.shape[2:]))
            spikes, neuron_state = run_lif(neuron, current.reshape((steps, batch) + current.shape[1:]), neuron_state)
            new_state.append((history, neuron_state))
            probe(f"block{layer + 1}", spikes)
            flat = spikes.reshape((steps * batch,) + spikes.shape[2:])
            pools = isinstance(pool, (nn.MaxPool1d, nn.MaxPool2d))
            strided = fast and pools and flat.numel() >= STRIDED_MAX_MIN_VALUES
            pooled = strided_max(flat, self.config.pool, flat.dim() - 2) if strided else pool(flat)
            x = pooled.reshape((steps, batch) + pooled.shape[1:])
        x = self.dropout(x.reshape(steps, batch, -1))
        hidden_current = self.hidden_in(x.reshape(steps * batch, -1)).reshape(steps, batch, -1)
        spikes, hidden_state = run_lif(self.hidden, hidden_current, state[-2])
        new_state.append(hidden_state)
        probe("hidden", spikes)
        readout_current = self.readout_in(self.dropout(spikes))
        voltages, readout_state = run_li(self.readout, readout_current, state[-1])
        new_state.append(readout_state)
        return voltages, tuple(new_state)


def repeat_state_columns(state: tuple, columns: int) -> tuple:
    """A :class:`ConvSNNClassifier` state of one column (after ``forward(x [T, 1, …])``) repeated for
    ``columns`` columns: each conv layer's ``(history [H, 1, C, …] or None, LIF state [1, …])``, then the
    hidden and readout neuron states ``[1, …]`` (every tensor of a Norse state tuple is batch-first)."""

    def neurons(item):
        if item is None:
            return None
        return type(item)(*(t.repeat((columns,) + (1,) * (t.dim() - 1)) for t in item))

    def history(item: torch.Tensor | None) -> torch.Tensor | None:
        return None if item is None else item.repeat((1, columns) + (1,) * (item.dim() - 2))

    layers = tuple((history(past), neurons(neuron)) for past, neuron in state[:-2])
    return layers + (neurons(state[-2]), neurons(state[-1]))


def detach_state(state: tuple) -> tuple:
    """Detach every tensor of a (nested) state so truncated BPTT can continue from it."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(item) for item in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(item) for item in state)
    return state
