"""The event-camera path through the real CLI: replay of real recordings, UDP send → listen in
subprocesses on 127.0.0.1, show, DVSGesture layout training, bad files."""

from __future__ import annotations

import json
import re
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from spikestream.models.checkpoint import load_checkpoint
from spikestream.sources.events.simulation.synthetic_gestures import simulate_gesture

from .cli_runner import REPO_ROOT, SPIKESTREAM, json_lines, longest_common_subsequence, run_cli

SEQUENCE = REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"


def expected_gestures() -> list[str]:
    meta = json.loads(SEQUENCE.with_suffix(".json").read_text())
    return [item["name"] for item in meta["gestures"]]


@pytest.mark.parametrize(
    "name, span_s",
    [("sample.aedat4", 0.59), ("evt3_sample.raw", 0.01), ("sample_ncars.dat", 0.10), ("sample_nmnist.bin", 0.31)],
)
def test_replay_real_recordings_streams_their_whole_span(dvs_dir, name, span_s):
    result = run_cli("replay", str(dvs_dir / name), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    stream = re.search(r"in ([0-9.]+) s of stream \((\d+) steps\)", result.stderr)
    assert stream, result.stderr
    assert abs(float(stream.group(1)) - span_s) <= 0.011
    assert int(stream.group(2)) >= 1


def test_replay_gesture_sequence_detects_each_gesture_in_order():
    result = run_cli("replay", str(SEQUENCE), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    labels = [d["label"] for d in json_lines(result.stdout)]
    expected = expected_gestures()
    assert longest_common_subsequence(labels, expected) == len(expected), (labels, expected)
    assert len(labels) <= len(expected) + 1


def test_send_over_udp_drives_the_live_camera_path(free_udp_port):
    listener = subprocess.Popen(
        SPIKESTREAM + ["listen", "--camera", f"udp://127.0.0.1:{free_udp_port}", "--idle-timeout", "2", "--jsonl", "-"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "listening to" not in (listener.stderr.readline() or "") and time.monotonic() < deadline:
            pass
        sender = run_cli(
            "send", str(SEQUENCE), "--sensor", "128x128", "--udp", f"127.0.0.1:{free_udp_port}", "--speed", "1"
        )
        assert sender.returncode == 0, sender.stderr
        sent = int(re.search(r"sent (\d+) events", sender.stderr).group(1))
        assert sent == len(np.load(SEQUENCE))
        stdout, stderr = listener.communicate(timeout=60)
    finally:
        listener.kill()
    assert listener.returncode == 0, stderr
    labels = [d["label"] for d in json_lines(stdout)]
    expected = expected_gestures()
    assert longest_common_subsequence(labels, expected) >= len(expected) - 1, (labels, expected, stderr)
    assert all(d["source"].startswith("udp://127.0.0.1") for d in json_lines(stdout))
    assert "dropped:" in stderr


def test_listen_to_usb_says_there_are_no_drivers():
    result = run_cli("listen", "--camera", "usb", timeout_s=60)
    assert result.returncode == 2
    assert "driver" in result.stderr and "Traceback" not in result.stderr


def test_bad_camera_uri_is_named():
    result = run_cli("listen", "--camera", "tcp://1.2.3.4", timeout_s=60)
    assert result.returncode == 2 and "tcp://1.2.3.4" in result.stderr


def test_show_writes_gif_and_png(tmp_path, dvs_dir):
    gif = tmp_path / "clip.gif"
    assert run_cli("show", str(SEQUENCE), "--sensor", "128x128", "--out", str(gif), "--bin-ms", "100").returncode == 0
    with Image.open(gif) as image:
        assert image.n_frames == 42  # 4.2 s of gestures in 100 ms frames
    png = tmp_path / "frames.png"
    assert run_cli("show", str(dvs_dir / "sample.aedat4"), "--out", str(png), "--bin-ms", "100").returncode == 0
    assert Image.open(png).size[0] > 256


@pytest.mark.parametrize("content", [b"", b"#!AER-DAT4.0\r\n garbage"], ids=["empty", "corrupt-aedat4"])
def test_bad_event_files_fail_clearly(tmp_path, content):
    path = tmp_path / "broken.aedat4"
    path.write_bytes(content)
    result = run_cli("replay", str(path), "--speed", "0")
    assert result.returncode == 2
    assert "broken.aedat4" in result.stderr and "Traceback" not in result.stderr


def write_dvs_gesture_layout(root, users: int = 2) -> None:
    """tonic's DVSGesture layout: root/DVSGesture/ibmGesture{Train,Test}/user<NN>_<light>/<label>.npy,
    (N, 4) arrays x, y, p, t[ms], from synthetic gestures (real ones cannot be downloaded here)."""
    for split, first_user in (("ibmGestureTrain", 1), ("ibmGestureTest", 24)):
        for user in range(first_user, first_user + users):
            folder = root / "DVSGesture" / split / f"user{user:02d}_fluorescent"
            folder.mkdir(parents=True)
            for label in range(11):
                events = simulate_gesture(label, seed=1000 * user + label)
                table = np.stack([events["x"], events["y"], events["p"], events["t"] / 1000.0], axis=1)
                np.save(folder / f"{label}.npy", table)


def test_train_and_evaluate_on_the_dvs_gesture_layout(tmp_path):
    write_dvs_gesture_layout(tmp_path / "data")
    out = tmp_path / "checkpoint"
    result = run_cli(
        "train", "gesture", "--data", str(tmp_path / "data"), "--epochs", "1", "--out", str(out), timeout_s=600
    )
    assert result.returncode == 0, result.stderr
    loaded = load_checkpoint(out)
    assert loaded.config["front_end"]["sensor_width"] == 128 and loaded.config["front_end"]["sensor_height"] == 128
    assert len(loaded.labels) == 12 and loaded.config["training"]["train_samples"] == 22
    shipped = load_checkpoint("dvs-gestures")
    assert loaded.model.config == shipped.model.config  # the same architecture as the shipped model
    evaluation = run_cli(
        "evaluate",
        "--model",
        str(out),
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "eval"),
        timeout_s=600,
    )
    assert evaluation.returncode == 0, evaluation.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["clips"] == 22 and 0.0 <= metrics["accuracy"] <= 1.0


def test_evaluate_an_event_model_on_a_folder_of_recordings_per_label(tmp_path):
    data = tmp_path / "gestures"
    for path in sorted((REPO_ROOT / "recordings" / "gestures").glob("gesture_[0-9]*_*.npy")):
        label = path.stem.split("_", 2)[2]
        (data / label).mkdir(parents=True)
        (data / label / path.name).symlink_to(path)
    out = tmp_path / "eval"
    result = run_cli("evaluate", "--model", "dvs-gestures", "--data", str(data), "--split", "all", "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clips"] == 11 and set(metrics["per_class_recall"]) == set(
        load_checkpoint("dvs-gestures").labels[1:]
    )
    assert metrics["accuracy"] >= 0.8, metrics  # the sample gestures are synthetic, like the model's training data
    assert (out / "confusion.png").stat().st_size > 1000
