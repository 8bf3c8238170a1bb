"""The training loop shared by every task (word and gesture classifiers, autoencoders, VAEs):
BPTT through the Norse model on the task's loss, gradient clipping, one-cycle learning rate, a
progress bar. A task supplies its batches and a ``loss_of(model, batch)``; classifiers use
:func:`classification_loss` (per-step cross-entropy with a down-weighted background)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from ...models.losses import sequence_loss

LossOf = Callable[[torch.nn.Module, tuple], torch.Tensor]


def classification_loss(background_weight: float, no_event_weight: float | None = None) -> LossOf:
    """``loss_of`` for classifiers: batches of (spike steps ``[T, B, ...]``, targets ``[T, B]``);
    the weights as :func:`~spikestream.models.losses.sequence_loss` takes them."""

    def loss_of(model: torch.nn.Module, batch: tuple) -> torch.Tensor:
        steps, targets = batch
        return sequence_loss(model(steps)[0], targets, background_weight, no_event_weight)

    return loss_of


def train_epoch(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple],
    batch_count: int,
    loss_of: LossOf,
    description: str,
) -> float:
    """One pass over ``batches`` (whatever ``loss_of`` takes); returns the mean loss."""
    model.train()
    losses = []
    progress = tqdm(batches, total=batch_count, desc=description, file=sys.stderr, mininterval=progress_interval_s())
    for batch in progress:
        loss = loss_of(model, batch)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        progress.set_postfix(loss=f"{np.mean(losses):.3f}", refresh=False)
    return float(np.mean(losses))


def progress_interval_s() -> float:
    """Progress bars refresh every 0.1 s on a terminal, every 30 s into a log file or pipe."""
    return 0.1 if sys.stderr.isatty() else 30.0


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
