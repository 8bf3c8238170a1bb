"""The library face: ``import spikestream`` → load_model, open_stream, run, for every kind of input.

The README's library examples are run as written; each kind of target is opened for real (audio
file, event recording, a microphone through ALSA's file plug-in, a UDP camera on 127.0.0.1); a
stream runs from a worker thread.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import spikestream
from spikestream.pipeline.errors import UsageError
from spikestream.sources.events.event_array import SensorSize
from spikestream.sources.events.live.udp_sender import UdpEventSender

from .cli_runner import REPO_ROOT, expected_digits, longest_common_subsequence
from .test_live_microphone import alsa_home  # noqa: F401  (fixture)

RECORDING = REPO_ROOT / "recordings" / "digits_sequence.wav"
GESTURES = REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"


def readme_library_examples() -> list[str]:
    """The ```python blocks of the README's library section, in order."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Library", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


@pytest.mark.parametrize("index", range(2))
def test_readme_library_examples_run_as_written(index):
    examples = readme_library_examples()
    assert len(examples) >= 2, "the README's library section shows an audio and an event example"
    result = subprocess.run(
        [sys.executable, "-c", examples[index]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Detection(" in result.stdout or "detections" in result.stdout, result.stdout


def test_import_spikestream_is_cheap():
    code = "import sys, spikestream; print('torch' in sys.modules, sorted(spikestream.__all__))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False ['load_model', 'open_stream', 'run']", result.stderr


def test_audio_file_stream_gives_the_digit_sequence():
    model = spikestream.load_model("fsdd-digits")
    heard = []
    report = spikestream.run(spikestream.open_stream(RECORDING, model), model, callback=heard.append)
    labels = [detection.label for detection in heard]
    assert labels == [detection.label for detection in report.detections]
    assert longest_common_subsequence(labels, expected_digits()) >= len(expected_digits()) - 1
    assert report.source_drops == {"nonfinite_samples": 0}


def test_event_recording_stream_and_its_drop_counts():
    model = spikestream.load_model("dvs-gestures")
    stream = spikestream.open_stream(GESTURES, model)
    assert stream.input_kind == "events" and stream.notes == [
        "gesture_sequence.npy stores no sensor size; reading it as 128x128"
    ]
    report = spikestream.run(stream, model)
    assert len(report.detections) >= 3
    assert set(report.source_drops) == {"out_of_range_events", "late_events"}


def test_run_from_a_worker_thread():
    model = spikestream.load_model("fsdd-digits")
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["report"] = spikestream.run(spikestream.open_stream(RECORDING, model), model)
        except BaseException as error:  # the assertion below shows it
            outcome["error"] = error

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    assert len(outcome["report"].detections) >= len(expected_digits()) - 1


def test_udp_camera_stream_receives_a_sender(free_udp_port):
    model = spikestream.load_model("dvs-gestures")
    stream = spikestream.open_stream(f"udp://127.0.0.1:{free_udp_port}", model, seconds=3.0, idle_timeout_s=1.0)
    assert stream.live and stream.pacer is None
    events = np.load(GESTURES)
    events = events[events["t"] < events["t"][0] + 1_500_000]

    def send() -> None:
        time.sleep(0.3)
        with UdpEventSender("127.0.0.1", free_udp_port, SensorSize(128, 128), speed=1.0) as sender:
            sender.send_recording([events])

    sender = threading.Thread(target=send)
    sender.start()
    report = spikestream.run(stream, model)
    sender.join()
    assert 1.0 <= report.stream_us / 1e6 <= 3.0
    assert report.steps > 0 and report.source_drops["receiver dropped_events"] == 0


def test_microphone_stream_through_portaudio(alsa_home):  # noqa: F811
    code = (
        "import json, spikestream\n"
        "model = spikestream.load_model('fsdd-digits')\n"
        "stream = spikestream.open_stream('mic', model, seconds=15.0, buffer_s=20.0, device_rate_hz=16000)\n"
        "report = spikestream.run(stream, model)\n"
        "print(json.dumps({'name': stream.name, 'labels': [d.label for d in report.detections], "
        "'drops': report.source_drops}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **alsa_home},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["name"].startswith("mic:")
    assert set(outcome["drops"]) == {"overflow_samples", "device_overflows"}
    assert longest_common_subsequence(outcome["labels"], expected_digits()) >= len(expected_digits()) - 1, outcome


@pytest.mark.parametrize(
    "target, model_name, message",
    [
        (RECORDING, "dvs-gestures", "gives audio but model 'dvs-gestures' takes event-camera input"),
        (GESTURES, "fsdd-digits", "gives event-camera input but model 'fsdd-digits' takes audio"),
        ("udp://127.0.0.1:3999", "fsdd-digits", "takes audio"),
        ("mic", "dvs-gestures", "takes event-camera input"),
        ("aestream+udp://127.0.0.1:3999", "dvs-gestures", "one malformed datagram crashes the process"),
        ("udp://127.0.0.1:0", "dvs-gestures", "port"),
        (REPO_ROOT / "no-such-file.wav", "fsdd-digits", "no such file"),
    ],
)
def test_targets_that_do_not_fit_are_named(target, model_name, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        spikestream.open_stream(target, spikestream.load_model(model_name))
