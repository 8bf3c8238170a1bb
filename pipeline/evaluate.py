"""Evaluation through the streaming pipeline (``spikestream evaluate``).

Every clip is streamed on its own through the same runtime as live input (front end → model
with persistent state → decision), padded with silence before and after, as fast as possible.
The prediction is the first detection's label, or ``none`` when nothing was detected. Writes
``metrics.json`` (accuracy, per-class recall, detections per clip, latency) and
``confusion.png`` / the confusion matrix as JSON.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..models.checkpoint import LoadedModel
from ..sources.audio.audio_file import read_audio
from ..sources.audio.labelled_clips import LabelledClip, list_labelled_clips, split_by_take
from .runtime import StreamingClassifier, run_stream
from .streams import AUDIO_BLOCK_MS, make_classifier, padded_audio_chunks

NO_DETECTION = "none"


@dataclass
class ClipResult:
    path: str
    truth: str
    predicted: str
    detections: int
    score: float


def evaluation_clips(data_dir: str | Path, split: str) -> list[LabelledClip]:
    """``split``: ``test`` (FSDD takes 0–4 when names carry takes, else all), ``train`` or ``all``."""
    clips = list_labelled_clips(data_dir)
    train, test = split_by_take(clips)
    if split == "all" or (split == "test" and not test):
        return clips
    return test if split == "test" else train


def stream_clip(
    loaded: LoadedModel, samples: np.ndarray, source_name: str, lead_s: float = 0.3, tail_s: float = 0.7, classifier: StreamingClassifier | None = None
):
    """Run one clip through the streaming pipeline (``classifier``: the checkpoint's own by default); returns its :class:`RunReport`."""
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    classifier = classifier or make_classifier(loaded, source_name)
    return run_stream(padded_audio_chunks(samples, rate, AUDIO_BLOCK_MS, lead_s, tail_s), classifier, sinks=[])


def evaluate_audio(loaded: LoadedModel, clips: list[LabelledClip], out_dir: str | Path | None = None) -> dict:
    """Stream every clip, return the metrics (and write them under ``out_dir`` when given)."""
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    results = []
    for clip in tqdm(clips, desc="evaluating (streaming)", file=sys.stderr):
        report = stream_clip(loaded, read_audio(clip.path, rate), clip.path.name)
        first = report.detections[0] if report.detections else None
        results.append(
            ClipResult(str(clip.path), clip.label, first.label if first else NO_DETECTION, len(report.detections), first.score if first else 0.0)
        )
    labels = [label for label in loaded.labels[1:]]
    metrics = summarise(results, labels)
    metrics["model"] = str(loaded.path)
    if out_dir is not None:
        write_report(metrics, results, Path(out_dir))
    return metrics


def summarise(results: list[ClipResult], labels: list[str]) -> dict:
    columns = labels + [NO_DETECTION]
    confusion = np.zeros((len(labels), len(columns)), dtype=np.int64)
    for result in results:
        if result.truth in labels:
            confusion[labels.index(result.truth), columns.index(result.predicted) if result.predicted in columns else -1] += 1
    correct = sum(result.truth == result.predicted for result in results)
    detections_per_clip = Counter(result.detections for result in results)
    return {
        "clips": len(results),
        "accuracy": correct / max(len(results), 1),
        "missed": sum(result.predicted == NO_DETECTION for result in results),
        "clips_with_more_than_one_detection": sum(result.detections > 1 for result in results),
        "detections_per_clip": {str(k): v for k, v in sorted(detections_per_clip.items())},
        "per_class_recall": {label: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, label in enumerate(labels)},
        "confusion": {"rows_truth": labels, "columns_predicted": columns, "counts": confusion.tolist()},
    }


def write_report(metrics: dict, results: list[ClipResult], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(out_dir / "predictions.jsonl", "w", encoding="utf-8") as stream:
        for result in results:
            stream.write(json.dumps(result.__dict__) + "\n")
    confusion = np.array(metrics["confusion"]["counts"])
    figure, axes = plt.subplots(figsize=(1 + 0.55 * confusion.shape[1], 1 + 0.5 * confusion.shape[0]))
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(confusion.shape[1]), metrics["confusion"]["columns_predicted"], rotation=45)
    axes.set_yticks(range(confusion.shape[0]), metrics["confusion"]["rows_truth"])
    for (row, column), count in np.ndenumerate(confusion):
        if count:
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color="black" if count < confusion.max() / 2 else "white")
    axes.set_xlabel("predicted (first detection)")
    axes.set_ylabel("true label")
    axes.set_title(f"streaming accuracy {metrics['accuracy']:.3f} on {metrics['clips']} clips")
    figure.tight_layout()
    figure.savefig(out_dir / "confusion.png", dpi=100)
    plt.close(figure)
