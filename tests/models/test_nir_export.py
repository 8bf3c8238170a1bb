"""NIR export: the graph written to a file and read back through nirtorch computes exactly what the
classifier computes, step by step (delays, folded batch-norm, strided and grouped convolutions,
CubaLIF/CubaLI neurons); what NIR cannot express is refused with the layer's name."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from spikestream.models.checkpoint import load_checkpoint, shipped_model_names
from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig
from spikestream.models.nir_export import NirExportError, classifier_to_nir, refusal
from spikestream.models.nir_import import NirNetwork

AUDIO = ConvSNNConfig(
    input_shape=(1, 20),
    n_classes=11,
    channels=(24, 32, 48),
    kernel_size=3,
    kernel_t=(5, 5, 5),
    dilation_t=(1, 3, 6),
    downsample="stride",
    readout_tau_mem_ms=40.0,
)
EVENTS_MERGED = ConvSNNConfig(
    input_shape=(2, 16, 16),
    n_classes=5,
    channels=(16, 32),
    kernel_size=3,
    kernel_t=(3, 1),
    dilation_t=(2, 1),
    downsample="stride",
    members=2,
    step_ms=50.0,
    tau_syn_ms=50.0,
    tau_mem_ms=100.0,
    hidden_tau_mem_ms=200.0,
    readout_tau_syn_ms=50.0,
    readout_tau_mem_ms=100.0,
)


def trained_looking(config: ConvSNNConfig, seed: int) -> ConvSNNClassifier:
    """A classifier with batch-norm statistics and affine terms far from identity, so folding matters."""
    torch.manual_seed(seed)
    model = ConvSNNClassifier(config).eval()
    with torch.no_grad():
        for norm in list(model.norms) + [model.hidden_in[1]]:
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.3, 2.0)
            norm.weight.uniform_(0.5, 3.0)
            norm.bias.uniform_(-0.2, 0.6)
    return model


@pytest.mark.parametrize("config", [AUDIO, EVENTS_MERGED], ids=["audio-taps", "events-grouped"])
def test_graph_read_back_from_file_gives_the_same_readout_and_spikes(config, tmp_path):
    model = trained_looking(config, seed=1)
    dt_s = config.step_ms / 1000.0
    path = tmp_path / "model.nir"
    nir.write(str(path), classifier_to_nir(model, dt_s))
    exported = NirNetwork(path, dt_s)
    shape = (80, 2) + config.input_shape
    inputs = torch.randn(shape) if config is AUDIO else (torch.rand(shape) < 0.2).float()
    hidden_spikes = []
    model.spike_probe = lambda name, values: hidden_spikes.append(values) if name == "hidden" else None
    with torch.no_grad():
        expected, _ = model(inputs)
        # the graph streamed in uneven pieces, its nirtorch state carried between calls
        pieces, state = [], None
        for start, stop in ((0, 1), (1, 8), (8, 45), (45, 80)):
            output, state = exported(inputs[start:stop], state)
            pieces.append(output)
    assert torch.cat(hidden_spikes).sum() > 0, "the test network must spike for the comparison to mean anything"
    assert torch.allclose(torch.cat(pieces), expected, atol=1e-5, rtol=0)


def test_delays_and_folded_norms_appear_as_nir_nodes():
    graph = classifier_to_nir(trained_looking(AUDIO, seed=2), 0.01)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    # 5 taps in each of 3 blocks: 4 delayed taps each (the newest tap needs no delay)
    assert sum(kind == "Delay" for kind in kinds.values()) == 12
    assert sum(kind == "Conv1d" for kind in kinds.values()) == 15
    assert kinds["block1.lif"] == "CubaLIF" and kinds["readout.li"] == "CubaLI"
    assert not any("norm" in name.lower() or "pool" in name.lower() for name in kinds)
    delays = sorted(float(np.unique(graph.nodes[f"block3.delay.tap{tap}"].delay)[0]) for tap in range(4))
    assert delays == pytest.approx([0.06, 0.12, 0.18, 0.24])  # dilation 6 steps of 10 ms


def test_what_nir_cannot_express_is_refused_with_the_layer_and_the_option():
    pooled = ConvSNNClassifier(
        ConvSNNConfig(input_shape=(1, 20), n_classes=3, channels=(8,), kernel_t=(1,), dilation_t=(1,))
    )
    with pytest.raises(NirExportError, match=r"block1\.pool.*--hardware-friendly"):
        classifier_to_nir(pooled, 0.01)
    recurrent = ConvSNNClassifier(
        ConvSNNConfig(
            input_shape=(1, 20),
            n_classes=3,
            channels=(8,),
            kernel_t=(1,),
            dilation_t=(1,),
            downsample="stride",
            recurrent=True,
        )
    )
    assert "--recurrent" in refusal(recurrent)
    assert "autoencoders" in refusal(load_checkpoint("mnist-vae").model)


def test_every_shipped_classifier_is_exportable_or_refused_for_a_named_reason():
    exportable = []
    for name in shipped_model_names():
        loaded = load_checkpoint(name)
        reason = refusal(loaded.model)
        if reason is None:
            exportable.append(name)
        else:
            assert "layer" in reason or "model kind" in reason
    assert exportable, "at least one shipped model must export exactly (trained with --hardware-friendly)"
