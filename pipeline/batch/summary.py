"""What a batch job reports at the end: files done / failed / skipped, class counts, accuracy and confusion.

Counts are accumulated row by row (memory does not grow with the number of files); rows kept from
an earlier run are counted too, so the summary of a resumed job equals an uninterrupted one's, apart
from ``done`` / ``skipped`` and the timings. Accuracy follows the evaluator: a file's prediction is
its first detection's label (``none`` when nothing fired), over the files whose true label was read
from their name or folder; the confusion matrix has the evaluator's keys (``rows_truth``,
``columns_predicted``, ``counts``) and is drawn as ``<out stem>.confusion.png``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .results import write_atomically
from .rows import NO_DETECTION


@dataclass
class BatchSummary:
    """Running counts of one job; ``labels``: the model's class names without the background."""

    labels: list[str]
    done: int = 0
    failed: int = 0
    skipped: int = 0
    ok_total: int = 0
    failed_total: int = 0
    audio_s: float = 0.0
    class_counts: Counter = field(default_factory=Counter)
    failure_reasons: Counter = field(default_factory=Counter)
    pairs: Counter = field(default_factory=Counter)  # (truth, predicted) of labelled ok rows

    def add(self, row: dict, from_earlier_run: bool = False) -> None:
        """Count one row (``from_earlier_run``: kept from the journal, so skipped now)."""
        if from_earlier_run:
            self.skipped += 1
        if row["status"] == "ok":
            self.ok_total += 1
            self.done += not from_earlier_run
            self.audio_s += row["duration_s"] or 0.0
            self.class_counts[row["label"]] += 1
            if row["truth"] is not None:
                self.pairs[(row["truth"], row["label"])] += 1
        else:
            self.failed_total += 1
            self.failed += not from_earlier_run
            self.failure_reasons[row["error"].split(":")[0][:60] if ":" in row["error"] else row["error"][:60]] += 1

    def confusion(self) -> dict | None:
        """The evaluator's confusion form, or ``None`` without labelled files."""
        if not self.pairs:
            return None
        columns = self.labels + [NO_DETECTION]
        counts = np.zeros((len(self.labels), len(columns)), dtype=np.int64)
        for (truth, predicted), count in self.pairs.items():
            counts[self.labels.index(truth), columns.index(predicted) if predicted in columns else -1] += count
        return {"rows_truth": self.labels, "columns_predicted": columns, "counts": counts.tolist()}

    def to_dict(self, about: dict) -> dict:
        labelled = sum(self.pairs.values())
        correct = sum(count for (truth, predicted), count in self.pairs.items() if truth == predicted)
        confusion = self.confusion()
        values = {
            "files": self.ok_total + self.failed_total,
            "ok": self.ok_total,
            "failed_total": self.failed_total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "audio_s": round(self.audio_s, 3),
            "class_counts": dict(sorted(self.class_counts.items())),
            "failure_reasons": dict(sorted(self.failure_reasons.items())),
            "labelled_files": labelled,
            "accuracy": correct / labelled if labelled else None,
            "missed": sum(count for (_, predicted), count in self.pairs.items() if predicted == NO_DETECTION),
            "confusion": confusion,
        }
        values.update(about)
        return values

    def line(self) -> str:
        accuracy = ""
        labelled = sum(self.pairs.values())
        if labelled:
            correct = sum(count for (truth, predicted), count in self.pairs.items() if truth == predicted)
            accuracy = f"; accuracy {correct / labelled:.4f} on {labelled} labelled files"
        top = ", ".join(f"{label} {count}" for label, count in sorted(self.class_counts.items()))
        return (
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped (already in the output); "
            f"classes: {top or '-'}{accuracy}"
        )


def summary_paths(out: Path) -> tuple[Path, Path]:
    """``<stem>.summary.json`` and ``<stem>.confusion.png`` beside ``out``."""
    return out.with_name(out.stem + ".summary.json"), out.with_name(out.stem + ".confusion.png")


def write_summary(values: dict, out: Path) -> None:
    """The summary JSON and, with labelled files, the confusion matrix PNG (both replaced atomically)."""
    json_path, png_path = summary_paths(out)
    write_atomically(json_path, json.dumps(values, indent=2) + "\n")
    if values.get("confusion"):
        draw_confusion(values["confusion"], values["accuracy"], values["labelled_files"], png_path)


def draw_confusion(confusion: dict, accuracy: float, files: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(confusion["counts"])
    figure, axes = plt.subplots(figsize=(1 + 0.55 * counts.shape[1], 1 + 0.5 * counts.shape[0]))
    axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(counts.shape[1]), confusion["columns_predicted"], rotation=45)
    axes.set_yticks(range(counts.shape[0]), confusion["rows_truth"])
    for (row, column), count in np.ndenumerate(counts):
        if count:
            colour = "black" if count < counts.max() / 2 else "white"
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    axes.set_xlabel("predicted (first detection)")
    axes.set_ylabel("true label")
    axes.set_title(f"batch accuracy {accuracy:.3f} on {files} files")
    figure.tight_layout()
    temporary = path.with_name(path.stem + ".tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
