"""Your own voice: how far a few recorded takes of each word lift the digit model on a speaker it never
heard. Writes bench/results/enrolment_<speaker>.json.

1. The model that never heard the speaker: ``bench_unseen_speaker.py``'s ``baseline`` recipe trained on
   the other four FSDD speakers (reused from ``--work`` when that bench already trained it); one member
   of 24/32/48 channels, the size of ``fsdd-digits-nir``, which ``spikestream record`` suggests fine-tuning.
2. Enrolment, as a user does it with their own recordings: the speaker's first N takes of each digit
   in a folder, then the real command in a subprocess::

       spikestream train audio --data MINE --init-from MODEL --epochs E --learning-rate 5e-4 --out MODEL-MINE

   (one speaker's clips: every one trains, nothing is held back; ``sources/labelled_clips.hold_back``).
3. Both models streamed with the shipped decision (``evaluate_audio``, bare clips as ``replay``) on

   * the speaker's takes 5–49 (450 clips no fine-tune ever uses): the figure that matters;
   * the other four speakers' test takes 0–4 (200 clips): what the personal model forgets.

The baseline of every figure is the model before enrolment, on the same clips, in the same run.

Each count of takes is measured with each of ``--epochs`` (one batch of canvases per epoch at these
sizes), every one from the same model before enrolment; a later run adds its rows to the file's.

Run (about 2 min per enrolment on 2 cores, plus the leave-out training when it is not cached)::

    .venv/bin/python bench/bench_enrolment.py --speaker jackson --takes 1,3,5 --epochs 20,60,150
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_unseen_speaker import REPO, RESULTS, link_clips, with_shipped_decision  # noqa: E402

from spikestream.models.checkpoint import LoadedModel, load_checkpoint  # noqa: E402
from spikestream.pipeline.training.evaluate import evaluate_audio  # noqa: E402
from spikestream.sources.labelled_clips import list_labelled_clips  # noqa: E402

EVALUATION_TAKES = range(5, 50)  # the speaker's takes never used for enrolment


def streamed_accuracy(loaded: LoadedModel, folder: Path, shipped: dict) -> dict:
    """Accuracy of ``loaded`` streamed over every clip of ``folder`` with the shipped decision and level track."""
    clips = list_labelled_clips(folder)
    metrics = evaluate_audio(with_shipped_decision(loaded, shipped), clips)
    return {"accuracy": round(metrics["accuracy"], 4), "clips": len(clips), "missed": metrics["missed"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speaker", default="jackson")
    parser.add_argument("--takes", default="1,3,5", help="comma-separated takes per digit to enrol with (from 0-4)")
    parser.add_argument("--epochs", default="20,60,150", help="comma-separated fine-tune epochs, each count")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/spikestream-unseen-speaker"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    base = args.work / f"model-{args.speaker}-baseline"
    if not (base / "weights.pt").exists():
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "bench_unseen_speaker.py"), "--speaker", args.speaker,
             "--recipes", "baseline", "--merges", "", "--work", str(args.work)],
            check=True,
        )  # fmt: skip
    shipped = load_checkpoint("fsdd-digits").config
    speaker_eval = link_clips(
        args.work / f"{args.speaker}-takes-5-49",
        lambda clip: clip.speaker == args.speaker and clip.take in EVALUATION_TAKES,
    )
    others_test = link_clips(
        args.work / f"others-than-{args.speaker}-takes-0-4",
        lambda clip: clip.speaker != args.speaker and clip.take in range(5),
    )
    started = time.perf_counter()
    before = {
        "speaker_takes_5_49": streamed_accuracy(load_checkpoint(base), speaker_eval, shipped),
        "other_speakers_test_takes": streamed_accuracy(load_checkpoint(base), others_test, shipped),
    }
    print(f"before enrolment: {before}", flush=True)
    results = {
        "speaker": args.speaker,
        "measured": datetime.date.today().isoformat(),
        "model_without_speaker": str(base),
        "fine_tune_learning_rate": args.learning_rate,
        "before_enrolment": before,
        "enrolled": {},
    }
    results_file = RESULTS / f"enrolment_{args.speaker}.json"
    if results_file.exists():  # enrolments of earlier runs from the same model are kept, each with its date
        earlier = json.loads(results_file.read_text())
        if earlier.get("before_enrolment") == before:
            results["enrolled"] = {
                key: {"measured": earlier["measured"], **row} for key, row in earlier["enrolled"].items()
            }
            # (a row's own "measured", when it has one, wins over the file's)
    counts = [int(value) for value in args.takes.split(",") if value.strip()]
    for count, epochs in [(c, int(e)) for c in counts for e in args.epochs.split(",") if e.strip()]:
        mine = link_clips(
            args.work / f"{args.speaker}-takes-0-{count - 1}",
            lambda clip, count=count: clip.speaker == args.speaker and clip.take in range(count),
        )
        out = args.work / f"model-{args.speaker}-enrolled-{count}-{epochs}"
        began = time.perf_counter()
        command = [
            sys.executable, "-m", "spikestream.pipeline.cli", "train", "audio", "--data", str(mine),
            "--init-from", str(base), "--epochs", str(epochs), "--learning-rate", str(args.learning_rate),
            "--threads", "2", "--out", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, cwd=REPO, stderr=subprocess.DEVNULL)
        fine_tune_s = time.perf_counter() - began
        after = {
            "speaker_takes_5_49": streamed_accuracy(load_checkpoint(out), speaker_eval, shipped),
            "other_speakers_test_takes": streamed_accuracy(load_checkpoint(out), others_test, shipped),
        }
        before_errors = 1 - before["speaker_takes_5_49"]["accuracy"]
        after_errors = 1 - after["speaker_takes_5_49"]["accuracy"]
        key = f"{count} takes per digit, {epochs} epochs"
        results["enrolled"][key] = {
            "measured": results["measured"],
            "clips": 10 * count,
            "epochs": epochs,
            "fine_tune_s": round(fine_tune_s, 1),
            "command": " ".join(["spikestream", *command[3:]]),
            **after,
            "speaker_error_ratio_vs_before": round(after_errors / max(before_errors, 1e-9), 3),
        }
        print(f"{key}: {results['enrolled'][key]}", flush=True)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
