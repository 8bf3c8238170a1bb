"""The activity meter's counts against counts done by hand: spikes, silent neurons, fan-outs at the
borders, synops against the dense network's multiply-accumulates."""

from __future__ import annotations

import pytest
import torch

from spikestream.models.activity import ActivityMeter
from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig

SMALL = ConvSNNConfig(
    input_shape=(1, 8), n_classes=3, channels=(4, 6), kernel_size=3, kernel_t=(2, 1), dilation_t=(1, 1), hidden=5
)


def test_dense_macs_of_the_first_layer_count_every_weight_use_with_borders():
    model = ConvSNNClassifier(SMALL).eval()
    report = ActivityMeter(model).report()
    first = report["layers"][0]
    # 8 inputs, kernel 3 with padding 1: 6 inner positions read by 3 outputs, 2 border positions by 2;
    # 4 output channels, 2 taps: (6·3 + 2·2)·4·2 = 176 multiply-accumulates per 10 ms step
    assert first["layer"] == "input"
    assert first["dense_macs_per_s"] == pytest.approx(176 * 100)
    hidden = report["layers"][-1]
    assert hidden["layer"] == "hidden" and hidden["dense_macs_per_s"] == pytest.approx(5 * 3 * 100)


def test_spike_counts_rates_and_silent_neurons_match_the_layer_outputs():
    model = ConvSNNClassifier(SMALL).eval()
    outputs = {}
    meter = ActivityMeter(model)
    counting = model.spike_probe

    def both(name, values):
        outputs.setdefault(name, []).append(values.clone())
        counting(name, values)

    model.spike_probe = both
    torch.manual_seed(0)
    with torch.no_grad():
        model(torch.randn(50, 1, 1, 8) * 3)
        model(torch.randn(30, 1, 1, 8) * 3)
    report = meter.report()
    assert report["seconds_of_input"] == pytest.approx(0.8)
    for entry in report["layers"][1:]:
        spikes = torch.cat(outputs[entry["layer"]])
        assert entry["spike_rate_hz"] == pytest.approx(float(spikes.sum()) / entry["neurons"] / 0.8)
        never = float((spikes.flatten(0, 1).sum(dim=0) == 0).float().mean())
        assert entry["silent_fraction"] == pytest.approx(never)
    assert any(entry.get("spike_rate_hz", 0) > 0 for entry in report["layers"])


def test_synops_equal_dense_macs_when_every_input_is_on_and_zero_when_none_is():
    model = ConvSNNClassifier(SMALL).eval()
    meter = ActivityMeter(model)
    with torch.no_grad():
        model(torch.ones(20, 1, 1, 8))
    first = meter.report()["layers"][0]
    assert first["synops_per_s"] == pytest.approx(first["dense_macs_per_s"])
    silent = ActivityMeter(ConvSNNClassifier(SMALL).eval())
    with torch.no_grad():
        silent.model(torch.zeros(20, 1, 1, 8))
    assert silent.report()["layers"][0]["synops_per_s"] == 0
    silent.detach()
    assert silent.model.spike_probe is None
