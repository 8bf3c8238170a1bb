"""Ensembles of conv SNN classifiers merged into one wider classifier of the same architecture.

Streaming cost on a CPU is dominated by the per-step work of each layer, not by its width (one
80 ms block: 2.1 ms for channels 24/32/48 and hidden 128, 2.3 ms for 48/64/96 and 256), so running
M models side by side costs M times as much, while one model M times as wide costs little more
(the live path with 4 merged members: 1.43× one member, 3 members: 1.24×; ``bench/bench_ensemble.py``).
:func:`merge_classifiers` builds that wide model from M trained members with the same architecture:

* block 1 convolutions read the shared input: their filters are stacked (``C_out = M·C_out,m``);
* later convolutions are grouped (``ConvSNNConfig.members = M``, one group per member, see
  :mod:`.causal_conv`), the hidden linear layer is block-diagonal, batch-norms are concatenated:
  member m's channels only see member m's channels;
* the readout current is the mean of the members' currents (weights and bias divided by M).

LIF neurons and max-pooling act per channel, and the leaky-integrator readout (``v_leak = 0``) is
linear, so the merged model's logits equal the mean of the members' logits at every step, whole or
streamed (``tests/models/test_ensemble.py``). The decision then works on the averaged logits.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .checkpoint import LoadedModel
from .conv_snn import ConvSNNClassifier


def _concatenate_norms(target: torch.nn.Module, norms: list[torch.nn.Module]) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(target, name).data.copy_(torch.cat([getattr(norm, name).data for norm in norms]))


def merge_classifiers(members: list[ConvSNNClassifier]) -> ConvSNNClassifier:
    """One classifier whose logits ``[T, B, K]`` are the mean of ``members``' logits (eval mode).

    The members must share one architecture (``ConvSNNConfig``), feed-forward and not themselves
    merged; raises ``ValueError`` naming the first difference."""
    if not members:
        raise ValueError("merge_classifiers needs at least one member")
    first = members[0].config
    for index, member in enumerate(members[1:], start=1):
        for key, value in first.to_dict().items():
            if member.config.to_dict()[key] != value:
                raise ValueError(
                    f"ensemble member {index} has {key}={member.config.to_dict()[key]!r}, member 0 has {value!r}"
                )
    if first.recurrent or first.members != 1:
        raise ValueError(
            "merge_classifiers needs feed-forward members (recurrent=False) that are not merged ensembles themselves"
        )
    count = len(members)
    merged_config = replace(
        first, channels=tuple(c * count for c in first.channels), hidden=first.hidden * count, members=count
    )
    merged = ConvSNNClassifier(merged_config).eval()
    with torch.no_grad():
        for block, conv in enumerate(merged.convs):
            # block 1: stacked filters on the shared input; later blocks: one group per member
            conv.conv.weight.copy_(torch.cat([m.convs[block].conv.weight.data for m in members]))
            conv.conv.bias.copy_(torch.cat([m.convs[block].conv.bias.data for m in members]))
            _concatenate_norms(merged.norms[block], [m.norms[block] for m in members])
        hidden_linear, hidden_norm = merged.hidden_in
        hidden_linear.weight.copy_(torch.block_diag(*[m.hidden_in[0].weight.data for m in members]))
        hidden_linear.bias.copy_(torch.cat([m.hidden_in[0].bias.data for m in members]))
        _concatenate_norms(hidden_norm, [m.hidden_in[1] for m in members])
        merged.readout_in.weight.copy_(torch.cat([m.readout_in.weight.data for m in members], dim=1) / len(members))
        merged.readout_in.bias.copy_(torch.stack([m.readout_in.bias.data for m in members]).mean(dim=0))
    return merged


def merge_checkpoints(members: list[LoadedModel]) -> LoadedModel:
    """Loaded checkpoints merged by :func:`merge_classifiers`, with the first member's config (labels,
    front end, decision, training) and path; the caller checks that the members' labels and front end agree."""
    first = members[0]
    config = {key: value for key, value in first.config.items() if key != "model"}
    return LoadedModel(merge_classifiers([member.model for member in members]), config, first.path)
