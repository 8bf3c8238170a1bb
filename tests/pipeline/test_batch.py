"""`spikestream batch`: rows equal the single-stream path, accuracy equals `evaluate`, broken and hanging
files become failed rows, SIGKILL then rerun gives the same bytes, the Ray engine the same rows.

Real FSDD files, real worker processes, a real `spikestream` subprocess killed with SIGKILL, and a
local Ray started by the test (skipped, saying so, only when Ray is not installed).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.batch.listing import iter_inputs
from spikestream.pipeline.batch.runner import BatchOptions, run_batch
from spikestream.pipeline.batch.worker import JobSpec, run_task
from spikestream.pipeline.cli import main
from spikestream.pipeline.inputs import open_stream
from spikestream.pipeline.runtime import run_stream
from spikestream.pipeline.streaming_model import make_streaming_model
from spikestream.pipeline.training.evaluate import evaluate_audio, evaluation_clips

from .cli_runner import REPO_ROOT, SPIKESTREAM

MODEL = "fsdd-digits"


@pytest.fixture(scope="module")
def loaded():
    torch.set_num_threads(
        1
    )  # as the command line does: streaming is latency-bound, and a loaded CPU punishes spinning threads
    return load_checkpoint(MODEL)


@pytest.fixture(scope="module")
def fsdd_test_takes(fsdd_dir: Path) -> list[str]:
    """The FSDD test split: takes 0-4 of every digit and speaker (250 files)."""
    files = sorted(str(path) for path in fsdd_dir.glob("*_[0-4].wav"))
    assert len(files) == 250
    return files


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(out: Path, inputs: list[str], **settings) -> dict:
    settings.setdefault("workers", 2)
    settings.setdefault("quiet", True)
    return run_batch(BatchOptions(inputs=inputs, out=out, model=MODEL, **settings))


def test_rows_equal_run_stream_per_file(tmp_path, loaded, fsdd_test_takes):
    """Batched inference (B up to 4 files per network call) gives each file exactly its own stream's detections."""
    files = fsdd_test_takes[::10]  # 25 files, all digits and speakers
    summary = batch(tmp_path / "rows.jsonl", files, batch_size=4)
    rows = read_rows(tmp_path / "rows.jsonl")
    assert [row["path"] for row in rows] == files and [row["index"] for row in rows] == list(range(len(files)))
    assert summary["done"] == len(files) and summary["failed"] == 0
    for row in rows:
        stream = open_stream(row["path"], loaded)
        report = run_stream(stream, make_streaming_model(loaded, stream.name), sinks=[], drop_counts=stream.drop_counts)
        expected = [(d.time_us, d.label, round(d.score, 4)) for d in report.detections]
        assert [(d["time_us"], d["label"], d["score"]) for d in row["detections"]] == expected, row["path"]
        assert row["label"] == (expected[0][1] if expected else "none")
        assert row["duration_s"] == round(report.stream_us / 1e6, 3)
        assert row["status"] == "ok" and row["model"] == MODEL and len(row["model_version"]) == 12
        assert len(row["top_k"]) == 3 and row["top_k"][0]["score"] >= row["top_k"][-1]["score"]
    # the batch size changes nothing
    items = list(iter_inputs(files[:9], None, (".wav",), loaded.labels[1:]))
    one = run_task(JobSpec(MODEL, MODEL, "v", batch_size=1), items)
    nine = run_task(JobSpec(MODEL, MODEL, "v", batch_size=9), items)
    assert one == nine


