"""Training and evaluation of streaming gesture classifiers (``spikestream train gesture``).

Data: the project's synthetic DVS gestures (default; training and held-back samples come from
different seeds) or the tonic ``DVSGesture`` on-disk layout (``--data ROOT``: 128×128, 11 classes).
Every recording is padded with noise-only stretches and trained with per-step targets, with the
same Norse conv SNN, loss and checkpoint format as the audio classifier.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...models.checkpoint import LoadedModel, save_checkpoint
from ...models.conv_snn import ConvSNNClassifier, ConvSNNConfig
from ...sources.events.chunking import slice_span
from ...sources.events.event_array import SensorSize
from ...sources.events.front_end.framing import EventFrontEndConfig
from ...sources.events.simulation.dvs_gesture_dataset import DVSGestureFolder
from ...sources.events.simulation.gesture_examples import GestureExampleConfig, make_gesture_example, pad_with_noise
from ...sources.events.simulation.synthetic_gestures import GESTURE_CLASSES, GestureSimConfig, SyntheticGestures
from ...sources.step_targets import BACKGROUND_LABEL
from ..decisions import DecisionConfig
from .evaluate import LabelledInput, evaluate_inputs
from .loop import classification_loss, held_out_accuracy, progress_interval_s, train_epoch

HELD_OUT_SEED = 424_242  # synthetic evaluation gestures come from this seed, never trained on


@dataclass
class GestureTrainingSettings:
    train_count: int = 1650
    held_out_count: int = 220
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0
    background_weight: float = 0.2
    front_end: EventFrontEndConfig = field(
        default_factory=lambda: EventFrontEndConfig(
            sensor_width=128, sensor_height=128, bin_ms=50.0, downsample_factor=8, output_mode="counts"
        )
    )
    examples: GestureExampleConfig = field(default_factory=GestureExampleConfig)
    channels: tuple[int, ...] = (16, 32)
    kernel_t: tuple[int, ...] = (3, 1)
    dilation_t: tuple[int, ...] = (1, 1)
    downsample: str = "max-pool"  # "stride" (--hardware-friendly): strided convolutions, exactly exportable to NIR
    threads: int = 1
    # gestures follow each other without a pause: a new class may take over (allow_class_switch)
    decision: DecisionConfig = field(
        default_factory=lambda: DecisionConfig(
            window_steps=4,
            on_threshold=0.6,
            off_threshold=0.6,
            refractory_ms=500.0,
            max_active_ms=3000.0,
            allow_class_switch=True,
        )
    )


def gesture_dataset(data: str | None, count: int, seed: int, train: bool) -> tuple[list, list[str]]:
    """``(samples, class names)``; a sample is ``(events, class index)`` loaded lazily."""
    if data in (None, "synthetic"):
        return SyntheticGestures(count, seed=seed, config=GestureSimConfig()), list(GESTURE_CLASSES)
    folder = DVSGestureFolder(data, train=train)
    samples = [(lambda i=i: folder.load(i), int(label)) for i, (_, label) in enumerate(folder.samples)]
    return samples[:count] if count else samples, list(GESTURE_CLASSES)


def sample_events(sample) -> tuple[np.ndarray, int]:
    events, label = sample
    return (events() if callable(events) else events), int(label)


def build_examples(
    samples, settings: GestureTrainingSettings, rng: np.random.Generator, description: str
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    examples = []
    for index in tqdm(range(len(samples)), desc=description, file=sys.stderr, mininterval=progress_interval_s()):
        events, label = sample_events(samples[index])
        frames, targets = make_gesture_example(events, label + 1, settings.front_end, settings.examples, rng)
        examples.append((torch.from_numpy(np.minimum(frames, 255)).to(torch.uint8), torch.from_numpy(targets)))
    return examples


def collate(examples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest example: frames ``[T, B, 2, H, W]`` float32, targets ``[T, B]`` (padding ignored)."""
    steps = max(frames.shape[0] for frames, _ in examples)
    frames = torch.zeros((steps, len(examples)) + tuple(examples[0][0].shape[1:]))
    targets = torch.full((steps, len(examples)), -1, dtype=torch.int64)
    for column, (example_frames, example_targets) in enumerate(examples):
        frames[: example_frames.shape[0], column] = example_frames.float()
        targets[: example_targets.shape[0], column] = example_targets
    return frames, targets


