"""Training losses of the networks in :mod:`spikestream.models`."""

from __future__ import annotations

import torch

from .autoencoder import aligned_steps
from .registry import model_kind_name

IGNORE_TARGET = -1  # a step without a target (padding, or the unconstrained decay after an event)
NO_EVENT_TARGET = -2  # background, in an example that holds no event at all (see sequence_loss)


def sequence_loss(
    logits: torch.Tensor, targets: torch.Tensor, background_weight: float, no_event_weight: float | None = None
) -> torch.Tensor:
    """Cross-entropy over every step that has a target, ``logits [T, B, K]``, ``targets [T, B]``
    (class indices, :data:`IGNORE_TARGET` = no target; class 0 = background;
    :data:`NO_EVENT_TARGET` = background of an example with no event at all).

    Background steps far outnumber event steps; weighting them by ``background_weight`` (< 1)
    keeps the network from settling on "always background" before it learns the events. The steps
    of an example without any event (a bark, an engine, noise) are background weighted by
    ``no_event_weight`` instead (``None``: as any background step), so negative examples can count
    as much as a word while the background around each word stays light."""
    weight = torch.ones(logits.shape[-1])
    weight[0] = background_weight
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    no_event = flat_targets == NO_EVENT_TARGET
    classes = torch.where(no_event, torch.zeros_like(flat_targets), flat_targets)
    if no_event_weight is None or not bool(no_event.any()):
        return torch.nn.functional.cross_entropy(flat_logits, classes, weight=weight, ignore_index=IGNORE_TARGET)
    has_target = classes != IGNORE_TARGET
    per_step = torch.nn.functional.cross_entropy(flat_logits[has_target], classes[has_target], reduction="none")
    step_weight = torch.where(no_event[has_target], torch.tensor(no_event_weight), weight[classes[has_target]])
    return (step_weight * per_step).sum() / step_weight.sum()


# --- autoencoders and spiking VAEs (models/autoencoder.py, models/spiking_vae.py) ---


