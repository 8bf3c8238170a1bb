"""The live microphone path through real PortAudio capture (../shared/TESTING.md recipe).

ALSA's ``file`` plug-in serves a raw file of known speech as the default capture device, so
``sounddevice.InputStream`` runs for real. The device is not paced in real time: it delivers
audio far faster than the pipeline consumes it, so the bounded buffer overflows (on the silence
after the file) and the overflow must be reported while the speech in the buffer is detected.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile
import soxr

from .cli_runner import REPO_ROOT, expected_digits, json_lines, longest_common_subsequence, run_cli

CAPTURE_RATE_HZ = 16000
ASOUNDRC = """pcm.!default {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
"""


@pytest.fixture
def alsa_home(tmp_path):
    samples, rate = soundfile.read(REPO_ROOT / "recordings" / "digits_sequence.wav", dtype="float32")
    resampled = soxr.resample(samples, rate, CAPTURE_RATE_HZ)
    raw = tmp_path / "speech_16k_s16le_mono.raw"
    (np.clip(resampled, -1, 1) * 32767).astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(raw=raw))
    return {"HOME": str(tmp_path)}


def test_lists_the_alsa_capture_device(alsa_home):
    result = run_cli("listen", "--list-devices", env=alsa_home, timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*\d+\s+\S", result.stdout, re.MULTILINE)


def test_microphone_detects_the_spoken_digits_and_reports_overflow(alsa_home):
    duration_s = 15.0  # the file is 13.4 s; the rest is the null device's silence
    result = run_cli(
        "listen",
        "--jsonl",
        "-",
        "--device-rate",
        str(CAPTURE_RATE_HZ),
        "--seconds",
        str(duration_s),
        "--buffer-seconds",
        "20",
        env=alsa_home,
        timeout_s=120,
    )
    assert result.returncode == 0, result.stderr
    detections = json_lines(result.stdout)
    labels = [d["label"] for d in detections]
    expected = expected_digits()
    assert longest_common_subsequence(labels, expected) >= len(expected) - 1, (labels, expected)
    assert len(labels) <= len(expected) + 1
    assert all(d["source"].startswith("mic:") for d in detections)
    # the device outran the consumer: the drop is counted and reported, never silent
    overflow = re.search(r"overflow_samples (\d+)", result.stderr)
    assert overflow and int(overflow.group(1)) > 0, result.stderr


def test_unknown_device_is_a_clear_error(alsa_home):
    result = run_cli("listen", "--device", "no-such-microphone", "--seconds", "1", env=alsa_home, timeout_s=60)
    assert result.returncode == 2
    assert "no input device 'no-such-microphone'" in result.stderr
    assert "Traceback" not in result.stderr


def test_microphone_with_the_hardware_friendly_model_and_stats(alsa_home, tmp_path):
    """Live capture through the NIR-exportable digits with --stats: the activity covers exactly the
    seconds listened (live input is not framed by silence, unlike a recording)."""
    stats = tmp_path / "stats.json"
    result = run_cli(
        "listen", "--model", "fsdd-digits-nir", "--jsonl", "-", "--device-rate", str(CAPTURE_RATE_HZ),
        "--seconds", "15", "--buffer-seconds", "20", "--stats", "--stats-json", str(stats),
        env=alsa_home, timeout_s=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    labels = [d["label"] for d in json_lines(result.stdout)]
    expected = expected_digits()
    assert longest_common_subsequence(labels, expected) >= len(expected) - 2, (labels, expected)
    assert "spikes/neuron/s" in result.stderr
    activity = json.loads(stats.read_text())["activity"]
    assert activity["seconds_of_input"] == pytest.approx(15.0, abs=0.2)
    assert 0 < activity["synops_to_dense_ratio"] < 1
