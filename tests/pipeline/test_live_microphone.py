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


def test_record_writes_whole_takes_of_each_label_and_resumes(alsa_home, tmp_path):
    """`record` through real PortAudio capture: each take a 16-bit WAV at the model's rate in the layout
    `train audio` reads (one speaker: every clip trains); a second run keeps what is on disk."""
    from spikestream.sources.labelled_clips import hold_back, list_labelled_clips

    mine = tmp_path / "mine"
    args = ("record", "--out", str(mine), "--labels", "3,7", "--takes", "2", "--seconds", "0.6", "--speaker", "ana")
    result = run_cli(*args, "--device-rate", str(CAPTURE_RATE_HZ), env=alsa_home, timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("say '") == 4 and "recorded 4 takes (0 already there)" in result.stderr
    assert "--init-from fsdd-digits-nir --epochs 150" in result.stderr
    takes = sorted(mine.rglob("*.wav"))
    assert [p.relative_to(mine).as_posix() for p in takes] == [
        "3/ana_nohash_0.wav", "3/ana_nohash_1.wav", "7/ana_nohash_0.wav", "7/ana_nohash_1.wav"
    ]  # fmt: skip
    for path in takes:
        info = soundfile.info(path)
        assert (info.samplerate, info.subtype, info.frames) == (8000, "PCM_16", 4800)
    assert not list(mine.rglob("*.part"))
    clips = list_labelled_clips(mine)
    assert {c.label for c in clips} == {"3", "7"} and {c.speaker for c in clips} == {"ana"}
    assert hold_back(clips)[1] == []
    again = run_cli(*args, env=alsa_home, timeout_s=60)
    assert again.returncode == 0 and "recorded 0 takes (4 already there)" in again.stderr, again.stderr
    bad = run_cli("record", "--out", str(mine), "--labels", "3,eleven", env=alsa_home, timeout_s=60)
    assert bad.returncode == 2 and "['eleven'] are not labels of 'fsdd-digits-nir'" in bad.stderr, bad.stderr
    nowhere = run_cli("record", "--out", "/proc/no-such-folder", "--labels", "3", env=alsa_home, timeout_s=60)
    assert nowhere.returncode == 2 and "cannot create the folder" in nowhere.stderr, nowhere.stderr
    assert "say '" not in nowhere.stderr and "Traceback" not in nowhere.stderr
