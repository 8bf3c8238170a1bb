"""Spiking variational autoencoders: FSVAE (kind ``"fsvae"``) and ESVAE (kind ``"esvae"``).

Both put a stochastic spiking latent between the encoder and decoder of the convolutional spiking
autoencoder (:class:`.autoencoder.SpikingEncoder`, :class:`.autoencoder.SpikingDecoder`): the encoder
turns spike steps into embedding spikes ``h_t ∈ {0, 1}^N``; the latent ``z_t ∈ {0, 1}^N`` drawn from
them drives the decoder, whose leaky-integrator readout is the per-step reconstruction ``x̂_t``.
Everything is causal (step ``t`` sees steps ``≤ t`` only), so streaming works as for the classifier.

**FSVAE** (Kamata, Mukuta, Harada, *Fully Spiking Variational Autoencoder*, AAAI 2022).
Autoregressive Bernoulli latent. The posterior ``q(z_t | x_≤t, z_<t)`` is an SNN fed
``[h_t, z_{t−1}]`` (``z_0 = 0``) whose last LIF layer has ``k`` candidate neurons per latent neuron,
``o_{t,n,1..k} ∈ {0, 1}``; its Bernoulli probability is their mean ``π^q_{t,n} = (1/k) Σ_j o_{t,n,j}``.
Sampling picks one candidate uniformly at random per latent neuron and step,
``z_{t,n} = o_{t,n,j*}``, ``j* ~ U{1..k}`` (gradients reach the chosen candidate through its
surrogate), and ``z_t`` (detached, as in the paper) is fed back at ``t + 1``. The prior
``p(z_t | z_<t)`` is an SNN of the same form fed ``z_{t−1}`` (teacher-forced with the posterior's
samples in training, autoregressive in :meth:`FSVAE.sample`), with probabilities ``π^p_{t,n}``.
The loss (``models.losses.fsvae_loss``) is the reconstruction error plus the MMD between
posterior and prior under the PSP kernel, which the paper reduces to
``Σ_t ‖PSP(π^q)_t − PSP(π^p)_t‖²`` with ``PSP(π)_t = PSP(π)_{t−1} + (π_t − PSP(π)_{t−1}) / τ_s``.
Candidate layers use layer norm (per sample and step) instead of the paper's time-distributed
batch norm, which would need all steps at once.

**ESVAE** (Zhan et al., *ESVAE: An Efficient Spiking Variational Autoencoder with
Reparameterizable Poisson Spiking Sampling*, 2023). Poisson latent with a firing-rate posterior.
The posterior rate is the encoder's firing rate, made causal as a running mean:
``r_t = r_{t−1} + (h_t − r_{t−1}) / c_t``, ``c_t = t`` (the mean of ``h_1..h_t``; the paper's
``r = mean_t h_t`` at ``t = T``) or ``c_t = min(t, W)`` with ``W = rate_window_steps`` (the same for
``t ≤ W``, then an exponential window, so a long stream keeps responding). Spikes are drawn by
reparameterisable Poisson (Bernoulli-per-step) sampling ``z_t = 1[u_t < r_t]``, ``u_t ~ U(0, 1)``,
with the surrogate ``∂z/∂r = 1[|r − u| < ½]``. The prior rate is ``r^p = sigmoid(W_p ε + b_p)``,
``ε ~ N(0, I)`` (``prior_noise`` entries), and the loss (``models.losses.esvae_loss``) is the
reconstruction error plus the RBF-kernel MMD between the batch of posterior rates ``r_T`` and
a batch of prior rates. Generation draws ``r^p`` once and Bernoulli spikes ``z_t = 1[u_t < r^p]``.

**Eval mode is deterministic**: FSVAE feeds the decoder (and its own feedback) the posterior mean
``π^q_t`` instead of a sample, ESVAE the rate ``r_t`` (mean-field: the expected latent spike), so
whole-sequence, step-by-step and chunked calls agree. :meth:`sample` draws from the prior with an
optional ``torch.Generator`` and runs the decoder in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import norse.torch as norse
import torch
from torch import nn

from .autoencoder import (
    SpikingAutoencoderConfig,
    SpikingDecoder,
    SpikingEncoder,
    lif_parameters,
    per_step,
)
from .neuron_loops import run_lif


@dataclass(frozen=True)
class FSVAEConfig(SpikingAutoencoderConfig):
    """:class:`SpikingAutoencoderConfig` plus FSVAE's latent settings."""

    latent_candidates: int = 20  # k candidate spikes per latent neuron and step
    latent_hidden: int = 64  # LIF neurons in the hidden layer of the posterior and prior SNNs

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent_candidates < 1 or self.latent_hidden < 1:
            raise ValueError(
                f"latent_candidates and latent_hidden must be >= 1, got {self.latent_candidates}, {self.latent_hidden}"
            )


