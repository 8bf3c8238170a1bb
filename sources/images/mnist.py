"""MNIST in its IDX format (``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``), read
with NumPy only, and the split this project uses: the first 8,000 of the 10,000 test images train,
the last 2,000 test (the 60,000 training images are not available offline).

Images come back as float32 intensities in [0, 1], ``[N, 1, 28, 28]``; rate coding into spike
trains is :func:`spikestream.sources.spike_encoding.rate_encode`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
TRAIN_IMAGES = 8_000  # of the 10,000: the rest are the test images
SHARED_MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"  # `--data mnist`


def mnist_folder(data: str | Path | None) -> Path:
    """The folder ``data`` names: ``None`` or ``"mnist"`` is :data:`SHARED_MNIST_DIR`."""
    return SHARED_MNIST_DIR if data in (None, "mnist") else Path(data)


class MnistFileError(ValueError):
    """An MNIST folder or IDX file that cannot be read; the message names the file."""


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (``.gz`` or plain): uint8 data with the dimensions its header states."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise MnistFileError(f"{path}: cannot be read ({error}); expected an MNIST IDX file") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise MnistFileError(f"{path}: found no IDX uint8 header; expected an MNIST IDX file")
    dimensions = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions)
    if body.size != int(np.prod(shape)):
        raise MnistFileError(f"{path}: holds {body.size} values, its header says {shape}; the file is truncated")
    return body.reshape(shape)


def load_mnist(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images [N, 1, 28, 28] float32 in [0, 1], labels [N] int64)`` from an MNIST folder."""
    folder = Path(folder)
    if not (folder / IMAGES_FILE).is_file():
        raise MnistFileError(f"{folder}: no {IMAGES_FILE}; expected the MNIST folder (e.g. ../shared/data/mnist)")
    images = read_idx(folder / IMAGES_FILE).astype(np.float32)[:, None] / 255.0
    labels = read_idx(folder / LABELS_FILE).astype(np.int64)
    if len(images) != len(labels):
        raise MnistFileError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images, labels


def mnist_split(folder: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(train, test)``: the first :data:`TRAIN_IMAGES` images and the rest, each ``(images, labels)``."""
    images, labels = load_mnist(folder)
    return (images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]), (images[TRAIN_IMAGES:], labels[TRAIN_IMAGES:])
