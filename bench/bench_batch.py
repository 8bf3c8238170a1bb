"""Batch throughput on FSDD: `spikestream batch` against a naive loop and the project's own `evaluate`.

Baselines, measured in the same run on the same files:

* naive loop: ``librosa.load`` + ``librosa.feature.mfcc`` + standardise + one network call per file
  (the whole clip as one ``[T, 1, 1, 20]`` sequence), one process, one torch thread; and the same
  loop with each clip framed by the front end's lead and tail silence (the network work of a batch
  row: 0.3 s + 0.7 s around a 0.45 s clip), each with the accuracy of its summed-logit argmax;
* ``evaluate`` with ``--no-padding`` (every file streamed on its own in 80 ms chunks, one process).

Then the batch engines: local with ``--workers 1`` and ``2``, Ray on 2 CPUs (its overhead against
local), the same job and both naive loops with the small ``fsdd-digits-nir`` model (``small_model``),
the cost from 250 to 2,500 (and, with ``--scaling``, 25,000 files by repeating the list), and the
peak memory of listing 100,000 files. Writes ``bench/results/batch.json``.

    .venv/bin/python bench/bench_batch.py [--files 2500] [--scaling] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FSDD = REPO_ROOT.parent / "shared" / "data" / "fsdd"
RESULTS = REPO_ROOT / "bench" / "results" / "batch.json"
MODEL = "fsdd-digits"
SMALL_MODEL = "fsdd-digits-nir"  # one member of 24/32/48 channels: about a fifth of the digits model's work per step


def naive_loop(files: list[str], framed: bool = False, model: str = MODEL) -> dict:
    """librosa.load + librosa.feature.mfcc + one model call per file, in this process; accuracy of the
    argmax of the summed logits. ``framed``: each clip between the front end's lead and tail silence
    (what the streaming model runs per file, 0.3 s + 0.7 s for the digits), the same network work as
    a batch row."""
    import librosa
    import numpy as np
    import torch

    from spikestream.models.checkpoint import load_checkpoint
    from spikestream.sources.audio.front_end import AudioFrontEndConfig

    torch.set_num_threads(1)
    loaded = load_checkpoint(model)
    front_end = loaded.config["front_end"]
    mfcc = front_end["mfcc"]
    mean = np.asarray(front_end["feature_mean"], np.float32)[:, None]
    std = np.asarray(front_end["feature_std"], np.float32)[:, None]
    network = loaded.model.eval()
    silence = AudioFrontEndConfig.from_dict(front_end)  # its lead and tail (defaults where the checkpoint has none)
    lead = np.zeros(int(mfcc["sample_rate_hz"] * silence.lead_silence_ms / 1000), np.float32)
    tail = np.zeros(int(mfcc["sample_rate_hz"] * silence.tail_silence_ms / 1000), np.float32)

    def predict(path: str) -> tuple[int, float]:
        """(predicted label index, seconds of audio) of one file."""
        samples, rate_hz = librosa.load(path, sr=mfcc["sample_rate_hz"])
        duration_s = samples.size / rate_hz
        if framed:
            samples = np.concatenate([lead, samples, tail])
        features = librosa.feature.mfcc(
            y=samples,
            sr=rate_hz,
            n_mfcc=mfcc["n_mfcc"],
            n_fft=mfcc["n_fft"],
            hop_length=int(rate_hz * mfcc["hop_ms"] / 1000),
            n_mels=mfcc["n_mels"],
            fmin=mfcc["fmin_hz"],
        )
        steps = torch.from_numpy(np.clip(((features - mean) / std).T * 0.25 + 0.5, 0, 1)).float()
        logits, _ = network(steps[:, None, None, :])
        return int(logits[:, 0, 1:].sum(0).argmax()) + 1, duration_s

    with torch.no_grad():
        predict(files[0])  # warm-up outside the clock: the compiled neuron loops and librosa's caches
        started = time.perf_counter()
        audio_s = 0.0
        predictions = []
        for path in files:
            prediction, duration_s = predict(path)
            predictions.append(prediction)
            audio_s += duration_s
    wall_s = time.perf_counter() - started
    truths = [loaded.labels.index(Path(path).name.split("_")[0]) for path in files]
    return {
        "files": len(files),
        "framed_by_silence": framed,
        "wall_s": round(wall_s, 2),
        "files_per_s": round(len(files) / wall_s, 1),
        "audio_s_per_s": round(audio_s / wall_s, 1),
        "audio_s": round(audio_s, 1),
        "accuracy": round(sum(p == t for p, t in zip(predictions, truths)) / len(files), 4),
    }


def evaluate_no_padding(files: list[str]) -> dict:
    """The project's evaluator (`evaluate --no-padding`) on the same files, in this process."""
    import torch

    from spikestream.models.checkpoint import load_checkpoint
    from spikestream.pipeline.training.evaluate import evaluate_audio
    from spikestream.sources.labelled_clips import LabelledClip

    torch.set_num_threads(1)
    loaded = load_checkpoint(MODEL)
    clips = [LabelledClip(Path(path), Path(path).name.split("_")[0]) for path in files]
    started = time.perf_counter()
    metrics = evaluate_audio(loaded, clips, None, pad=False)
    wall_s = time.perf_counter() - started
    return {
        "files": len(files),
        "wall_s": round(wall_s, 2),
        "files_per_s": round(len(files) / wall_s, 1),
        "accuracy": metrics["accuracy"],
    }


