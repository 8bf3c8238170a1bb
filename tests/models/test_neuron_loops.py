"""The compiled LIF / LI loops give Norse's bits (against Norse's modules and the tensor-operation loop), and the
training loop over unbound steps gives Norse's outputs and gradients."""

from __future__ import annotations

import norse.torch as norse
import pytest
import torch
from norse.torch.functional.lif import LIFFeedForwardState

from spikestream.models import neuron_loops
from spikestream.models.conv_snn import lif_parameters
from spikestream.models.neuron_loops import li_sequence, lif_sequence, run_li, run_lif

SHAPES = [(1, 1, 7), (40, 3, 24, 20), (25, 8, 512), (12, 2, 4, 6, 5)]


def lif_module() -> norse.LIF:
    return norse.LIF(lif_parameters(20.0, 40.0, 1.0), dt=0.01)


def li_module() -> norse.LI:
    p = norse.LIParameters(tau_syn_inv=torch.tensor(50.0), tau_mem_inv=torch.tensor(25.0))
    return norse.LI(p, dt=0.01)


def norse_run(module, current, state):
    """Norse's own module, step by step (its ``SNN.forward`` over ``[T, …]``)."""
    with torch.enable_grad():
        out, final = module(current, state)
    return out.detach(), type(final)(*(t.detach() for t in final))


@pytest.mark.parametrize("shape", SHAPES)
def test_compiled_lif_is_bit_identical_to_norse_with_and_without_state(shape):
    torch.manual_seed(0)
    module = lif_module()
    current = torch.randn(shape) * 3.0
    more = torch.randn(shape) * 3.0
    spikes, state = lif_sequence(module, current, None)
    expected, expected_state = norse_run(module, current, None)
    assert torch.equal(spikes, expected)
    assert torch.equal(state.v, expected_state.v) and torch.equal(state.i, expected_state.i)
    spikes_more, _ = lif_sequence(module, more, state)
    expected_more, _ = norse_run(module, more, expected_state)
    assert torch.equal(spikes_more, expected_more)
    assert 0.01 < float(spikes.mean()) < 0.9  # the comparison covered both firing and silent neurons


@pytest.mark.parametrize("shape", SHAPES)
def test_compiled_li_is_bit_identical_to_norse(shape):
    torch.manual_seed(1)
    module = li_module()
    current = torch.randn(shape)
    voltages, state = li_sequence(module, current, None)
    expected, expected_state = norse_run(module, current, None)
    assert torch.equal(voltages, expected)
    assert torch.equal(state.v, expected_state.v) and torch.equal(state.i, expected_state.i)
    voltages_more, _ = li_sequence(module, current.flip(0), state)
    assert torch.equal(voltages_more, norse_run(module, current.flip(0), expected_state)[0])


def test_the_callers_state_is_not_written_and_a_non_contiguous_current_is_read_right():
    torch.manual_seed(2)
    module = lif_module()
    state = LIFFeedForwardState(v=torch.rand(5, 6), i=torch.rand(5, 6))
    kept = (state.v.clone(), state.i.clone())
    current = (torch.randn(6, 5, 30) * 3.0)[:, :, ::5]  # a strided view [6, 5, 6]
    spikes, _ = lif_sequence(module, current, state)
    assert torch.equal(state.v, kept[0]) and torch.equal(state.i, kept[1])
    assert torch.equal(spikes, norse_run(module, current, state)[0])


def test_per_neuron_parameters_fall_back_to_the_tensor_loop(monkeypatch):
    """Parameters that are not scalars (or another dtype) take the tensor loop, which broadcasts them."""
    calls = []
    original = neuron_loops._lif_loop
    monkeypatch.setattr(neuron_loops, "_lif_loop", lambda *args: calls.append(1) or original(*args))
    p = norse.LIFParameters(
        tau_syn_inv=torch.tensor(50.0), tau_mem_inv=torch.full((7,), 25.0), v_th=torch.linspace(0.5, 1.5, 7)
    )
    module = norse.LIF(p, dt=0.01)
    current = torch.randn(20, 2, 7) * 3.0
    spikes, _ = lif_sequence(module, current, None)
    assert calls == []
    assert torch.equal(spikes, norse_run(module, current, None)[0])
    lif_sequence(lif_module(), current, None)
    assert calls == [1]
    double = current.double()
    assert lif_sequence(lif_module(), double, None)[0].dtype == torch.float64 and calls == [1]


def test_a_parameter_changed_in_place_is_read_again():
    """The compiled loop keeps the float32 scalars on the module while its parameters are unchanged."""
    torch.manual_seed(3)
    module = lif_module()
    current = torch.randn(10, 2, 9) * 3.0
    lif_sequence(module, current, None)
    module.p.v_th.fill_(0.25)  # an in-place change bumps the tensor's version
    assert torch.equal(lif_sequence(module, current, None)[0], norse_run(module, current, None)[0])


def recurrent_lif_module() -> norse.LIFRecurrent:
    torch.manual_seed(6)
    return norse.LIFRecurrent(6, 6, p=lif_parameters(20.0, 40.0, 1.0), dt=0.01)


@pytest.mark.parametrize(
    "make_module, run", [(lif_module, run_lif), (li_module, run_li), (recurrent_lif_module, run_lif)]
)
def test_training_loop_gives_norses_outputs_and_gradients(make_module, run):
    """With autograd on, ``run_lif`` / ``run_li`` unbind the steps instead of indexing them (Norse's ``T²``
    backward); the forward values and the gradient reaching the input must be Norse's."""
    torch.manual_seed(4)
    module = make_module()
    current = (torch.randn(30, 4, 6) * 3.0).requires_grad_()
    weights = torch.randn(30, 4, 6)
    ours, ours_state = run(module, current, None)
    (ours * weights).sum().backward()
    ours_grad, current.grad = current.grad.clone(), None
    theirs, theirs_state = module(current, None)
    (theirs * weights).sum().backward()
    assert torch.equal(ours.detach(), theirs.detach())
    assert all(torch.equal(a.detach(), b.detach()) for a, b in zip(ours_state, theirs_state))
    assert torch.allclose(ours_grad, current.grad, rtol=1e-5, atol=1e-6)
    assert ours_grad.abs().sum() > 0


def test_a_classifier_trains_with_the_unbound_loop_and_norses_gradients(monkeypatch):
    """The conv SNN's training pass goes through ``unrolled`` for every neuron layer: its parameter
    gradients equal those of the same network run through Norse's own module loops."""
    from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig

    torch.manual_seed(5)
    config = ConvSNNConfig(input_shape=(1, 12), n_classes=3, channels=(4, 6), kernel_t=(3, 3), dilation_t=(1, 2))
    model = ConvSNNClassifier(config).train()
    model.dropout.p = 0.0
    x = torch.rand(20, 3, 1, 12) * 3.0
    model(x)[0].square().sum().backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    norse_layers = []
    monkeypatch.setattr(
        neuron_loops, "unrolled", lambda module, current, state: norse_layers.append(module) or module(current, state)
    )
    model(x)[0].square().sum().backward()
    assert norse_layers == [*model.conv_neurons, model.hidden, model.readout]
    for a, b in zip(ours, [p.grad for p in model.parameters()]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
