"""The spiking autoencoder and VAEs: shapes, whole == chunked streaming, causality, training, sampling,
checkpoints, and their losses. Tiny networks so that the file runs in seconds on two cores."""

from __future__ import annotations

import json

import pytest
import torch

from spikestream.models.autoencoder import SETTLING_STEPS, delayed_target, settled_state
from spikestream.models.checkpoint import load_checkpoint, save_checkpoint
from spikestream.models.conv_snn import detach_state
from spikestream.models.losses import aligned_nrmse, autoencoder_loss, nrmse, psp, psp_mmd, rbf_mmd
from spikestream.models.registry import DEFAULT_MODEL_KIND, MODEL_KINDS, build_model, model_kind_name

KINDS = ("sae", "fsvae", "esvae")
SHAPES = {"image": (2, 9, 9), "audio": (1, 20)}  # 9 × 9: odd sizes through two pools (9 → 4 → 2) and back
STEPS, BATCH = 8, 3


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest, and several spin against each other on a busy machine (25× slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(kind: str, shape: tuple[int, ...], **extra) -> torch.nn.Module:
    registered = MODEL_KINDS[kind]
    latent = {"fsvae": {"latent_candidates": 4, "latent_hidden": 8}, "esvae": {"prior_noise": 4}}.get(kind, {})
    config = registered.config_class(input_shape=shape, channels=(2, 4), kernel_size=3, embedding=6, **latent, **extra)
    return registered.module_class(config)


def spike_steps(shape: tuple[int, ...], steps: int = STEPS, batch: int = BATCH, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((steps, batch) + shape, generator=generator) < 0.4).float()


def trained_a_little(model: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module:
    """A few optimiser steps, then batch-norm statistics averaged over a few batches (as after real
    training), so that the network in eval mode is neither at its initial weights nor silent."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for seed in range(2):
        x = spike_steps(shape, seed=10 + seed)
        loss, _ = autoencoder_loss(model, x, x)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    with torch.no_grad():
        for seed in range(3):
            model(spike_steps(shape, seed=20 + seed))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


STREAMING_CASES = [pytest.param(kind, name, {}, id=f"{kind}-{name}") for kind in KINDS for name in sorted(SHAPES)] + [
    pytest.param("sae", "audio", {"recurrent": True}, id="sae-audio-recurrent"),
    pytest.param("esvae", "audio", {"rate_window_steps": 4}, id="esvae-audio-rate-window"),
]


@pytest.mark.parametrize(("kind", "shape_name", "extra"), STREAMING_CASES)
def test_streaming_equals_whole_sequence_and_is_causal(kind, shape_name, extra):
    torch.manual_seed(0)
    shape = SHAPES[shape_name]
    model = trained_a_little(tiny_model(kind, shape, **extra), shape)
    x = spike_steps(shape, steps=12)
    with torch.no_grad():
        whole, _ = model(x)
        state, steps = None, []
        for t in range(x.shape[0]):
            y, state = model(x[t : t + 1], state)
            steps.append(y)
        state, pieces, t = None, [], 0
        for size in (3, 1, 5, 3):
            y, state = model(x[t : t + size], state)
            pieces.append(y)
            t += size
        changed = x.clone()
        changed[6:] = 1.0 - changed[6:]
        perturbed, _ = model(changed)
        latent, _ = model.encode(x)
    assert whole.shape == x.shape
    assert torch.isfinite(whole).all() and whole.abs().sum() > 0
    torch.testing.assert_close(torch.cat(steps), whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat(pieces), whole, rtol=0, atol=1e-5)
    assert torch.equal(perturbed[:6], whole[:6])  # step t sees steps <= t only
    assert not torch.equal(perturbed[6:], whole[6:])
    assert latent.shape == (12, BATCH, model.config.embedding)


@pytest.mark.parametrize("kind", KINDS)
def test_state_is_detachable_for_truncated_backpropagation(kind):
    torch.manual_seed(0)
    model = tiny_model(kind, SHAPES["audio"]).train()
    x = spike_steps(SHAPES["audio"])
    y, state = model(x[:4])
    y.sum().backward()
    y, _ = model(x[4:], detach_state(state))
    y.sum().backward()  # would fail on a second backward through the first graph


@pytest.mark.parametrize("kind", KINDS)
def test_a_few_optimiser_steps_reduce_the_loss(kind):
    torch.manual_seed(0)
    shape = SHAPES["image"]
    model = tiny_model(kind, shape).train()
    intensity = torch.rand((4,) + shape, generator=torch.Generator().manual_seed(2))
    target = intensity.expand((STEPS,) + tuple(intensity.shape))
    x = torch.bernoulli(target, generator=torch.Generator().manual_seed(3))
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-2)

    def loss_now() -> float:
        torch.manual_seed(4)  # the same latent samples before and after
        return autoencoder_loss(model, x, target)[1]["loss"]

    before = loss_now()
    for step in range(8):
        loss, terms = autoencoder_loss(model, x, target)
        optimiser.zero_grad()
        loss.backward()
        if step == 0:
            first_conv = model.encoder.blocks[0].weight.grad
            assert first_conv is not None and first_conv.abs().sum() > 0  # gradients reach the input layer
        optimiser.step()
    assert set(terms) >= {"loss", "reconstruction"} and (kind == "sae" or "distance" in terms)
    assert loss_now() < before


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
@pytest.mark.parametrize("kind", ("fsvae", "esvae"))
def test_vaes_sample_from_their_prior(kind, shape_name):
    torch.manual_seed(0)
    shape = SHAPES[shape_name]
    model = tiny_model(kind, shape).train()
    drawn = model.sample(5, 7, generator=torch.Generator().manual_seed(1))
    again = model.sample(5, 7, generator=torch.Generator().manual_seed(1))
    assert drawn.shape == (7, 5) + shape
    assert torch.isfinite(drawn).all()
    assert torch.equal(drawn, again)
    assert model.training  # sampling leaves the mode as it was


def test_vae_training_terms():
    torch.manual_seed(0)
    x = spike_steps(SHAPES["audio"])
    fsvae = tiny_model("fsvae", SHAPES["audio"]).train()
    terms = fsvae.training_terms(x)
    assert terms["recon"].shape == x.shape
    assert terms["posterior_probs"].shape == terms["prior_probs"].shape == (STEPS, BATCH, 6)
    assert set(terms["latent"].unique().tolist()) <= {0.0, 1.0}  # sampled spikes in training
    assert torch.equal(terms["posterior_probs"] * 4, (terms["posterior_probs"] * 4).round())  # means of k = 4
    esvae = tiny_model("esvae", SHAPES["audio"], rate_window_steps=0).train()
    terms = esvae.training_terms(x)
    hidden, _ = esvae.encode(x)
    torch.testing.assert_close(terms["posterior_rates"], hidden.mean(0))  # the running mean ends at the mean
    assert terms["prior_rates"].shape == (BATCH, 6)
    assert set(terms["latent"].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip(kind, tmp_path):
    torch.manual_seed(0)
    shape = SHAPES["image"]
    model = trained_a_little(tiny_model(kind, shape, recurrent=True), shape)
    save_checkpoint(tmp_path / "m", model, {"labels": ["score", "anomaly"], "front_end": {"kind": "events"}})
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    loaded = load_checkpoint(tmp_path / "m")
    x = spike_steps(shape)
    with torch.no_grad():
        expected, _ = model(x)
        actual, _ = loaded.model(x)
    assert config["model_kind"] == kind == loaded.model_kind == model_kind_name(loaded.model)
    assert loaded.model.config == model.config
    assert torch.equal(expected, actual)


def test_registry_and_configs():
    assert MODEL_KINDS[DEFAULT_MODEL_KIND].outputs == "logits"
    for kind in KINDS:
        assert MODEL_KINDS[kind].outputs == "reconstruction"
        model = tiny_model(kind, SHAPES["audio"])
        plain = json.loads(json.dumps(model.config.to_dict()))
        assert MODEL_KINDS[kind].config_class.from_dict(plain) == model.config
        assert type(build_model(kind, plain)) is type(model)
    with pytest.raises(ValueError, match="too small"):
        MODEL_KINDS["sae"].config_class(input_shape=(1, 3, 3), channels=(2, 2))
    with pytest.raises(ValueError, match=r"expected spike steps \[T, B, 2, 9, 9\]"):
        tiny_model("sae", SHAPES["image"])(torch.zeros(2, 1, 2, 8, 8))


def test_losses():
    torch.manual_seed(0)
    target = torch.rand(4, 3, 5)
    assert float(nrmse(target, target)) == 0.0
    assert float(nrmse(target.mean().expand_as(target), target)) == pytest.approx(1.0, rel=1e-5)
    rates = torch.rand(16, 6)
    assert float(rbf_mmd(rates, rates)) == pytest.approx(0.0, abs=1e-6)
    assert float(rbf_mmd(rates, rates * 0.2 + 0.8)) > 0.1
    probs = torch.rand(5, 2, 3)
    assert float(psp_mmd(probs, probs)) == 0.0
    torch.testing.assert_close(psp(torch.ones(3, 1), tau_steps=2.0)[:, 0], torch.tensor([0.5, 0.75, 0.875]))


def test_delayed_target_streams_like_the_whole_sequence_and_the_loss_scores_the_delayed_input():
    x = spike_steps(SHAPES["audio"], steps=12)
    whole, _ = delayed_target(x, 3)
    assert torch.equal(whole[:3], x[:1].expand(3, *x.shape[1:])) and torch.equal(whole[3:], x[:9])
    pieces, history = [], None
    for start, stop in ((0, 2), (2, 7), (7, 12)):  # a chunk shorter than the delay too
        target, history = delayed_target(x[start:stop], 3, history)
        pieces.append(target)
    assert torch.equal(torch.cat(pieces), whole)
    assert delayed_target(x, 0) == (x, None)
    with pytest.raises(ValueError, match="target_delay_steps"):
        tiny_model("sae", SHAPES["audio"], target_delay_steps=-1)
    model = tiny_model("sae", SHAPES["audio"], target_delay_steps=2)
    with torch.no_grad():
        recon, _ = model(x)
        assert float(aligned_nrmse(model, recon, x)) == pytest.approx(float(nrmse(recon[2:], x[:-2])))
        assert float(aligned_nrmse(model, torch.cat([x[:2], x[:-2]]), x)) == 0.0  # x̂_t = x_{t−2}: perfect


def test_a_model_with_a_delayed_target_starts_a_stream_settled_on_its_first_step():
    x = spike_steps(SHAPES["audio"], steps=6)
    assert settled_state(tiny_model("sae", SHAPES["audio"]), x) is None  # no delay: from rest
    model = tiny_model("sae", SHAPES["audio"], target_delay_steps=2).eval()
    with torch.no_grad():
        _, expected = model(x[:1].expand(SETTLING_STEPS, *x.shape[1:]))
        settled = settled_state(model, x)
        assert torch.equal(model(x, settled)[0], model(x, expected)[0])
        assert not torch.equal(model(x, settled)[0], model(x)[0])
    assert settled_state(model, x[:0]) is None
