"""Keywords for any voice: the shipped ``keywords`` SNN against a non-spiking baseline, in the same run.

Every figure streams real recordings through the same runtime as live input, prediction = first
detection, on data the model was never trained on:

- **four words** (yes / no / up / down) by the speakers of Speech Commands' official *validation*
  partition (other people than the 1,907 training speakers): bare one-second clips as recorded
  (``replay`` of a file), and the same clips followed by 0.6 s of quiet room noise as a live
  microphone would continue, for the latency;
- **latency** from the end of the word (the last 20 ms frame within 25 dB of the clip's loudest) to
  the detection, p50 and p99;
- **other words**: the FSDD test takes (250 spoken digits, another corpus, never heard), right when
  no keyword is reported (``unknown`` or nothing);
- **non-speech**: ESC-10 (five-second field recordings: dogs, rain, chainsaws, …) as continuous
  streams, false keywords per 10 minutes: folds 1–3 (240 clips, 20 min; a model trained with them as
  background noise, ``--noise .../esc10/fold1`` …, or ``--background-recordings``, has heard these)
  and fold 4 (80 clips, 6.7 min, never trained on by any shipped keyword recipe: the figure that
  matters), and both together;
- **real-time factor** of the whole streaming path on one thread over that stream.

Baseline, same run: ``mfcc-logreg``, a logistic regression on each whole clip's MFCC mean and
standard deviation (the model's own front end), trained on the same train and unknown folders. It
sees the whole clip at once and cannot stream or reject silence, so it is a floor for the words.

With ``--anomaly-model speech-ae`` every set is streamed a second time, the classifier beside the
speech autoencoder (``make_paired_model``: what it cannot reconstruct becomes "unknown"), and both
runs go to ``bench/results/keywords_paired.json`` (no logistic baseline then: the classifier alone is
the baseline).

Run: ``.venv/bin/python bench/bench_keywords.py [--model keywords] [--every 1] [--anomaly-model AE]``
(about 10 minutes on one core, twice that paired; ``--every 3`` scores every third clip). Writes
``bench/results/keywords.json``.
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
from spikestream.pipeline.streaming_model import make_paired_model, make_streaming_model
from spikestream.pipeline.training.baseline import BASELINE_NAME, MfccLogisticBaseline
from spikestream.pipeline.training.evaluate import evaluation_clips, samples_chunks
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.audio.augment import speech_bounds, trim_silence
from spikestream.sources.audio.front_end import AudioFrontEndConfig
from spikestream.sources.labelled_clips import list_labelled_clips
from spikestream.sources.step_targets import UNKNOWN_LABEL

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
COMMANDS = DATA / "speech_commands"
RESULTS = REPO / "bench" / "results"
LIVE_TAIL_S = 0.6
WORD_FLOOR_DB = 25.0
ESC_SETS = {"nonspeech_esc10_folds_1_3": ("fold1", "fold2", "fold3"), "nonspeech_esc10_fold_4": ("fold4",)}


def stream(loaded: LoadedModel, samples: np.ndarray, name: str, anomaly: LoadedModel | None = None) -> list:
    """Every detection of ``samples [N]`` streamed in live-size blocks (beside ``anomaly``, an autoencoder
    that marks what it cannot reconstruct "unknown", when given)."""
    chunks = samples_chunks(samples, sample_rate_hz(loaded), AUDIO_BLOCK_MS)
    model = make_streaming_model(loaded, name) if anomaly is None else make_paired_model(loaded, anomaly, name)
    return run_stream(chunks, model, sinks=[]).detections


def word_end_s(samples: np.ndarray, rate_hz: int) -> float:
    """Where the word ends: the last 20 ms frame within ``WORD_FLOOR_DB`` of the loudest (no margin)."""
    return speech_bounds(samples, rate_hz, WORD_FLOOR_DB)[1] / rate_hz


def keyword_figures(loaded: LoadedModel, clips: list, rng: np.random.Generator, anomaly=None) -> dict:
    """Bare-clip accuracy, live (tailed) accuracy and latency from the end of the word."""
    rate = sample_rate_hz(loaded)
    bare_right = live_right = 0
    latencies_ms = []
    for clip in clips:
        samples = read_audio(clip.path, rate)
        bare = stream(loaded, samples, clip.path.name, anomaly)
        bare_right += bool(bare) and bare[0].label == clip.label
        tail = (rng.standard_normal(int(LIVE_TAIL_S * rate)) * 10 ** (-70 / 20)).astype(np.float32)
        live = stream(loaded, np.concatenate([samples, tail]), clip.path.name, anomaly)
        if live and live[0].label == clip.label:
            live_right += 1
            latencies_ms.append(live[0].time_us / 1000.0 - 1000.0 * word_end_s(samples, rate))
    return {
        "clips": len(clips),
        "accuracy_bare_clips": bare_right / len(clips),
        "accuracy_live_tail": live_right / len(clips),
        "latency_from_word_end_ms": {
            "p50": float(np.percentile(latencies_ms, 50)),
            "p99": float(np.percentile(latencies_ms, 99)),
        }
        if latencies_ms
        else None,
    }


def other_word_figures(loaded: LoadedModel, clips: list, anomaly=None) -> dict:
    rate = sample_rate_hz(loaded)
    keywords = set(loaded.labels[1:]) - {UNKNOWN_LABEL}
    false_keywords = []
    for clip in clips:
        detections = stream(loaded, read_audio(clip.path, rate), clip.path.name, anomaly)
        false_keywords += [d.label for d in detections[:1] if d.label in keywords]
    return {
        "clips": len(clips),
        "rejected": 1.0 - len(false_keywords) / len(clips),
        "false_keywords": {k: false_keywords.count(k) for k in sorted(set(false_keywords))},
    }


def nonspeech_figures(loaded: LoadedModel, paths: list[Path], name: str, anomaly=None) -> dict:
    """One continuous stream of ``paths`` end to end: false keywords per 10 minutes and the RTF."""
    rate = sample_rate_hz(loaded)
    samples = np.concatenate([read_audio(path, rate) for path in paths])
    torch.set_num_threads(1)
    started = time.perf_counter()
    detections = stream(loaded, samples, name, anomaly)
    seconds = time.perf_counter() - started
    keywords = set(loaded.labels[1:]) - {UNKNOWN_LABEL}
    false = [d for d in detections if d.label in keywords]
    minutes = samples.size / rate / 60.0
    return {
        "minutes": round(minutes, 2),
        "false_keywords": len(false),
        "false_keywords_per_10_min": 10.0 * len(false) / minutes,
        "unknown_reports": sum(d.label == UNKNOWN_LABEL for d in detections),
        "real_time_factor_one_thread": seconds / (samples.size / rate),
    }


def nonspeech_sets(loaded: LoadedModel, sets: dict[str, list[Path]], anomaly=None) -> dict:
    """:func:`nonspeech_figures` of each set of recordings (one stream each) and of all together
    (``nonspeech_esc10_folds_1_4``: the false keywords and minutes summed)."""
    figures = {key: nonspeech_figures(loaded, paths, key, anomaly) for key, paths in sets.items()}
    minutes = sum(f["minutes"] for f in figures.values())
    false = sum(f["false_keywords"] for f in figures.values())
    figures["nonspeech_esc10_folds_1_4"] = {
        "minutes": round(minutes, 2),
        "false_keywords": false,
        "false_keywords_per_10_min": 10.0 * false / minutes,
        "unknown_reports": sum(f["unknown_reports"] for f in figures.values()),
    }
    return figures


def baseline_figures(loaded: LoadedModel, validation: list, other_words: list) -> dict:
    """``mfcc-logreg`` trained on the model's own training folders, scored on the same clips."""
    settings = loaded.config["training"]["settings"]
    front_end = AudioFrontEndConfig.from_dict(loaded.config["front_end"])
    rate = sample_rate_hz(loaded)
    train = list_labelled_clips(loaded.config["training"]["data"])
    unknown = [clip for folder in settings.get("unknown_data", []) for clip in list_labelled_clips(folder)]
    trim_db = settings.get("trim_db") or WORD_FLOOR_DB
    baseline = MfccLogisticBaseline(front_end.mfcc).fit(
        [trim_silence(read_audio(c.path, rate), rate, trim_db) for c in train + unknown],
        [clip.label for clip in train] + [UNKNOWN_LABEL] * len(unknown),
    )

    def predict(clips: list) -> list[str]:
        return baseline.predict([read_audio(c.path, rate) for c in clips])

    words = predict(validation)
    digits = predict(other_words)
    return {
        "name": BASELINE_NAME,
        "accuracy_whole_clips": float(np.mean([p == c.label for p, c in zip(words, validation)])),
        "other_words_rejected": float(np.mean([p == UNKNOWN_LABEL for p in digits])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="keywords")
    parser.add_argument("--every", type=int, default=1, help="score every N-th clip (default all)")
    parser.add_argument("--out", type=Path, help="default bench/results/keywords.json (keywords_paired.json)")
    parser.add_argument(
        "--anomaly-model", help="also stream every set beside this autoencoder (its 'unknown' marks), same run"
    )
    args = parser.parse_args()
    args.out = args.out or RESULTS / ("keywords_paired.json" if args.anomaly_model else "keywords.json")
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    rng = np.random.default_rng(0)
    validation = evaluation_clips(COMMANDS / "validation", "all")[:: args.every]
    other_words = evaluation_clips(DATA / "fsdd", "test")[:: args.every]
    esc_folds = {
        key: sorted(p for fold in folds for p in (DATA / "esc10" / fold).rglob("*.ogg"))[:: args.every]
        for key, folds in ESC_SETS.items()
    }
    print(f"{args.model}: {len(validation)} validation clips, {len(other_words)} other words", file=sys.stderr)
    results = {
        "model": args.model,
        "keywords_validation_speakers": keyword_figures(loaded, validation, rng),
        "other_words_fsdd_test_digits": other_word_figures(loaded, other_words),
        **nonspeech_sets(loaded, esc_folds),
    }
    if args.anomaly_model:  # the pair against the classifier alone (above), on the same clips
        anomaly = load_checkpoint(args.anomaly_model)
        results["every"] = args.every
        results[f"paired_with_{anomaly.name}"] = {
            "keywords_validation_speakers": keyword_figures(loaded, validation, np.random.default_rng(0), anomaly),
            "other_words_fsdd_test_digits": other_word_figures(loaded, other_words, anomaly),
            **nonspeech_sets(loaded, esc_folds, anomaly),
        }
    else:
        results["baseline"] = baseline_figures(loaded, validation, other_words)
        snn, base = results["keywords_validation_speakers"], results["baseline"]
        results["ratio_accuracy_snn_bare_over_baseline"] = snn["accuracy_bare_clips"] / base["accuracy_whole_clips"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
