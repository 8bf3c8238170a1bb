"""Training losses of the networks in :mod:`spikestream.models`."""

from __future__ import annotations

import torch

IGNORE_TARGET = -1  # a step without a target (padding, or the unconstrained decay after an event)


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, background_weight: float) -> torch.Tensor:
    """Cross-entropy over every step that has a target, ``logits [T, B, K]``, ``targets [T, B]``
    (class indices, :data:`IGNORE_TARGET` = no target; class 0 = background).

    Background steps far outnumber event steps; weighting them by ``background_weight`` (< 1)
    keeps the network from settling on "always background" before it learns the events."""
    weight = torch.ones(logits.shape[-1])
    weight[0] = background_weight
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), weight=weight, ignore_index=IGNORE_TARGET
    )
