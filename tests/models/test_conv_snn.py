"""The Norse conv SNN: whole-sequence vs step-by-step equality, shapes, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikestream.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig, detach_state, strided_max

CASES = {
    "audio-temporal": ConvSNNConfig(
        input_shape=(1, 20), n_classes=11, channels=(8, 8, 8), kernel_size=3, kernel_t=(5, 5, 5), dilation_t=(1, 3, 6)
    ),
    "vision": ConvSNNConfig(input_shape=(2, 32, 32), n_classes=11, channels=(8, 16), kernel_size=3),
    "vision-temporal": ConvSNNConfig(
        input_shape=(2, 16, 16), n_classes=4, channels=(4, 8), kernel_size=3, kernel_t=(3, 1), dilation_t=(2, 1)
    ),
    "ensemble-temporal": ConvSNNConfig(
        input_shape=(1, 20), n_classes=6, channels=(8, 12), kernel_t=(3, 5), dilation_t=(1, 2), hidden=16, members=4
    ),
    "recurrent": ConvSNNConfig(input_shape=(1, 20), n_classes=5, channels=(4, 4), kernel_size=3, recurrent=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_in_one_call_equals_step_by_step(name):
    torch.manual_seed(0)
    config = CASES[name]
    model = ConvSNNClassifier(config).eval()
    x = (torch.rand((50, 3) + config.input_shape) > 0.6).float()
    with torch.no_grad():
        whole, _ = model(x)
        state, steps = None, []
        for t in range(50):
            y, state = model(x[t : t + 1], state)
            steps.append(y)
        state, pieces, t = None, [], 0
        for size in (1, 7, 3, 13, 26):
            y, state = model(x[t : t + size], state)
            pieces.append(y)
            t += size
    assert whole.shape == (50, 3, config.n_classes)
    assert torch.equal(whole, torch.cat(steps))
    assert torch.equal(whole, torch.cat(pieces))
    assert whole.abs().sum() > 0  # the network actually responds to its input


def test_state_carries_memory_between_calls():
    torch.manual_seed(0)
    model = ConvSNNClassifier(CASES["audio-temporal"]).eval()
    x = torch.rand(20, 1, 1, 20)
    with torch.no_grad():
        _, state = model(x)
        with_memory, _ = model(x[:5], state)
        fresh, _ = model(x[:5])
    assert not torch.equal(with_memory, fresh)


def test_training_backpropagates_through_time_with_detached_state():
    torch.manual_seed(0)
    model = ConvSNNClassifier(CASES["audio-temporal"]).train()
    x = torch.rand(30, 4, 1, 20)
    y, state = model(x[:15])
    y.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    y2, _ = model(x[15:], detach_state(state))
    y2.sum().backward()  # would fail on a second backward through the first graph


def test_wrong_input_shape_is_named():
    model = ConvSNNClassifier(CASES["vision"])
    with pytest.raises(ValueError, match=r"expected spike steps \[T, B, 2, 32, 32\]"):
        model(torch.zeros(3, 1, 2, 16, 16))


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ConvSNNClassifier(CASES["vision"]).eval()
    save_checkpoint(tmp_path / "m", model, {"labels": [str(i) for i in range(11)], "front_end": {"kind": "events"}})
    loaded = load_checkpoint(tmp_path / "m")
    x = torch.rand(4, 1, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)[0], loaded.model(x)[0])
    assert loaded.labels == [str(i) for i in range(11)]


def test_missing_checkpoint_lists_shipped_models(tmp_path):
    with pytest.raises(CheckpointError, match="shipped models"):
        load_checkpoint(tmp_path / "nothing-here")


@pytest.mark.parametrize("name", sorted(CASES))
def test_inference_loops_are_bit_identical_to_norse_modules(name):
    """Without gradients the model uses the compiled loops of models/neuron_loops.py; with them, Norse's steps."""
    torch.manual_seed(1)
    config = CASES[name]
    model = ConvSNNClassifier(config).eval()
    x = (torch.rand((30, 2) + config.input_shape) > 0.5).float() * 2.0
    with torch.no_grad():
        fast, fast_state = model(x[:20])
        fast_more, _ = model(x[20:], fast_state)
    with torch.enable_grad():
        norse_out, norse_state = model(x[:20])
        norse_more, _ = model(x[20:], detach_state(norse_state))
    assert torch.equal(fast, norse_out.detach())
    assert torch.equal(fast_more, norse_more.detach())
    assert fast.abs().sum() > 0


@pytest.mark.parametrize("shape, pool", [((7, 3, 21), 2), ((4, 2, 17), 3), ((5, 2, 9, 11), 2), ((4, 3, 10, 9), 3)])
def test_strided_max_equals_the_max_pool_including_an_odd_remainder(shape, pool):
    x = torch.randn(shape)
    reference = (nn.MaxPool1d if len(shape) == 3 else nn.MaxPool2d)(pool)(x)
    assert torch.equal(strided_max(x, pool, len(shape) - 2), reference)