def train_gesture(data: str | None, out_dir: str | Path, settings: GestureTrainingSettings) -> dict:
    """Synthetic gestures or a DVSGesture root → a gesture classifier checkpoint in ``out_dir``."""
    train_samples, classes = gesture_dataset(data, settings.train_count, settings.seed, train=True)
    held_samples, _ = gesture_dataset(data, settings.held_out_count, HELD_OUT_SEED, train=False)
    if len(train_samples) == 0:
        raise ValueError(f"{data}: no training gestures found")
    return train_event_classifier(
        train_samples, held_samples, classes, out_dir, settings, "gesture-classifier", {"data": data or "synthetic"}
    )


def train_event_classifier(
    train_samples,
    held_samples,
    classes: list[str],
    out_dir: str | Path,
    settings: GestureTrainingSettings,
    task: str,
    about: dict,
) -> dict:
    """Train a streaming event classifier on ``(events, class index)`` samples (noise-padded, per-step
    targets) and save it; ``about`` goes into the checkpoint's ``training`` record (data, simulator)."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    labels = [BACKGROUND_LABEL] + classes
    train_examples = build_examples(train_samples, settings, rng, "simulating/framing training recordings")
    held_examples = build_examples(held_samples, settings, np.random.default_rng(HELD_OUT_SEED), "held-out recordings")
    model = ConvSNNClassifier(ConvSNNConfig(
        input_shape=settings.front_end.output_shape, n_classes=len(labels), channels=settings.channels, kernel_size=3,
        kernel_t=settings.kernel_t, dilation_t=settings.dilation_t, hidden=128, step_ms=settings.front_end.bin_ms,
        downsample=settings.downsample,
        tau_syn_ms=settings.front_end.bin_ms, tau_mem_ms=2 * settings.front_end.bin_ms,
        hidden_tau_mem_ms=4 * settings.front_end.bin_ms,
        readout_tau_syn_ms=settings.front_end.bin_ms, readout_tau_mem_ms=2 * settings.front_end.bin_ms,
    ))  # fmt: skip
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    batches_per_epoch = -(-len(train_examples) // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=settings.epochs * batches_per_epoch
    )
    history, started = [], time.time()
    for epoch in range(settings.epochs):
        order = rng.permutation(len(train_examples))
        batches = (
            collate([train_examples[m] for m in order[k * settings.batch_size : (k + 1) * settings.batch_size]])
            for k in range(batches_per_epoch)
        )
        loss = train_epoch(
            model,
            optimiser,
            scheduler,
            batches,
            batches_per_epoch,
            classification_loss(settings.background_weight),
            f"epoch {epoch + 1}/{settings.epochs}",
        )
        accuracy = held_out_accuracy(
            model, (collate(held_examples[i : i + 64]) for i in range(0, len(held_examples), 64))
        )
        history.append({"epoch": epoch + 1, "loss": loss, "held_out_accuracy": accuracy})
        print(f"epoch {epoch + 1}: loss {loss:.4f}, held-out accuracy {accuracy:.4f}", file=sys.stderr)
    config = {
        "name": Path(out_dir).name,
        "task": task,
        "labels": labels,
        "front_end": settings.front_end.to_dict(),
        "decision": asdict(settings.decision),
        "training": {
            **about,
            "train_samples": len(train_examples),
            "held_out_samples": len(held_examples),
            "settings": {
                k: (v if not hasattr(v, "__dataclass_fields__") else asdict(v)) for k, v in asdict(settings).items()
            },
            "history": history,
            "seconds": round(time.time() - started, 1),
        },
    }
    save_checkpoint(out_dir, model.eval(), config)
    return config["training"]


def evaluate_gestures(loaded: LoadedModel, data: str | None, count: int, out_dir: str | Path | None) -> dict:
    """Stream held-out gestures (noise before and after) through the pipeline; first detection = prediction.

    ``count``: how many synthetic gestures (all the recordings of a DVSGesture layout when 0)."""
    front_end = EventFrontEndConfig.from_dict(loaded.config["front_end"])
    sensor = SensorSize(front_end.sensor_width, front_end.sensor_height)
    samples, classes = gesture_dataset(data, count, HELD_OUT_SEED, train=False)
    rng = np.random.default_rng(HELD_OUT_SEED + 1)

    def padded_chunks(index: int):
        events, _ = sample_events(samples[index])
        padded, onset_us, duration_us = pad_with_noise(events, sensor, 300_000, 600_000, 0.1, rng)
        return slice_span(padded, 0, onset_us + duration_us + 600_000)

    labels = samples.labels if isinstance(samples, SyntheticGestures) else [label for _, label in samples]
    inputs = [
        LabelledInput(f"gesture-{index}", classes[int(label)], lambda index=index: padded_chunks(index))
        for index, label in enumerate(labels)
    ]
    return evaluate_inputs(loaded, inputs, classes, out_dir, {"data": data or f"synthetic (seed {HELD_OUT_SEED})"})
