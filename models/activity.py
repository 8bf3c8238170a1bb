"""How sparse a conv SNN classifier's activity is: spike rates per layer and synaptic operations.

:class:`ActivityMeter` hooks a :class:`~.conv_snn.ConvSNNClassifier` (its ``spike_probe``) and
counts, for every neuron layer (``block1`` … ``blockN``, ``hidden``) over all the steps it ran:

- ``spike_rate_hz``: spikes per neuron per second of input (steps × ``step_ms``, per stream);
- ``silent_fraction``: the share of its neurons that never spiked;
- ``synops_per_s``: synaptic operations its spikes caused in the next weighted layer — each spike
  (after that block's pooling, if any) counted once per synapse it reaches (its fan-out: output
  channels × kernel positions that read it × temporal taps, or the non-zero weights of a linear
  layer's column) — per second of input;
- ``dense_macs_per_s``: the multiply-accumulates the same weighted layer does per second as a dense
  (non-spiking) network, where every input is used every step.

The first layer (``input`` → block 1) is counted the same way; with the ``direct`` audio encoder its
inputs are real numbers, not spikes, so its "synops" are multiply-accumulates on non-zero inputs
(``input_binary`` says which). Fan-outs are exact, borders included: they are the gradient of the
layer's output sum with all-ones weights with respect to an all-ones input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .conv_snn import ConvSNNClassifier


@dataclass
class LayerActivity:
    """Counts of one neuron layer (or the input) and the weighted layer its output feeds."""

    name: str
    neurons: int
    fan_out: torch.Tensor  # synapses reached by one event of each (pooled) output element, [*pooled shape]
    pool: nn.Module
    spikes: float = 0.0
    synops: float = 0.0
    binary: bool = True
    fired: torch.Tensor | None = None  # [*shape] True where the neuron spiked at least once

    def add(self, values: torch.Tensor) -> None:
        """One forward call's output ``[T, B, *shape]`` of this layer."""
        steps, batch = values.shape[:2]
        self.spikes += float(values.sum())
        self.binary = self.binary and bool(((values == 0) | (values == 1)).all())
        fired = (values != 0).flatten(0, 1).any(dim=0)
        self.fired = fired if self.fired is None else self.fired | fired
        pooled = self.pool(values.reshape((steps * batch,) + values.shape[2:]).abs())
        self.synops += float((pooled.reshape(steps * batch, -1) != 0).float().mul(self.fan_out.reshape(1, -1)).sum())


def _fan_out(layer: nn.Module, in_shape: tuple[int, ...], taps: int = 1) -> torch.Tensor:
    """Synapses of ``layer`` that read each element of its input ``[*in_shape]``: a linear layer's
    non-zero weights per input, or a causal convolution's (``taps`` delayed copies of the input stacked
    as channels, group by group as in :mod:`.causal_conv`) weights that reach the element, summed over taps."""
    if isinstance(layer, nn.Linear):
        return (layer.weight.detach() != 0).float().sum(dim=0).reshape(in_shape)
    stacked = (layer.in_channels,) + in_shape[1:]
    ones = torch.ones((1,) + stacked, requires_grad=True)
    probe = type(layer)(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        bias=False,
    )
    probe.weight.data.fill_(1.0)
    with torch.enable_grad():
        probe(ones).sum().backward()
    per_stacked = ones.grad[0]  # [group][tap][channel] along the channel axis
    grouped = per_stacked.reshape((layer.groups, taps, -1) + in_shape[1:])
    return grouped.sum(dim=1).reshape(in_shape)


class ActivityMeter:
    """Counts spikes and synaptic operations of ``model`` while it runs (see the module docstring).

    ``report(seconds)`` gives the figures for ``seconds`` of input; ``detach()`` removes the probe."""

    def __init__(self, model: ConvSNNClassifier) -> None:
        if not isinstance(model, ConvSNNClassifier):
            raise ValueError(f"--stats covers the conv SNN classifiers, not {type(model).__name__}")
        self.model = model
        self.step_ms = model.config.step_ms
        self.layers: dict[str, LayerActivity] = {}
        self.steps = 0
        neuron_shape = tuple(model.config.input_shape)  # of the layer whose output feeds the next weights
        with torch.no_grad():
            previous, previous_pool = "input", nn.Identity()  # the input is not pooled
            for block, (causal, pool) in enumerate(zip(model.convs, model.pools), start=1):
                in_shape = tuple(previous_pool(torch.zeros((1,) + neuron_shape)).shape[1:])
                self.layers[previous] = self._layer(
                    previous, neuron_shape, in_shape, previous_pool, causal.conv, causal.kernel_t
                )
                stacked = torch.zeros((1, causal.conv.in_channels) + in_shape[1:])
                neuron_shape = tuple(causal.conv(stacked).shape[1:])
                previous, previous_pool = f"block{block}", pool
            pooled = tuple(previous_pool(torch.zeros((1,) + neuron_shape)).shape[1:])
            flat = (int(torch.tensor(pooled).prod()),)
            self.layers[previous] = self._layer(previous, neuron_shape, flat, previous_pool, model.hidden_in[0])
            hidden = (model.config.hidden,)
            self.layers["hidden"] = self._layer("hidden", hidden, hidden, nn.Identity(), model.readout_in)
        model.spike_probe = self._record

    @staticmethod
    def _layer(name, neuron_shape, weights_in, pool, weighted, taps=1) -> LayerActivity:
        """``name``'s neurons ``[*neuron_shape]`` feed ``weighted`` (input ``[*weights_in]``) through ``pool``."""
        neurons = int(torch.tensor(neuron_shape).prod())
        return LayerActivity(name, neurons, _fan_out(weighted, tuple(weights_in), taps).reshape(-1), pool)

    def _record(self, name: str, values: torch.Tensor) -> None:
        if name == "input":  # one step of each of B streams: B steps of input
            self.steps += values.shape[0] * values.shape[1]
        self.layers[name].add(values)

    def detach(self) -> None:
        self.model.spike_probe = None

    def report(self) -> dict:
        """Per layer and in total, for the ``steps`` counted so far (each ``step_ms`` of input)."""
        seconds = max(self.steps * self.step_ms / 1000.0, 1e-9)
        layers = []
        for layer in self.layers.values():
            dense = float(layer.fan_out.sum()) / self.step_ms * 1000.0
            entry = {
                "layer": layer.name,
                "neurons": layer.neurons,
                "synops_per_s": layer.synops / seconds,
                "dense_macs_per_s": dense,
            }
            if layer.name == "input":
                entry["input_binary"] = layer.binary
            else:
                entry["spike_rate_hz"] = layer.spikes / layer.neurons / seconds
                entry["silent_fraction"] = 1.0 - float(layer.fired.float().mean()) if layer.fired is not None else 1.0
            layers.append(entry)
        synops = sum(entry["synops_per_s"] for entry in layers)
        dense = sum(entry["dense_macs_per_s"] for entry in layers)
        return {
            "seconds_of_input": seconds,
            "step_ms": self.step_ms,
            "layers": layers,
            "synops_per_s": synops,
            "dense_macs_per_s": dense,
            "synops_to_dense_ratio": synops / dense if dense else float("nan"),
        }
