"""Out-of-vocabulary scores of speech autoencoders: which score, if any, tells other words from known
words on speakers never heard (issue #15's goal: AUROC >= 0.80), each beside input-level baselines
in the same run. Writes bench/results/oov_scores.json.

For each autoencoder (``--models``, comma-separated checkpoints) the same files are scored:

* normal: a sample of Speech Commands ``validation`` (yes / no / up / down by speakers absent
  from the training partition);
* anomalous, each apart: every clip of ``speech_commands/unknown`` (21 other words), those of them
  by speakers absent from the training partition (56 clips: 53 of its 73 speakers are heard in
  ``train``, and a voice sits closer to the bank than a word), and every ESC-10 clip of folds 1-4
  (non-speech);
* a *bank* for the distance scores: a sample of the model's own training clips (Speech Commands
  ``train`` and, where it was trained on them, FSDD takes 5-49) with their word labels.

Scores, each an AUROC (``anomaly_evaluation.auroc``) of anomalous against normal:

* ``ae_mse`` / ``ae_relative_error``: the shipped anomaly scores, each file streamed alone through
  the real pipeline (``anomaly_evaluation.file_score``);
* ``latent_knn``: each clip through the model once (``clip_steps``, the training's 0.3 s of silence
  around it), its latent spike rates over the speech part (the steps whose input spike count is
  at least 20 % of the clip's peak) in :data:`SEGMENTS` equal spans, standardised by the bank;
  score = mean Euclidean distance to the :data:`NEIGHBOURS` nearest bank clips;
* ``latent_mahalanobis``: the same vector's smallest Mahalanobis distance to a word's mean in the
  bank (shared covariance shrunk by :data:`SHRINKAGE`): distance to the nearest *known word*;
* ``input_knn`` / ``input_mahalanobis``: the same two on the input spike steps instead of the latent
  (the baseline: what the autoencoder's latent adds to its input).

With ``--paired CLASSIFIER`` (e.g. ``keywords``), the same question where a paired model asks it: at
each keyword detection of the classifier streaming beside the autoencoder, the relative error of
the last :data:`~spikestream.pipeline.relative_error.RELATIVE_WINDOW_STEPS` steps (the rule
``--anomaly-model`` uses) against ``latent_knn`` of the latent spikes of those same steps (one
segment; the bank: the detections on a sample of training clips). Normal: detections on the
validation clips; anomalous: detections on other words and on ESC-10 clips (false keywords).

Run (one torch thread; about 1 min per model on an idle core)::

    .venv/bin/python bench/bench_oov_scores.py --models speech-ae
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_autoencoders import REPO, SHARED, log, sample_paths  # noqa: E402  (the same sampling and paths)

RESULTS = REPO / "bench" / "results" / "oov_scores.json"
SEGMENTS = 3  # equal spans of the speech part, pooled apart (1-4 measured: within 0.02 of each other)
NEIGHBOURS = 5
SHRINKAGE = 0.1  # (1 − s)·covariance + s·(mean variance)·I
SPEECH_FRACTION = 0.2  # a step is speech when its input spike count is >= this share of the clip's peak


def speaker_of(path: Path) -> str:
    """A Speech Commands clip's speaker: its name up to ``_nohash_``."""
    return path.stem.split("_")[0]


def word_of(path: Path) -> str:
    """A clip's word: its Speech Commands folder, or ``digit-N`` for an FSDD file ``N_speaker_take.wav``."""
    return f"digit-{path.stem.split('_')[0]}" if path.suffix == ".wav" else path.parent.name


