"""Event-camera pipeline benchmarks, each against a baseline in the same run; writes bench/results/events.json.

1. Replay of the real recordings in ../shared/data/dvs at ``--speed 0`` through the whole pipeline
   (reader → framer → gesture SNN → decision): events/s end to end, vs the reader alone (baseline:
   the I/O ceiling of the same file) — the ratio is the pipeline's cost on top of reading.
2. Live UDP path on loopback (``spikestream send`` → ``spikestream listen --camera udp://``, separate
   processes): the synthetic gesture sequence sent at increasing speed-ups; events/s the listener
   sustains without drops (receiver queue, kernel), and latency from the last event of each gesture
   to its detection (stream time of the detection − gesture end; negative = before the end).
   Sending faster than real time compresses the motion itself (a 4× faster wave is another signal),
   so detections are only expected at speed 1; the faster runs measure drop-free throughput.

Run: ``.venv/bin/python bench/bench_events.py`` (about 1 minute).
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spikestream.sources.events.formats.dispatch import open_recording

REPO = Path(__file__).resolve().parents[1]
DVS = REPO.parent / "shared" / "data" / "dvs"
RESULTS = REPO / "bench" / "results"
SEQUENCE = REPO / "recordings" / "gestures" / "gesture_sequence.npy"
CLI = [sys.executable, "-m", "spikestream.pipeline.cli"]


def read_only_seconds(path: Path) -> tuple[int, float]:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        count = sum(len(chunk) for chunk in open_recording(path).iter_chunks())
        best = min(best, time.perf_counter() - start)
    return count, best


def pipeline_seconds(path: Path) -> float:
    """Whole pipeline in-process (no interpreter start-up), best of 3."""
    import spikestream

    model = spikestream.load_model("dvs-gestures")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        spikestream.run(spikestream.open_stream(path, model, speed=0.0), model)
        best = min(best, time.perf_counter() - start)
    return best


def bench_replay() -> list[dict]:
    rows = []
    for name in ("sample.aedat4", "evt3_sample.raw", "sample_ncars.dat", "sample_nmnist.bin"):
        events, reader_s = read_only_seconds(DVS / name)
        total_s = pipeline_seconds(DVS / name)
        rows.append(
            {
                "recording": name,
                "events": events,
                "pipeline_events_per_s": events / total_s,
                "reader_only_events_per_s": events / reader_s,
                "pipeline_seconds": total_s,
                "reader_seconds": reader_s,
                "pipeline_cost_ratio": total_s / reader_s,
            }
        )
    return rows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_live(speed: float) -> dict:
    port = free_port()
    listener = subprocess.Popen(
        CLI + ["listen", "--camera", f"udp://127.0.0.1:{port}", "--idle-timeout", "1.5", "--jsonl", "-"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while "listening to" not in (listener.stderr.readline() or "listening to"):
        pass
    sender = subprocess.run(
        CLI + ["send", str(SEQUENCE), "--sensor", "128x128", "--udp", f"127.0.0.1:{port}", "--speed", str(speed)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    stdout, stderr = listener.communicate(timeout=120)
    detections = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    sent = int(re.search(r"sent (\d+) events", sender.stderr).group(1))
    send_s = float(re.search(r"over ([0-9.]+) s", sender.stderr).group(1))
    drops = {k: int(v) for k, v in re.findall(r"receiver (\w+) (\d+)", stderr)}
    meta = json.loads(SEQUENCE.with_suffix(".json").read_text())["gestures"]
    first_event_us = int(np.load(SEQUENCE)["t"][0])
    latencies = []
    for gesture in meta:  # detection stream time counts from the first received event
        end_us = (gesture["end_us"] - first_event_us) / speed
        hits = [
            d
            for d in detections
            if d["label"] == gesture["name"] and d["time_us"] >= (gesture["start_us"] - first_event_us) / speed
        ]
        if hits:
            latencies.append((hits[0]["time_us"] - end_us) / 1e3 + hits[0]["latency_ms"])
    rtf = re.search(r"real-time factor ([0-9.]+)", stderr)
    return {
        "speed": speed,
        "detections_expected": speed == 1.0,
        "events_sent": sent,
        "events_per_s_offered": sent / send_s,
        "detections": [d["label"] for d in detections],
        "expected": [g["name"] for g in meta],
        "drops": drops,
        "lossless": not any(drops.values()),
        "latency_last_event_to_detection_ms": latencies,
        "listener_real_time_factor": float(rtf.group(1)) if rtf else None,
    }


def main() -> None:
    torch.set_num_threads(1)
    results = {
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "replay_speed0_whole_pipeline_vs_reader": bench_replay(),
        "live_udp": [bench_live(speed) for speed in (1.0, 4.0, 16.0)],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "events.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