def batch_run(list_file: Path, out: Path, engine: str, workers: int, model: str = MODEL) -> dict:
    """`spikestream batch --files-from LIST` in a subprocess; its summary plus the command's own wall time."""
    command = [
        sys.executable,
        "-m",
        "spikestream.pipeline.cli",
        "batch",
        "--files-from",
        str(list_file),
        "--out",
        str(out),
        "--engine",
        engine,
        "--workers",
        str(workers),
        "--model",
        model,
        "--quiet",
        "--overwrite",
    ]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, env=env)
    command_s = time.perf_counter() - started
    summary = json.loads(out.with_name(out.stem + ".summary.json").read_text())
    keys = ("files", "failed_total", "accuracy", "wall_s", "start_up_s", "files_per_s", "audio_s_per_s", "audio_s")
    return {
        **{key: summary[key] for key in keys},
        "command_s": round(command_s, 2),
        "engine": engine,
        "workers": workers,
    }


LISTING_PROBE = """
import sys, tracemalloc
from pathlib import Path
from spikestream.pipeline.batch.listing import iter_inputs
tracemalloc.start()
if sys.argv[2] == "streamed":
    count = sum(1 for _ in iter_inputs([sys.argv[1]], None, (".wav",), [str(d) for d in range(10)]))
else:
    count = len(sorted(path for path in Path(sys.argv[1]).rglob("*") if path.suffix == ".wav" and path.is_file()))
print(count, tracemalloc.get_traced_memory()[1])
"""