def test_an_autoencoder_scores_every_file_as_evaluate_does(tmp_path, fsdd_dir, shared_data_dir):
    """A batch with `speech-ae`: each row carries the whole-file scores that `evaluate` ranks (same numbers),
    and ESC-10 sounds come out with a higher relative error than spoken digits."""
    from spikestream.pipeline.training.anomaly_evaluation import file_score

    speech = sorted(str(path) for path in fsdd_dir.glob("*_jackson_[0-1].wav"))[::4]  # 5 digits
    sounds = sorted(str(path) for path in (shared_data_dir / "esc10").glob("fold3/*/*.ogg"))[::16]  # 5 sounds
    summary = run_batch(BatchOptions(inputs=speech + sounds, out=tmp_path / "ae.csv", model="speech-ae", quiet=True))
    assert summary["done"] == 10 and summary["failed"] == 0
    with open(tmp_path / "ae.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    autoencoder = load_checkpoint("speech-ae")
    for row in rows:
        scores = json.loads(row["reconstruction"])
        expected = file_score(autoencoder, Path(row["path"]))
        assert set(scores) == {"mse", "nrmse", "relative_error"}
        for key, value in scores.items():
            assert value == pytest.approx(expected[key], rel=1e-5), (row["path"], key)
    relative = [json.loads(row["reconstruction"])["relative_error"] for row in rows]
    assert np.median(relative[5:]) > np.median(relative[:5])  # measured: 0.91 against 0.71


def test_the_shared_lead_silence_is_run_once_and_changes_no_bit(loaded, fsdd_test_takes):
    """Every framed file begins with the same lead-silence steps: the network runs them once per worker
    (``SharedPrefix``) and each batch starts from that state; its logits equal running each file from rest."""
    from spikestream.pipeline.batch.listing import ListedInput
    from spikestream.pipeline.batch.worker import SharedPrefix, decode_file, run_network

    spec = JobSpec(MODEL, MODEL, "v")
    steps = [
        decode_file(loaded, spec, ListedInput(i, path, None)).steps for i, path in enumerate(fsdd_test_takes[::25])
    ]
    prefix = SharedPrefix()
    from spikestream.sources.audio.front_end import AudioFrontEndConfig

    lead_steps = AudioFrontEndConfig.from_dict(loaded.config["front_end"]).lead_hops
    assert lead_steps - 4 <= prefix.shared_length(steps) < lead_steps  # the pure-silence frames, not the audio
    for group in (steps[:4], steps[4:], steps[3:4]):
        shared, fresh = run_network(loaded.model, group, prefix), run_network(loaded.model, group, None)
        assert all(torch.equal(a, b) for a, b in zip(shared, fresh))
    assert len(prefix.runs) >= 1
    unframed = [torch.rand_like(steps[0]), steps[1]]  # a file that does not start with the silence: from rest
    assert prefix.shared_length(unframed) == 0
    assert all(torch.equal(a, b) for a, b in zip(run_network(loaded.model, unframed, prefix),
                                                 run_network(loaded.model, unframed, None)))  # fmt: skip


@pytest.mark.parametrize(
    "pad, every", [(False, 1), (True, 5)], ids=["bare-as-replay-250-clips", "padded-as-evaluate-50-clips"]
)
def test_accuracy_equals_evaluate_clip_for_clip(tmp_path, loaded, fsdd_dir, pad, every):
    """On the FSDD test takes, batch (bare, or --pad) predicts what evaluate (--no-padding, or default) does."""
    clips = evaluation_clips(fsdd_dir, "test")[::every]
    summary = batch(tmp_path / "test.jsonl", [str(clip.path) for clip in clips], pad=pad)
    rows = read_rows(tmp_path / "test.jsonl")
    metrics = evaluate_audio(loaded, clips, tmp_path / "evaluation", pad=pad)
    predictions = read_rows(tmp_path / "evaluation" / "predictions.jsonl")
    evaluated = {item["path"]: (item["truth"], item["predicted"]) for item in predictions}
    assert {Path(row["path"]).name: (row["truth"], row["label"]) for row in rows} == evaluated
    assert summary["labelled_files"] == metrics["clips"] == 250 // every
    assert summary["accuracy"] == pytest.approx(metrics["accuracy"])
    assert summary["confusion"] == metrics["confusion"]
    assert summary["padded"] is pad
    assert (tmp_path / "test.summary.json").is_file() and (tmp_path / "test.confusion.png").stat().st_size > 1000


def write_wav(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    soundfile.write(str(path), samples.astype(np.float32), rate_hz, subtype="FLOAT")


def broken_folder(root: Path, fsdd_dir: Path) -> dict[str, str | None]:
    """A folder mixing good and broken files; the value is what its row's error must contain (None = ok)."""
    good, rate_hz = soundfile.read(str(fsdd_dir / "3_george_7.wav"), dtype="float32")
    (root / "3").mkdir(parents=True)
    write_wav(root / "3" / "good.wav", good, rate_hz)  # label from the sub-folder
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("these are not samples\n" * 20)
    (root / "random.flac").write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes())
    header_only = root / "header_only.wav"
    write_wav(header_only, np.zeros(0), rate_hz)
    write_wav(root / "low_rate.wav", good[::2], rate_hz // 2)
    with_nan = good.copy()
    with_nan[100:110] = np.nan
    write_wav(root / "nan.wav", with_nan, rate_hz)
    cut = (fsdd_dir / "5_jackson_3.wav").read_bytes()
    (root / "cut.wav").write_bytes(cut[: len(cut) // 2])  # header promises twice what is there
    (root / "readme.txt").write_text("not listed: not an audio extension")
    return {
        "3/good.wav": None,
        "cut.wav": None,
        "empty.wav": "empty file (0 bytes)",
        "header_only.wav": "no samples",
        "low_rate.wav": "sample rate 4000 Hz",
        "nan.wav": None,
        "notes.wav": "not a readable audio file",
        "random.flac": "not a readable audio file",
    }


def test_broken_files_are_failed_rows_and_the_run_goes_on(tmp_path, fsdd_dir, capsys):
    """The command on a folder of good and broken files: exit 0, one row each, reasons, plain progress lines."""
    expected = broken_folder(tmp_path / "mixed", fsdd_dir)
    out = tmp_path / "mixed.csv"
    assert main(["batch", str(tmp_path / "mixed"), "--out", str(out), "--workers", "2", "--progress-s", "0.01"]) == 0
    stderr = capsys.readouterr().err  # not a terminal: periodic lines, no bar
    import csv

    with open(out, newline="") as stream:
        rows = list(csv.DictReader(stream))
    listed = {str(Path(row["path"]).relative_to(tmp_path / "mixed")): row for row in rows}
    assert sorted(listed) == sorted(expected) and [row["index"] for row in rows] == [str(i) for i in range(len(rows))]
    for name, reason in expected.items():
        row = listed[name]
        if reason is None:
            assert row["status"] == "ok" and row["error"] == "", (name, row["error"])
        else:
            assert row["status"] == "failed" and reason in row["error"] and row["label"] == "", (name, row["error"])
    assert listed["3/good.wav"]["truth"] == "3" and listed["3/good.wav"]["label"] in [str(d) for d in range(10)]
    assert json.loads(listed["nan.wav"]["drops"]) == {"nonfinite_samples": 10}
    assert json.loads(listed["cut.wav"]["drops"])["missing_samples"] > 0
    summary = json.loads((tmp_path / "mixed.summary.json").read_text())
    assert (summary["done"], summary["failed"], summary["skipped"]) == (3, 5, 0)
    assert "files/s" in stderr and "audio-s/s" in stderr and "\r" not in stderr and "5 failed" in stderr


def test_sigkill_mid_run_then_rerun_gives_the_same_bytes(tmp_path, fsdd_dir):
    """SIGKILL the command (and its workers) mid-run, cut its journal's last line in half, rerun: the output
    is byte for byte the one of an uninterrupted run."""
    inputs = [str(fsdd_dir / "*_[5-6].wav")]  # a quoted glob: 100 files, expanded by the listing
    out = tmp_path / "killed.jsonl"
    command = SPIKESTREAM + ["batch", *inputs, "--out", str(out), "--workers", "2", "--batch-size", "2", "--quiet"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, start_new_session=True, stderr=subprocess.PIPE)
    journal = tmp_path / "killed.jsonl.job" / "rows.jsonl"
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not (journal.is_file() and journal.stat().st_size > 20_000):
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = journal.read_bytes()
    assert 0 < written.count(b"\n") < 100 and not out.exists()
    with open(journal, "ab") as stream:  # power lost in the middle of an append
        stream.write(b'{"index": 99999, "path": "half a li')
    rerun = subprocess.run(command[:-1], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    resumed = json.loads((tmp_path / "killed.summary.json").read_text())
    assert resumed["skipped"] == written.count(b"\n") and resumed["done"] + resumed["skipped"] == 100
    clean = tmp_path / "clean.jsonl"
    batch(clean, inputs)
    assert out.read_bytes() == clean.read_bytes()
    rows = read_rows(out)
    assert [row["index"] for row in rows] == list(range(100)) and len({row["path"] for row in rows}) == 100
    assert json.loads((tmp_path / "clean.summary.json").read_text())["confusion"] == resumed["confusion"]
    again = batch(out, inputs)  # the same job again: complete, nothing to do
    assert (again["done"], again["skipped"]) == (0, 100) and out.read_bytes() == clean.read_bytes()


def hanging_inputs(tmp_path: Path, fsdd_dir: Path) -> list[str]:
    fifo = tmp_path / "hangs.wav"
    os.mkfifo(fifo)  # open() blocks until a writer comes: a decoder that hangs
    return [str(fsdd_dir / "0_lucas_1.wav"), str(fifo), str(fsdd_dir / "9_nicolas_2.wav"), str(fsdd_dir / "7_*_0.wav")]


def test_a_hanging_file_times_out_and_the_others_finish(tmp_path, fsdd_dir):
    """Local engine: the worker stuck on a FIFO is killed after --timeout-s and replaced; order is kept."""
    started = time.monotonic()
    summary = batch(tmp_path / "local.jsonl", hanging_inputs(tmp_path, fsdd_dir), timeout_s=2.0)
    assert time.monotonic() - started < 60
    rows = read_rows(tmp_path / "local.jsonl")
    assert [row["status"] for row in rows] == ["ok", "failed"] + ["ok"] * 6
    assert rows[1]["error"] == "timed out: decoding took longer than 2 s (--timeout-s)"
    assert summary["failed"] == 1 and summary["done"] == 7


def test_ray_engine_writes_the_same_rows(tmp_path, fsdd_dir):
    """A local Ray started for the job (2 CPUs, no dashboard): same bytes as the local engine, the hanging
    file stopped by the in-task alarm."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    inputs = hanging_inputs(tmp_path, fsdd_dir) + [str(fsdd_dir / "2_george_3.wav")]
    batch(tmp_path / "local.jsonl", inputs, timeout_s=2.0)
    summary = batch(tmp_path / "ray.jsonl", inputs, timeout_s=2.0, engine="ray")
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert summary["engine"] == "ray" and summary["failed"] == 1 and summary["done"] == 8


def test_listing_is_streamed_and_ordered(tmp_path):
    """100,000 listed paths (a list file) and a 4,000-file tree are walked in bounded memory, in order."""
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"/data/{i // 1000:03d}/{i % 10}_speaker_{i}.wav\n" for i in range(100_000)))
    tracemalloc.start()
    count = sum(1 for _ in iter_inputs([], listed, (".wav",), [str(d) for d in range(10)]))
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 100_000 and peak_bytes < 1_000_000
    for folder in range(40):
        (tmp_path / "tree" / f"{folder:02d}").mkdir(parents=True)
        for index in range(100):
            (tmp_path / "tree" / f"{folder:02d}" / f"{index:03d}.wav").touch()
    tracemalloc.start()
    items = iter_inputs([str(tmp_path / "tree")], None, (".wav",), [])
    first = next(items)
    count = 1 + sum(1 for _ in items)
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert first.path.endswith("00/000.wav") and first.index == 0 and count == 4000
    assert peak_bytes < 200_000  # one directory's names at a time, never the tree's
    globbed = [item.path for item in iter_inputs([str(tmp_path / "tree" / "0[12]" / "00?.wav")], None, (), [])]
    assert globbed == [str(tmp_path / "tree" / f"0{d}" / f"00{i}.wav") for d in (1, 2) for i in range(10)]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["batch", "--out", "{tmp}/r.jsonl"], "at least one INPUT"),
        (["batch", "{tmp}/missing.wav", "--out", "{tmp}/r.jsonl"], "no such file or folder"),
        (["batch", "{fsdd}", "--out", "{tmp}/r.txt"], "expected a file name ending in .jsonl"),
        (["batch", "{fsdd}", "--out", "{tmp}/no/such/folder/r.jsonl"], "does not exist"),
        (["batch", "{fsdd}", "--out", "{tmp}/r.jsonl", "--model", "no-such-model"], "no model 'no-such-model'"),
        (["batch", "{fsdd}", "--out", "{tmp}/r.jsonl", "--address", "auto"], "--address is for --engine ray"),
        (["batch", "{fsdd}", "--out", "{tmp}/r.jsonl", "--files-from", "{tmp}/nothing.txt"], "--files-from"),
        (["batch", "{fsdd}", "--out", "{tmp}/exists.jsonl"], "exists and was not written by a batch job"),
        (["batch", "{fsdd}/*.flac", "--out", "{tmp}/r.jsonl"], "the glob matches no file"),
        (["batch", "{tmp}/empty", "{fsdd}", "--out", "{tmp}/r.jsonl"], "a folder with no file ending in .wav"),
        (["batch", "{fsdd}", "--out", "{tmp}/r.jsonl", "--files-from", "{tmp}/empty.txt"], "the list is empty"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, fsdd_dir, capsys, arguments, message):
    (tmp_path / "exists.jsonl").write_text("someone else's\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.txt").write_text("\n")
    argv = [a.format(tmp=tmp_path, fsdd=fsdd_dir) for a in arguments]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()  # refused before any output


@pytest.mark.parametrize(
    "option", [["--workers", "0"], ["--timeout-s", "-1"], ["--batch-size", "nan"], ["--engine", "spark"]]
)
def test_bad_options_are_refused_by_the_parser(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "x.wav", "--out", str(tmp_path / "r.jsonl"), *option])
    assert exit_info.value.code == 2 and option[0] in capsys.readouterr().err


def test_a_job_with_other_options_does_not_resume_into_the_same_output(tmp_path, fsdd_dir, capsys):
    files = [str(fsdd_dir / "4_yweweler_4.wav")]
    batch(tmp_path / "r.jsonl", files)
    assert main(["batch", *files, "--out", str(tmp_path / "r.jsonl"), "--pad", "--quiet"]) == 2
    assert "belongs to another job" in capsys.readouterr().err
    assert read_rows(tmp_path / "r.jsonl")[0]["path"] == files[0]
