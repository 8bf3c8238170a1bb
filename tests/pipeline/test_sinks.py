"""Sinks: stable JSON, non-blocking with counted drops, bounded close, dead sinks reported, whole lines.

Everything here uses the real thing (FIFOs, pipes, ``head -1``, /dev/full, a full tmpfs, a file size
limit); every blocking step runs in a thread or a subprocess with a time limit, so a regression fails
the test instead of hanging the suite.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spikestream.pipeline.detection import Detection
from spikestream.pipeline.sinks import (
    CallbackSink,
    ConsoleSink,
    JsonLinesSink,
    NonBlockingSink,
    SinkError,
    build_sinks,
    close_sinks,
)

DETECTION = Detection(time_us=1_234_567, label="7", score=0.9123456, source="x.wav", latency_ms=12.345)
LINE_BYTES = len(DETECTION.to_json()) + 1
REPO_ROOT = Path(__file__).resolve().parents[2]
HUNG_S = 5.0
"""A step that takes longer than this (seconds) is hung: the test fails instead of waiting."""


def bounded(step: Callable[[], Any], limit_s: float = HUNG_S) -> Any:
    """Run ``step`` in a daemon thread; fail if it has not returned within ``limit_s`` seconds."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = step()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"hung: still blocked after {limit_s} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def wait_until(condition: Callable[[], bool], limit_s: float = HUNG_S) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def shrink_pipe(fd: int) -> None:
    """Make the pipe behind ``fd`` hold one page (4096 bytes), so that a stalled reader stalls us quickly."""
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 4096)


def read_available(fd: int) -> bytes:
    """Everything readable now from a non-blocking read end."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def assert_whole_json_lines(data: bytes) -> int:
    """Every line is a complete JSON detection ending in a newline; returns how many."""
    assert data == b"" or data.endswith(b"\n"), f"a partial last line: {data[-60:]!r}"
    lines = data.decode().splitlines()
    for line in lines:
        assert json.loads(line)["label"] == "7"
    return len(lines)


def counts(sink: NonBlockingSink) -> dict[str, Any]:
    return {key: getattr(sink, key) for key in ("emitted", "delivered", "dropped", "lost", "errors", "error")}


CHILD_PRELUDE = """
import json, sys, time
from spikestream.pipeline.detection import Detection
from spikestream.pipeline.sinks import JsonLinesSink, NonBlockingSink
DETECTION = Detection(time_us=1_234_567, label="7", score=0.9123456, source="x.wav", latency_ms=12.345)
def report(sink):
    counts = {k: getattr(sink, k) for k in ("emitted", "delivered", "dropped", "lost", "errors", "error")}
    print("COUNTS " + json.dumps(dict(counts, incomplete=sink.incomplete)), file=sys.stderr, flush=True)
