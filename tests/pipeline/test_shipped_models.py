"""Accuracy of the shipped checkpoints, streamed through the real pipeline on held-back data."""

from __future__ import annotations

import json

import pytest

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.evaluate import evaluate_audio, evaluation_clips
from spikestream.pipeline.train_gesture import HELD_OUT_SEED, evaluate_gestures


def test_digit_model_reaches_97_percent_streaming_on_fsdd_test_takes(fsdd_dir, tmp_path):
    loaded = load_checkpoint("fsdd-digits")
    clips = evaluation_clips(fsdd_dir, "test")
    assert len(clips) == 250 and all(clip.take < 5 for clip in clips)  # official test takes only
    metrics = evaluate_audio(loaded, clips, tmp_path)
    assert metrics["accuracy"] >= 0.97, json.dumps(metrics, indent=1)
    assert metrics["clips_with_more_than_one_detection"] <= 5  # one word, one detection
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text())["clips"] == 250


def test_digit_model_never_trained_on_test_takes():
    training = load_checkpoint("fsdd-digits").config["training"]
    assert training["train_clips"] == 2250 and training["held_out_clips"] == 250


def test_gesture_model_reaches_95_percent_on_unseen_seeds(tmp_path):
    loaded = load_checkpoint("dvs-gestures")
    assert loaded.config["training"]["data"] == "synthetic"
    metrics = evaluate_gestures(loaded, None, 220, tmp_path)
    assert metrics["data"] == f"synthetic (seed {HELD_OUT_SEED})"
    assert metrics["accuracy"] >= 0.95, json.dumps(metrics, indent=1)
