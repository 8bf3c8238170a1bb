"""Sinks: stable JSON, non-blocking with counted drops, flush on close, callback errors contained."""

from __future__ import annotations

import json
import threading

from spikestream.pipeline.detection import Detection
from spikestream.pipeline.sinks import CallbackSink, JsonLinesSink, NonBlockingSink, build_sinks

DETECTION = Detection(time_us=1_234_567, label="7", score=0.9123456, source="x.wav", latency_ms=12.345)


def test_json_form_is_stable():
    assert json.loads(DETECTION.to_json()) == {
        "time_us": 1234567, "time_s": 1.235, "label": "7", "score": 0.9123, "source": "x.wav", "latency_ms": 12.35,
    }


def test_jsonl_file_sink_appends_and_flushes_on_close(tmp_path):
    path = tmp_path / "out" / "d.jsonl"
    sink = NonBlockingSink(JsonLinesSink(path))
    for _ in range(50):
        sink.emit(DETECTION)
    sink.close()
    assert len(path.read_text().splitlines()) == 50
    again = NonBlockingSink(JsonLinesSink(path))
    again.emit(DETECTION)
    again.close()
    assert len(path.read_text().splitlines()) == 51  # resumable: appends, never truncates


def test_a_slow_sink_drops_and_counts_instead_of_blocking():
    release = threading.Event()
    received = []

    class SlowSink:
        name = "slow"

        def write(self, detection):
            release.wait(5)
            received.append(detection)

        def close(self):
            pass

    sink = NonBlockingSink(SlowSink(), queue_size=4)
    for _ in range(20):
        sink.emit(DETECTION)  # returns at once although the sink is stuck
    assert sink.dropped >= 20 - 4 - 1
    release.set()
    sink.close()
    assert len(received) + sink.dropped == 20


def test_callback_errors_are_counted_not_raised():
    calls = []

    def callback(detection):
        calls.append(detection)
        raise RuntimeError("user bug")

    inner = CallbackSink(callback)
    sink = NonBlockingSink(inner)
    sink.emit(DETECTION)
    sink.close()
    assert calls == [DETECTION] and inner.errors == 1


def test_unknown_sink_spec_is_named():
    import pytest

    with pytest.raises(ValueError, match="'kafka'"):
        build_sinks(["kafka"])
