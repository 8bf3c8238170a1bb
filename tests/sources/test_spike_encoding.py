"""Spike encoders: the documented formulas, checked on inputs whose answer is known."""

from __future__ import annotations

import pytest
import torch

from spikestream.sources.spike_encoding import (
    EncoderConfig,
    SpikeEncoder,
    delta_encode,
    latency_encode,
    rate_encode,
    unit_interval,
)


def test_rate_code_fires_with_probability_dt_times_rate():
    x = torch.tensor([0.0, 0.5, 1.0]).repeat(20000, 1)
    generator = torch.Generator().manual_seed(1)
    spikes = rate_encode(x, dt_s=0.001, f_on_hz=400.0, f_off_hz=20.0, steps_per_frame=1, generator=generator)
    expected = torch.tensor([0.001 * 20.0, 0.001 * (380.0 * 0.5 + 20.0), 0.001 * 400.0])
    observed = spikes.mean(dim=0)
    assert torch.all((observed - expected).abs() < 4 * torch.sqrt(expected * (1 - expected) / 20000) + 1e-4)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_latency_code_strong_inputs_fire_first_and_once():
    x = torch.tensor([[1.0, 0.5, 0.0, 0.05]])
    spikes = latency_encode(x, steps_per_frame=5, threshold=0.1)
    assert spikes.shape == (5, 4)
    assert spikes[:, 0].tolist() == [1, 0, 0, 0, 0]
    assert spikes[:, 1].tolist() == [0, 0, 1, 0, 0]
    assert spikes[:, 2].sum() == 0 and spikes[:, 3].sum() == 0  # below threshold: silent


def test_delta_code_emits_on_and_off_crossings():
    ramp = torch.tensor([0.0, 0.1, 0.2, 0.2, 0.05]).reshape(5, 1, 1, 1)
    spikes, reference = delta_encode(ramp, threshold=0.1, reference=None)
    assert spikes.shape == (5, 1, 2, 1)
    assert spikes[:, 0, 0, 0].tolist() == [0, 1, 1, 0, 0]  # ON channel
    assert spikes[:, 0, 1, 0].tolist() == [0, 0, 0, 0, 1]  # OFF channel
    assert reference.item() == pytest.approx(0.1)


def test_delta_encoder_state_makes_chunking_irrelevant():
    x = torch.rand(40, 1, 1, 6)
    whole = SpikeEncoder(EncoderConfig(name="delta", delta_threshold=0.1), 0.01)(x)
    pieces = SpikeEncoder(EncoderConfig(name="delta", delta_threshold=0.1), 0.01)
    chunked = torch.cat([pieces(x[i : i + 7]) for i in range(0, 40, 7)])
    assert torch.equal(whole, chunked)


def test_unit_interval_clips_at_three_sigma():
    assert unit_interval(torch.tensor([-5.0, -3.0, 0.0, 3.0, 9.0])).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_unknown_encoder_is_named_in_the_error():
    with pytest.raises(ValueError, match="'poisson'"):
        EncoderConfig(name="poisson")
