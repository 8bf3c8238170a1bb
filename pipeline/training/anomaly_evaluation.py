"""Evaluating an autoencoder as an anomaly detector (``spikestream evaluate --normal DIR --anomalous DIR``).

Every file of both folders is streamed on its own through the same front end, network and
persistent state as live input (audio clips of any format and rate are resampled once at the
source; event recordings are framed). A file's anomaly score is its reconstruction MSE over the
whole stream. Reported: MSE and nRMSE = RMSE(X, X̂) / σ_X per set, AUROC and the ROC curve (PNG and
JSON), and the thresholds at 1 % and 5 % false-alarm rates on the normal files with the share of
anomalous files above each (their detection rates); beside them the mean relative error per set and
its AUROC (``auroc_relative_error``: the error against a running mean's,
:mod:`spikestream.pipeline.relative_error`). ``metrics.json`` uses plain keys.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...models.checkpoint import LoadedModel
from ...sources.audio.audio_file import AUDIO_EXTENSIONS
from ...sources.events.formats.dispatch import EVENT_EXTENSIONS
from ..inputs import open_stream
from ..runtime import run_stream
from ..streaming_model import make_streaming_model
from .loop import progress_interval_s

FALSE_ALARM_RATES = (0.01, 0.05)


def anomaly_files(folder: str | Path, loaded: LoadedModel, option: str) -> list[Path]:
    """Every file under ``folder`` the model's front end reads (any audio format, or event recordings)."""
    folder = Path(folder)
    extensions = AUDIO_EXTENSIONS if loaded.front_end_kind == "audio" else EVENT_EXTENSIONS
    if not folder.is_dir():
        raise ValueError(f"{option} {folder}: not a folder; expected a folder of recordings")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in extensions)
    if len(files) < 2:
        raise ValueError(
            f"{option} {folder}: {len(files)} recording(s) ({', '.join(extensions)}); "
            "expected at least 2 to score a set"
        )
    return files


def file_score(loaded: LoadedModel, path: Path) -> dict:
    """Stream one file; its reconstruction ``mse`` (the anomaly score), ``nrmse`` and ``relative_error``."""
    stream = open_stream(path, loaded)
    model = make_streaming_model(loaded, path.name)
    run_stream(stream, model, sinks=[], drop_counts=stream.drop_counts)
    return {"path": str(path), **model.reconstruction_metrics()}


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve = P(score of an anomalous file > score of a normal one), ties half."""
    greater = (anomalous[:, None] > normal[None, :]).sum()
    ties = (anomalous[:, None] == normal[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(normal) * len(anomalous)))


def roc_curve(normal: np.ndarray, anomalous: np.ndarray) -> dict[str, list[float]]:
    """False-alarm and detection rates at every distinct score threshold (descending)."""
    thresholds = np.unique(np.concatenate([normal, anomalous]))[::-1]
    false_alarm = [float((normal >= t).mean()) for t in thresholds]
    detection = [float((anomalous >= t).mean()) for t in thresholds]
    return {
        "thresholds": [float(t) for t in thresholds],
        "false_alarm_rate": [0.0] + false_alarm,
        "detection_rate": [0.0] + detection,
    }


def evaluate_anomaly(
    loaded: LoadedModel, normal_dir: str | Path, anomalous_dir: str | Path, out_dir: str | Path
) -> dict:
    """Score both folders, write ``metrics.json``, ``roc.json``, ``roc.png`` and ``scores.jsonl``.

    Returns the metrics.
    """
    normal_files = anomaly_files(normal_dir, loaded, "--normal")
    anomalous_files = anomaly_files(anomalous_dir, loaded, "--anomalous")
    rows = []
    labelled = [(p, "normal") for p in normal_files] + [(p, "anomalous") for p in anomalous_files]
    for path, label in tqdm(labelled, desc="scoring (streaming)", file=sys.stderr, mininterval=progress_interval_s()):
        rows.append({**file_score(loaded, path), "set": label})

    def per_set(name: str, key: str) -> np.ndarray:
        return np.array([row[key] for row in rows if row["set"] == name])

    normal, anomalous = per_set("normal", "mse"), per_set("anomalous", "mse")
    curve = roc_curve(normal, anomalous)

    metrics: dict = {
        "model": str(loaded.path),
        **{name: {"files": len(per_set(name, "mse")),
                  **{key: float(per_set(name, key).mean()) for key in ("mse", "nrmse", "relative_error")}}
           for name in ("normal", "anomalous")},
        "auroc": auroc(normal, anomalous),
        "auroc_relative_error": auroc(per_set("normal", "relative_error"), per_set("anomalous", "relative_error")),
    }  # fmt: skip
    for rate in FALSE_ALARM_RATES:
        threshold = float(np.quantile(normal, 1.0 - rate))
        metrics[f"threshold_at_{round(rate * 100)}pct_false_alarms"] = threshold
        metrics[f"detection_rate_at_{round(rate * 100)}pct_false_alarms"] = float((anomalous > threshold).mean())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out_dir / "roc.json").write_text(json.dumps(curve) + "\n")
    with open(out_dir / "scores.jsonl", "w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row) + "\n")
    write_roc_png(curve, metrics["auroc"], out_dir / "roc.png")
    return metrics


def write_roc_png(curve: dict, area: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 4))
    axes.plot(curve["false_alarm_rate"], curve["detection_rate"], drawstyle="steps-post")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("false-alarm rate (normal files above threshold)")
    axes.set_ylabel("detection rate")
    axes.set_title(f"AUROC {area:.3f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
