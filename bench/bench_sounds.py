"""Environmental sound events (ESC-10): 4-fold cross-validation of the spiking ``sounds`` recipe against
a non-spiking baseline trained in the same run, beside the published anchors.

For each cross-validation member (trained on three of folds 1–4 with ``--keep last``, so the fourth
fold chose nothing): its held-back fold streamed through the real runtime,

- as **bare clips** (each five-second recording on its own, prediction = first detection);
- as **one continuous stream** (the fold's 80 clips end to end with 2 s of quiet between): how many
  clips give exactly one detection (one per event) from its start to 1.5 s after its end, the first
  such detection's label, detections outside every clip, and the real-time factor on one thread.

Baseline, same run: ``mfcc-logreg`` (:mod:`spikestream.pipeline.training.baseline`) trained on the
member's own training clips. Published anchors (5-fold cross-validation on all five folds, so not the
same split): Piczak's 2015 CNN from scratch 81.5 %, human listeners 95.7 %.

Run: ``bash bench/train_sounds_cv.sh``, then (about 5 minutes on one core)
``.venv/bin/python bench/bench_sounds.py --decision '{"max_active_ms": 6000, "refractory_ms": 1000}'``.
Writes ``bench/results/sounds.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint
from spikestream.pipeline.inputs import AUDIO_BLOCK_MS, sample_rate_hz
from spikestream.pipeline.runtime import run_stream
from spikestream.pipeline.streaming_model import make_streaming_model
from spikestream.pipeline.training.baseline import BASELINE_NAME, MfccLogisticBaseline
from spikestream.pipeline.training.evaluate import evaluate_audio, samples_chunks
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.front_end import AudioFrontEndConfig
from spikestream.sources.labelled_clips import list_labelled_clips

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_MEMBERS = [REPO / "out" / "candidates" / f"sounds-cv{k}" for k in (1, 2, 3, 4)]
GAP_S = 2.0
DECIDED_WITHIN_S = 1.5  # a segment closes when the background returns, up to about a second after the sound
ANCHORS = {"piczak_2015_cnn_5_fold": 0.815, "human_listeners": 0.957}


def continuous_stream(loaded: LoadedModel, clips: list) -> dict:
    """The fold's clips end to end (2 s quiet between) in one stream: detections per clip span."""
    rate = sample_rate_hz(loaded)
    rng = np.random.default_rng(0)
    pieces, spans, at = [], [], 0
    for clip in clips:
        samples = read_audio(clip.path, rate)
        gap = (rng.standard_normal(int(GAP_S * rate)) * 10 ** (-65 / 20)).astype(np.float32)
        pieces += [gap, samples]
        spans.append((at + gap.size, at + gap.size + samples.size, clip.label))
        at += gap.size + samples.size
    stream = np.concatenate(pieces)
    torch.set_num_threads(1)
    started = time.perf_counter()
    report = run_stream(samples_chunks(stream, rate, AUDIO_BLOCK_MS), make_streaming_model(loaded, "fold"), [])
    seconds = time.perf_counter() - started
    per_clip: list[list[str]] = [[] for _ in spans]
    outside = 0
    for detection in report.detections:
        sample = detection.time_us * rate // 1_000_000
        inside = [i for i, (start, end, _) in enumerate(spans) if start <= sample <= end + int(DECIDED_WITHIN_S * rate)]
        if inside:
            per_clip[inside[0]].append(detection.label)
        else:
            outside += 1
    return {
        "clips": len(spans),
        "exactly_one_detection": sum(len(labels) == 1 for labels in per_clip) / len(spans),
        "first_detection_right": sum(bool(lb) and lb[0] == span[2] for lb, span in zip(per_clip, spans)) / len(spans),
        "detections_outside_clips": outside,
        "real_time_factor_one_thread": seconds / (stream.size / rate),
    }


def member_figures(path: Path, decision: dict) -> dict:
    loaded = load_checkpoint(path)
    loaded.config["decision"] = {**loaded.config["decision"], **decision}  # in memory only
    training = loaded.config["training"]
    fold = Path(training["settings"]["validation_data"])
    clips = list_labelled_clips(fold)
    rate = sample_rate_hz(loaded)
    bare = evaluate_audio(loaded, clips, pad=False)
    train_paths = sorted(set(training["train_files"]))
    baseline = MfccLogisticBaseline(AudioFrontEndConfig.from_dict(loaded.config["front_end"]).mfcc).fit(
        [read_audio(p, rate) for p in train_paths], [Path(p).parent.name for p in train_paths]
    )
    predicted = baseline.predict([read_audio(c.path, rate) for c in clips])
    return {
        "member": str(path),
        "held_back_fold": fold.name,
        "bare_clips": {k: bare[k] for k in ("accuracy", "missed", "clips_with_more_than_one_detection")},
        "continuous_stream": continuous_stream(loaded, clips),
        "baseline_accuracy": float(np.mean([p == c.label for p, c in zip(predicted, clips)])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", nargs="+", type=Path, default=DEFAULT_MEMBERS)
    parser.add_argument(
        "--decision", type=json.loads, default={}, help='decision fields to override, e.g. {"max_active_ms": 6000}'
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "sounds.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folds = []
    for member in args.members:
        folds.append(member_figures(member, args.decision))
        print(json.dumps(folds[-1]), file=sys.stderr)
    snn = float(np.mean([f["bare_clips"]["accuracy"] for f in folds]))
    base = float(np.mean([f["baseline_accuracy"] for f in folds]))
    results = {
        "decision_overrides": args.decision,
        "folds": folds,
        "cross_validation_accuracy_bare_clips": snn,
        "cross_validation_accuracy_continuous_stream": float(
            np.mean([f["continuous_stream"]["first_detection_right"] for f in folds])
        ),
        "baseline": {"name": BASELINE_NAME, "cross_validation_accuracy": base},
        "ratio_snn_over_baseline": snn / base,
        "published_anchors": ANCHORS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
