"""The shipped digit model says nothing on noise, DC and tones, and reads the demo at any DC and gain.

Issue 14, item 9: ten minutes of white noise gave 578 detections, a DC level "4", a square wave "3",
and the demo sequence with a DC offset of +0.05 read 7 words, 4 of them wrong. The streams here go
through the same runtime as ``replay`` (live-size blocks); ``bench/bench_noise_robustness.py``
measures the same conditions over longer streams and against the previous model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.inputs import AUDIO_BLOCK_MS
from spikestream.pipeline.runtime import run_stream
from spikestream.pipeline.streaming_model import make_streaming_model
from spikestream.pipeline.training.evaluate import samples_chunks
from spikestream.sources.audio.augment import coloured_noise

from .cli_runner import json_lines, run_cli

REPO = Path(__file__).resolve().parents[2]
SEQUENCE = REPO / "recordings" / "digits_sequence.wav"
RATE_HZ = 8000
NOISE_SECONDS = 20.0


@pytest.fixture(scope="module")
def digits():
    return load_checkpoint("fsdd-digits")


def labels_of(loaded, samples: np.ndarray) -> list[str]:
    model = make_streaming_model(loaded, "test")
    report = run_stream(samples_chunks(samples.astype(np.float32), RATE_HZ, AUDIO_BLOCK_MS), model, sinks=[])
    return [detection.label for detection in report.detections]


@pytest.mark.parametrize("exponent,colour", [(0.0, "white"), (1.0, "pink"), (2.0, "brown")])
def test_noise_at_any_level_gives_no_detection(digits, exponent, colour):
    rng = np.random.default_rng(int(exponent) + 10)
    for level_dbfs in (-60.0, -20.0, -10.0, 0.0):
        noise = coloured_noise(int(NOISE_SECONDS * RATE_HZ), exponent, rng) * 10.0 ** (level_dbfs / 20.0)
        assert labels_of(digits, np.clip(noise, -1.0, 1.0)) == [], f"{colour} noise at {level_dbfs:+.0f} dBFS"


def test_dc_levels_and_tones_give_no_detection(digits):
    time_s = np.arange(int(10 * RATE_HZ)) / RATE_HZ
    steady = {f"dc {level:+.2f}": np.full(time_s.size, level) for level in (-0.2, 0.05, 0.5)}
    for frequency_hz in (100.0, 440.0):
        steady[f"square {frequency_hz:.0f} Hz"] = 0.5 * np.sign(np.sin(2 * np.pi * frequency_hz * time_s))
        steady[f"sine {frequency_hz:.0f} Hz"] = 0.5 * np.sin(2 * np.pi * frequency_hz * time_s)
    for name, signal in steady.items():
        assert labels_of(digits, signal) == [], name


@pytest.mark.parametrize("offset,gain_db", [(-0.2, 0.0), (0.2, 0.0), (0.05, 0.0), (0.0, -30.0), (0.0, 10.0)])
def test_demo_sequence_reads_right_with_dc_offset_and_gain(digits, offset, gain_db):
    """The demo peaks at 0.51: +10 dB is past clipping (the loudest syllables are cut at full scale)."""
    samples, _ = soundfile.read(SEQUENCE, dtype="float32")
    expected = [utterance["label"] for utterance in json.loads(SEQUENCE.with_suffix(".json").read_text())["utterances"]]
    varied = np.clip(samples * 10.0 ** (gain_db / 20.0) + offset, -1.0, 1.0)
    assert labels_of(digits, varied) == expected


def test_replay_of_a_noise_file_reports_nothing(tmp_path):
    """A user's probe, as they ran it: a WAV of loud white noise through the real CLI. The network does
    answer the noise; the summary says how many of its segments the level gate kept quiet."""
    path = tmp_path / "noise.wav"
    noise = np.random.default_rng(3).standard_normal(int(15 * RATE_HZ)) * 10.0 ** (-10.0 / 20.0)
    soundfile.write(path, np.clip(noise, -1.0, 1.0).astype(np.float32), RATE_HZ, subtype="PCM_16")
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == []
    gated = re.search(r"(\d+) segments? closed by the level gate \(below min_rise_db\)", result.stderr)
    assert gated is not None and int(gated.group(1)) > 0, result.stderr
