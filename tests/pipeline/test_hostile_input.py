"""Hostile input, tried as a new user would (the issue "Never crash, never hang, never lie"): each
case ran into a traceback, a hang, unbounded memory or a silent wrong answer before.

Policy under test (README "Bad input"): bad files and options exit 2 with a message naming the
file or value; gaps in event time are skipped in bounded work; events out of time order are sorted
within a reader block or dropped and counted; a sink that fails makes the exit code 3 and the
summary names it; a word at the very end of a stream is still reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from spikestream.sources.events.event_array import EVENT_DTYPE

from .cli_runner import REPO_ROOT, SPIKESTREAM, json_lines, run_cli

GESTURES = REPO_ROOT / "recordings" / "gestures" / "gesture_sequence.npy"
DIGITS = REPO_ROOT / "recordings" / "digits_sequence.wav"


def max_rss_mib(*args: str, timeout_s: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a child of a fresh interpreter and return its result and peak resident memory."""
    code = (
        "import resource, subprocess, sys\n"
        f"result = subprocess.run({SPIKESTREAM + list(args)!r}, capture_output=True, text=True)\n"
        "sys.stdout.write(result.stdout); sys.stderr.write(result.stderr)\n"
        "print('RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(result.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )
    rss_kib = int(result.stderr.rsplit("RSS_KIB", 1)[1].split()[0])
    return result, rss_kib / 1024


def gesture_events() -> np.ndarray:
    return np.load(GESTURES)


def test_a_one_hour_jump_in_event_time_costs_bounded_memory_and_time(tmp_path):
    events = gesture_events()
    jumped = np.concatenate([events, events[-1:]])
    jumped["t"][-1] = events["t"][-1] + 3600 * 1_000_000  # the last event one hour later
    path = tmp_path / "jump.npy"
    np.save(path, jumped)
    started = time.monotonic()
    result, rss_mib = max_rss_mib("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 90
    assert rss_mib < 1200, f"peak memory {rss_mib:.0f} MiB for a one-hour gap"  # was 4.4 GB
    assert "1 gaps in the input skipped" in result.stderr
    stream_s = float(re.search(r"in ([0-9.]+) s of stream", result.stderr).group(1))
    assert 3600 <= stream_s <= 3610  # the stream time still covers the hour
    assert len(json_lines(result.stdout)) >= 3  # the gestures before the gap are still detected


def test_a_timestamp_near_2_to_the_62_is_refused_with_a_clear_error(tmp_path):
    events = gesture_events()[:5000].copy()
    events["t"][-1] = 1 << 62
    path = tmp_path / "absurd.npy"
    np.save(path, events)
    result, rss_mib = max_rss_mib("replay", str(path), "--speed", "0")
    assert result.returncode == 2, result.stderr
    assert "event 4999" in result.stderr and "timestamps are corrupt" in result.stderr
    assert "Traceback" not in result.stderr and rss_mib < 1200


def test_out_of_order_events_are_sorted_or_dropped_and_counted_in_replay_show_and_send(tmp_path, free_udp_port):
    events = gesture_events()
    second = events.copy()
    second["t"] += int(events["t"][-1]) + 1  # twice the sequence: more events than one reader block (65,536)
    shuffled = np.concatenate([events, second])
    rng = np.random.default_rng(0)
    block = slice(1000, 3000)
    shuffled[block] = shuffled[block][rng.permutation(2000)]  # disorder inside one reader block: repaired
    late = np.zeros(50, dtype=EVENT_DTYPE)
    late["x"], late["y"], late["t"] = 5, 5, events["t"][0]  # 50 events from the start, in the last block: dropped
    path = tmp_path / "unsorted.npy"
    np.save(path, np.concatenate([shuffled, late]))
    result = run_cli("replay", str(path), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert "late_events 50" in result.stderr and "-0." not in result.stderr
    assert len(json_lines(result.stdout)) >= 3
    shown = run_cli("show", str(path), "--sensor", "128x128", "--out", str(tmp_path / "f.png"))
    assert shown.returncode == 0, shown.stderr
    sent = run_cli("send", str(path), "--sensor", "128x128", "--udp", f"127.0.0.1:{free_udp_port}", "--speed", "0")
    assert sent.returncode == 0 and "50 out of time order" in sent.stderr, sent.stderr


def test_a_word_at_the_very_end_of_a_file_is_reported(fsdd_dir):
    result = run_cli("replay", str(fsdd_dir / "7_jackson_0.wav"), "--speed", "0", "--jsonl", "-")
    assert result.returncode == 0, result.stderr
    assert [d["label"] for d in json_lines(result.stdout)] == ["7"]  # was no detection at all


def test_a_full_disk_sink_is_reported_and_the_exit_code_says_so():
    result = run_cli("replay", str(DIGITS), "--speed", "0", "--jsonl", "/dev/full")
    assert result.returncode == 3, result.stderr
    assert "sink failed: jsonl:/dev/full" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_sink_is_reported_and_the_exit_code_says_so():
    command = (
        " ".join(SPIKESTREAM + ["replay", str(DIGITS), "--speed", "0", "--jsonl", "-"])
        + " 2>err.txt | head -1; exit ${PIPESTATUS[0]}"
    )
    result = subprocess.run(["bash", "-c", command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    error = (REPO_ROOT / "err.txt").read_text()
    (REPO_ROOT / "err.txt").unlink()
    assert len(result.stdout.splitlines()) == 1
    assert result.returncode == 3, error
    assert "sink failed: jsonl:-" in error and "Broken pipe" in error and "Traceback" not in error


def test_a_camera_without_sender_stops_after_seconds(free_udp_port):
    started = time.monotonic()
    result = run_cli("listen", "--camera", f"udp://127.0.0.1:{free_udp_port}", "--seconds", "1.5", timeout_s=60)
    assert time.monotonic() - started < 20
    assert result.returncode == 0, result.stderr
    assert "nan" not in result.stderr and "no input received" in result.stderr, result.stderr
    assert "no event arrived" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", str(DIGITS), "--speed", "-1"], "--speed"),
        (["replay", str(DIGITS), "--speed", "nan"], "--speed"),
        (["replay", str(DIGITS), "--threshold", "2"], "--threshold"),
        (["replay", str(DIGITS), "--threshold", "nan"], "--threshold"),
        (["replay", str(DIGITS), "--sink", "bogus"], "bogus"),
        (["replay", str(DIGITS), "--jsonl", "/proc/no/such/dir/out.jsonl"], "/proc/no/such/dir"),
        (["replay", str(GESTURES), "--model", "fsdd-digits"], "takes audio"),
        (["replay", str(DIGITS), "--model", "dvs-gestures"], "takes event-camera input"),
        (["listen", "--camera", "udp://127.0.0.1:3999", "--model", "fsdd-digits"], "takes audio"),
        (["listen", "--camera", "aestream+udp://127.0.0.1:3999"], "malformed datagram"),
        (["show", str(GESTURES), "--sensor", "128x128", "--out", "/no/such/dir/clip.gif"], "does not exist"),
        (["show", str(GESTURES), "--sensor", "128x128", "--out", "x.gif", "--bin-ms", "0"], "--bin-ms"),
        (["show", str(GESTURES), "--sensor", "128x128", "--out", "x.gif", "--bin-ms", "0.001"], "--bin-ms"),
        (["show", str(GESTURES), "--sensor", "128x128", "--out", "x.gif", "--max-frames", "0"], "--max-frames"),
        (["show", str(GESTURES), "--sensor", "128x128", "--out", "x.gif", "--max-frames", "-1"], "--max-frames"),
        (["show", str(GESTURES), "--out", "x.gif"], "--sensor WxH"),
        (["send", str(GESTURES), "--sensor", "128x128", "--udp", "127.0.0.1:99999"], "--udp"),
        (["send", str(GESTURES), "--sensor", "128x128", "--udp", "no-such-host.invalid:3333"], "cannot be resolved"),
        (["send", str(GESTURES), "--sensor", "128x128", "--udp", "127.0.0.1:3333", "--speed", "nan"], "--speed"),
        (["send", str(GESTURES), "--sensor", "huge", "--udp", "127.0.0.1:3333"], "--sensor 'huge'"),
        (["train", "audio", "--data", str(REPO_ROOT / "recordings" / "espeak_digits"), "--epochs", "0"], "--epochs"),
        (
            [
                "evaluate",
                "--model",
                "fsdd-digits",
                "--data",
                str(REPO_ROOT / "recordings" / "espeak_digits"),
                "--out",
                str(DIGITS),
            ],
            "is a file",
        ),
        (["merge", "fsdd-digits", "--out", str(DIGITS)], "is a file"),
        (["replay", str(REPO_ROOT / "recordings")], "a folder; expected one recording"),
        (["show", str(REPO_ROOT / "recordings"), "--sensor", "128x128", "--out", "x.gif"], "found a folder"),
    ],
)
def test_ordinary_user_errors_exit_2_with_a_message(args, message):
    result = run_cli(*args, timeout_s=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


TOO_LONG = "x" * 5000  # longer than any file system lets a name be (ENAMETOOLONG at the first stat)


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", f"{TOO_LONG}.wav"], "no such file"),
        (["replay", str(DIGITS), "--model", TOO_LONG], "no model"),
        (["evaluate", "--data", TOO_LONG, "--out", "ev"], "File name too long"),  # show, embed, send: the same
    ],
    ids=["replay", "model", "evaluate"],
)
def test_a_path_too_long_for_the_file_system_exits_2(args, message):
    # each raised OSError(ENAMETOOLONG) as a traceback before; the message shows the start of the path
    result = run_cli(*args, timeout_s=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-500:]
    if message == "File name too long":  # met deep inside a command: the path is shown shortened
        assert "… (5" in result.stderr and len(result.stderr) < 1000, result.stderr[-500:]


def test_an_empty_weights_file_is_a_checkpoint_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text(
        (REPO_ROOT / "models" / "checkpoints" / "fsdd-digits" / "config.json").read_text()
    )
    (folder / "weights.pt").write_bytes(b"")
    result = run_cli("replay", str(DIGITS), "--model", str(folder))
    assert result.returncode == 2 and "not a usable checkpoint" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda config: config["decision"].update(end_fall_db=100.0), "end_fall_db must be in [3, 60] dB"),
        (lambda config: config["decision"].update(on_threshold="high"), "decision settings are not usable"),
        (lambda config: config["front_end"].pop("level_rise"), "computes no level track"),
    ],
)
def test_a_checkpoint_edited_into_an_unusable_decision_exits_2(tmp_path, edit, message):
    """A user tuning a copied checkpoint's config.json by hand: a bad setting is named, never a traceback."""
    folder = tmp_path / "edited"
    shutil.copytree(REPO_ROOT / "models" / "checkpoints" / "fsdd-digits", folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    result = run_cli("replay", str(DIGITS), "--model", str(folder), "--speed", "0")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_send_to_ipv6_loopback(free_udp_port):
    result = run_cli("send", str(GESTURES), "--sensor", "128x128", "--udp", f"[::1]:{free_udp_port}", "--speed", "0")
    if "Address family not supported" in result.stderr or "Cannot assign" in result.stderr:
        pytest.skip("this machine has no IPv6 loopback")
    assert result.returncode == 0, result.stderr
    assert "to ::1:" in result.stderr


def test_training_without_out_never_writes_the_shipped_checkpoints():
    from spikestream.pipeline.model_commands import TRAINED_CHECKPOINTS, checkpoint_out

    assert checkpoint_out(None, "fsdd-digits") == TRAINED_CHECKPOINTS / "fsdd-digits"
    assert "models" not in checkpoint_out(None, "dvs-gestures").parts


def test_sigterm_mid_stream_flushes_and_exits_130(tmp_path):
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        SPIKESTREAM + ["replay", str(DIGITS), "--speed", "1", "--jsonl", str(out)],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 90  # mid-stream: once a first detection is written (slow to start on a busy machine)
    written = lambda: out.exists() and "\n" in out.read_text()  # noqa: E731
    while time.monotonic() < deadline and process.poll() is None and not written():
        time.sleep(0.2)
    assert process.poll() is None, "the replay ended before it was interrupted"
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    lines = out.read_text().splitlines()
    assert lines and all(line.startswith("{") and line.endswith("}") for line in lines)
    assert "(interrupted)" in stderr