@dataclass(frozen=True)
class ESVAEConfig(SpikingAutoencoderConfig):
    """:class:`SpikingAutoencoderConfig` plus ESVAE's latent settings."""

    prior_noise: int = 32  # size of the Gaussian noise ε the prior maps to rates
    rate_window_steps: int = 50  # posterior rate = mean over the last ≤ W steps; 0 = since the start

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prior_noise < 1 or self.rate_window_steps < 0:
            raise ValueError(
                f"prior_noise must be >= 1 and rate_window_steps >= 0, got {self.prior_noise}, {self.rate_window_steps}"
            )


class CandidateSNN(nn.Module):
    """``[T, B, in]`` → candidate spikes ``[T, B, N, k]``: linear → layer norm → LIF, twice.

    Posterior and prior of the FSVAE; ``state`` = the two LIF states."""

    def __init__(self, config: FSVAEConfig, in_features: int) -> None:
        super().__init__()
        dt_s = config.step_ms / 1000.0
        p = lif_parameters(config.tau_syn_ms, config.tau_mem_ms, config.v_th)
        self.latent, self.candidates = config.embedding, config.latent_candidates
        out_features = config.embedding * config.latent_candidates
        self.hidden_in = nn.Sequential(nn.Linear(in_features, config.latent_hidden), nn.LayerNorm(config.latent_hidden))
        self.hidden = norse.LIF(p, dt=dt_s)
        self.out_in = nn.Sequential(nn.Linear(config.latent_hidden, out_features), nn.LayerNorm(out_features))
        self.out = norse.LIF(p, dt=dt_s)

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        hidden_state, out_state = state if state is not None else (None, None)
        spikes, hidden_state = run_lif(self.hidden, per_step(self.hidden_in, x_seq), hidden_state)
        spikes, out_state = run_lif(self.out, per_step(self.out_in, spikes), out_state)
        return spikes.reshape(spikes.shape[:2] + (self.latent, self.candidates)), (hidden_state, out_state)