"""


def child_counts(stderr: str) -> dict[str, Any]:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("COUNTS ")]
    assert lines, f"the child reported nothing: {stderr!r}"
    return json.loads(lines[-1][len("COUNTS ") :])


def python_child(script: str, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + script], cwd=REPO_ROOT, **popen)


# ---------------------------------------------------------------- the stable form and the ordinary paths


def test_json_form_is_stable():
    assert json.loads(DETECTION.to_json()) == {
        "time_us": 1234567,
        "time_s": 1.235,
        "label": "7",
        "score": 0.9123,
        "source": "x.wav",
        "latency_ms": 12.35,
    }


def test_jsonl_file_sink_appends_and_flushes_on_close(tmp_path):
    path = tmp_path / "out" / "d.jsonl"
    sink = NonBlockingSink(JsonLinesSink(path))
    for _ in range(50):
        sink.emit(DETECTION)
    bounded(sink.close)
    assert len(path.read_text().splitlines()) == 50
    assert (sink.emitted, sink.delivered, sink.written, sink.dropped, sink.lost, sink.errors) == (50, 50, 50, 0, 0, 0)
    assert sink.error is None and not sink.incomplete and sink.name == "jsonl" and sink.label == f"jsonl:{path}"
    again = NonBlockingSink(JsonLinesSink(path))
    again.emit(DETECTION)
    bounded(again.close)
    assert len(path.read_text().splitlines()) == 51  # resumable: appends, never truncates


def test_console_sink_writes_whole_readable_lines(tmp_path):
    path = tmp_path / "console.txt"
    with open(path, "w", encoding="utf-8") as stream:  # a real file descriptor: written with os.write
        sink = NonBlockingSink(ConsoleSink(stream))
        for _ in range(3):
            sink.emit(DETECTION)
        bounded(sink.close)
    assert path.read_text() == (DETECTION.to_console() + "\n") * 3 and sink.delivered == 3 and not sink.incomplete


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
    assert sink.dropped >= 20 - 4 - 1 and sink.incomplete
    release.set()
    bounded(sink.close)
    assert len(received) + sink.dropped == 20 == sink.emitted
    assert sink.delivered == len(received) and sink.lost == 0 and sink.error is None


# ---------------------------------------------------------------- problem 1: stalled sinks never hang


def test_a_fifo_without_a_reader_fails_at_once_with_a_clear_error(tmp_path):
    fifo = tmp_path / "detections.fifo"
    os.mkfifo(fifo)
    try:
        with pytest.raises(SinkError, match="has no reader") as raised:
            bounded(lambda: JsonLinesSink(fifo), limit_s=2.0)  # today: open() blocks until a reader appears
        assert str(fifo) in str(raised.value)
        with pytest.raises(SinkError, match="has no reader"):
            bounded(lambda: build_sinks([f"jsonl:{fifo}"]), limit_s=2.0)
    finally:  # release a writer that a regression left blocked in open()
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        time.sleep(0.05)
        os.close(reader)


def test_a_fifo_with_a_reader_receives_every_line(tmp_path):
    fifo = tmp_path / "detections.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        sink = bounded(lambda: NonBlockingSink(JsonLinesSink(fifo)))
        for _ in range(11):
            sink.emit(DETECTION)
        bounded(sink.close)
        assert assert_whole_json_lines(read_available(reader)) == 11
        assert sink.delivered == 11 and not sink.incomplete and sink.error is None
    finally:
        os.close(reader)


def test_close_is_bounded_when_the_fifo_reader_stops_reading(tmp_path):
    fifo = tmp_path / "detections.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # present, but never reads while we write
    shrink_pipe(reader)
    try:
        sink = NonBlockingSink(JsonLinesSink(fifo), queue_size=1000)
        for _ in range(200):
            sink.emit(DETECTION)
        started = time.monotonic()
        bounded(lambda: sink.close(timeout_s=0.5))  # today: sink.close() flushes the blocked stream forever
        assert time.monotonic() - started < 0.5 + 1.0
        assert 0 < sink.delivered < 200 and sink.dropped == 0 and sink.lost == 200 - sink.delivered
        assert sink.incomplete and sink.error.startswith(f"jsonl:{fifo}: stalled")
        assert assert_whole_json_lines(read_available(reader)) == sink.delivered  # what was delivered is whole
    finally:
        os.close(reader)


def test_closing_several_stalled_sinks_waits_once_not_once_per_sink(tmp_path):
    readers, sinks = [], []
    try:
        for index in range(3):
            fifo = tmp_path / f"{index}.fifo"
            os.mkfifo(fifo)
            readers.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            shrink_pipe(readers[-1])
            sinks.append(NonBlockingSink(JsonLinesSink(fifo), queue_size=1000, close_timeout_s=0.4))
        for _ in range(100):
            for sink in sinks:
                sink.emit(DETECTION)
        started = time.monotonic()
        bounded(lambda: close_sinks(sinks))
        assert time.monotonic() - started < 0.4 + 1.0  # three sequential closes would take 1.2 s and more
        assert all(sink.lost > 0 and sink.delivered + sink.lost == 100 and "stalled" in sink.error for sink in sinks)
    finally:
        for reader in readers:
            os.close(reader)


def test_stdout_to_a_pipe_nobody_reads_closes_in_time():
    read_end, write_end = os.pipe()
    shrink_pipe(read_end)
    child = python_child(
        "sink = NonBlockingSink(JsonLinesSink('-'), queue_size=1000, close_timeout_s=0.3)\n"
        "for _ in range(200):\n    sink.emit(DETECTION)\n"
        "sink.close()\nreport(sink)\n",
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        _, stderr = child.communicate(timeout=HUNG_S)  # today: the child never exits
    finally:
        child.kill()
        os.set_blocking(read_end, False)
        written = read_available(read_end)
        os.close(read_end)
    result = child_counts(stderr)
    assert child.returncode == 0
    assert 0 < result["delivered"] < 200 and result["lost"] == 200 - result["delivered"] and result["incomplete"]
    assert result["error"].startswith("jsonl:-: stalled")
    assert assert_whole_json_lines(written) == result["delivered"]


def test_ctrl_c_while_closing_a_stalled_sink_stops_the_wait():
    read_end, write_end = os.pipe()
    shrink_pipe(read_end)
    child = python_child(
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored\n"
        "sink = NonBlockingSink(JsonLinesSink('-'), queue_size=1000, close_timeout_s=60)\n"
        "for _ in range(200):\n    sink.emit(DETECTION)\n"
        "print('closing', file=sys.stderr, flush=True)\n"
        "sink.close()\nreport(sink)\n",
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        assert child.stderr.readline().strip() == "closing"
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=HUNG_S)  # a 60 s close timeout, cut short by Ctrl-C
    finally:
        child.kill()
        os.close(read_end)
    result = child_counts(stderr)
    assert child.returncode == 0 and result["lost"] > 0 and result["delivered"] + result["lost"] == 200
    assert "interrupted" in result["error"]


# ---------------------------------------------------------------- problem 2: dead sinks are reported


def test_head_1_reader_going_away_is_a_dead_sink_with_its_losses_counted():
    child = python_child(
        "sink = NonBlockingSink(JsonLinesSink('-'))\n"
        "sink.emit(DETECTION)\n"
        "sys.stdin.readline()  # the test says go once `head -1` has exited\n"
        "for _ in range(10):\n    sink.emit(DETECTION)\n    time.sleep(0.005)\n"
        "sink.close()\nreport(sink)\n",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    head = subprocess.Popen(["head", "-1"], stdin=child.stdout, stdout=subprocess.PIPE, text=True)
    child.stdout.close()  # only head reads the child's stdout
    try:
        first, _ = head.communicate(timeout=HUNG_S)
        child.stdin.write("go\n")
        child.stdin.flush()
        _, stderr = child.communicate(timeout=HUNG_S)
    finally:
        child.kill()
        head.kill()
    assert len(first.splitlines()) == 1 and json.loads(first)["label"] == "7"
    result = child_counts(stderr)  # no traceback from the writer thread
    assert child.returncode == 0
    assert (result["emitted"], result["delivered"], result["lost"], result["dropped"]) == (11, 1, 10, 0)
    assert result["error"] == "jsonl:-: [Errno 32] Broken pipe" and result["incomplete"]


def test_dev_full_is_a_dead_sink_counting_every_detection_it_did_not_deliver(capfd):
    sink = NonBlockingSink(JsonLinesSink("/dev/full"))
    sink.emit(DETECTION)
    wait_until(lambda: sink.dead)
    for _ in range(10):  # later emits are counted too
        sink.emit(DETECTION)
    bounded(sink.close)
    sink.emit(DETECTION)  # even after close
    assert counts(sink) == {
        "emitted": 12,
        "delivered": 0,
        "dropped": 0,
        "lost": 12,
        "errors": 0,
        "error": "jsonl:/dev/full: [Errno 28] No space left on device",
    }
    assert sink.incomplete and sink.summary() == (
        "jsonl:/dev/full: 0 of 12 delivered, 12 lost ([Errno 28] No space left on device)"
    )
    assert "Traceback" not in capfd.readouterr().err


def test_a_reader_going_away_loses_what_was_queued(tmp_path, capfd):
    fifo = tmp_path / "detections.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    shrink_pipe(reader)
    sink = NonBlockingSink(JsonLinesSink(fifo), queue_size=1000)
    for _ in range(200):
        sink.emit(DETECTION)
    wait_until(lambda: sink.delivered > 0)
    received = assert_whole_json_lines(read_available(reader))
    os.close(reader)  # the consumer goes away with detections still queued
    wait_until(lambda: sink.dead)
    for _ in range(5):
        sink.emit(DETECTION)
    bounded(sink.close)
    assert sink.error == f"jsonl:{fifo}: [Errno 32] Broken pipe"
    assert received <= sink.delivered and sink.delivered + sink.lost == 205 and sink.lost > 5
    assert "Traceback" not in capfd.readouterr().err


def test_callback_errors_are_counted_not_raised_and_reported():
    calls = []

    def callback(detection):
        calls.append(detection)
        if len(calls) <= 2:
            raise RuntimeError("user bug")

    inner = CallbackSink(callback)
    sink = NonBlockingSink(inner)
    for _ in range(5):
        sink.emit(DETECTION)
    bounded(sink.close)
    assert calls == [DETECTION] * 5 and inner.errors == 2  # the stream went on
    assert (sink.delivered, sink.errors, sink.lost, sink.dead) == (3, 2, 0, False)
    assert sink.error == "callback: RuntimeError: user bug" and sink.incomplete
    assert sink.summary() == "callback: 3 of 5 delivered, 2 errors (RuntimeError: user bug)"


# ---------------------------------------------------------------- problem 4: whole lines only


def test_a_full_file_system_leaves_whole_lines_only(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the file-size-limit test covers the same path)")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=HUNG_S,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        assert 65536 % LINE_BYTES != 0  # so the line that does not fit is cut by the kernel mid-line
        path = mount_point / "d.jsonl"
        sink = NonBlockingSink(JsonLinesSink(path), queue_size=1000)
        for _ in range(800):
            sink.emit(DETECTION)
        bounded(sink.close)
        assert sink.error == f"jsonl:{path}: [Errno 28] No space left on device"
        assert assert_whole_json_lines(path.read_bytes()) == sink.delivered == 65536 // LINE_BYTES
        assert sink.delivered + sink.lost == 800
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], timeout=HUNG_S)  # lazy: even if still open


def test_a_file_size_limit_leaves_whole_lines_only(tmp_path):
    path = tmp_path / "d.jsonl"
    limit_bytes = 1000
    assert limit_bytes % LINE_BYTES != 0
    child = python_child(
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))\n"
        f"sink = NonBlockingSink(JsonLinesSink({str(path)!r}))\n"
        "for _ in range(20):\n    sink.emit(DETECTION)\n"
        "sink.close()\nreport(sink)\n",
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = child.communicate(timeout=HUNG_S)
    finally:
        child.kill()
    result = child_counts(stderr)
    assert result["error"] == f"jsonl:{path}: [Errno 27] File too large"
    assert assert_whole_json_lines(path.read_bytes()) == result["delivered"] == limit_bytes // LINE_BYTES
    assert result["delivered"] + result["lost"] == 20


# ---------------------------------------------------------------- problem 5: sink specs and paths


def test_unknown_sink_spec_is_named():
    with pytest.raises(SinkError, match="'kafka'.*expected 'console', 'jsonl'.*'jsonl:PATH'"):
        build_sinks(["kafka"])
    with pytest.raises(SinkError, match="'console:loud'"):
        build_sinks(["console:loud"])
    assert issubclass(SinkError, ValueError)


def test_a_directory_as_jsonl_path_is_a_sink_error(tmp_path):
    with pytest.raises(SinkError, match="Is a directory") as raised:
        build_sinks([f"jsonl:{tmp_path}"])
    assert str(tmp_path) in str(raised.value)


def test_a_jsonl_directory_that_cannot_be_created_is_a_sink_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SinkError, match="cannot create the directory") as raised:
        build_sinks([f"jsonl:{blocker}/sub/d.jsonl"])
    assert str(blocker) in str(raised.value) and "Not a directory" in str(raised.value)


def test_a_jsonl_file_without_permission_is_a_sink_error(tmp_path):
    """As root (who may write anywhere) the check runs as user nobody, via setpriv, on a root-owned directory."""
    script = (
        "import sys\nfrom spikestream.pipeline.sinks import SinkError, build_sinks\n"
        "try:\n    build_sinks([sys.argv[1]])\nexcept SinkError as error:\n    print(error)\n"
    )
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        command = [sys.executable, "-c", script]
    elif shutil.which("setpriv"):
        locked = Path(tempfile.mkdtemp(prefix="spikestream-locked-"))  # not under tmp_path: nobody cannot reach that
        locked.chmod(0o755)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", script]
    else:
        pytest.skip("running as root without setpriv: no way to be refused")
    try:
        for spec, reason in (
            (f"jsonl:{locked}/d.jsonl", "cannot open"),
            (f"jsonl:{locked}/sub/d.jsonl", "cannot create"),
        ):
            done = subprocess.run(command + [spec], cwd=REPO_ROOT, capture_output=True, text=True, timeout=HUNG_S)
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
            assert reason in done.stdout and str(locked) in done.stdout and "Permission denied" in done.stdout
    finally:
        if os.geteuid() == 0:
            shutil.rmtree(locked, ignore_errors=True)
