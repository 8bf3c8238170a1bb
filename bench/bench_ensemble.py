"""Merged ensembles vs their members: streaming accuracy and live-path cost, in the same run.

For each member checkpoint and for the merges of the first 3 and of all members
(``spikestream merge``, models/ensemble.py): streaming accuracy on the 250 FSDD test takes and on
the 80 clips of unheard espeak-ng voices (``recordings/espeak_digits``), and the real-time factor of
the whole live path on the FSDD test clips (one torch thread). Cost ratios are against the first
member, measured in the same run. Writes ``bench/results/ensemble.json``.

The members are the trainings of the README's ``fsdd-digits`` recipe (stage 3, then its fine-tunes);
they are not shipped, so pass their folders:

Run: ``.venv/bin/python bench/bench_ensemble.py /tmp/fsdd-stage3 /tmp/fsdd-late /tmp/fsdd-early [more ...]``
(about 1 minute per model on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint
from spikestream.models.ensemble import merge_checkpoints
from spikestream.pipeline.training.evaluate import evaluate_audio, evaluation_clips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audio import bench_live_path  # noqa: E402  (same measurement as the README's live-path figure)

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd"
RESULTS = REPO / "bench" / "results"


def measure(loaded: LoadedModel, fsdd_clips, voice_clips) -> dict:
    return {
        "fsdd_test_accuracy": evaluate_audio(loaded, fsdd_clips)["accuracy"],
        "unheard_voice_accuracy": evaluate_audio(loaded, voice_clips)["accuracy"],
        "live_real_time_factor": bench_live_path(loaded, fsdd_clips)["real_time_factor"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("members", nargs="+", help="member checkpoints (same architecture, labels and front end)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fsdd_clips = evaluation_clips(FSDD, "test")
    voice_clips = evaluation_clips(REPO / "recordings" / "espeak_digits", "all")
    members = [load_checkpoint(path) for path in args.members]
    candidates = {str(member.path): member for member in members}
    candidates[f"merge of the first {min(3, len(members))}"] = merge_checkpoints(members[:3])
    if len(members) > 3:
        candidates[f"merge of all {len(members)}"] = merge_checkpoints(members)
    rows = {}
    for name, loaded in candidates.items():
        rows[name] = measure(loaded, fsdd_clips, voice_clips)
        print(name, json.dumps(rows[name]), flush=True)
    reference = rows[str(members[0].path)]["live_real_time_factor"]
    for row in rows.values():
        row["live_cost_vs_first_member"] = row["live_real_time_factor"] / reference
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ensemble.json").write_text(
        json.dumps(
            {"fsdd_test_clips": len(fsdd_clips), "unheard_voice_clips": len(voice_clips), "models": rows}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
