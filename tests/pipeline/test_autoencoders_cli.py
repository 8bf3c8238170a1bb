"""Spiking autoencoders and VAEs through the real CLI: train (audio and MNIST), replay with anomaly
scores, pair with a classifier, evaluate normal against anomalous sets, sample, embed, bad input.

Tiny trainings (one epoch on a few dozen items) keep this fast; accuracy of the shipped
autoencoders is checked in tests/pipeline/test_shipped_models.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

import spikestream
from spikestream.models.checkpoint import load_checkpoint

from .cli_runner import REPO_ROOT, json_lines, run_cli

DIGITS = REPO_ROOT / "recordings" / "digits_sequence.wav"


@pytest.fixture(scope="module")
def audio_ae(tmp_path_factory, fsdd_dir):
    out = tmp_path_factory.mktemp("ae") / "speech-ae-tiny"
    result = run_cli("train", "autoencoder", "--data", str(fsdd_dir), "--kind", "sae", "--encoder", "direct",
                     "--epochs", "1", "--max-items", "48", "--embedding", "16", "--out", str(out),
                     timeout_s=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def mnist_vae(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "mnist-vae-tiny"
    result = run_cli("train", "autoencoder", "--data", "mnist", "--kind", "esvae", "--epochs", "1", "--max-items", "64",
                     "--embedding", "16", "--out", str(out), timeout_s=900)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_training_writes_a_calibrated_checkpoint_and_a_picture(audio_ae):
    loaded = load_checkpoint(audio_ae)
    assert loaded.model_kind == "sae" and loaded.config["task"] == "autoencoder"
    assert loaded.model.config.target_delay_steps == 8  # audio: x̂_t against x_{t−8} (models/autoencoder.py)
    calibration = loaded.config["calibration"]
    assert calibration["windows"] > 100 and calibration["window_scores"] == sorted(calibration["window_scores"])
    assert loaded.config["decision"]["mode"] == "anomaly" and loaded.config["decision"]["score_threshold"] > 0
    history = loaded.config["training"]["history"][-1]
    assert {"mse", "nrmse", "baseline_nrmse", "train_s"} <= set(history) and history["train_s"] > 0
    assert (audio_ae / "reconstructions.png").stat().st_size > 2000


def test_replay_streams_anomaly_scores_per_window(audio_ae):
    result = run_cli("replay", str(DIGITS), "--model", str(audio_ae), "--speed", "0", "--scores", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    scores = [r for r in records if r["label"] == "score"]
    assert len(scores) >= 120  # one per 10-step window over 13.4 s
    assert all("threshold" in r and r["score"] >= 0 for r in records)
    assert max(r["time_s"] for r in records) <= 13.5


def test_anomaly_score_does_not_depend_on_the_chunk_size(audio_ae):
    from spikestream.pipeline.runtime import run_stream
    from spikestream.pipeline.streaming_model import make_streaming_model

    model = spikestream.load_model(audio_ae)
    traces = []
    for block_ms in (10.0, 80.0, 330.0):
        stream = spikestream.open_stream(DIGITS, model, block_ms=block_ms)
        report = run_stream(stream, make_streaming_model(model, stream.name, {"emit_scores": True}), sinks=[])
        traces.append(report.detections)
    assert len(traces[0]) >= 120
    for other in traces[1:]:  # the same records at the same times; scores equal up to float32 rounding
        assert [(d.time_us, d.label) for d in other] == [(d.time_us, d.label) for d in traces[0]]
        assert np.allclose([d.score for d in other], [d.score for d in traces[0]], rtol=1e-5)


def test_false_alarm_rate_picks_the_calibrated_threshold(audio_ae):
    loaded = load_checkpoint(audio_ae)
    scores = np.asarray(loaded.config["calibration"]["window_scores"])
    lenient = run_cli(
        "replay", str(DIGITS), "--model", str(audio_ae), "--speed", "0", "--false-alarm-rate", "0.5", "--jsonl", "-"
    )
    strict = run_cli(
        "replay", str(DIGITS), "--model", str(audio_ae), "--speed", "0", "--false-alarm-rate", "0.001", "--jsonl", "-"
    )
    assert lenient.returncode == strict.returncode == 0
    lenient_records, strict_records = json_lines(lenient.stdout), json_lines(strict.stdout)
    assert len(lenient_records) >= len(strict_records)
    if lenient_records:
        assert lenient_records[0]["threshold"] == pytest.approx(np.quantile(scores, 0.5), rel=1e-4)


def test_a_classifier_paired_with_an_autoencoder_marks_what_it_cannot_reconstruct(audio_ae, tmp_path):
    rate = 8000
    noise = (np.random.default_rng(0).standard_normal(rate * 3) * 0.3).clip(-1, 1).astype(np.float32)
    speech, speech_rate = soundfile.read(DIGITS, dtype="float32")
    assert speech_rate == rate
    path = tmp_path / "speech_then_noise.wav"
    soundfile.write(path, np.concatenate([speech, noise]), rate)
    alone = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    paired = run_cli(
        "replay",
        str(path),
        "--speed",
        "0",
        "--jsonl",
        "-",
        "--anomaly-model",
        str(audio_ae),
        "--false-alarm-rate",
        "0.01",
    )
    assert alone.returncode == paired.returncode == 0, paired.stderr
    alone_records, paired_records = json_lines(alone.stdout), json_lines(paired.stdout)
    assert [r["time_us"] for r in alone_records] == [
        r["time_us"] for r in paired_records
    ]  # same detections, relabelled
    assert {r["label"] for r in paired_records} <= {r["label"] for r in alone_records} | {"unknown"}


def test_evaluate_normal_against_anomalous_sets(audio_ae, tmp_path, fsdd_dir, shared_data_dir):
    normal, anomalous = tmp_path / "normal", tmp_path / "anomalous"
    normal.mkdir(), anomalous.mkdir()
    for path in sorted(fsdd_dir.glob("*_lucas_1.wav"))[:6]:
        (normal / path.name).symlink_to(path)
    for path in sorted((shared_data_dir / "esc10").rglob("*.ogg"))[:4]:
        (anomalous / path.name).symlink_to(path)  # 44.1 kHz Ogg beside 8 kHz WAV: resampled at the source
    out = tmp_path / "eval"
    result = run_cli(
        "evaluate", "--model", str(audio_ae), "--normal", str(normal), "--anomalous", str(anomalous), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["normal"]["files"] == 6 and metrics["anomalous"]["files"] == 4
    assert 0.0 <= metrics["auroc"] <= 1.0 and 0.0 <= metrics["auroc_relative_error"] <= 1.0
    assert metrics["normal"]["relative_error"] > 0
    for key in ("threshold_at_1pct_false_alarms", "detection_rate_at_5pct_false_alarms"):
        assert key in metrics
    assert metrics["normal"]["nrmse"] > 0 and (out / "roc.png").stat().st_size > 1000
    curve = json.loads((out / "roc.json").read_text())
    assert curve["false_alarm_rate"][0] == 0.0 and curve["false_alarm_rate"][-1] == 1.0


@pytest.mark.slow  # trains through the CLI: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_sample_and_embed_a_spiking_vae(mnist_vae, tmp_path):
    grid = tmp_path / "grid.png"
    result = run_cli("sample", "--model", str(mnist_vae), "--out", str(grid), "--n", "16")
    assert result.returncode == 0, result.stderr
    assert grid.stat().st_size > 2000
    embeddings, plot = tmp_path / "emb.npz", tmp_path / "emb.png"
    result = run_cli(
        "embed",
        "--model",
        str(mnist_vae),
        "--data",
        "mnist",
        "--out",
        str(embeddings),
        "--plot",
        str(plot),
        timeout_s=600,
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(embeddings)
    assert saved["embeddings"].shape == (2000, 16) and set(saved["labels"]) == {str(d) for d in range(10)}
    assert plot.stat().st_size > 2000


@pytest.mark.slow  # a CLI process per case: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_bad_autoencoder_input_is_named(audio_ae, tmp_path, fsdd_dir):
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.wav").symlink_to(fsdd_dir / "0_lucas_0.wav")
    empty = tmp_path / "empty"
    empty.mkdir()
    mine = tmp_path / "mine"  # one speaker's test takes: nothing to calibrate the threshold on
    mine.mkdir()
    for name in ("0_lucas_0.wav", "1_lucas_1.wav"):
        (mine / name).symlink_to(fsdd_dir / name)
    cases = [
        (["sample", "--model", "fsdd-digits", "--out", str(tmp_path / "g.png")], "needs a spiking VAE"),
        (
            ["embed", "--model", "fsdd-digits", "--data", str(fsdd_dir), "--out", str(tmp_path / "e.npz")],
            "needs an autoencoder",
        ),
        (["sample", "--model", str(audio_ae), "--out", str(tmp_path / "g.png")], "needs a spiking VAE"),
        (["replay", str(DIGITS), "--anomaly-model", "fsdd-digits"], "not an autoencoder"),
        (["replay", str(DIGITS), "--model", str(audio_ae), "--anomaly-model", str(audio_ae)], "is an autoencoder"),
        (
            [
                "replay",
                str(REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"),
                "--anomaly-model",
                str(audio_ae),
            ],
            "takes other input",
        ),
        (
            [
                "evaluate",
                "--model",
                str(audio_ae),
                "--normal",
                str(one),
                "--anomalous",
                str(one),
                "--out",
                str(tmp_path / "o"),
            ],
            "expected at least 2",
        ),
        (
            ["evaluate", "--model", str(audio_ae), "--data", str(fsdd_dir), "--out", str(tmp_path / "o")],
            "--normal DIR --anomalous DIR",
        ),
        (
            [
                "evaluate",
                "--model",
                "fsdd-digits",
                "--normal",
                str(one),
                "--anomalous",
                str(one),
                "--out",
                str(tmp_path / "o"),
            ],
            "is a classifier",
        ),
        (["train", "autoencoder", "--data", str(empty), "--out", str(tmp_path / "m")], "no audio files"),
        (["train", "autoencoder", "--data", str(mine), "--out", str(tmp_path / "m")], "none can be held back"),
        (["replay", str(DIGITS), "--false-alarm-rate", "0.01"], "pass an autoencoder"),
        (["replay", str(DIGITS), "--model", str(audio_ae), "--false-alarm-rate", "1"], "expected a finite number > 0"),
        (["merge", str(audio_ae), "--out", str(tmp_path / "merged")], "is an autoencoder"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


@pytest.mark.slow  # trains through the CLI: the default suite stays under 20 minutes on 2 cores (CI runs slow checks)
def test_train_an_event_autoencoder_on_gestures_and_replay_a_recording_with_it(tmp_path):
    out = tmp_path / "gestures-ae-tiny"
    result = run_cli("train", "autoencoder", "--data", "gestures", "--epochs", "1", "--max-items", "16",
                     "--exclude-labels", "air_drums,air_guitar", "--out", str(out), timeout_s=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["front_end"]["kind"] == "events" and config["front_end"]["output_mode"] == "log-counts"
    assert config["decision"]["mode"] == "anomaly" and config["decision"]["window_steps"] == 2
    assert config["labels"] == ["score", "anomaly", "hot-pixels"] and config["decision"]["hot_pixel_rate_hz"] >= 40.0
    assert config["calibration"]["pixel_rate_steps"] > 100  # steps of the held-back gestures
    assert config["training"]["settings"]["exclude_labels"] == ["air_drums", "air_guitar"]
    assert (out / "reconstructions.png").stat().st_size > 1000
    sequence = REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"
    replay = run_cli("replay", str(sequence), "--model", str(out), "--speed", "0", "--scores", "--jsonl", "-")
    assert replay.returncode == 0, replay.stderr
    scores = [r for r in json_lines(replay.stdout) if r["label"] == "score"]
    threshold = config["decision"]["score_threshold"]
    assert len(scores) > 50 and all(abs(r["threshold"] - threshold) <= 1e-6 for r in scores)  # JSON: 6 digits
    bad = run_cli(
        "train", "autoencoder", "--data", "gestures", "--exclude-labels", "jump", "--out", str(tmp_path / "x")
    )
    assert bad.returncode == 2 and "--exclude-labels jump: not gesture classes" in bad.stderr, bad.stderr
