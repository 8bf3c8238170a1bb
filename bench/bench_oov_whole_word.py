"""How far can reconstruction go at rejecting other words? Whole-word, non-spiking models on aligned
MFCC windows — an upper bound for issue #15's goal (AUROC >= 0.80 against other words by speakers
never heard), measured beside input-level baselines in the same run. Writes
bench/results/oov_whole_word.json.

The shipped autoencoders reconstruct frame by frame (``bench_oov_scores.py``: 0.53–0.62). This bench
asks whether *any* reconstruction of these features does better when it sees the whole word at
once and must squeeze it through one code, and whether training it to reconstruct *other* speech
badly (outlier exposure) carries over to words it never saw.

Features: each clip's 20 MFCCs (librosa, 16 kHz, 32 ms window, 10 ms hop, 40 mel bands) in a window
of :data:`WINDOW_FRAMES` frames centred on the clip's energy centroid, standardised per coefficient
on the training clips → ``[WINDOW_FRAMES, 20]`` per clip.

Files: normal = 400 Speech Commands ``validation`` clips (yes / no / up / down, unheard speakers);
training = 4,000 ``train`` clips of the same words; anomalous = the other words
(``speech_commands/unknown``, 21 words) by speakers absent from ``train`` (56 clips), all 284, and
the ten words no outlier exposure below ever shows (the even ones in sorted order: all their clips,
and those by unheard speakers).

Models, each scored by the AUROC of its per-clip mean squared reconstruction error:

* baselines: PCA with k components fitted on the training clips (k = 16, 64), and the mean squared
  distance to the 5 nearest training clips;
* ``conv_ae``: a 1-D convolutional autoencoder over time (20 → 64 → 96 → 128 channels, stride 2,
  one code of :data:`CODE` numbers for the whole window, mirrored decoder), trained one-class;
* ``conv_ae`` with outlier exposure: the same, plus a hinge ``relu(MARGIN − error(negative))`` on a
  batch of negatives per step, with three choices of negatives — FSDD spoken digits (other words,
  another corpus); half of the 21 other words (the odd ones in sorted order, clips by heard speakers
  only), scored on the other half; and every other word by heard speakers (the tested words themselves,
  by other voices: no longer a model of the known words only).

Run (two torch threads; about 10 minutes)::

    .venv/bin/python bench/bench_oov_whole_word.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_autoencoders import REPO, SHARED, log, sample_paths  # noqa: E402  (the same sampling and paths)
from bench_oov_scores import speaker_of  # noqa: E402

RESULTS = REPO / "bench" / "results" / "oov_whole_word.json"
SAMPLE_RATE_HZ = 16_000
WINDOW_FRAMES = 64  # 10 ms frames: 640 ms, a Speech Commands word
COEFFICIENTS = 20
CODE = 32
MARGIN = 1.5  # negatives' error pushed above this (standardised units; training error ≈ 0.4)
EPOCHS = 40
BATCH = 64


def aligned_mfcc(path: Path) -> np.ndarray:
    """``[WINDOW_FRAMES, COEFFICIENTS]`` MFCCs of a clip centred on its energy centroid (edge-padded)."""
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        samples = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE_HZ)
    mfcc = librosa.feature.mfcc(y=samples, sr=SAMPLE_RATE_HZ, n_mfcc=COEFFICIENTS, n_fft=512, hop_length=160, n_mels=40)
    weights = np.exp((mfcc[0] - mfcc[0].max()) / 10.0)  # c0 is log energy: the loud part dominates
    centre = int(round((weights * np.arange(mfcc.shape[1])).sum() / weights.sum()))
    padded = np.pad(mfcc, ((0, 0), (WINDOW_FRAMES, WINDOW_FRAMES)), mode="edge")
    start = centre + WINDOW_FRAMES - WINDOW_FRAMES // 2
    return padded[:, start : start + WINDOW_FRAMES].T


class WholeWordAutoencoder(nn.Module):
    """``[batch, WINDOW_FRAMES, COEFFICIENTS]`` → one code of CODE numbers → the same shape."""

    def __init__(self) -> None:
        super().__init__()
        frames = WINDOW_FRAMES // 8
        self.encode = nn.Sequential(
            nn.Conv1d(COEFFICIENTS, 64, 5, 2, 2),
            nn.ReLU(),
            nn.Conv1d(64, 96, 5, 2, 2),
            nn.ReLU(),
            nn.Conv1d(96, 128, 5, 2, 2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(128 * frames, CODE),
        )
        self.decode = nn.Sequential(
            nn.Linear(CODE, 128 * frames),
            nn.Unflatten(1, (128, frames)),
            nn.ReLU(),
            nn.ConvTranspose1d(128, 96, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose1d(96, 64, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose1d(64, COEFFICIENTS, 4, 2, 1),
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(windows.transpose(1, 2))).transpose(1, 2)

    def errors(self, windows: np.ndarray) -> np.ndarray:
        """Mean squared error per clip ``[N]``."""
        with torch.no_grad():
            inputs = torch.from_numpy(windows)
            return ((self(inputs) - inputs) ** 2).mean(dim=(1, 2)).numpy()


def train_autoencoder(
    normal: np.ndarray, negatives: np.ndarray | None, seed: int = 0
) -> tuple[WholeWordAutoencoder, float]:
    """Adam 2e-3, EPOCHS epochs of BATCH clips; with ``negatives``, a hinge on BATCH // 2 of them per step.
    Returns the model and its last batch's reconstruction loss."""
    torch.manual_seed(seed)
    model = WholeWordAutoencoder()
    optimiser = torch.optim.Adam(model.parameters(), 2e-3)
    clips = torch.from_numpy(normal)
    others = torch.from_numpy(negatives) if negatives is not None else None
    for _ in range(EPOCHS):
        order = torch.randperm(len(clips))
        for start in range(0, len(clips), BATCH):
            batch = clips[order[start : start + BATCH]]
            reconstruction = ((model(batch) - batch) ** 2).mean()
            loss = reconstruction
            if others is not None:
                negative = others[torch.randint(len(others), (BATCH // 2,))]
                loss = loss + torch.relu(MARGIN - ((model(negative) - negative) ** 2).mean(dim=(1, 2))).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model, reconstruction.item()


def main() -> int:
    from spikestream.pipeline.training.anomaly_evaluation import auroc

    torch.set_num_threads(2)
    os.chdir(REPO)
    started = time.perf_counter()
    speech = SHARED / "speech_commands"
    heard = {speaker_of(path) for path in (speech / "train").glob("*/*.flac")}
    other_words = sorted((speech / "unknown").glob("*/*.flac"))
    words = sorted({path.parent.name for path in other_words})
    exposed_words = set(words[1::2])
    files = {
        "train": sample_paths(list((speech / "train").glob("*/*.flac")), 4000, 1),
        "normal": sample_paths(list((speech / "validation").glob("*/*.flac")), 400, 0),
        "other words by unheard speakers": [p for p in other_words if speaker_of(p) not in heard],
        "all other words": other_words,
        "the other half of the other words": [p for p in other_words if p.parent.name not in exposed_words],
        "the other half by unheard speakers": [
            p for p in other_words if p.parent.name not in exposed_words and speaker_of(p) not in heard
        ],
        "negatives: fsdd": sample_paths(list((SHARED / "fsdd").glob("*.wav")), 600, 2),
        "negatives: half the other words": [
            p for p in other_words if p.parent.name in exposed_words and speaker_of(p) in heard
        ],
        "negatives: other words": [p for p in other_words if speaker_of(p) in heard],
    }
    raw = {name: np.stack([aligned_mfcc(path) for path in paths]) for name, paths in files.items()}
    mean, std = raw["train"].mean(axis=(0, 1)), raw["train"].std(axis=(0, 1)) + 1e-6
    windows = {name: ((values - mean) / std).astype(np.float32) for name, values in raw.items()}
    log(f"features of {sum(len(p) for p in files.values())} clips in {time.perf_counter() - started:.0f} s")
    flat = {name: values.reshape(len(values), -1) for name, values in windows.items()}
    scored_sets = [
        "other words by unheard speakers",
        "all other words",
        "the other half of the other words",
        "the other half by unheard speakers",
    ]

    def aurocs(score) -> dict:
        normal = score(flat["normal"], windows["normal"])
        return {name: round(auroc(normal, score(flat[name], windows[name])), 4) for name in scored_sets}

    results: dict[str, dict] = {}
    centre = flat["train"].mean(axis=0)
    _, _, components = np.linalg.svd(flat["train"] - centre, full_matrices=False)
    for k in (16, 64):
        basis = components[:k]
        residual = lambda rows, _w, basis=basis: (  # noqa: E731
            ((rows - centre) - (rows - centre) @ basis.T @ basis) ** 2
        ).mean(axis=1)
        results[f"baseline: pca {k}"] = {"auroc": aurocs(residual)}
    bank = flat["train"]

    def nearest(rows: np.ndarray, _w) -> np.ndarray:
        squared = (rows**2).sum(1)[:, None] - 2 * rows @ bank.T + (bank**2).sum(1)[None]
        return np.sort(squared, axis=1)[:, :5].mean(axis=1) / rows.shape[1]

    results["baseline: 5 nearest training clips"] = {"auroc": aurocs(nearest)}
    for name, negatives in (
        ("conv_ae, one-class", None),
        ("conv_ae + outlier exposure: fsdd digits", "negatives: fsdd"),
        ("conv_ae + outlier exposure: half the other words", "negatives: half the other words"),
        ("conv_ae + outlier exposure: the other words by heard speakers", "negatives: other words"),
    ):
        began = time.perf_counter()
        model, loss = train_autoencoder(windows["train"], windows[negatives] if negatives else None)
        results[name] = {
            "auroc": aurocs(lambda _f, w, model=model: model.errors(w)),
            "train_loss": round(loss, 4),
            "negatives": len(files[negatives]) if negatives else 0,
            "train_s": round(time.perf_counter() - began, 1),
        }
        log(f"{name}: {results[name]}")
    for name, row in results.items():
        log(f"{name}: {row['auroc']}")
    output = {
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_average_at_start": os.getloadavg()},
        "files": {name: len(paths) for name, paths in files.items()},
        "exposed_words": sorted(exposed_words),
        "features": f"{COEFFICIENTS} MFCCs x {WINDOW_FRAMES} frames of 10 ms, centred on the energy centroid",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_s": round(time.perf_counter() - started, 1),
        "models": results,
    }
    RESULTS.write_text(json.dumps(output, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