def pick_candidates(candidates: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One of the ``k`` candidates ``[..., N, k]`` per latent neuron, uniformly at random → ``[..., N]``."""
    index = torch.randint(candidates.shape[-1], candidates.shape[:-1] + (1,), generator=generator)
    return candidates.gather(-1, index.to(candidates.device)).squeeze(-1)


class FSVAE(nn.Module):
    """Fully spiking VAE (see the module docstring).

    ``state`` = ``(encoder state, posterior state, z_{t−1} [B, N], decoder state)``."""

    def __init__(self, config: FSVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SpikingEncoder(config)
        self.posterior = CandidateSNN(config, 2 * config.embedding)
        self.prior = CandidateSNN(config, config.embedding)
        self.decoder = SpikingDecoder(config, config.embedding)

    def _posterior(
        self, h_seq: torch.Tensor, state: tuple | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """Embedding spikes ``[T, B, N]`` → ``(z [T, B, N], π^q [T, B, N], (posterior state, z_last))``.

        Training samples ``z_t``; eval mode uses ``z_t = π^q_t``."""
        posterior_state, z_prev = state if state is not None else (None, None)
        if z_prev is None:
            z_prev = h_seq.new_zeros(h_seq.shape[1:])
        latents, probabilities = [], []
        for step in range(h_seq.shape[0]):
            inputs = torch.cat([h_seq[step], z_prev.detach()], dim=-1)[None]
            candidates, posterior_state = self.posterior(inputs, posterior_state)
            probability = candidates[0].mean(-1)
            z_prev = pick_candidates(candidates[0], generator) if self.training else probability
            latents.append(z_prev)
            probabilities.append(probability)
        return torch.stack(latents), torch.stack(probabilities), (posterior_state, z_prev)

    def forward_latent(
        self, x_seq: torch.Tensor, state: tuple | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → ``(recon_seq, z [T, B, N], state)``; the state is :meth:`forward`'s."""
        encoder_state, posterior_state, z_prev, decoder_state = state if state is not None else (None,) * 4
        h_seq, encoder_state = self.encoder(x_seq, encoder_state)
        z_seq, _, (posterior_state, z_prev) = self._posterior(h_seq, (posterior_state, z_prev))
        recon, decoder_state = self.decoder(z_seq, decoder_state)
        return recon, z_seq, (encoder_state, posterior_state, z_prev, decoder_state)

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → the per-step reconstruction (same shape) and the new state."""
        recon, _, state = self.forward_latent(x_seq, state)
        return recon, state

    def encode(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq`` → latent ``z [T, B, N]`` (spikes in training, ``π^q_t`` in eval mode) and the state
        ``(encoder state, posterior state, z_{t−1})`` (not :meth:`forward`'s)."""
        encoder_state, posterior_state, z_prev = state if state is not None else (None,) * 3
        h_seq, encoder_state = self.encoder(x_seq, encoder_state)
        z_seq, _, (posterior_state, z_prev) = self._posterior(h_seq, (posterior_state, z_prev))
        return z_seq, (encoder_state, posterior_state, z_prev)

    def training_terms(self, x_seq: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass from rest: ``recon [T, B, *input_shape]``, ``latent z [T, B, N]``, ``posterior_probs``
        ``π^q`` and ``prior_probs`` ``π^p`` ``[T, B, N]`` (the prior teacher-forced with ``z_{<t}``)."""
        h_seq, _ = self.encoder(x_seq)
        z_seq, posterior_probs, _ = self._posterior(h_seq, None)
        recon, _ = self.decoder(z_seq)
        previous = torch.cat([torch.zeros_like(z_seq[:1]), z_seq[:-1]]).detach()
        prior_candidates, _ = self.prior(previous)
        return {
            "recon": recon,
            "latent": z_seq,
            "posterior_probs": posterior_probs,
            "prior_probs": prior_candidates.mean(-1),
        }

    @torch.no_grad()
    def sample(self, n: int, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` reconstructions ``[steps, n, *input_shape]`` decoded from autoregressive prior samples."""
        was_training = self.training
        self.eval()
        try:
            z_prev = torch.zeros(n, self.config.embedding, device=self.prior.out_in[0].weight.device)
            prior_state, latents = None, []
            for _ in range(steps):
                candidates, prior_state = self.prior(z_prev[None], prior_state)
                z_prev = pick_candidates(candidates[0], generator)
                latents.append(z_prev)
            recon, _ = self.decoder(torch.stack(latents))
        finally:
            self.train(was_training)
        return recon


class PoissonSpike(torch.autograd.Function):
    """``z = 1[u < r]`` with the surrogate gradient ``∂z/∂r = 1[|r − u| < ½]`` (ESVAE's sampled spike)."""

    @staticmethod
    def forward(ctx, rate: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rate, uniform)
        return (uniform < rate).to(rate.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        rate, uniform = ctx.saved_tensors
        return grad_output * ((rate - uniform).abs() < 0.5).to(grad_output.dtype), None


class ESVAE(nn.Module):
    """Efficient spiking VAE (see the module docstring).

    ``state`` = ``(encoder state, (rate r_t [B, N], c_t []), decoder state)``."""

    def __init__(self, config: ESVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SpikingEncoder(config)
        self.prior = nn.Linear(config.prior_noise, config.embedding)
        self.decoder = SpikingDecoder(config, config.embedding)

    def _rates(self, h_seq: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
        """Embedding spikes ``[T, B, N]`` → causal firing rates ``r [T, B, N]`` and ``(r_last, c_last)``."""
        rate, seen = state if state is not None else (None, None)
        if rate is None:
            rate, seen = h_seq.new_zeros(h_seq.shape[1:]), h_seq.new_zeros(())
        window = self.config.rate_window_steps
        rates = []
        for step in range(h_seq.shape[0]):
            seen = (seen + 1).clamp(max=window) if window else seen + 1  # c_t = min(t, W) (or t)
            rate = rate + (h_seq[step] - rate) / seen
            rates.append(rate)
        return torch.stack(rates), (rate, seen)

    def _latent(self, rates: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return rates
        return PoissonSpike.apply(rates, torch.rand_like(rates))

    def forward_latent(
        self, x_seq: torch.Tensor, state: tuple | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → ``(recon_seq, z [T, B, N], state)``; the state is :meth:`forward`'s."""
        encoder_state, rate_state, decoder_state = state if state is not None else (None,) * 3
        h_seq, encoder_state = self.encoder(x_seq, encoder_state)
        rates, rate_state = self._rates(h_seq, rate_state)
        z_seq = self._latent(rates)
        recon, decoder_state = self.decoder(z_seq, decoder_state)
        return recon, z_seq, (encoder_state, rate_state, decoder_state)

    def forward(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq [T, B, *input_shape]`` → the per-step reconstruction (same shape) and the new state."""
        recon, _, state = self.forward_latent(x_seq, state)
        return recon, state

    def encode(self, x_seq: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``x_seq`` → the encoder's latent spikes ``h [T, B, N]`` (their running mean is the posterior rate)
        and the *encoder's* state (not :meth:`forward`'s)."""
        return self.encoder(x_seq, state)

    def prior_rates(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``r^p = sigmoid(W_p ε + b_p)``, ``ε ~ N(0, I)``: ``[n, N]``."""
        noise = torch.randn(n, self.config.prior_noise, generator=generator)
        return torch.sigmoid(self.prior(noise.to(self.prior.weight.device)))

    def training_terms(self, x_seq: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass from rest: ``recon [T, B, *input_shape]``, ``latent z [T, B, N]``, ``posterior_rate_seq``
        ``r [T, B, N]``, ``posterior_rates`` ``r_T [B, N]`` and ``prior_rates`` ``r^p [B, N]``."""
        h_seq, _ = self.encoder(x_seq)
        rates, _ = self._rates(h_seq, None)
        z_seq = self._latent(rates)
        recon, _ = self.decoder(z_seq)
        return {
            "recon": recon,
            "latent": z_seq,
            "posterior_rate_seq": rates,
            "posterior_rates": rates[-1],
            "prior_rates": self.prior_rates(x_seq.shape[1]),
        }

    @torch.no_grad()
    def sample(self, n: int, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` reconstructions ``[steps, n, *input_shape]`` decoded from Bernoulli spikes at prior rates."""
        was_training = self.training
        self.eval()
        try:
            rates = self.prior_rates(n, generator)
            uniform = torch.rand((steps,) + tuple(rates.shape), generator=generator).to(rates.device)
            recon, _ = self.decoder((uniform < rates).float())
        finally:
            self.train(was_training)
        return recon
