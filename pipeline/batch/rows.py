"""The batch row: one per listed file, a stable schema (documented in the README, "Batch jobs").

Keys, in this order in every JSONL line and as the CSV / Parquet columns:

* ``index`` (int): position of the file in the listing (input order; rows are written sorted by it)
* ``path`` (str): the file as listed
* ``status`` (str): ``"ok"`` or ``"failed"``
* ``error`` (str | null): why the file failed (corrupt, empty, not audio, wrong rate, timed out, …)
* ``duration_s`` (float | null): audio duration at the model's sample rate, seconds (3 decimals)
* ``label`` (str | null): the first detection's label, ``"none"`` when nothing was detected (as the
  evaluator scores a clip); null for a failed file
* ``score`` (float | null): that detection's score (probability in [0, 1]; 0 for ``"none"``)
* ``top_k`` (list): ``{"label", "score"}`` of the k non-background classes of highest peak window-mean
  probability over the file (the decision's window), best first
* ``detections`` (list): every detection of the streaming decision, ``{"time_us", "time_s", "label",
  "score"}`` (stream time from the start of the file; a long file has one per word)
* ``truth`` (str | null): the label read from the file name (FSDD ``{label}_{speaker}_{take}``) or the
  sub-folder of an input folder, when it is one of the model's labels
* ``model``, ``model_version`` (str): checkpoint name and the first 12 hex digits of the SHA-256 of its
  ``config.json`` and ``weights.pt``
* ``drops`` (dict): what the source lost or repaired (``missing_samples`` of a cut file,
  ``nonfinite_samples``), only counts above zero
* ``reconstruction`` (dict): an autoencoder's scores of the whole file, ``{"mse", "nrmse",
  "relative_error"}`` (6 significant digits; ``StreamingModel.reconstruction_metrics``); empty for a
  classifier or a failed file

Rows hold no wall-clock values (no latency), so two runs of a job write the same bytes.
"""

from __future__ import annotations

import json

ROW_KEYS = (
    "index",
    "path",
    "status",
    "error",
    "duration_s",
    "label",
    "score",
    "top_k",
    "detections",
    "truth",
    "model",
    "model_version",
    "drops",
    "reconstruction",
)
NESTED_KEYS = ("top_k", "detections", "drops", "reconstruction")  # JSON text in CSV / Parquet columns
NO_DETECTION = "none"


def ok_row(
    index: int,
    path: str,
    truth: str | None,
    model: tuple[str, str],
    duration_s: float,
    detections: list[dict],
    top_k: list[dict],
    drops: dict[str, int],
    reconstruction: dict[str, float] | None = None,
) -> dict:
    """The row of a file that streamed; ``model`` is ``(name, version)``; ``reconstruction``: an
    autoencoder's whole-file scores."""
    first = detections[0] if detections else None
    return {
        "index": index,
        "path": path,
        "status": "ok",
        "error": None,
        "duration_s": round(duration_s, 3),
        "label": first["label"] if first else NO_DETECTION,
        "score": first["score"] if first else 0.0,
        "top_k": top_k,
        "detections": detections,
        "truth": truth,
        "model": model[0],
        "model_version": model[1],
        "drops": {name: count for name, count in sorted(drops.items()) if count},
        "reconstruction": {name: float(f"{value:.6g}") for name, value in (reconstruction or {}).items()},
    }


def failed_row(index: int, path: str, truth: str | None, model: tuple[str, str], error: str) -> dict:
    """The row of a file that could not be processed, with the reason."""
    return {
        "index": index,
        "path": path,
        "status": "failed",
        "error": error,
        "duration_s": None,
        "label": None,
        "score": None,
        "top_k": [],
        "detections": [],
        "truth": truth,
        "model": model[0],
        "model_version": model[1],
        "drops": {},
        "reconstruction": {},
    }


def row_line(row: dict) -> bytes:
    """One JSONL line (UTF-8, ``\\n``-terminated), keys in :data:`ROW_KEYS` order."""
    return (json.dumps({key: row[key] for key in ROW_KEYS}, ensure_ascii=False) + "\n").encode("utf-8")
