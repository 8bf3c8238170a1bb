"""Run a NIR graph step by step in PyTorch, through ``nirtorch``, at a fixed time step ``dt``.

``nirtorch.nir_to_torch`` wires the graph (summing the edges that meet at a node, carrying each
node's state between calls); this module gives it the neuron, delay and layer modules, each a
forward-Euler step of the NIR node's equations at ``dt`` in the order Norse uses
(:data:`.nir_export.DISCRETISATION`): ``CubaLIF``, ``CubaLI``, ``Delay``, and ``Affine``,
``Conv1d``/``Conv2d`` and ``Flatten`` (nirtorch's defaults drop the bias of ``Affine`` and read
``Flatten``'s dimensions with the batch included, so they are replaced here).

:class:`NirNetwork` wraps the result in the project's network contract, ``forward(x_seq [T, B, ...],
state) -> (y_seq [T, B, K], state)``, so an imported graph runs through the same streaming pipeline
(front end, decision, sinks) as the checkpoint it came from.
"""

from __future__ import annotations

from pathlib import Path

import nir
import nirtorch
import numpy as np
import torch
from torch import nn


def _tensor(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


class _CurrentBasedStep(nn.Module):
    """The parameters shared by ``CubaLIF`` and ``CubaLI`` as per-step factors at ``dt``."""

    def __init__(self, node: nir.CubaLIF | nir.CubaLI, dt_s: float) -> None:
        super().__init__()
        self.register_buffer("syn_in", _tensor(node.w_in) * dt_s / _tensor(node.tau_syn))
        self.register_buffer("syn_decay", -dt_s / _tensor(node.tau_syn))
        self.register_buffer("mem_step", dt_s / _tensor(node.tau_mem))
        self.register_buffer("r", _tensor(node.r))
        self.register_buffer("v_leak", _tensor(node.v_leak))

    def integrate(self, x: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v before spiking, i after decay)`` one step on from ``state`` with input ``x``."""
        v, i = state if state is not None else (self.v_leak.expand_as(x), torch.zeros_like(x))
        i = i + self.syn_in * x
        v = v + self.mem_step * ((self.v_leak - v) + self.r * i)
        return v, i + self.syn_decay * i


class CubaLIFStep(_CurrentBasedStep):
    """One step of a current-based LIF population; ``state = (v, i)``, spikes ``[B, *shape]`` out."""

    def __init__(self, node: nir.CubaLIF, dt_s: float) -> None:
        super().__init__(node, dt_s)
        self.register_buffer("v_threshold", _tensor(node.v_threshold))
        v_reset = node.v_reset if node.v_reset is not None else np.zeros_like(node.v_leak)
        self.register_buffer("v_reset", _tensor(v_reset))

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        v_decayed, i = self.integrate(x, state)
        fired = v_decayed > self.v_threshold
        v = torch.where(fired, self.v_reset, v_decayed)
        return fired.to(x.dtype), (v, i)


class CubaLIStep(_CurrentBasedStep):
    """One step of a current-based leaky integrator; its voltage ``[B, *shape]`` is the output."""

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        v, i = self.integrate(x, state)
        return v, (v, i)


class DelayStep(nn.Module):
    """Its input ``round(delay / dt)`` steps later (zeros before); one delay for the whole node."""

    def __init__(self, node: nir.Delay, dt_s: float) -> None:
        super().__init__()
        delays = np.unique(np.round(np.asarray(node.delay, dtype=np.float64) / dt_s).astype(int))
        if len(delays) != 1 or delays[0] < 1:
            raise ValueError(f"Delay node with delays {sorted(set(delays.tolist()))} steps: expected one delay >= 1")
        self.steps = int(delays[0])

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        history = state if state is not None else x.new_zeros((self.steps,) + tuple(x.shape))
        return history[0], torch.cat([history[1:], x.unsqueeze(0)])


class FlattenStep(nn.Module):
    """NIR's ``Flatten`` counts dimensions without the batch: ``start_dim`` 0 is the first after it."""

    def __init__(self, node: nir.Flatten) -> None:
        super().__init__()
        self.start_dim = node.start_dim + 1 if node.start_dim >= 0 else node.start_dim
        self.end_dim = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, self.start_dim, self.end_dim)


def _affine(node: nir.Affine) -> nn.Linear:
    weight = _tensor(node.weight)
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data, layer.bias.data = weight, _tensor(node.bias)
    return layer


def _conv(node: nir.Conv1d | nir.Conv2d) -> nn.Module:
    weight = _tensor(node.weight)
    conv = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
    layer = conv(
        weight.shape[1] * node.groups,
        weight.shape[0],
        tuple(weight.shape[2:]),
        stride=node.stride,
        padding=node.padding,
        dilation=node.dilation,
        groups=node.groups,
    )
    layer.weight.data, layer.bias.data = weight, _tensor(node.bias)
    return layer


def node_map(dt_s: float) -> dict:
    """nirtorch's node map for the graphs :mod:`.nir_export` writes, run at ``dt_s`` seconds a step."""
    return {
        nir.CubaLIF: lambda node: CubaLIFStep(node, dt_s),
        nir.CubaLI: lambda node: CubaLIStep(node, dt_s),
        nir.Delay: lambda node: DelayStep(node, dt_s),
        nir.Affine: _affine,
        nir.Conv1d: _conv,
        nir.Conv2d: _conv,
        nir.Flatten: FlattenStep,
    }


class NirNetwork(nn.Module):
    """A NIR graph as a network of the project's contract: ``forward(x_seq [T, B, ...], state)`` →
    ``(y_seq [T, B, ...], state)``, one graph call per step with nirtorch's state dict carried along."""

    def __init__(self, graph: nir.NIRGraph | str | Path, dt_s: float) -> None:
        super().__init__()
        if not isinstance(graph, nir.NIRGraph):
            graph = nir.read(str(graph))
        self.dt_s = dt_s
        self.graph_module = nirtorch.nir_to_torch(graph, node_map(dt_s))

    def forward(self, x_seq: torch.Tensor, state: dict | None = None) -> tuple[torch.Tensor, dict]:
        outputs = []
        for step in x_seq:
            output, state = self.graph_module(step, state)
            outputs.append(output)
        return torch.stack(outputs), state
