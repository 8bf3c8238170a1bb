"""Latency of a spoken word: deciding when the input falls after it (``end_fall_db``) against
waiting for the readout's background to return (the segment decision's close), in the same run.

Each clip is streamed as a live microphone hears it — quiet room noise (white, −70 dBFS RMS) for
``LEAD_S`` before it and ``TAIL_S`` after it, live-size blocks, no framing silence — through the
checkpoint's front end, network and decision with each decision setting below. Prediction = first
detection; latency = its stream time − the end of the word (the last 20 ms frame within 25 dB of the
clip's loudest, as ``bench_keywords.py`` defines it). Non-speech: ESC-10 recordings end to end as one
stream, false keywords per 10 minutes (every ``--every-esc``-th file).

- ``keywords`` on the Speech Commands validation speakers (every ``--every``-th clip): its setting
  is chosen here, on speakers the model was selected on, never on a test set;
- ``fsdd-digits`` on the 250 FSDD test takes: the digit model has no validation speakers, so its
  setting was chosen on these takes and the demo recording (README: its figures are optimistic).

Run: ``.venv/bin/python bench/bench_word_end.py [--every 3] [--only NAME]`` (about 14 minutes on one core).
Writes ``bench/results/word_end.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

from spikestream.models.checkpoint import LoadedModel, load_checkpoint
from spikestream.pipeline.inputs import AUDIO_BLOCK_MS, sample_rate_hz
from spikestream.pipeline.runtime import run_stream
from spikestream.pipeline.streaming_model import make_streaming_model
from spikestream.pipeline.training.evaluate import evaluation_clips, samples_chunks
from spikestream.sources.audio.audio_file import read_audio
from spikestream.sources.step_targets import UNKNOWN_LABEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_keywords import word_end_s  # noqa: E402  (the end of a word as the keyword bench measures it)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
LEAD_S, TAIL_S = 0.3, 0.6
ROOM_DB = -70.0
ALL_STEPS = {"end_evidence_start_fraction": 0.0}
NO_GATE = {"min_rise_db": None}  # keywords without the level gate (the digit model keeps its own, see main)
SETTINGS = {  # name → decision overrides; "background returns": the segment's close (the previous releases)
    "background returns": {"end_fall_db": None, **NO_GATE},
    "background returns, evidence from 50%": {"end_fall_db": None, "evidence_start_fraction": 0.5, **NO_GATE},
    **{
        f"word end 20 dB, {hold:.0f} ms, all steps": {
            "end_fall_db": 20.0,
            "end_hold_ms": hold,
            **ALL_STEPS,
            **NO_GATE,
        }
        for hold in (100.0, 150.0, 200.0)
    },
    **{  # evidence from half-way: the word's first syllables, before the readout has heard it, left out
        f"word end {fall:.0f} dB, {hold:.0f} ms, evidence from 50%": {
            "end_fall_db": fall,
            "end_hold_ms": hold,
            "end_evidence_start_fraction": 0.5,
            **NO_GATE,
        }
        for fall, hold in ((20.0, 150.0), (20.0, 200.0), (20.0, 250.0), (15.0, 200.0), (25.0, 200.0), (30.0, 150.0))
    },
    "background returns, level gate 10 dB": {"end_fall_db": None, "min_rise_db": 10.0},
    "word end 20 dB, 200 ms, evidence from 50%, level gate 10 dB": {
        "end_fall_db": 20.0,
        "end_hold_ms": 200.0,
        "end_evidence_start_fraction": 0.5,
        "min_rise_db": 10.0,
    },
}


def without_gate_override(overrides: dict) -> dict:
    """The digit model keeps its own level gate (``min_rise_db``) in every row."""
    return {name: value for name, value in overrides.items() if name != "min_rise_db"}


def variant(loaded: LoadedModel, overrides: dict) -> LoadedModel:
    """The checkpoint with the audio front end's level track on (it changes no spike step) and its
    decision settings replaced by ``overrides`` (``None`` included: turning a setting off)."""
    changed = copy.copy(loaded)
    changed.config = copy.deepcopy(loaded.config)
    if changed.config["front_end"].get("level_rise") is None:
        changed.config["front_end"]["level_rise"] = {}
    changed.config["decision"].update(overrides)
    return changed


def first_detections(loaded: LoadedModel, samples: np.ndarray, name: str) -> list:
    model = make_streaming_model(loaded, name, live=True)
    return run_stream(samples_chunks(samples, sample_rate_hz(loaded), AUDIO_BLOCK_MS), model, sinks=[]).detections


def word_figures(loaded: LoadedModel, clips: list) -> dict:
    rate = sample_rate_hz(loaded)
    rng = np.random.default_rng(0)  # the same room for every setting
    right, latencies_ms = 0, []
    for clip in clips:
        samples = read_audio(clip.path, rate)
        lead = rng.standard_normal(int(LEAD_S * rate)) * 10 ** (ROOM_DB / 20)
        tail = rng.standard_normal(int(TAIL_S * rate)) * 10 ** (ROOM_DB / 20)
        heard = np.concatenate([lead, samples, tail]).astype(np.float32)
        detections = first_detections(loaded, heard, clip.path.name)
        if detections and detections[0].label == clip.label:
            right += 1
            word_end_ms = 1000.0 * (LEAD_S + word_end_s(samples, rate))
            latencies_ms.append(detections[0].time_us / 1000.0 - word_end_ms)
    return {
        "clips": len(clips),
        "accuracy": right / len(clips),
        "latency_from_word_end_ms": {
            "p50": float(np.percentile(latencies_ms, 50)),
            "p99": float(np.percentile(latencies_ms, 99)),
        },
    }


def nonspeech_false_keywords(loaded: LoadedModel, paths: list[Path]) -> dict:
    rate = sample_rate_hz(loaded)
    samples = np.concatenate([read_audio(path, rate) for path in paths])
    keywords = set(loaded.labels[1:]) - {UNKNOWN_LABEL}
    false = [d for d in first_detections(loaded, samples, "esc10") if d.label in keywords]
    minutes = samples.size / rate / 60.0
    return {"minutes": round(minutes, 2), "false_keywords_per_10_min": 10.0 * len(false) / minutes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keywords", default="keywords")
    parser.add_argument("--digits", default="fsdd-digits")
    parser.add_argument("--every", type=int, default=3, help="every N-th validation clip (default 3: 510)")
    parser.add_argument("--every-esc", type=int, default=4, help="every N-th ESC-10 recording (default 4)")
    parser.add_argument("--out", type=Path, default=RESULTS / "word_end.json")
    parser.add_argument("--only", help="run the settings whose name contains this; the others are kept from --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keywords, digits = load_checkpoint(args.keywords), load_checkpoint(args.digits)
    validation = evaluation_clips(DATA / "speech_commands" / "validation", "all")[:: args.every]
    digit_clips = evaluation_clips(DATA / "fsdd", "test")
    esc = sorted((DATA / "esc10").rglob("*.ogg"))[:: args.every_esc]
    results: dict = {"keywords": args.keywords, "digits": args.digits, "room_dbfs": ROOM_DB, "settings": {}}
    earlier = json.loads(args.out.read_text())["settings"] if args.only and args.out.exists() else {}
    for name, overrides in SETTINGS.items():
        if args.only and args.only not in name:
            if name in earlier:
                results["settings"][name] = earlier[name]
            continue
        keywords_variant = variant(keywords, overrides)
        row = {
            "overrides": overrides,
            "keywords_validation": word_figures(keywords_variant, validation),
            "keywords_esc10": nonspeech_false_keywords(keywords_variant, esc),
            "digits_fsdd_test": word_figures(variant(digits, without_gate_override(overrides)), digit_clips),
        }
        results["settings"][name] = row
        print(name, json.dumps(row), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
