"""A conv SNN classifier as a NIR graph (Neuromorphic Intermediate Representation, ``nir``).

NIR is what Norse, snnTorch, Sinabs (Speck), Rockpool (Xylo), Lava-DL (Loihi), Spyx and SpiNNaker2
read. :func:`classifier_to_nir` writes every layer of :class:`~.conv_snn.ConvSNNClassifier` as
the NIR node that computes the same thing, with no approximation:

==========================================  ================================================
``CausalConv`` (``kernel_t`` taps)           one ``Conv1d``/``Conv2d`` per tap, tap ``k`` behind a
                                             ``Delay`` of ``(kernel_t − 1 − k)·dilation_t`` steps;
                                             their outputs sum into the block's neurons
grouped convolutions (merged ensembles)      dense block-diagonal convolutions (the same sums)
``BatchNorm`` (eval)                         folded into the preceding weights and bias
``LIF`` (Norse)                              ``CubaLIF`` (τ_syn, τ_mem, r = 1, v_leak = 0,
                                             v_threshold, v_reset = 0, w_in = τ_syn / dt)
hidden ``Linear`` + ``BatchNorm``            ``Flatten`` → ``Affine`` (folded)
readout ``Linear`` → ``LI``                  ``Affine`` → ``CubaLI`` (its voltage = the logits)
``Dropout``                                  nothing (identity at inference)
==========================================  ================================================

What has no exact NIR counterpart is refused with :class:`NirExportError`, naming the layer and the
training option that avoids it: max-pooling of spikes (train with ``--hardware-friendly``: strided
convolutions instead), a recurrent hidden layer (train without ``--recurrent``), and model kinds
other than the classifier (autoencoders, VAEs).

Time: NIR is continuous-time; the graph is meant to be run at the step ``dt`` written beside it
(``dt_s`` in the export's JSON). ``w_in = τ_syn / dt`` makes each step's input add exactly its value
to the synaptic current, as in Norse: in one step, the input joins the synaptic current ``I``,
``v ← v + dt/τ_mem·(v_leak − v + r·I)``, ``I ← I·(1 − dt/τ_syn)``, then a spike and a reset to
``v_reset`` where ``v > v_threshold``. :mod:`.nir_import` runs a graph exactly that way, and the
round-trip tests hold the exported graph to the project's own streaming model.
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from .conv_snn import ConvSNNClassifier

DISCRETISATION = (
    "Norse forward Euler at dt: each step, the input x joins the synaptic current (I += w_in*dt/tau_syn*x, "
    "= x with w_in = tau_syn/dt), then v += dt/tau_mem*(v_leak - v + r*I), I *= 1 - dt/tau_syn; "
    "a neuron spikes (output 1) and v = v_reset where v > v_threshold. CubaLI: the same without spikes, "
    "its voltage is the output. Delay nodes hold their input for round(delay/dt) steps."
)


class NirExportError(ValueError):
    """A model, or one of its layers, that NIR cannot express exactly; the message names the layer and
    the training option that avoids it."""


def _folded(weight: torch.Tensor, bias: torch.Tensor, norm: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``[C_out, ...]`` and bias ``[C_out]`` of a linear map followed by an eval-mode batch-norm,
    as one linear map: ``γ·(W x + b − μ)/√(σ² + ε) + β``."""
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    folded_weight = weight.detach() * scale.reshape(shape)
    folded_bias = (bias.detach() - norm.running_mean) * scale + norm.bias.detach()
    return folded_weight.numpy().astype(np.float32), folded_bias.numpy().astype(np.float32)


