"""What a trained autoencoder offers beside anomaly scores: samples from a VAE's prior
(``spikestream sample``) and latent spike-count embeddings (``spikestream embed``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ...models.checkpoint import LoadedModel
from ...sources.audio.audio_file import read_audio
from ...sources.audio.front_end import AudioFrontEndConfig
from ...sources.images.mnist import mnist_folder, mnist_split
from ...sources.labelled_clips import list_labelled_clips
from ...sources.spike_encoding import SpikeEncoder, rate_encode
from .autoencoder import clip_steps, is_mnist

AUDIO_SAMPLE_STEPS = 100  # one second of 10 ms hops per sampled audio sequence


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sample_grid(loaded: LoadedModel, out: Path, count: int, seed: int) -> str:
    """``count`` draws from the prior as a PNG grid: images (time-mean of the reconstruction) for
    image models, MFCC × time for audio models; returns a summary line."""
    front_end = loaded.config["front_end"]
    steps = int(front_end.get("steps", AUDIO_SAMPLE_STEPS))
    with torch.no_grad():
        drawn = loaded.model.sample(count, steps, generator=torch.Generator().manual_seed(seed))  # [T, n, *input_shape]
    pictures = (
        drawn.mean(dim=0)[:, 0].numpy()
        if front_end.get("kind") == "images"
        else drawn[:, :, 0].permute(1, 2, 0).numpy()
    )
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    plt = _pyplot()
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.1 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(
                np.clip(pictures[index], 0, 1) if front_end.get("kind") == "images" else pictures[index],
                cmap="gray",
                aspect="auto",
            )
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return f"{out}: {count} samples of {loaded.name} ({loaded.model_kind}, {steps} steps each)"


def folder_sequences(loaded: LoadedModel, data: str) -> tuple[list[torch.Tensor], list[str], list[str]]:
    """The inputs of ``data`` as spike steps ``[T, B, ...]`` (batches), with labels and names."""
    front_end = loaded.config["front_end"]
    if front_end.get("kind") == "images":
        if not is_mnist(data):
            raise ValueError(f"--data {data}: model {loaded.name!r} takes MNIST images; pass --data mnist")
        _, (images, labels) = mnist_split(mnist_folder(str(data)))
        generator = torch.Generator().manual_seed(0)
        batches = []
        for start in range(0, len(images), 256):
            x = torch.from_numpy(images[start : start + 256]).unsqueeze(0)
            batches.append(
                rate_encode(
                    x, front_end["step_ms"] / 1000, front_end["max_rate_hz"], 0.0, front_end["steps"], generator
                )
            )
        return batches, [str(label) for label in labels], [f"mnist-test-{i}" for i in range(len(images))]
    config = AudioFrontEndConfig.from_dict(front_end)
    encoder = SpikeEncoder(config.encoder, config.mfcc.hop_ms / 1000.0)
    clips = list_labelled_clips(data)
    sequences = [clip_steps(read_audio(clip.path, config.mfcc.sample_rate_hz), config, encoder) for clip in clips]
    return sequences, [clip.label for clip in clips], [str(clip.path) for clip in clips]


def embed_folder(loaded: LoadedModel, data: str, out: Path, plot: Path | None) -> str:
    """Latent spike counts per input ``[N, embedding]`` into ``out`` (npz: embeddings, labels, paths),
    and a 2-D PCA view coloured by label into ``plot``; returns a summary line."""
    sequences, labels, names = folder_sequences(loaded, data)
    counts = []
    with torch.no_grad():
        for steps in sequences:
            latent, _ = loaded.model.encode(steps)
            counts.append(latent.sum(dim=0).numpy())
    embeddings = np.concatenate(counts).astype(np.float32)
    np.savez(out, embeddings=embeddings, labels=np.array(labels), paths=np.array(names))
    if plot is not None:
        centred = embeddings - embeddings.mean(axis=0)
        _, _, axes_pca = np.linalg.svd(centred, full_matrices=False)
        view = centred @ axes_pca[:2].T
        plt = _pyplot()
        figure, axis = plt.subplots(figsize=(5, 4.5))
        for label in sorted(set(labels)):
            chosen = np.array(labels) == label
            axis.scatter(view[chosen, 0], view[chosen, 1], s=6, label=label)
        axis.legend(fontsize=6, markerscale=2, ncol=2)
        axis.set_title(f"{loaded.name}: latent spike counts, PCA")
        figure.tight_layout()
        figure.savefig(plot, dpi=100)
        plt.close(figure)
    return f"{out}: {len(embeddings)} embeddings of {embeddings.shape[1]} latent spike counts" + (
        f"; {plot}" if plot else ""
    )
