"""How the segment decision pools a word's evidence, judged on speakers the models never heard.

The shipped rule (``pipeline/decision.py``) sums the step probabilities of a segment's first 75 %
and takes the class with the largest sum. This bench compares it, in the same run and on the same
per-step readouts, with other poolings:

* ``skip-first-15%`` / ``skip-first-30%``: the same sum without the segment's first syllables
  (``evidence_start_fraction``), where "six" and "seven" still sound alike;
* ``log-sum``: sum of log-probabilities (a product of per-step likelihoods, as if steps were independent);
* ``later-weighted``: weights rising linearly from 0.5 to 1.5 across the segment.

Judged on the leave-one-speaker-out models of ``bench/bench_unseen_speaker.py`` (run it first; its
checkpoints are read from ``--work``): every clip of the left-out speaker is streamed once through
the real runtime, its readout kept, and each pooling decides on it. The shipped model's accuracy on
the FSDD test takes is reported beside, for information only (the rule is not chosen on it).
Writes ``bench/results/decision_pooling.json``.

Run: ``.venv/bin/python bench/bench_decision_pooling.py [--speakers george,lucas] [--recipe extra-voices]``
(about 1 minute per speaker).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint
from spikestream.pipeline.decisions import DecisionConfig, SegmentDecision
from spikestream.pipeline.streaming_model import StreamingModel, make_streaming_model
from spikestream.pipeline.training.evaluate import evaluation_clips, stream_clip
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.front_end import AudioFrontEndConfig
from spikestream.sources.labelled_clips import LabelledClip

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd"
RESULTS = REPO / "bench" / "results"


class LogSumDecision(SegmentDecision):
    def segment_evidence(self, probabilities: np.ndarray) -> np.ndarray:
        return np.log(probabilities + 1e-4).sum(axis=0)


class LaterWeightedDecision(SegmentDecision):
    def segment_evidence(self, probabilities: np.ndarray) -> np.ndarray:
        return (np.linspace(0.5, 1.5, len(probabilities))[:, None] * probabilities).sum(axis=0)


def poolings(shipped: DecisionConfig) -> dict[str, tuple[type[SegmentDecision], DecisionConfig]]:
    return {
        "shipped (sum of first 75 %)": (SegmentDecision, shipped),
        "skip-first-15%": (SegmentDecision, replace(shipped, evidence_start_fraction=0.15)),
        "skip-first-30%": (SegmentDecision, replace(shipped, evidence_start_fraction=0.3)),
        "log-sum": (LogSumDecision, shipped),
        "later-weighted": (LaterWeightedDecision, shipped),
    }


class ReadoutRecorder(StreamingModel):
    """Runs the model like the live path but keeps the readout ``[T, K]`` instead of deciding."""

    readout: list[np.ndarray]

    def _run_steps(self, steps: torch.Tensor, available_ns: int) -> list:
        if steps.shape[0]:
            with torch.no_grad():
                logits, self.state = self.network(steps, self.state)
            self.readout.append(logits[:, 0].numpy())
        return []


def readouts(loaded: LoadedModel, clips: list[LabelledClip]) -> list[np.ndarray]:
    """Each clip streamed alone exactly as ``spikestream evaluate`` streams it (``evaluate.stream_clip``)."""
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    kept = []
    for clip in clips:
        model = make_streaming_model(loaded, clip.path.name)
        recorder = ReadoutRecorder(loaded, model.front_end, model.decision, clip.path.name)
        recorder.readout = []
        stream_clip(loaded, read_audio(clip.path, rate), clip.path.name, model=recorder)
        kept.append(np.concatenate(recorder.readout))
    return kept


def accuracy(
    readout_per_clip: list[np.ndarray],
    clips: list[LabelledClip],
    labels: list[str],
    decision_class,
    config: DecisionConfig,
    step_us: int,
) -> float:
    """First detection's label against the clip's label (no detection counts as wrong)."""
    correct = 0
    for readout, clip in zip(readout_per_clip, clips):
        decisions = decision_class(config, len(labels), step_us).update(readout)
        correct += bool(decisions) and labels[decisions[0].class_index] == clip.label
    return correct / len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speakers", default="george,lucas")
    parser.add_argument("--recipe", default="extra-voices")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spikestream-unseen-speaker"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    shipped = load_checkpoint("fsdd-digits")
    shipped_decision = DecisionConfig(**shipped.config["decision"])
    step_us = AudioFrontEndConfig.from_dict(shipped.config["front_end"]).step_us
    tables: dict[str, dict[str, float]] = {}
    for speaker in args.speakers.split(","):
        checkpoint = args.work / f"model-{speaker}-{args.recipe}"
        if not (checkpoint / "weights.pt").exists():
            parser.error(f"{checkpoint} has no weights.pt: run bench/bench_unseen_speaker.py --speaker {speaker} first")
        model = load_checkpoint(checkpoint)
        clips = evaluation_clips(args.work / f"only-{speaker}", "all")
        kept = readouts(model, clips)
        tables[f"unseen {speaker} ({len(clips)} clips, model without {speaker})"] = {
            name: accuracy(kept, clips, model.labels, decision_class, config, step_us)
            for name, (decision_class, config) in poolings(shipped_decision).items()
        }
    test_clips = evaluation_clips(FSDD, "test")
    kept = readouts(shipped, test_clips)
    tables[f"shipped fsdd-digits on the FSDD test takes ({len(test_clips)} clips; information only)"] = {
        name: accuracy(kept, test_clips, shipped.labels, decision_class, config, step_us)
        for name, (decision_class, config) in poolings(shipped_decision).items()
    }
    results = {"recipe": args.recipe, "shipped_decision": asdict(shipped_decision), "accuracy": tables}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "decision_pooling.json").write_text(json.dumps(results, indent=2) + "\n")
    for table, row in tables.items():
        print(table)
        for name, value in row.items():
            print(f"  {name:30s} {100 * value:6.2f} %")


if __name__ == "__main__":
    main()