def _dense(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped convolution's weights ``[C_out, C_in / G, *k]`` as the equal dense (block-diagonal)
    weights ``[C_out, C_in, *k]``: nir 1.0's type inference reads a convolution's input channels from
    its weights without the groups, so grouped convolutions (merged ensembles) are written dense."""
    if groups == 1:
        return weight
    out_per_group, in_per_group = weight.shape[0] // groups, weight.shape[1]
    dense = np.zeros((weight.shape[0], in_per_group * groups) + weight.shape[2:], dtype=weight.dtype)
    for group in range(groups):
        rows = slice(group * out_per_group, (group + 1) * out_per_group)
        dense[rows, group * in_per_group : (group + 1) * in_per_group] = weight[rows]
    return dense


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _cuba_lif(neuron: nn.Module, shape: tuple[int, ...], dt_s: float) -> nir.CubaLIF:
    p = neuron.p
    tau_syn_s = 1.0 / float(p.tau_syn_inv)
    return nir.CubaLIF(
        tau_syn=_full(shape, tau_syn_s),
        tau_mem=_full(shape, 1.0 / float(p.tau_mem_inv)),
        r=_full(shape, 1.0),
        v_leak=_full(shape, float(p.v_leak)),
        v_threshold=_full(shape, float(p.v_th)),
        v_reset=_full(shape, float(p.v_reset)),
        w_in=_full(shape, tau_syn_s / dt_s),
    )


def refusal(model: nn.Module) -> str | None:
    """Why ``model`` cannot be exported exactly, or ``None`` when it can."""
    if not isinstance(model, ConvSNNClassifier):
        return (
            f"model kind {type(model).__name__} cannot be exported: NIR export covers the conv SNN classifiers "
            "(audio and event models trained with `spikestream train audio|gesture`), not autoencoders or VAEs"
        )
    config = model.config
    if config.downsample == "max-pool" and config.pool > 1:
        return (
            f"layer block1.pool max-pools the spikes of each block (pool {config.pool}): NIR has no max-pooling; "
            "train with `spikestream train audio|gesture --hardware-friendly` (strided convolutions instead)"
        )
    if config.recurrent:
        return "layer hidden is a recurrent LIF layer (--recurrent): not exported; train without --recurrent"
    return None


def classifier_to_nir(model: ConvSNNClassifier, dt_s: float) -> nir.NIRGraph:
    """The NIR graph of ``model`` (eval mode) run at time step ``dt_s`` seconds; input node ``input``
    takes one step ``[*input_shape]``, output node ``output`` gives the readout voltages ``[n_classes]``.
    Raises :class:`NirExportError` (see :func:`refusal`)."""
    reason = refusal(model)
    if reason:
        raise NirExportError(reason)
    config = model.config
    conv_node = nir.Conv1d if len(config.input_shape) == 2 else nir.Conv2d
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(config.input_shape)})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    shape = tuple(config.input_shape)
    with torch.no_grad():
        for block, (causal, norm, neuron) in enumerate(zip(model.convs, model.norms, model.conv_neurons), start=1):
            conv = causal.conv
            weight, bias = _folded(conv.weight, conv.bias, norm)
            groups, kernel_t = conv.groups, causal.kernel_t
            in_per_group = weight.shape[1] // kernel_t  # taps laid out [group][tap][channel] (see causal_conv)
            lif_name = f"block{block}.lif"
            for tap in range(kernel_t):
                tap_weight = _dense(weight[:, tap * in_per_group : (tap + 1) * in_per_group], groups)
                tap_bias = bias if tap == kernel_t - 1 else np.zeros_like(bias)
                conv_name = f"block{block}.conv.tap{tap}"
                spatial = shape[1:]
                nodes[conv_name] = conv_node(
                    input_shape=spatial[0] if len(spatial) == 1 else spatial,
                    weight=np.ascontiguousarray(tap_weight),
                    stride=conv.stride[0] if len(spatial) == 1 else conv.stride,
                    padding=conv.padding[0] if len(spatial) == 1 else conv.padding,
                    dilation=1 if len(spatial) == 1 else (1, 1),
                    groups=1,
                    bias=tap_bias,
                )
                delay_steps = (kernel_t - 1 - tap) * causal.dilation_t
                if delay_steps:
                    delay_name = f"block{block}.delay.tap{tap}"
                    nodes[delay_name] = nir.Delay(delay=_full(shape, delay_steps * dt_s))
                    edges += [(previous, delay_name), (delay_name, conv_name)]
                else:
                    edges.append((previous, conv_name))
                edges.append((conv_name, lif_name))
            probe = conv(torch.zeros((1, conv.in_channels) + shape[1:]))
            shape = tuple(probe.shape[1:])
            nodes[lif_name] = _cuba_lif(neuron, shape, dt_s)
            previous = lif_name
        nodes["flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        hidden_linear, hidden_norm = model.hidden_in
        weight, bias = _folded(hidden_linear.weight, hidden_linear.bias, hidden_norm)
        nodes["hidden.affine"] = nir.Affine(weight=weight, bias=bias)
        nodes["hidden.lif"] = _cuba_lif(model.hidden, (config.hidden,), dt_s)
        readout = model.readout_in
        nodes["readout.affine"] = nir.Affine(
            weight=readout.weight.detach().numpy().astype(np.float32),
            bias=readout.bias.detach().numpy().astype(np.float32),
        )
        p = model.readout.p
        tau_syn_s = 1.0 / float(p.tau_syn_inv)
        classes = (config.n_classes,)
        nodes["readout.li"] = nir.CubaLI(
            tau_syn=_full(classes, tau_syn_s),
            tau_mem=_full(classes, 1.0 / float(p.tau_mem_inv)),
            r=_full(classes, 1.0),
            v_leak=_full(classes, float(p.v_leak)),
            w_in=_full(classes, tau_syn_s / dt_s),
        )
        nodes["output"] = nir.Output(output_type={"output": np.array(classes)})
    edges += [
        (previous, "flatten"),
        ("flatten", "hidden.affine"),
        ("hidden.affine", "hidden.lif"),
        ("hidden.lif", "readout.affine"),
        ("readout.affine", "readout.li"),
        ("readout.li", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
