"""NIR export, ``--stats`` and ``show-activity`` through the real command line, on real recordings.

The round trip that proves an export: the shipped hardware-friendly model, written to a ``.nir``
file, read back through nirtorch and streamed through the same pipeline as the checkpoint (front
end, decision) on real FSDD clips it was not trained on, gives the same readout and the same
detections."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess

import numpy as np
import pytest
import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint, shipped_model_names
from spikestream.models.nir_export import refusal
from spikestream.models.nir_import import NirNetwork
from spikestream.pipeline.inputs import AUDIO_BLOCK_MS
from spikestream.pipeline.runtime import run_stream
from spikestream.pipeline.streaming_model import build_front_end, make_streaming_model
from spikestream.pipeline.training.evaluate import samples_chunks
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.events.chunking import slice_span
from spikestream.sources.events.formats.dispatch import open_recording

from .cli_runner import REPO_ROOT, SPIKESTREAM, run_cli

SEQUENCE = REPO_ROOT / "recordings" / "digits_sequence.wav"
EXPORTABLE = [name for name in shipped_model_names() if refusal(load_checkpoint(name).model) is None]


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exported_graph_streams_real_clips_like_the_checkpoint(name, fsdd_dir, tmp_path):
    result = run_cli("export", name, "--nir", str(tmp_path / "model.nir"))
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "model.json").read_text())
    checkpoint = load_checkpoint(name)
    assert sidecar["dt_s"] == pytest.approx(checkpoint.model.config.step_ms / 1000)
    assert sidecar["front_end"] == checkpoint.config["front_end"] and sidecar["labels"] == checkpoint.labels
    assert sidecar["round_trip_max_abs_difference"] < 1e-4
    exported = LoadedModel(NirNetwork(tmp_path / "model.nir", sidecar["dt_s"]), checkpoint.config, tmp_path)
    if checkpoint.front_end_kind == "audio":
        rate = checkpoint.config["front_end"]["mfcc"]["sample_rate_hz"]
        clips = sorted(fsdd_dir.glob("*_[0-1].wav"))[::10][:12]  # test takes 0-1, never trained on; 12 clips
        inputs = [(clip.name, read_audio(clip, rate)) for clip in clips]

        def chunks(samples):
            return samples_chunks(samples, rate, AUDIO_BLOCK_MS)
    else:  # real N-MNIST recordings of the camera, never trained on
        clips = sorted((fsdd_dir.parent / "dvs" / "nmnist_small").glob("*/*.bin"))[::10]
        inputs = [(clip.name, open_recording(clip).read_all()) for clip in clips]

        def chunks(events):
            return slice_span(events, int(events["t"][0]), int(events["t"][-1]) + 1)

    detections_seen = 0
    for name, recording in inputs:
        steps = build_front_end(checkpoint.config["front_end"]).push(recording)
        with torch.no_grad():
            expected, _ = checkpoint.model(steps)
            got, _ = exported.model(steps)
        assert torch.allclose(got, expected, atol=1e-4, rtol=0), f"{name}: readouts differ"
        reports = [
            run_stream(chunks(recording), make_streaming_model(model, name), []) for model in (checkpoint, exported)
        ]
        by_checkpoint, by_graph = ([(d.time_us, d.label) for d in r.detections] for r in reports)
        assert by_graph == by_checkpoint, name
        detections_seen += len(by_checkpoint)
    assert detections_seen >= len(inputs) // 2  # bare clips: the stream's end closes an open word


@pytest.mark.slow  # a CLI process per case: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_export_refuses_what_nir_cannot_express_and_paths_it_cannot_write(tmp_path):
    pooled = run_cli("export", "fsdd-digits", "--nir", str(tmp_path / "d.nir"))
    assert pooled.returncode == 2
    assert "block1.pool" in pooled.stderr and "--hardware-friendly" in pooled.stderr
    assert "Traceback" not in pooled.stderr
    vae = run_cli("export", "mnist-vae", "--nir", str(tmp_path / "v.nir"))
    assert vae.returncode == 2 and "autoencoders" in vae.stderr
    for bad in (tmp_path / "missing" / "x.nir", tmp_path / "x.txt"):
        result = run_cli("export", EXPORTABLE[0], "--nir", str(bad))
        assert result.returncode == 2 and str(bad) in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.nir*"))


def test_replay_stats_table_and_json(tmp_path):
    out = tmp_path / "stats.json"
    result = run_cli("replay", str(SEQUENCE), "--speed", "0", "--stats", "--stats-json", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "spikes/neuron/s" in result.stderr and "synops/s" in result.stderr
    saved = json.loads(out.read_text())
    activity = saved["activity"]
    assert activity["seconds_of_input"] == pytest.approx(
        13.4 + 0.3 + 0.7, abs=0.2
    )  # with the silence framing the stream
    names = [layer["layer"] for layer in activity["layers"]]
    assert names[0] == "input" and names[-1] == "hidden" and any(n.startswith("block") for n in names)
    for layer in activity["layers"][1:]:
        assert 0 < layer["spike_rate_hz"] < 1000 / activity["step_ms"]
        assert 0 <= layer["silent_fraction"] < 1
        assert 0 < layer["synops_per_s"] < layer["dense_macs_per_s"]
    assert 0 < activity["synops_to_dense_ratio"] < 1


def test_live_stats_view_redraws_on_a_terminal():
    """A real pseudo-terminal as stderr: the view redraws in place (carriage return, erase line)."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        SPIKESTREAM + ["replay", str(SEQUENCE), "--speed", "4", "--stats", "--quiet"],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
    )
    os.close(secondary)
    received = b""
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        received += data
    os.close(primary)
    assert process.wait(timeout=120) == 0
    text = received.decode(errors="replace")
    assert text.count("\r\x1b[2K[stats") >= 3  # 13 s of audio at 4x: a redraw every 0.5 s
    assert "block1" in text and "synops/dense" in text


