"""Generalisation to a speaker the model never heard: leave one FSDD speaker out.

Trains the digit model on the other four speakers (takes 5–49, takes 0–4 held back as usual)
and streams all 500 clips of the left-out speaker through the pipeline:

* ``baseline``: FSDD only, speed perturbation ±12 % (the recipe before extra voices);
* ``extra-voices``: the same plus 720 clips of 36 synthetic espeak-ng voices
  (``recordings/make_espeak_digits.sh OUT train``; none of the four held-out espeak voices) and
  speed perturbation 0.8–1.25;
* ``rooms``: ``extra-voices`` plus a random smooth equaliser (±6 dB at 6 bands) on every clip and a
  synthetic room (RT60 0.1–0.6 s) on half of them (``--equaliser-db 6 --reverb-probability 0.5``);
* ``early-label``: ``extra-voices`` with the word's label as target from 30 % of the clip instead of
  50 % (``--decide-fraction 0.3``), so every step the segment decision sums has been trained;
* ``keyword-layers``: ``baseline`` whose three conv blocks are the shipped ``keywords`` model's,
  learned from 1,907 Speech Commands voices, and frozen (``--shared-layers-from keywords
  --freeze-shared-layers``; the keyword model's front end statistics); only the hidden and readout
  layers learn the digits from the four FSDD voices;
* ``keyword-layers-tuned``: the same, with the shared blocks trained further on the digits;
* ``spec-augment``: ``baseline`` with SpecAugment-style masks on the training MFCCs (two time spans of
  up to 80 ms, two bands of up to 3 of the 20 coefficients; ``--spec-augment 2,80,2,3``);
* ``speech-mean``: ``baseline`` whose features have the running mean of the speech heard so far
  removed (causal per-utterance cepstral mean normalisation, ``--speech-mean 300,50,0``;
  :mod:`spikestream.sources.audio.speech_mean`), in training and in the stream alike;
* ``speech-mean-strong``: the same with a prior of 5 frames instead of 50 (``--speech-mean 300,5,0``):
  nearly the whole mean of the word so far is removed.

``--merges extra-voices+rooms,...`` also streams the merged ensembles of those recipes' models
(``spikestream merge``; ``models/ensemble.py``), after every recipe they name has been trained.

All use the shipped decision settings of ``fsdd-digits`` (with its front end's level track, which
the level gate and the word-end decision read; the features stay those each model was trained on).
Checkpoints are kept under ``--work`` and reused when present, so an interrupted run resumes. Writes
``bench/results/unseen_speaker_<speaker>.json``, keeping the recipes of earlier runs that this run did
not measure (each recipe records the date it was measured; error ratios are then across runs).

Run: ``.venv/bin/python bench/bench_unseen_speaker.py [--speaker george] [--epochs 20]
[--recipes baseline,extra-voices,rooms] [--seed 1]`` (another seed: how much of a difference is luck)
(about 25 min per recipe on 2 cores). Errors of each recipe are reported as a ratio to the first of
``--recipes`` (default ``baseline``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from dataclasses import asdict, replace
from pathlib import Path

import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint
from spikestream.models.ensemble import merge_checkpoints
from spikestream.pipeline.training.audio import AudioTrainingSettings, train_audio
from spikestream.pipeline.training.evaluate import evaluate_audio
from spikestream.sources.audio.feature_masks import FeatureMaskConfig
from spikestream.sources.audio.speech_mean import SpeechMeanConfig
from spikestream.sources.audio.training_examples import CanvasConfig
from spikestream.sources.labelled_clips import list_labelled_clips

REPO = Path(__file__).resolve().parents[1]
FSDD = REPO.parent / "shared" / "data" / "fsdd"
RESULTS = REPO / "bench" / "results"


def recipes(extra_voices_dir: Path) -> dict[str, AudioTrainingSettings]:
    baseline = AudioTrainingSettings(threads=1, canvas=CanvasConfig(speed_range=(0.88, 1.12)))
    extra = AudioTrainingSettings(
        threads=1, canvas=CanvasConfig(speed_range=(0.8, 1.25)), extra_data=(str(extra_voices_dir),)
    )
    rooms = replace(extra, canvas=replace(extra.canvas, equaliser_max_db=6.0, reverb_probability=0.5))
    early_label = replace(extra, canvas=replace(extra.canvas, timing=replace(extra.canvas.timing, decide_fraction=0.3)))
    keyword_layers = replace(baseline, shared_layers_from="keywords", freeze_shared_layers=True)
    keyword_layers_tuned = replace(baseline, shared_layers_from="keywords")
    spec_augment = replace(baseline, feature_masks=FeatureMaskConfig(2, 80.0, 2, 3))
    speech_mean = replace(baseline, speech_mean=SpeechMeanConfig())
    speech_mean_strong = replace(baseline, speech_mean=SpeechMeanConfig(prior_frames=5.0))
    return {
        "baseline": baseline,
        "extra-voices": extra,
        "rooms": rooms,
        "early-label": early_label,
        "keyword-layers": keyword_layers,
        "keyword-layers-tuned": keyword_layers_tuned,
        "spec-augment": spec_augment,
        "speech-mean": speech_mean,
        "speech-mean-strong": speech_mean_strong,
    }


def with_shipped_decision(loaded: LoadedModel, shipped: dict) -> LoadedModel:
    """``loaded`` set to decide as the shipped model's config ``shipped`` does: its decision and the level track
    that decision reads (the features stay those ``loaded`` was trained on)."""
    loaded.config["decision"] = shipped["decision"]
    if shipped["front_end"].get("level_rise") is not None:
        loaded.config["front_end"]["level_rise"] = shipped["front_end"]["level_rise"]
    return loaded


def link_clips(out_dir: Path, keep) -> Path:
    """A folder of symlinks to the FSDD clips that satisfy ``keep(clip)`` (speaker, take)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for clip in list_labelled_clips(FSDD):
        if keep(clip) and not (out_dir / clip.path.name).exists():
            (out_dir / clip.path.name).symlink_to(clip.path.resolve())
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speaker", default="george")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/spikestream-unseen-speaker"))
    parser.add_argument(
        "--recipes",
        default="baseline,extra-voices,rooms,early-label",
        help="comma-separated; the first is the reference of the error ratios",
    )
    parser.add_argument(
        "--merges",
        default="extra-voices+rooms,extra-voices+early-label,extra-voices+rooms+early-label",
        help="comma-separated merges of recipes joined by '+'; '' for none",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed; another than 0 is reported as NAME-seedN")
    parser.add_argument(
        "--reference", help="recipe the error ratios refer to (default the first of --recipes; may be an earlier run's)"
    )
    args = parser.parse_args()
    chosen, available = args.recipes.split(","), list(recipes(Path()))  # names only; the folder does not matter here
    merges = [merge.split("+") for merge in args.merges.split(",") if merge]
    unknown = sorted(set(chosen).union(*merges) - set(available))
    if unknown:
        parser.error(
            f"--recipes {args.recipes!r} / --merges {args.merges!r}: unknown recipes {unknown}; "
            f"expected some of {available}"
        )
    torch.set_num_threads(1)
    train_dir = link_clips(args.work / f"without-{args.speaker}", lambda clip: clip.speaker != args.speaker)
    test_dir = link_clips(args.work / f"only-{args.speaker}", lambda clip: clip.speaker == args.speaker)
    voices_dir = args.work / "espeak-train"
    needs_voices = any(recipes(voices_dir)[name].extra_data for name in set(chosen).union(*merges))
    if needs_voices and not voices_dir.is_dir():  # the synthetic voices only for the recipes that train on them
        subprocess.run(
            ["bash", str(REPO / "recordings" / "make_espeak_digits.sh"), str(voices_dir), "train"], check=True
        )
    shipped = load_checkpoint("fsdd-digits").config
    results_file = RESULTS / f"unseen_speaker_{args.speaker}.json"
    earlier = json.loads(results_file.read_text()) if results_file.exists() else {}
    results = {
        "speaker": args.speaker,
        "epochs": args.epochs,
        "test_clips": len(list_labelled_clips(test_dir)),
        "recipes": {
            name: {"measured": "an earlier run", **recipe}
            for name, recipe in earlier.get("recipes", {}).items()
            if earlier.get("epochs") == args.epochs
        },
    }

    def settings_of(name: str) -> AudioTrainingSettings:
        return replace(recipes(voices_dir)[name], epochs=args.epochs, seed=args.seed)

    def key(name: str) -> str:
        """The recipe's name in the results and under ``--work`` (``-seedN`` for another seed)."""
        return name if args.seed == 0 else f"{name}-seed{args.seed}"

    def trained(name: str) -> LoadedModel:
        checkpoint = args.work / f"model-{args.speaker}-{key(name)}"
        if not (checkpoint / "weights.pt").exists():
            train_audio(train_dir, checkpoint, settings_of(name), name=f"without-{args.speaker}-{key(name)}")
        return load_checkpoint(checkpoint)

    def scored(loaded: LoadedModel, name: str) -> dict:
        with_shipped_decision(loaded, shipped)
        metrics = evaluate_audio(loaded, list_labelled_clips(test_dir))
        print(f"{name}: {metrics['accuracy']:.4f} on {results['test_clips']} clips of {args.speaker}", flush=True)
        return {
            "measured": datetime.date.today().isoformat(),
            "unseen_speaker_accuracy": metrics["accuracy"],
            "missed": metrics["missed"],
            "per_class_recall": metrics["per_class_recall"],
        }

    for name in chosen:
        results["recipes"][key(name)] = {
            "settings": json.loads(json.dumps(asdict(settings_of(name)))),
            **scored(trained(name), key(name)),
        }
    for members in merges:  # the members' front ends agree up to the espeak-train folder they were trained with
        results["recipes"][key("+".join(members))] = scored(
            merge_checkpoints([trained(name) for name in members]), key("+".join(members))
        )
    results["reference_recipe"] = reference_name = args.reference or chosen[0]
    if reference_name not in results["recipes"]:
        raise SystemExit(f"--reference {reference_name}: not measured for {args.speaker} at {args.epochs} epochs")
    reference = results["recipes"][reference_name]["unseen_speaker_accuracy"]
    for recipe in results["recipes"].values():
        recipe["error_ratio_vs_reference"] = (1 - recipe["unseen_speaker_accuracy"]) / max(1 - reference, 1e-9)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {
                name: {k: recipe[k] for k in ("unseen_speaker_accuracy", "error_ratio_vs_reference")}
                for name, recipe in results["recipes"].items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
