"""Camera faults flagged live by the gesture autoencoder, against an event-rate detector in the same run.

Streams (through the same :class:`~spikestream.pipeline.streaming_model.StreamingModel` as
``spikestream replay``, in replay's slices):

- **normal**: held-out synthetic gestures (a seed never trained or calibrated on) one after another
  with 0.3–0.8 s of sensor noise between them, ``--normal-minutes`` long: false alarms per minute;
- **faults**: the same kind of stream with a fault every 2.5–3.5 s, the three kinds of
  :mod:`spikestream.sources.events.simulation.faults` in turn, 300 ms each: the share of faults
  flagged within 100 ms of their onset (and the median latency), and false alarms outside the faults.

The baseline is the plainest detector a user could set up: the event count per bin, averaged over
the same window and thresholded at the same false-alarm rate on the same normal recordings the
autoencoder was calibrated on (the checkpoint's held-out seed), with the same hysteresis and
refractory time (the project's :class:`~spikestream.pipeline.decisions.anomaly.AnomalyDecision`).

With ``--unseen-model`` (a checkpoint trained with ``--exclude-labels``), each held-out gesture is
scored on its own (the stream's reconstruction MSE, as ``evaluate --normal/--anomalous`` scores a
file) and the AUROC of the left-out classes against the trained ones is reported, beside the same
AUROC for the recording's mean ``ln(1 + count)`` (does plain activity separate them?).

Writes ``bench/results/event_faults.json``. About 5 minutes on one core.
Run: ``.venv/bin/python bench/bench_event_faults.py --model gestures-ae [--unseen-model out/...]``
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
from spikestream.pipeline.decisions import DecisionConfig
from spikestream.pipeline.decisions.anomaly import AnomalyDecision
from spikestream.pipeline.streaming_model import make_streaming_model
from spikestream.pipeline.training.anomaly_evaluation import auroc
from spikestream.pipeline.training.autoencoder import threshold_at, window_means
from spikestream.pipeline.training.gesture import HELD_OUT_SEED
from spikestream.sources.events.chunking import slice_span
from spikestream.sources.events.event_array import SensorSize
from spikestream.sources.events.front_end.framing import EventFrontEndConfig
from spikestream.sources.events.simulation.dvs_simulator import sort_by_time
from spikestream.sources.events.simulation.faults import FAULT_KINDS, FaultConfig, fault_events
from spikestream.sources.events.simulation.gesture_examples import gesture_sequence, pad_with_noise
from spikestream.sources.events.simulation.synthetic_gestures import GESTURE_CLASSES, SyntheticGestures

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TEST_SEED = 515_151  # gestures of this seed are never trained or calibrated on
FLAG_WITHIN_US = 100_000
FAULT_US = 300_000
GAP_MS = (300.0, 800.0)
NOISE_RATE_HZ = 0.1


def stream_detections(loaded, events: np.ndarray, end_us: int) -> tuple[list[int], list[int]]:
    """Detection times (µs) when the autoencoder streams ``events`` over ``[0, end_us)``: of both rules
    (``anomaly`` and ``hot-pixels``), and of the reconstruction rule alone (the rules share no state)."""
    model = make_streaming_model(loaded, "bench")
    detections = []
    for chunk in slice_span(events, 0, end_us):
        detections += model.process(chunk)
    detections += model.finish()
    flagged = [d for d in detections if d.label in ("anomaly", "hot-pixels")]
    return [d.time_us for d in flagged], [d.time_us for d in flagged if d.label == "anomaly"]


def bin_counts(events: np.ndarray, bin_us: int, end_us: int) -> np.ndarray:
    """Events per bin ``[ceil(end / bin)]`` (the rate detector's per-step score)."""
    return np.bincount(events["t"] // bin_us, minlength=-(-end_us // bin_us)).astype(np.float64)


def rate_detections(counts: np.ndarray, threshold: float, config: DecisionConfig, bin_us: int) -> list[int]:
    decision = AnomalyDecision(DecisionConfig(**{**config.__dict__, "score_threshold": threshold}), 2, bin_us)
    return [d.time_us for d in decision.update(torch.from_numpy(counts)) if d.class_index == 1]


def normal_recordings(count: int, seed: int) -> list[np.ndarray]:
    gestures = SyntheticGestures(count, seed=seed)
    return [gestures[i][0] for i in range(count)]


def rate_threshold(front_end: EventFrontEndConfig, window_steps: int, false_alarm_rate: float) -> float:
    """The rate detector calibrated as the checkpoint was: the held-out gestures, each noise-padded."""
    sensor, rng, means = SensorSize(front_end.sensor_width, front_end.sensor_height), np.random.default_rng(0), []
    for events in normal_recordings(110, HELD_OUT_SEED):
        padded, onset_us, duration_us = pad_with_noise(events, sensor, 300_000, 500_000, NOISE_RATE_HZ, rng)
        counts = bin_counts(padded, front_end.bin_us, onset_us + duration_us + 500_000)
        means.append(window_means(torch.from_numpy(counts)[:, None], window_steps))
    return threshold_at({"window_scores": np.sort(np.concatenate(means))}, false_alarm_rate)


def false_alarms(times_us: list[int], excluded: list[tuple[int, int]]) -> int:
    return sum(1 for t in times_us if not any(start <= t < end for start, end in excluded))


def fault_stream(sensor: SensorSize, minutes: float, rng: np.random.Generator) -> tuple[np.ndarray, int, list[dict]]:
    """Normal gestures with a fault every 2.5–3.5 s (kinds in turn): events, end, fault records."""
    recordings = normal_recordings(int(minutes * 60 / 2.0) + 1, TEST_SEED + 1)
    events, _, end_us = gesture_sequence(recordings, sensor, GAP_MS, NOISE_RATE_HZ, rng)
    faults, parts, onset_us = [], [events], 1_000_000
    while onset_us + FAULT_US < end_us:
        kind = FAULT_KINDS[len(faults) % len(FAULT_KINDS)]
        parts.append(fault_events(kind, sensor, onset_us, onset_us + FAULT_US, rng, FaultConfig()))
        faults.append({"kind": kind, "onset_us": onset_us})
        onset_us += int(rng.uniform(2.5e6, 3.5e6))
    return sort_by_time(*parts), end_us, faults


def score_faults(times_us: list[int], faults: list[dict]) -> dict:
    """Per kind: share flagged within 100 ms of onset and the median latency of those flagged at all
    (a detection in ``[onset, onset + 300 ms + 500 ms)``); false alarms elsewhere."""
    by_kind: dict[str, list[float | None]] = {kind: [] for kind in FAULT_KINDS}
    for fault in faults:
        after = [t - fault["onset_us"] for t in times_us if 0 <= t - fault["onset_us"] < FAULT_US + 500_000]
        by_kind[fault["kind"]].append(min(after) / 1000.0 if after else None)
    result = {}
    for kind, latencies in by_kind.items():
        flagged = [v for v in latencies if v is not None]
        result[kind] = {
            "faults": len(latencies),
            "flagged_within_100ms": round(sum(v <= FLAG_WITHIN_US / 1000 for v in flagged) / max(len(latencies), 1), 3),
            "flagged_at_all": round(len(flagged) / max(len(latencies), 1), 3),
            "median_latency_ms": round(float(np.median(flagged)), 1) if flagged else None,
        }
    return result


def unseen_classes_auroc(path: str, count: int) -> dict:
    """AUROC of the classes a checkpoint left out of training against the ones it trained on."""
    loaded = load_checkpoint(path)
    excluded = set(loaded.config["training"]["settings"]["exclude_labels"])
    front_end = EventFrontEndConfig.from_dict(loaded.config["front_end"])
    sensor, rng = SensorSize(front_end.sensor_width, front_end.sensor_height), np.random.default_rng(3)
    gestures = SyntheticGestures(count, seed=TEST_SEED + 2)
    scores: dict[bool, list[float]] = {True: [], False: []}
    activity: dict[bool, list[float]] = {True: [], False: []}
    for index in range(count):
        events, label = gestures[index]
        padded, onset_us, duration_us = pad_with_noise(events, sensor, 300_000, 500_000, NOISE_RATE_HZ, rng)
        model = make_streaming_model(loaded, f"gesture-{index}")
        for chunk in slice_span(padded, 0, onset_us + duration_us + 500_000):
            model.process(chunk)
        model.finish()
        unseen = GESTURE_CLASSES[label] in excluded
        scores[unseen].append(model.reconstruction_metrics()["mse"])
        counts = bin_counts(padded, front_end.bin_us, onset_us + duration_us + 500_000)
        activity[unseen].append(float(np.log1p(counts).mean()))
    return {
        "model": path,
        "excluded_classes": sorted(excluded),
        "recordings": {"unseen": len(scores[True]), "trained": len(scores[False])},
        "auroc_reconstruction_mse": round(auroc(np.array(scores[False]), np.array(scores[True])), 4),
        "auroc_mean_log_activity_baseline": round(auroc(np.array(activity[False]), np.array(activity[True])), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="gestures-ae")
    parser.add_argument("--normal-minutes", type=float, default=3.0)
    parser.add_argument("--fault-minutes", type=float, default=4.5)
    parser.add_argument("--unseen-model", help="a gesture autoencoder trained with --exclude-labels")
    parser.add_argument("--unseen-count", type=int, default=220)
    parser.add_argument("--out", type=Path, default=RESULTS / "event_faults.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    loaded = load_checkpoint(args.model)
    front_end = EventFrontEndConfig.from_dict(loaded.config["front_end"])
    sensor = SensorSize(front_end.sensor_width, front_end.sensor_height)
    decision = DecisionConfig(**loaded.config["decision"])
    far = float(loaded.config["calibration"]["false_alarm_rate"])
    threshold = rate_threshold(front_end, decision.window_steps, far)
    print(f"rate baseline threshold {threshold:.1f} events per {front_end.bin_ms} ms bin", file=sys.stderr)

    rng = np.random.default_rng(11)
    normal = normal_recordings(int(args.normal_minutes * 60 / 2.0) + 1, TEST_SEED)
    normal_events, _, normal_end_us = gesture_sequence(normal, sensor, GAP_MS, NOISE_RATE_HZ, rng)
    minutes = normal_end_us / 60e6
    ae_normal, ae_normal_reconstruction = stream_detections(loaded, normal_events, normal_end_us)
    rate_normal = rate_detections(bin_counts(normal_events, front_end.bin_us, normal_end_us), threshold, decision,
                                  front_end.bin_us)  # fmt: skip
    print(f"normal stream {minutes:.2f} min: autoencoder {len(ae_normal)} alarms, rate {len(rate_normal)}",
          file=sys.stderr)  # fmt: skip

    fault_events_all, fault_end_us, faults = fault_stream(sensor, args.fault_minutes, rng)
    ae_faults, ae_faults_reconstruction = stream_detections(loaded, fault_events_all, fault_end_us)
    rate_faults = rate_detections(bin_counts(fault_events_all, front_end.bin_us, fault_end_us), threshold, decision,
                                  front_end.bin_us)  # fmt: skip
    spans = [(f["onset_us"], f["onset_us"] + FAULT_US + 500_000) for f in faults]
    fault_minutes = (fault_end_us - sum(FAULT_US + 500_000 for _ in faults)) / 60e6
    result = {
        "model": args.model,
        "front_end": {"bin_ms": front_end.bin_ms, "cells": list(front_end.output_shape), "mode": front_end.output_mode},
        "decision": {"window_steps": decision.window_steps, "false_alarm_rate": far,
                     "autoencoder_threshold": decision.score_threshold, "rate_threshold_events": threshold,
                     "hot_pixel_rate_hz": decision.hot_pixel_rate_hz},
        "fault_config": FaultConfig().__dict__,
        "normal_stream": {
            "minutes": round(minutes, 2), "gestures": len(normal),
            "false_alarms_per_minute": {"autoencoder": round(len(ae_normal) / minutes, 2),
                                        "autoencoder_reconstruction_rule_only":
                                            round(len(ae_normal_reconstruction) / minutes, 2),
                                        "event_rate_baseline": round(len(rate_normal) / minutes, 2)},
        },
        "fault_stream": {
            "minutes": round(fault_end_us / 60e6, 2), "faults": len(faults),
            "autoencoder": score_faults(ae_faults, faults),
            "autoencoder_reconstruction_rule_only": score_faults(ae_faults_reconstruction, faults),
            "event_rate_baseline": score_faults(rate_faults, faults),
            "false_alarms_per_minute_outside_faults": {
                "autoencoder": round(false_alarms(ae_faults, spans) / fault_minutes, 2),
                "autoencoder_reconstruction_rule_only":
                    round(false_alarms(ae_faults_reconstruction, spans) / fault_minutes, 2),
                "event_rate_baseline": round(false_alarms(rate_faults, spans) / fault_minutes, 2),
            },
        },
    }  # fmt: skip
    if args.unseen_model:
        result["unseen_classes"] = unseen_classes_auroc(args.unseen_model, args.unseen_count)
    result["seconds"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
