"""Simulated saccades against the real camera, and the ``nmnist`` model on real recordings.

Part 1, realism (the baseline is the real camera: every figure is simulated / real, same run). The
100 real N-MNIST recordings of ``../shared/data/dvs/nmnist_small`` beside the simulator
(:mod:`spikestream.sources.events.simulation.saccades`) run on the first 100 MNIST images (other
digits: N-MNIST's training images are not in the MNIST test set), once with the nominal settings and
once with the randomised spread the model trains on: events per recording, ON share, events per
10 ms, per-saccade spatial spread (standard deviation of x and y) and per-saccade centroid motion.
``bench/results/saccades.png`` shows both side by side: a real and a simulated recording of the same
digit class per saccade, and the event rate over time.

Part 2, accuracy: the checkpoint (default: the shipped ``nmnist``) streamed through the pipeline
(``evaluate``) on the real recordings and on simulated held-out digits, beside a non-spiking
baseline trained in this run on the same simulated digits: logistic regression on each recording's
ON/OFF count image (``--baseline-train`` images).

Writes ``bench/results/saccades.json``; about 4 minutes on one core.
Run: ``.venv/bin/python bench/bench_saccades.py [--model nmnist] [--baseline-train 2000]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spikestream.models.checkpoint import load_checkpoint
from spikestream.pipeline.training.evaluate import LabelledInput, evaluate_folder, evaluate_inputs
from spikestream.pipeline.training.saccade_digits import HELD_OUT_SEED
from spikestream.sources.events.chunking import slice_span
from spikestream.sources.events.formats.dispatch import open_recording
from spikestream.sources.events.simulation.saccades import SaccadeConfig, SaccadeDigits, SaccadeRandomisation
from spikestream.sources.images.mnist import SHARED_MNIST_DIR, mnist_split

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "dvs" / "nmnist_small"
RESULTS = REPO / "bench" / "results"
BIN_US = 10_000
SACCADES_US = ((0, 100_000), (100_000, 205_000), (205_000, 310_000))  # windows of the three real saccades


def real_recordings() -> tuple[list[np.ndarray], list[int]]:
    paths = sorted(REAL.glob("*/*.bin"))
    return [open_recording(path).read_all() for path in paths], [int(path.parent.name) for path in paths]


def recording_statistics(recordings: list[np.ndarray]) -> dict:
    """Means over recordings: events, ON share, events per 10 ms bin, per-saccade spread and centroid."""
    bins = np.arange(0, SACCADES_US[-1][1] + 1, BIN_US)
    rates, spreads, centroids = [], [], []
    for events in recordings:
        t_us = events["t"] - events["t"][0]
        rates.append(np.histogram(t_us, bins)[0])
        per_saccade_spread, per_saccade_centroid = [], []
        for start, end in SACCADES_US:
            inside = events[(t_us >= start) & (t_us < end)]
            xy = np.stack([inside["x"], inside["y"]]).astype(float) if len(inside) else np.zeros((2, 1))
            per_saccade_spread.append(xy.std(axis=1))
            per_saccade_centroid.append(xy.mean(axis=1) - [events["x"].mean(), events["y"].mean()])
        spreads.append(per_saccade_spread)
        centroids.append(per_saccade_centroid)
    return {
        "recordings": len(recordings),
        "events_per_recording": float(np.mean([len(events) for events in recordings])),
        "events_per_recording_std": float(np.std([len(events) for events in recordings])),
        "on_share": float(np.mean([events["p"].mean() for events in recordings])),
        "duration_ms": float(np.mean([(events["t"][-1] - events["t"][0]) / 1000 for events in recordings])),
        "events_per_10ms": np.mean(rates, axis=0).round(1).tolist(),
        "spread_px_per_saccade_xy": np.mean(spreads, axis=0).round(2).tolist(),
        "centroid_px_per_saccade_xy": np.mean(centroids, axis=0).round(2).tolist(),
    }


def ratios(simulated: dict, real: dict) -> dict:
    """simulated / real for the scalar figures and the per-saccade spreads."""
    return {
        "events_per_recording": simulated["events_per_recording"] / real["events_per_recording"],
        "on_share": simulated["on_share"] / real["on_share"],
        "spread_px_per_saccade_xy": (
            np.array(simulated["spread_px_per_saccade_xy"]) / np.array(real["spread_px_per_saccade_xy"])
        )
        .round(3)
        .tolist(),
    }


def count_image(events: np.ndarray) -> np.ndarray:
    """``[2 * 34 * 34]`` float32: log(1 + ON/OFF counts) of a recording."""
    image = np.zeros((2, 34, 34), np.float32)
    np.add.at(image, (events["p"].astype(np.int64).clip(0, 1), events["y"], events["x"]), 1.0)
    return np.log1p(image).ravel()


def train_baseline(train: SaccadeDigits) -> torch.nn.Linear:
    """Logistic regression on count images of simulated digits (full-batch Adam, 300 steps)."""
    features = torch.from_numpy(np.stack([count_image(train[i][0]) for i in range(len(train))]))
    labels = torch.from_numpy(train.labels)
    torch.manual_seed(0)  # the same baseline every run
    model = torch.nn.Linear(features.shape[1], 10)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(features), labels).backward()
        optimiser.step()
    return model


def baseline_accuracy(model: torch.nn.Linear, recordings: list[np.ndarray], labels: list[int]) -> float:
    with torch.no_grad():
        features = torch.from_numpy(np.stack([count_image(events) for events in recordings]))
        return float((model(features).argmax(1).numpy() == np.asarray(labels)).mean())


def draw_comparison(real: list[np.ndarray], real_labels: list[int], simulated: list[np.ndarray], sim_labels, stats):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 4, figsize=(11, 8))
    for row, (name, recordings, labels) in enumerate(
        (("real", real, real_labels), ("simulated", simulated, list(sim_labels)))
    ):
        index = labels.index(3) if 3 in labels else 0
        events = recordings[index]
        t_us = events["t"] - events["t"][0]
        for column, (start, end) in enumerate(SACCADES_US):
            inside = events[(t_us >= start) & (t_us < end)]
            image = np.zeros((34, 34))
            np.add.at(image, (inside["y"], inside["x"]), np.where(inside["p"] > 0, 1.0, -1.0))
            axes[row, column].imshow(image, cmap="bwr", vmin=-4, vmax=4)
            axes[row, column].set_title(f"{name} '{labels[index]}', saccade {column + 1}", fontsize=9)
            axes[row, column].axis("off")
        axes[row, 3].axis("off")
        axes[row, 3].text(
            0,
            0.5,
            f"{name}\n{stats[name]['events_per_recording']:.0f} events/recording\n"
            f"ON share {stats[name]['on_share']:.3f}\nspread (x, y) per saccade\n"
            + "\n".join(f"  {x:.2f}, {y:.2f}" for x, y in stats[name]["spread_px_per_saccade_xy"]),
            fontsize=9,
        )
    for unused in axes[2]:
        unused.remove()
    rate_axes = figure.add_subplot(3, 1, 3)
    centres_ms = np.arange(len(stats["real"]["events_per_10ms"])) * 10 + 5
    for name in ("real", "simulated", "simulated_randomised"):
        rate_axes.plot(centres_ms, stats[name]["events_per_10ms"], label=name)
    rate_axes.set_xlabel("time in the recording (ms)")
    rate_axes.set_ylabel("events per 10 ms (mean)")
    rate_axes.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "saccades.png", dpi=90)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nmnist")
    parser.add_argument("--baseline-train", type=int, default=2000)
    parser.add_argument("--held-out", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    real, real_labels = real_recordings()
    (train_images, train_labels), (test_images, test_labels) = mnist_split(SHARED_MNIST_DIR)
    nominal = SaccadeDigits(train_images[:100], train_labels[:100], seed=1)
    randomised = SaccadeDigits(train_images[:100], train_labels[:100], seed=1, spread=SaccadeRandomisation())
    simulated = [nominal[i][0] for i in range(len(nominal))]
    stats = {
        "real": recording_statistics(real),
        "simulated": recording_statistics(simulated),
        "simulated_randomised": recording_statistics([randomised[i][0] for i in range(len(randomised))]),
    }
    draw_comparison(real, real_labels, simulated, nominal.labels.tolist(), stats)
    baseline = train_baseline(
        SaccadeDigits(
            train_images[: args.baseline_train], train_labels[: args.baseline_train], 0, spread=SaccadeRandomisation()
        )
    )
    held = SaccadeDigits(
        test_images[: args.held_out], test_labels[: args.held_out], HELD_OUT_SEED, spread=SaccadeRandomisation()
    )
    held_recordings = [held[i][0] for i in range(len(held))]
    loaded = load_checkpoint(args.model)
    real_metrics = evaluate_folder(loaded, REAL, "all")
    held_inputs = [
        held_input(index, events, int(label)) for index, (events, label) in enumerate(zip(held_recordings, held.labels))
    ]
    held_metrics = evaluate_inputs(loaded, held_inputs, [str(digit) for digit in range(10)])
    accuracy = {
        "model": args.model,
        "real_nmnist_small": {"snn_streaming": real_metrics["accuracy"], "clips": real_metrics["clips"]},
        "simulated_held_out": {"snn_streaming": held_metrics["accuracy"], "clips": held_metrics["clips"]},
        "baseline": f"logistic regression on ON/OFF count images of {args.baseline_train} simulated digits",
    }
    accuracy["real_nmnist_small"]["baseline"] = baseline_accuracy(baseline, real, real_labels)
    accuracy["simulated_held_out"]["baseline"] = baseline_accuracy(baseline, held_recordings, held.labels.tolist())
    for part in ("real_nmnist_small", "simulated_held_out"):
        accuracy[part]["snn_over_baseline"] = accuracy[part]["snn_streaming"] / max(accuracy[part]["baseline"], 1e-9)
    result = {
        "benchmark": "bench_saccades",
        "baseline_for_realism": "the real ATIS recordings of nmnist_small (ratios are simulated / real)",
        "statistics": stats,
        "simulated_over_real": ratios(stats["simulated"], stats["real"]),
        "randomised_over_real": ratios(stats["simulated_randomised"], stats["real"]),
        "simulator": SaccadeConfig().to_dict(),
        "accuracy": accuracy,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "saccades.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratios": result["simulated_over_real"], "accuracy": accuracy}, indent=2))
    return 0


def held_input(index: int, events: np.ndarray, label: int) -> LabelledInput:
    """A simulated recording (starting at t = 0) as an evaluator input, streamed as replay would."""
    return LabelledInput(f"simulated-{index}", str(label), lambda: slice_span(events, 0, int(events["t"][-1]) + 1))


if __name__ == "__main__":
    sys.exit(main())