def pooled_rates(steps: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Spike rates ``[steps, features]`` of the speech span (``speech``: a bool per step) in SEGMENTS equal
    parts, concatenated → ``[SEGMENTS · features]``."""
    where = np.flatnonzero(speech)
    span = steps[where[0] : where[-1] + 1] if where.size else steps
    return np.concatenate([part.mean(axis=0) for part in np.array_split(span, SEGMENTS)])


def clip_vectors(loaded, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(latent vector, input vector)`` of one clip (see :func:`pooled_rates`)."""
    from spikestream.pipeline.training.autoencoder import clip_steps
    from spikestream.sources.audio.audio_file import read_audio
    from spikestream.sources.audio.front_end import AudioFrontEndConfig
    from spikestream.sources.spike_encoding import SpikeEncoder

    config = AudioFrontEndConfig.from_dict(loaded.config["front_end"])
    encoder = SpikeEncoder(config.encoder, config.mfcc.hop_ms / 1000.0)
    steps = clip_steps(read_audio(path, config.mfcc.sample_rate_hz), config, encoder)
    with torch.no_grad():
        _, latent, _ = loaded.model.forward_latent(steps)
    inputs = steps.reshape(steps.shape[0], -1).numpy()
    counts = inputs.sum(axis=1)
    speech = counts >= SPEECH_FRACTION * max(counts.max(), 1e-9)
    return pooled_rates(latent.reshape(latent.shape[0], -1).numpy(), speech), pooled_rates(inputs, speech)


def knn_distance(bank: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance of each query ``[N, D]`` to its NEIGHBOURS nearest bank rows ``[M, D]``."""
    squared = (queries**2).sum(1)[:, None] - 2 * queries @ bank.T + (bank**2).sum(1)[None]
    return np.sqrt(np.sort(np.maximum(squared, 0.0), axis=1)[:, :NEIGHBOURS]).mean(axis=1)


def mahalanobis_to_words(bank: np.ndarray, words: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Smallest squared Mahalanobis distance of each query to a word's mean (shared, shrunk covariance)."""
    names = sorted(set(words))
    means = np.stack([bank[words == name].mean(axis=0) for name in names])
    centred = bank - means[np.searchsorted(names, words)]
    covariance = centred.T @ centred / len(bank)
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * np.eye(len(covariance)) * np.trace(covariance) / len(
        covariance
    )
    precision = np.linalg.inv(covariance)
    return np.min([np.einsum("nd,de,ne->n", queries - m, precision, queries - m) for m in means], axis=0)


def detection_stretches(classifier, autoencoder, files: list[Path]) -> list[tuple[float, np.ndarray]]:
    """``(relative error, latent rates of the last RELATIVE_WINDOW_STEPS steps [embedding])`` at each
    keyword detection (not background, not the classifier's own "unknown") of ``classifier`` streaming
    each file beside ``autoencoder``, as ``PairedStreamingModel.process`` feeds them (same rate)."""
    import types

    from spikestream.pipeline.inputs import open_stream
    from spikestream.pipeline.relative_error import RELATIVE_WINDOW_STEPS
    from spikestream.pipeline.streaming_model import make_paired_model

    recent = {"latent": np.zeros((0, autoencoder.model.config.embedding))}

    def forward_recording_latent(network, x_seq, state=None):  # the autoencoder's forward, keeping its latent
        reconstruction, latent, state = network.forward_latent(x_seq, state)
        recent["latent"] = np.concatenate([recent["latent"], latent.reshape(latent.shape[0], -1).numpy()])
        recent["latent"] = recent["latent"][-RELATIVE_WINDOW_STEPS:]
        return reconstruction, state

    network = autoencoder.model
    network.forward = types.MethodType(forward_recording_latent, network)
    stretches = []
    try:
        for path in files:
            recent["latent"] = recent["latent"][:0]
            paired = make_paired_model(classifier, autoencoder, path.name)
            for chunk in [*open_stream(path, classifier), None]:
                if chunk is None:
                    paired.autoencoder.finish()
                    detections = paired.classifier.finish()
                else:
                    paired.autoencoder.process(chunk)
                    detections = paired.classifier.process(chunk)
                for detection in detections:
                    if detection.label not in ("background", "unknown"):
                        stretches.append((paired.autoencoder.recent.value(), recent["latent"].mean(axis=0)))
    finally:
        del network.forward
    return stretches


def score_paired(classifier_name: str, name: str, sets: dict[str, list[Path]], bank_count: int) -> dict:
    """AUROC at the classifier's keyword detections: relative error against latent kNN (module docstring)."""
    from spikestream.models.checkpoint import load_checkpoint
    from spikestream.pipeline.training.anomaly_evaluation import auroc

    classifier, autoencoder = load_checkpoint(classifier_name), load_checkpoint(name)
    started = time.perf_counter()
    bank_files = sample_paths(list((SHARED / "speech_commands" / "train").glob("*/*.flac")), bank_count, 1)
    bank = np.stack([latent for _, latent in detection_stretches(classifier, autoencoder, bank_files)])
    mean, std = bank.mean(axis=0), bank.std(axis=0) + 1e-6
    scores, counts = {}, {}
    for set_name, files in sets.items():
        stretches = detection_stretches(classifier, autoencoder, files)
        counts[set_name] = len(stretches)
        latent = np.stack([vector for _, vector in stretches]) if stretches else np.zeros((0, len(mean)))
        scores[set_name] = {
            "relative_error": np.array([relative for relative, _ in stretches]),
            "latent_knn": knn_distance((bank - mean) / std, (latent - mean) / std),
        }
        log(f"paired {classifier_name} + {name}: {set_name}: {len(files)} files, {len(stretches)} keyword detections")
    normal = scores["normal"]
    return {
        "classifier": classifier_name,
        "bank_detections": len(bank),
        "keyword_detections": counts,
        "auroc": {
            anomalous: {key: round(auroc(normal[key], scores[anomalous][key]), 4) for key in normal}
            for anomalous in sets
            if anomalous != "normal" and counts[anomalous]
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }


def score_model(name: str, sets: dict[str, list[Path]], bank_count: int) -> dict:
    from spikestream.models.checkpoint import load_checkpoint
    from spikestream.pipeline.training.anomaly_evaluation import auroc, file_score

    loaded = load_checkpoint(name)
    training = loaded.config.get("training", {})
    bank_files = sample_paths(list((SHARED / "speech_commands" / "train").glob("*/*.flac")), bank_count, 1)
    if any("fsdd" in extra for extra in training.get("settings", {}).get("extra_data") or []):
        takes = [p for p in (SHARED / "fsdd").glob("*.wav") if int(p.stem.rsplit("_", 1)[1]) >= 5]
        bank_files += sample_paths(takes, bank_count // 3, 1)
    started = time.perf_counter()
    bank = [clip_vectors(loaded, path) for path in bank_files]
    latent_bank, input_bank = (np.stack(column) for column in zip(*bank))
    words = np.array([word_of(path) for path in bank_files])
    scores: dict[str, dict[str, np.ndarray]] = {}
    for set_name, files in sets.items():
        vectors = [clip_vectors(loaded, path) for path in files]
        streamed = [file_score(loaded, path) for path in files]
        latent, inputs = (np.stack(column) for column in zip(*vectors))
        rows = {"ae_mse": [s["mse"] for s in streamed], "ae_relative_error": [s["relative_error"] for s in streamed]}
        for kind, queries, reference in (("latent", latent, latent_bank), ("input", inputs, input_bank)):
            mean, std = reference.mean(axis=0), reference.std(axis=0) + 1e-6
            rows[f"{kind}_knn"] = knn_distance((reference - mean) / std, (queries - mean) / std)
            rows[f"{kind}_mahalanobis"] = mahalanobis_to_words(reference, words, queries)
        scores[set_name] = {key: np.asarray(values, dtype=np.float64) for key, values in rows.items()}
        log(f"{name}: {set_name}: {len(files)} files")
    normal = scores["normal"]
    result = {
        "checkpoint": str(loaded.path),
        "trained_on": training.get("data"),
        "extra_data": training.get("settings", {}).get("extra_data"),
        "embedding": loaded.config.get("model", {}).get("embedding"),
        "target_delay_steps": loaded.config.get("model", {}).get("target_delay_steps"),
        "recurrent": loaded.config.get("model", {}).get("recurrent"),
        "bank_clips": len(bank_files),
        "bank_words": sorted(set(words.tolist())),
        "auroc": {
            anomalous: {key: round(auroc(normal[key], scores[anomalous][key]), 4) for key in normal}
            for anomalous in sets
            if anomalous != "normal"
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    for anomalous, row in result["auroc"].items():
        log(f"  {anomalous}: " + ", ".join(f"{key} {value:.3f}" for key, value in row.items()))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="speech-ae", help="comma-separated autoencoder checkpoints")
    parser.add_argument("--validation", type=int, default=400, help="normal clips sampled from validation")
    parser.add_argument("--bank", type=int, default=1500, help="Speech Commands training clips in the bank")
    parser.add_argument("--paired", default=None, help="also score at this classifier's detections, e.g. keywords")
    parser.add_argument("--paired-bank", type=int, default=800, help="training clips streamed for the paired bank")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.chdir(REPO)
    speech = SHARED / "speech_commands"
    heard = {speaker_of(path) for path in (speech / "train").glob("*/*.flac")}
    sets = {
        "normal": sample_paths(list((speech / "validation").glob("*/*.flac")), args.validation, 0),
        "other words (speech_commands/unknown)": sorted((speech / "unknown").glob("*/*.flac")),
        "other words by unheard speakers": [
            path for path in sorted((speech / "unknown").glob("*/*.flac")) if speaker_of(path) not in heard
        ],
        "non-speech (esc10 folds 1-4)": sorted((SHARED / "esc10").glob("fold*/*/*.ogg")),
    }
    out = Path(args.out)
    earlier = json.loads(out.read_text()).get("models", {}) if out.is_file() else {}
    results = {
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_average_at_start": os.getloadavg()},
        "files": {name: len(files) for name, files in sets.items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "models": earlier,  # models scored by earlier runs are kept (each entry records its own run)
    }
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        results["models"][name] = {**score_model(name, sets, args.bank), "run_at": results["run_at"]}
        if args.paired:
            results["models"][name]["paired"] = score_paired(args.paired, name, sets, args.paired_bank)
            for anomalous, row in results["models"][name]["paired"]["auroc"].items():
                figures = ", ".join(f"{key} {value:.3f}" for key, value in row.items())
                log(f"  at the detections of {args.paired}, {anomalous}: {figures}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")  # after every model: a later failure keeps the rest
    return 0


if __name__ == "__main__":
    sys.exit(main())
