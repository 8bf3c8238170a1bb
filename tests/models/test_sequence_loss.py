"""The classifiers' per-step loss: background weighted apart, and canvases without a word weighted apart
from the background around each word (``--no-event-weight``)."""

from __future__ import annotations

import pytest
import torch

from spikestream.models.losses import IGNORE_TARGET, NO_EVENT_TARGET, sequence_loss


def reference_loss(logits: torch.Tensor, targets: torch.Tensor, class_weight: list[float], no_event: float) -> float:
    """Weighted mean of the per-step cross-entropies, written out step by step."""
    total, weights = 0.0, 0.0
    for t in range(targets.shape[0]):
        for b in range(targets.shape[1]):
            target = int(targets[t, b])
            if target == IGNORE_TARGET:
                continue
            weight = no_event if target == NO_EVENT_TARGET else class_weight[target]
            log_p = torch.log_softmax(logits[t, b], dim=-1)[max(target, 0)]
            total, weights = total - weight * float(log_p), weights + weight
    return total / weights


def test_steps_without_an_event_weigh_as_asked_and_others_as_before():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, 4)
    words = torch.tensor([[0, 1], [0, 2], [3, 0], [0, 0], [1, IGNORE_TARGET], [IGNORE_TARGET, 0]])
    targets = torch.cat([words, torch.full((6, 1), NO_EVENT_TARGET)], dim=1)  # example 3 holds no word
    for no_event in (0.1, 1.0, 3.0):
        expected = reference_loss(logits, targets, [0.1, 1.0, 1.0, 1.0], no_event)
        assert float(sequence_loss(logits, targets, 0.1, no_event)) == pytest.approx(expected, rel=1e-5)
    # without a weight of their own they are background steps: the loss every earlier model trained with
    as_background = torch.where(targets == NO_EVENT_TARGET, 0, targets)
    assert float(sequence_loss(logits, targets, 0.1)) == pytest.approx(float(sequence_loss(logits, as_background, 0.1)))
    heavier = float(sequence_loss(logits, targets, 0.1, 1.0))
    assert heavier != pytest.approx(float(sequence_loss(logits, targets, 0.1)))  # the weight is not ignored
