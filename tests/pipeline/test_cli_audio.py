"""The real CLI in a subprocess on real recordings, and every kind of bad audio input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import soxr

from .cli_runner import REPO_ROOT, expected_digits, json_lines, longest_common_subsequence, run_cli

RECORDING = REPO_ROOT / "recordings" / "digits_sequence.wav"


def check_digit_sequence(detections: list[dict]) -> None:
    labels = [d["label"] for d in detections]
    expected = expected_digits()
    assert longest_common_subsequence(labels, expected) >= len(expected) - 1, (labels, expected)
    assert len(labels) <= len(expected) + 1, labels


def test_replay_as_fast_as_possible_detects_the_digit_sequence():
    result = run_cli("replay", str(RECORDING), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    detections = json_lines(result.stdout)
    check_digit_sequence(detections)
    for detection in detections:
        assert set(detection) == {"time_us", "time_s", "label", "score", "source", "latency_ms"}
        assert 0.0 <= detection["score"] <= 1.0 and detection["source"] == RECORDING.name
    # each detection falls inside (or just after) an utterance, and names it, with the same
    # tolerance of one misread word as check_digit_sequence (the shipped model reads lucas's "6"
    # in this sequence as "0": a marginal clip, see the README)
    import json

    spans = json.loads(RECORDING.with_suffix(".json").read_text())["utterances"]
    heard = [
        [s for s in spans if s["start_us"] <= detection["time_us"] <= s["end_us"] + 600_000] for detection in detections
    ]
    assert all(len(matches) == 1 for matches in heard), detections
    misread = [d for d, matches in zip(detections, heard) if matches[0]["label"] != d["label"]]
    assert len(misread) <= 1, misread


def test_paced_replay_gives_the_same_detections_in_real_time():
    fast = json_lines(run_cli("replay", str(RECORDING), "--speed", "0", "--jsonl", "-").stdout)
    result = run_cli("replay", str(RECORDING), "--speed", "4", "--jsonl", "-")
    paced = json_lines(result.stdout)
    assert [(d["label"], d["time_us"]) for d in paced] == [(d["label"], d["time_us"]) for d in fast]
    duration_s = soundfile.info(str(RECORDING)).duration
    assert "real-time factor" in result.stderr
    # paced at 4x: wall time of the run at least duration/4 (from the summary's stream length)
    assert f"{duration_s:.2f} s of stream" in result.stderr


def test_stereo_44k_file_works(tmp_path):
    samples, rate = soundfile.read(RECORDING, dtype="float32")
    resampled = soxr.resample(samples, rate, 44100)
    stereo = np.stack([resampled, 0.5 * resampled], axis=1)
    path = tmp_path / "stereo_44k.wav"
    soundfile.write(path, stereo, 44100)
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    check_digit_sequence(json_lines(result.stdout))


def test_flac_and_jsonl_file_sink(tmp_path):
    samples, rate = soundfile.read(RECORDING, dtype="float32")
    path = tmp_path / "digits.flac"
    soundfile.write(path, samples, rate)
    out = tmp_path / "detections.jsonl"
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    check_digit_sequence(json_lines(out.read_text()))


def test_total_silence_gives_no_detection(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(8000 * 5, dtype=np.float32), 8000)
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == []


def test_steady_noise_gives_no_detection_after_its_onset(tmp_path):
    """A recording is framed by silence (sources/audio/front_end.py), so noise that starts with the file
    is an onset after silence, which the digit model may still take for a word once (issue 14, item 9,
    is open: it also talks on loud noise); the 5 s of steady noise after it give nothing."""
    path = tmp_path / "noise.wav"
    noise = np.random.default_rng(0).standard_normal(8000 * 5).astype(np.float32) * 0.05
    soundfile.write(path, noise, 8000)
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    detections = json_lines(result.stdout)
    assert len(detections) <= 1 and all(d["time_s"] < 1.0 for d in detections), detections


def test_nan_and_inf_samples_are_replaced_and_reported(tmp_path):
    samples, rate = soundfile.read(RECORDING, dtype="float32")
    samples[1000:1100] = np.nan
    samples[5000] = np.inf
    path = tmp_path / "nan.wav"
    soundfile.write(path, samples, rate, subtype="FLOAT")
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("nonfinite_samples 101") == 1, result.stderr  # counted once, in the run summary
    assert "Warning" not in result.stderr
    check_digit_sequence(json_lines(result.stdout))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: (d / "notes.wav").write_text("this is not audio") and d / "notes.wav", "not a readable audio file"),
        (lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", "empty.wav"),
    ],
    ids=["missing", "not-audio", "empty-bytes"],
)
def test_bad_files_fail_clearly(tmp_path, make, message):
    path = make(tmp_path)
    result = run_cli("replay", str(path), "--speed", "0")
    assert result.returncode == 2
    assert message in result.stderr and path.name in result.stderr
    assert "Traceback" not in result.stderr


def test_header_only_wav_is_an_empty_recording(tmp_path):
    path = tmp_path / "header_only.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 8000)
    result = run_cli("replay", str(path), "--speed", "0")
    assert result.returncode == 2
    assert "contains no samples" in result.stderr and "header_only.wav" in result.stderr


def test_truncated_wav_streams_what_is_there(tmp_path):
    data = RECORDING.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: len(data) // 2])  # header still claims the full length
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    labels = [d["label"] for d in json_lines(result.stdout)]
    expected = expected_digits()[: len(labels)]
    assert len(labels) >= 3 and longest_common_subsequence(labels, expected) >= len(labels) - 1


def test_unknown_model_names_the_choices():
    result = run_cli("replay", str(RECORDING), "--model", "no-such-model")
    assert result.returncode == 2
    assert "no model 'no-such-model'" in result.stderr and "fsdd-digits" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", "missing.wav"], "missing.wav: no such file"),
        (["replay", str(RECORDING), "--model", "no-such-model"], "no model 'no-such-model'"),
        (["replay", str(RECORDING), "--model", "fsdd-digits", "--anomaly-model", "nope"], "no model 'nope'"),
        (["export", "no-such-model", "--nir", "out.nir"], "no model 'no-such-model'"),
        (["train", "audio", "--init-from", "no-such-model"], "no model 'no-such-model'"),
    ],
    ids=["missing-recording", "model", "anomaly-model", "export", "init-from"],
)
def test_typos_fail_before_the_heavy_imports(tmp_path, args, message):
    # a missing recording or a name that is no checkpoint is reported before torch, Norse and SciPy load
    # (seconds of start-up): the process ends with exit code 2 and torch never imported
    code = (
        "import sys; from spikestream.pipeline.cli import main; status = main(sys.argv[1:]); "
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported'); sys.exit(status)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout.strip() == "torch not imported"


def test_evaluate_streams_bare_clips_as_replay_does(tmp_path):
    # a bare word starts at the stream's first sample and ends at its last: the recording is framed by
    # silence (sources/audio/front_end.py) so it reads as a word arriving live; --pad adds more silence
    padded, bare = tmp_path / "padded", tmp_path / "bare"
    data = REPO_ROOT / "recordings" / "espeak_digits"
    assert run_cli("evaluate", "--data", str(data), "--split", "all", "--out", str(padded), "--pad").returncode == 0
    result = run_cli("evaluate", "--data", str(data), "--split", "all", "--out", str(bare))
    assert result.returncode == 0, result.stderr
    padded_metrics, bare_metrics = (json.loads((folder / "metrics.json").read_text()) for folder in (padded, bare))
    assert bare_metrics["padded"] is False and padded_metrics["padded"] is True
    assert bare_metrics["missed"] <= 1, bare_metrics
    # measured: bare 91.25 % before the framing, now as padded (98.75 %)
    assert bare_metrics["accuracy"] >= 0.975 and padded_metrics["accuracy"] >= 0.95, (bare_metrics, padded_metrics)
