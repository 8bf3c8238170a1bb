"""Merged ensembles: one wide conv SNN whose logits are the mean of its members' logits."""

from __future__ import annotations

import pytest
import torch

from spikestream.models.checkpoint import load_checkpoint, save_checkpoint
from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig
from spikestream.models.ensemble import merge_classifiers

from ..pipeline.cli_runner import run_cli


def trained_looking_member(seed: int, **overrides) -> ConvSNNClassifier:
    """A small audio-shaped classifier with random weights *and* random batch-norm statistics, so
    that a merge which mixed up channels between members would change the output."""
    torch.manual_seed(seed)
    settings = dict(
        input_shape=(1, 20),
        n_classes=5,
        channels=(4, 6, 8),
        kernel_size=3,
        kernel_t=(3, 3, 3),
        dilation_t=(1, 2, 3),
        hidden=16,
    )
    model = ConvSNNClassifier(ConvSNNConfig(**(settings | overrides))).eval()
    for norm in list(model.norms) + [model.hidden_in[1]]:
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.2, 2.0)
        norm.weight.data.uniform_(0.5, 2.0)
    return model


def test_merged_logits_are_the_mean_of_the_members_whole_and_streamed():
    members = [trained_looking_member(seed) for seed in range(3)]
    merged = merge_classifiers(members)
    assert merged.config.channels == (12, 18, 24) and merged.config.hidden == 48 and merged.config.members == 3
    x = torch.rand(120, 2, 1, 20) * 4.0
    with torch.no_grad():
        member_logits = [member(x)[0] for member in members]
        whole, _ = merged(x)
        state, pieces = None, []
        for piece in torch.split(x, 7):
            out, state = merged(piece, state)
            pieces.append(out)
    expected = torch.stack(member_logits).mean(dim=0)
    assert all((logits - expected).abs().max() > 1e-2 for logits in member_logits)  # the members disagree
    torch.testing.assert_close(whole, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(pieces), expected, atol=1e-5, rtol=1e-5)


def test_members_with_another_architecture_are_refused():
    with pytest.raises(ValueError, match="member 1 has hidden=32"):
        merge_classifiers([trained_looking_member(0), trained_looking_member(1, hidden=32)])


def test_merge_command_writes_a_checkpoint_that_averages_its_members(tmp_path):
    shipped = load_checkpoint("fsdd-digits").config  # labels, front end and decision of the digit model
    config = {key: shipped[key] for key in ("task", "labels", "front_end", "decision")}
    paths = []
    for seed in range(2):
        member = trained_looking_member(seed, n_classes=len(config["labels"]))
        paths.append(
            save_checkpoint(tmp_path / f"member{seed}", member, dict(config, name=f"m{seed}", training={"seed": seed}))
        )
    out = tmp_path / "pair"
    result = run_cli("merge", *map(str, paths), "--out", str(out), timeout_s=300)
    assert result.returncode == 0, result.stderr
    merged, members = load_checkpoint(out), [load_checkpoint(path) for path in paths]
    assert merged.config["model"]["members"] == 2 and merged.labels == config["labels"]
    assert merged.config["front_end"] == config["front_end"] and merged.config["decision"] == config["decision"]
    assert [member["training"] for member in merged.config["training"]["ensemble_of"]] == [{"seed": 0}, {"seed": 1}]
    x = torch.rand(60, 1, 1, 20) * 4.0
    with torch.no_grad():
        expected = (members[0].model(x)[0] + members[1].model(x)[0]) / 2
        torch.testing.assert_close(merged.model(x)[0], expected, atol=1e-5, rtol=1e-5)


def test_merging_models_with_other_labels_is_a_clear_error(tmp_path):
    result = run_cli("merge", "fsdd-digits", "dvs-gestures", "--out", str(tmp_path / "m"), timeout_s=300)
    assert result.returncode == 2
    assert "dvs-gestures" in result.stderr and "must share labels and front end" in result.stderr
    assert not (tmp_path / "m" / "config.json").exists()