def nrmse(recon: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalised root-mean-square error ``RMSE(x̂, x) / σ_x`` over every element (``σ_x``: the target's
    standard deviation over the whole batch).

    Scale-free (0 = perfect, 1 = as good as predicting the target's mean everywhere), so one figure
    compares MNIST intensities, event counts and MFCC currents; the loss of the characterisation of
    spiking autoencoders."""
    return torch.sqrt(torch.mean((recon - target) ** 2)) / (target.std(correction=0) + eps)


def rbf_mmd(source: torch.Tensor, target: torch.Tensor, kernel_mul: float = 2.0, kernel_num: int = 5) -> torch.Tensor:
    """Squared maximum mean discrepancy between two batches of vectors ``[B, D]`` and ``[B', D]``
    under the mean of ``kernel_num`` Gaussian (RBF) kernels (ESVAE's distance between rate vectors)::

        MMD² = mean K(s, s') + mean K(t, t') − 2 mean K(s, t),   K(a, b) = (1/n) Σ_i exp(−‖a − b‖² / σ_i²)

    with bandwidths ``σ_i² = σ̄² · kernel_mul^(i − kernel_num // 2)`` around the mean pairwise squared
    distance ``σ̄²`` of the pooled batch (detached, as in the ESVAE code). The biased (V-statistic)
    estimator: in [0, 2], 0 for identical batches (the ESVAE code sums the kernels: ``kernel_num`` times
    this)."""
    pooled = torch.cat([source, target], dim=0)
    distances = torch.cdist(pooled, pooled).pow(2)
    count = pooled.shape[0]
    mean_distance = distances.detach().sum() / max(count * count - count, 1)
    base = mean_distance.clamp(min=1e-8) / kernel_mul ** (kernel_num // 2)
    kernels = sum(torch.exp(-distances / (base * kernel_mul**i)) for i in range(kernel_num)) / kernel_num
    size = source.shape[0]
    return (kernels[:size, :size].mean() + kernels[size:, size:].mean() - kernels[:size, size:].mean() * 2.0).clamp(
        min=0.0
    )


def psp(x_seq: torch.Tensor, tau_steps: float = 2.0) -> torch.Tensor:
    """First-order post-synaptic potential over time ``[T, ...]``:
    ``y_t = y_{t−1} + (x_t − y_{t−1}) / τ_s``, ``y_0 = 0`` (FSVAE's kernel)."""
    filtered, current = [], torch.zeros_like(x_seq[0])
    for step in range(x_seq.shape[0]):
        current = current + (x_seq[step] - current) / tau_steps
        filtered.append(current)
    return torch.stack(filtered)


def psp_mmd(posterior_probs: torch.Tensor, prior_probs: torch.Tensor, tau_steps: float = 2.0) -> torch.Tensor:
    """FSVAE's MMD between posterior and prior spike trains ``[T, B, N]`` (their Bernoulli probabilities):
    with the PSP kernel the squared MMD of the two processes reduces to the distance of their mean
    PSPs, ``mean_{t,b,n} (PSP(π^q)_t − PSP(π^p)_t)²``."""
    return torch.mean((psp(posterior_probs, tau_steps) - psp(prior_probs, tau_steps)) ** 2)


def aligned_nrmse(model, recon: torch.Tensor, target_seq: torch.Tensor) -> torch.Tensor:
    """:func:`nrmse` of ``x̂_t`` against ``x_{t−d}``, ``d`` = the model's ``target_delay_steps``, over the steps
    that have a ``t − d`` in the sequence (the first ``d`` reconstructions are not scored)."""
    return nrmse(*aligned_steps(recon, target_seq, model.config.target_delay_steps))


def sae_loss(model, x_seq: torch.Tensor, target_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Spiking autoencoder: ``nRMSE(model(x_seq), target_seq)`` (:func:`aligned_nrmse`); ``target_seq`` is
    the input's expected value per step, shaped like ``x_seq``."""
    recon, _ = model(x_seq)
    loss = aligned_nrmse(model, recon, target_seq)
    return loss, {"loss": float(loss.detach()), "reconstruction": float(loss.detach())}


def fsvae_loss(
    model, x_seq: torch.Tensor, target_seq: torch.Tensor, distance_weight: float = 1.0, tau_steps: float = 2.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """FSVAE: ``nRMSE(x̂, target) + distance_weight · psp_mmd(π^q, π^p)``."""
    terms = model.training_terms(x_seq)
    reconstruction = aligned_nrmse(model, terms["recon"], target_seq)
    distance = psp_mmd(terms["posterior_probs"], terms["prior_probs"], tau_steps)
    loss = reconstruction + distance_weight * distance
    return loss, {
        "loss": float(loss.detach()),
        "reconstruction": float(reconstruction.detach()),
        "distance": float(distance.detach()),
    }


def esvae_loss(
    model, x_seq: torch.Tensor, target_seq: torch.Tensor, distance_weight: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """ESVAE: ``nRMSE(x̂, target) + distance_weight · rbf_mmd(r_T, r^p)`` over the batch."""
    terms = model.training_terms(x_seq)
    reconstruction = aligned_nrmse(model, terms["recon"], target_seq)
    distance = rbf_mmd(terms["posterior_rates"], terms["prior_rates"])
    loss = reconstruction + distance_weight * distance
    return loss, {
        "loss": float(loss.detach()),
        "reconstruction": float(reconstruction.detach()),
        "distance": float(distance.detach()),
    }


AUTOENCODER_LOSSES = {"sae": sae_loss, "fsvae": fsvae_loss, "esvae": esvae_loss}


def autoencoder_loss(model, x_seq: torch.Tensor, target_seq: torch.Tensor, **options) -> tuple[torch.Tensor, dict]:
    """The training loss of any registered autoencoder kind (``options`` go to that kind's loss):
    ``(loss tensor, {"loss", "reconstruction"[, "distance"]: float})``."""
    kind = model_kind_name(model)
    if kind not in AUTOENCODER_LOSSES:
        raise ValueError(f"model kind {kind!r} is not an autoencoder; expected one of {sorted(AUTOENCODER_LOSSES)}")
    return AUTOENCODER_LOSSES[kind](model, x_seq, target_seq, **options)
