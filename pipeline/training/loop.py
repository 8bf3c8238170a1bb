"""The training loop shared by every streaming classifier (audio words, event gestures):
per-step cross-entropy with a down-weighted background, BPTT through the Norse model,
gradient clipping, one-cycle learning rate, a progress bar, held-out accuracy per epoch."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm

from ...models.losses import sequence_loss


def train_epoch(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    batch_count: int,
    background_weight: float,
    description: str,
) -> float:
    """One pass over ``batches`` of (spike steps ``[T, B, ...]``, targets ``[T, B]``); mean loss."""
    model.train()
    losses = []
    progress = tqdm(batches, total=batch_count, desc=description, file=sys.stderr)
    for steps, targets in progress:
        loss = sequence_loss(model(steps)[0], targets, background_weight)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        scheduler.step()
        losses.append(float(loss))
        progress.set_postfix(loss=f"{np.mean(losses):.3f}")
    return float(np.mean(losses))


def held_out_accuracy(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Per example: argmax of the summed softmax over its labelled steps (a batch forward pass;
    the streaming figure comes from ``spikestream evaluate``)."""
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for steps, targets in batches:
            probabilities = torch.softmax(model(steps)[0], dim=-1) * (targets > 0).float().unsqueeze(-1)
            truth = targets.max(dim=0).values - 1
            correct += int((probabilities.sum(dim=0)[:, 1:].argmax(dim=-1) == truth).sum())
            total += truth.numel()
    model.train()
    return correct / max(total, 1)