def listing_memory(files: list[str], folder: Path, count: int = 100_000) -> dict:
    """Peak Python memory (MiB, tracemalloc) of listing ``count`` files (hard links in 100 folders of 1,000):
    the streamed listing against a sorted list of paths, each in a fresh process."""
    for index in range(count):
        sub = folder / f"{index // 1000:03d}"
        if index % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        os.link(files[index % len(files)], sub / f"{index % 10}_s_{index}.wav")
    result = {"files": count}
    for mode in ("streamed", "materialised"):
        started = time.perf_counter()
        output = subprocess.run(
            [sys.executable, "-c", LISTING_PROBE, str(folder), mode],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        listed, peak_bytes = map(int, output)
        assert listed == count
        result[mode] = {"peak_mib": round(peak_bytes / 2**20, 2), "wall_s": round(time.perf_counter() - started, 2)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2500, help="FSDD files of the main comparison")
    parser.add_argument("--scaling", action="store_true", help="also 25,000 files (the list repeated)")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--listing-only", action="store_true", help="only the 100,000-file listing (into the JSON)")
    args = parser.parse_args()
    files = sorted(str(path) for path in FSDD.glob("*.wav"))[: args.files]
    if args.listing_only:
        results = json.loads(RESULTS.read_text())
        with tempfile.TemporaryDirectory() as temporary:
            results["listing_100k"] = listing_memory(files, Path(temporary) / "tree")
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results["listing_100k"], indent=2))
        return
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "files": len(files),
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)

        def list_of(paths: list[str], name: str) -> Path:
            path = folder / name
            path.write_text("".join(p + "\n" for p in paths))
            return path

        main_list = list_of(files, "main.txt")
        if not args.skip_baselines:
            results["naive_loop"] = naive_loop(files)
            print("naive loop", results["naive_loop"], file=sys.stderr)
            results["naive_loop_framed"] = naive_loop(files, framed=True)
            print("naive loop, clips framed by silence", results["naive_loop_framed"], file=sys.stderr)
            results["evaluate_no_padding"] = evaluate_no_padding(files)
            print("evaluate", results["evaluate_no_padding"], file=sys.stderr)
        for workers in (1, 2):
            results[f"batch_local_workers_{workers}"] = batch_run(main_list, folder / "local.jsonl", "local", workers)
            print("batch local", workers, results[f"batch_local_workers_{workers}"], file=sys.stderr)
        if not args.no_ray:
            results["batch_ray_workers_2"] = batch_run(main_list, folder / "ray.jsonl", "ray", 2)
            print("batch ray", results["batch_ray_workers_2"], file=sys.stderr)
            same = (folder / "ray.jsonl").read_bytes() == (folder / "local.jsonl").read_bytes()
            results["ray_rows_equal_local"] = same
        small: dict = {"model": SMALL_MODEL}
        if not args.skip_baselines:
            small["naive_loop"] = naive_loop(files, model=SMALL_MODEL)
            small["naive_loop_framed"] = naive_loop(files, framed=True, model=SMALL_MODEL)
        small["batch_local_workers_2"] = batch_run(main_list, folder / "small.jsonl", "local", 2, SMALL_MODEL)
        if "naive_loop" in small:
            for baseline in ("naive_loop", "naive_loop_framed"):
                ratio = small["batch_local_workers_2"]["files_per_s"] / small[baseline]["files_per_s"]
                small[f"speedup_vs_{baseline}"] = round(ratio, 2)
        results["small_model"] = small
        print("small model", small, file=sys.stderr)
        scaling = {len(files): results["batch_local_workers_2"]}
        scaling[250] = batch_run(list_of(files[:250], "250.txt"), folder / "s250.jsonl", "local", 2)
        if args.scaling:
            scaling[10 * len(files)] = batch_run(list_of(files * 10, "x10.txt"), folder / "x10.jsonl", "local", 2)
        results["scaling_local_workers_2"] = {str(count): scaling[count] for count in sorted(scaling)}
        results["listing_100k"] = listing_memory(files, folder / "tree")
        print("listing", results["listing_100k"], file=sys.stderr)
    best = max((results[f"batch_local_workers_{w}"] for w in (1, 2)), key=lambda run: run["files_per_s"])
    results["best_local"] = f"workers {best['workers']}"
    if "naive_loop" in results:
        results["speedup_vs_naive_loop"] = round(best["files_per_s"] / results["naive_loop"]["files_per_s"], 2)
        results["speedup_vs_naive_loop_framed"] = round(
            best["files_per_s"] / results["naive_loop_framed"]["files_per_s"], 2
        )
        results["speedup_vs_evaluate"] = round(best["files_per_s"] / results["evaluate_no_padding"]["files_per_s"], 2)
    results["real_time_factor_x"] = best["audio_s_per_s"]
    results["peak_rss_self_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
