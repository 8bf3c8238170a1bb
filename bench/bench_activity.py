"""What every shipped classifier costs as a spiking network: accuracy beside SynOps and dense MACs.

For each shipped classifier, one pass of real held-back recordings through the streaming pipeline
(the code of ``evaluate --stats``: :class:`spikestream.models.activity.ActivityMeter` on the network
while :func:`evaluate_folder` streams each clip) gives, on the same inputs:

- streaming accuracy (first detection = prediction, bare clips as ``replay`` streams them);
- per layer: spikes per neuron per second, share of silent neurons, synaptic operations per second
  of input caused by its spikes, and the dense network's multiply-accumulates per second;
- in total: SynOps/s, dense MACs/s and their ratio (the baseline is the same network run densely,
  in the same run: the ratio is the share of a dense accelerator's work an event-driven chip does).

Data: FSDD test takes 0–4 (digit models, 250 clips by 5 speakers never trained on those takes), every
10th clip of Speech Commands ``validation`` (keywords, speakers never heard), ESC-10 fold 4 (sounds,
never trained on), synthetic held-out gestures (dvs-gestures), the 100 real N-MNIST recordings
(nmnist). ``--every N`` thins each set.
Writes ``bench/results/activity.json``; about 6 minutes on one core.

Run: ``.venv/bin/python bench/bench_activity.py [--every 1] [--models NAME ...]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from spikestream.models.activity import ActivityMeter
from spikestream.models.checkpoint import load_checkpoint, shipped_model_names
from spikestream.models.nir_export import refusal
from spikestream.models.registry import MODEL_KINDS
from spikestream.pipeline.training.evaluate import evaluate_inputs, evaluation_clips, labelled_inputs
from spikestream.pipeline.training.gesture import evaluate_gestures
from spikestream.sources.events.formats.dispatch import EVENT_EXTENSIONS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
HELD_BACK = {  # model → (folder, split, every n-th clip, what it is)
    "fsdd-digits": (DATA / "fsdd", "test", 1, "FSDD test takes 0-4"),
    "fsdd-digits-nir": (DATA / "fsdd", "test", 1, "FSDD test takes 0-4"),
    "keywords": (DATA / "speech_commands" / "validation", "all", 10, "every 10th Speech Commands validation clip"),
    "sounds": (DATA / "esc10" / "fold4", "all", 1, "ESC-10 fold 4"),
    "nmnist": (DATA / "dvs" / "nmnist_small", "all", 1, "100 real N-MNIST recordings (nmnist_small)"),
}


def measure(name: str, every: int) -> dict:
    loaded = load_checkpoint(name)
    meter = ActivityMeter(loaded.model)
    started = time.perf_counter()
    if loaded.config.get("task") == "gesture-classifier":
        metrics = evaluate_gestures(loaded, None, loaded.config.get("training", {}).get("held_out_samples", 220), None)
        data = "synthetic held-out gestures"
    else:
        folder, split, thin, data = HELD_BACK[name]
        extensions = None if loaded.front_end_kind == "audio" else EVENT_EXTENSIONS
        clips = evaluation_clips(folder, split, extensions)[:: thin * every]
        inputs = labelled_inputs(loaded, clips, pad=False)
        metrics = evaluate_inputs(loaded, inputs, loaded.labels[1:])
    activity = meter.report()
    meter.detach()
    return {
        "data": data,
        "clips": metrics["clips"],
        "accuracy": metrics["accuracy"],
        "nir_exportable": refusal(loaded.model) is None,
        "activity": activity,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="use every N-th clip of each set (faster)")
    parser.add_argument("--models", nargs="+", help="measure only these (the others keep their figures in the JSON)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [n for n in shipped_model_names() if MODEL_KINDS[load_checkpoint(n).model_kind].outputs != "reconstruction"]
    saved = RESULTS / "activity.json"
    results = json.loads(saved.read_text()) if args.models and saved.exists() else {"models": {}}
    for name in args.models or names:
        results["models"][name] = measure(name, args.every)
        entry = results["models"][name]
        print(
            f"{name}: accuracy {entry['accuracy']:.3f} on {entry['clips']} clips, "
            f"{entry['activity']['synops_per_s']:.3g} synops/s vs {entry['activity']['dense_macs_per_s']:.3g} "
            f"dense MAC/s (ratio {entry['activity']['synops_to_dense_ratio']:.3f})",
            file=sys.stderr,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "activity.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