def test_evaluate_stats_land_in_metrics_json(fsdd_dir, tmp_path):
    data = tmp_path / "clips"
    data.mkdir()
    for clip in sorted(fsdd_dir.glob("*_jackson_[0-3].wav")):
        shutil.copy(clip, data)
    out = tmp_path / "eval"
    result = run_cli("evaluate", "--data", str(data), "--split", "all", "--out", str(out), "--stats")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert "accuracy" in metrics and metrics["activity"]["seconds_of_input"] > 10 * 0.3
    assert metrics["activity"]["synops_to_dense_ratio"] < 1


def test_stats_refuses_autoencoders(tmp_path):
    result = run_cli("evaluate", "--model", "mnist-vae", "--data", "mnist", "--out", str(tmp_path / "e"), "--stats")
    assert result.returncode == 2 and "--stats" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # about 25 s of CLI rendering: the default suite stays under 20 minutes on 2 cores
def test_show_activity_draws_every_layer(tmp_path):
    out = tmp_path / "activity.png"
    result = run_cli("show-activity", str(SEQUENCE), "--out", str(out), "--max-seconds", "5")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 20_000
    assert "input, block1, block2, block3, hidden over 500 steps" in result.stderr and "dropped: none" in result.stderr
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(SEQUENCE.read_bytes()[:300])  # the header claims 13 s: the loss is reported
    cut = run_cli("show-activity", str(truncated), "--out", str(tmp_path / "cut.png"))
    assert cut.returncode == 0 and "dropped: missing_samples" in cut.stderr, cut.stderr
    from PIL import Image

    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape[0] > 600 and (image < 100).mean() > 0.02  # rasters drawn, not a blank page
    for args, expected in (
        (["--out", str(tmp_path / "a.gif")], ".png"),
        (["--out", str(tmp_path / "no" / "a.png")], "does not exist"),
        (["--model", "mnist-vae", "--out", str(out)], "not a conv SNN classifier"),
    ):
        bad = run_cli("show-activity", str(SEQUENCE), *args)
        assert bad.returncode == 2 and expected in bad.stderr and "Traceback" not in bad.stderr
