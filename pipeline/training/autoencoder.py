"""Training spiking autoencoders and VAEs (``spikestream train autoencoder``), and their calibration.

Data, by ``--data``:

- ``mnist`` (or an MNIST folder): the first 8,000 of the 10,000 images train, the last 2,000 test;
  each image is rate-coded into ``T`` spike steps (``p = dt·f_max·x``, 16 steps of 10 ms, ``f_max`` = 100 Hz),
  the target is the image's intensity ``x`` at every step;
- a folder of audio clips (labels are ignored: every clip is "normal"): the streaming MFCC front
  end with the training set's statistics and the direct encoder, each clip with silence around it
  (a live stream is mostly silence between words), cut into windows of ``window_steps``; the target
  is the input itself, ``target_delay_steps`` (default 8) steps earlier (see
  :func:`~spikestream.models.autoencoder.delayed_target`); held back: FSDD's test takes 0–4, or a
  tenth of the speakers;
- ``gestures`` (the project's synthetic DVS gestures, as ``train gesture`` uses) or a DVSGesture root:
  every gesture between stretches of sensor noise, through the event front end of
  ``settings.event_front_end`` (128×128 → 16×16 cells, 25 ms bins, ``ln(1 + count)`` per cell, so a
  busy hand does not outweigh everything else); held-back gestures come from another seed. Labels
  in ``exclude_labels`` are left out of training (gesture classes never seen, for the
  out-of-distribution check).

After training, the anomaly threshold is calibrated on held-back normal data: the window means of
the per-step reconstruction error, streamed exactly as the pipeline streams them, are kept (a
sorted sample of at most 1,000) in the checkpoint's ``calibration``; the decision's
``score_threshold`` is their quantile at ``1 − false_alarm_rate``, and ``--false-alarm-rate`` picks
another one at run time (:func:`threshold_at`). Beside them, for streams, ``relative_scores``: the
relative error of each held-back stream's last steps (:mod:`spikestream.pipeline.relative_error`),
whose quantile at the same rate a paired classifier's "unknown" uses.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...models.autoencoder import aligned_steps, delayed_target, settled_state
from ...models.checkpoint import load_checkpoint, save_checkpoint
from ...models.losses import autoencoder_loss
from ...models.registry import MODEL_KINDS
from ...sources.audio.audio_file import read_audio
from ...sources.audio.front_end import AudioFrontEndConfig, features_to_steps
from ...sources.audio.mfcc import MfccConfig
from ...sources.events.front_end.framing import EventFrontEndConfig
from ...sources.events.simulation.dvs_gesture_dataset import is_dvs_gesture_root
from ...sources.events.simulation.gesture_examples import GestureExampleConfig, make_gesture_example
from ...sources.events.simulation.synthetic_gestures import GESTURE_CLASSES
from ...sources.images.mnist import mnist_folder, mnist_split
from ...sources.labelled_clips import hold_back, list_labelled_clips
from ...sources.spike_encoding import EncoderConfig, SpikeEncoder, rate_encode
from ..decisions import DecisionConfig
from ..decisions.anomaly import calibration_sample, threshold_at
from ..relative_error import RELATIVE_WINDOW_STEPS, last_relative_error
from ..streaming_model import reconstruction_error
from .audio import clip_features, feature_statistics
from .hot_pixels import HOT_PIXEL_LABEL, hot_pixel_threshold, pixel_rate_calibration
from .loop import progress_interval_s, train_epoch

AUDIO_TARGET_DELAY_STEPS = 8  # FSDD + keywords, sae (16, 32): held-out nRMSE 0.99 at d = 0, 0.78 at 6, 0.74 at 8
AUTOENCODER_LABELS = ["score", "anomaly"]  # class 0: a periodic score record, class 1: an anomaly detection
EVENT_AUTOENCODER_LABELS = AUTOENCODER_LABELS + [HOT_PIXEL_LABEL]  # class 2: the hot-pixel rule's detection
CALIBRATION_SAMPLES = 1_000


@dataclass
class AutoencoderTrainingSettings:
    """Hyper-parameters of ``spikestream train autoencoder`` (all recorded in the checkpoint)."""

    kind: str = "sae"
    embedding: int = 64
    kernel_size: int = 3
    channels: tuple[int, ...] = (16, 32)
    recurrent: bool = False
    encoder: str = "rate"
    max_rate_hz: float = 100.0  # a white pixel spikes at every 10 ms step: p = dt · f_max · x = x
    steps: int = 16  # time steps per image (MNIST, as the FSVAE paper)
    step_ms: float = 10.0  # MNIST step (the neurons' dt); audio uses its 10 ms hop
    window_steps: int = 120  # training window of an audio stream (1.2 s of 10 ms hops)
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0
    threads: int = 1  # small networks: a second thread costs more than it gains on 2 shared cores
    max_train_items: int = 0  # 0 = all
    false_alarm_rate: float = 0.01
    extra_data: tuple[str, ...] = ()  # more folders of normal clips, all used for training
    decision_window_steps: int = 10
    target_delay_steps: int | None = None  # x̂_t reconstructs x_{t−d}; None: AUDIO_TARGET_DELAY_STEPS for audio, else 0
    mfcc: MfccConfig = field(default_factory=MfccConfig)
    gesture_count: int = 800  # events: training gestures (synthetic; all of a DVSGesture root when 0)
    held_out_gestures: int = 110
    exclude_labels: tuple[str, ...] = ()  # events: gesture classes kept out of training
    event_front_end: EventFrontEndConfig = field(
        default_factory=lambda: EventFrontEndConfig(
            sensor_width=128, sensor_height=128, bin_ms=25.0, downsample_factor=8, output_mode="log-counts"
        )
    )


@dataclass
class AutoencoderData:
    """What one kind of training data gives the training loop (see the module docstring).

    ``make_batches()`` yields ``(input steps [T, B, *input_shape], targets of the same shape)`` for
    one epoch; ``held_batches`` score the held-back reconstruction each epoch; ``held_sequences``
    (``[T, 1, *input_shape]`` each, streamed from rest) calibrate the threshold."""

    input_shape: tuple[int, ...]
    step_ms: float
    front_end: dict
    make_batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]
    batch_count: int
    held_batches: list[tuple[torch.Tensor, torch.Tensor]]
    held_sequences: list[torch.Tensor]
    train_count: int
    held_count: int
    target_delay_steps: int = 0  # the default of this kind of data (AUDIO_TARGET_DELAY_STEPS for audio)
    held_recordings: list[np.ndarray] | None = None  # events: held-back recordings (calibrate the hot-pixel rule)


def is_mnist(data: str | Path) -> bool:
    return str(data) == "mnist" or (Path(data) / "t10k-images-idx3-ubyte.gz").is_file()


SYNTHETIC_GESTURES = ("gestures", "synthetic")  # --data names of the project's synthetic DVS gestures


def is_gestures(data: str | Path) -> bool:
    """``gestures`` (synthetic) or a DVSGesture root (tonic's on-disk layout)."""
    return str(data) in SYNTHETIC_GESTURES or is_dvs_gesture_root(data)


def mnist_batches(
    images: np.ndarray, settings: AutoencoderTrainingSettings, rng: np.random.Generator, generator: torch.Generator
):
    """Rate-coded spike steps ``[T, B, 1, 28, 28]`` and intensity targets of the same shape."""
    order = rng.permutation(len(images))
    for start in range(0, len(order), settings.batch_size):
        x = torch.from_numpy(images[order[start : start + settings.batch_size]])
        targets = x.unsqueeze(0).expand(settings.steps, *x.shape)
        spikes = rate_encode(
            x.unsqueeze(0), settings.step_ms / 1000.0, settings.max_rate_hz, 0.0, settings.steps, generator
        )
        yield spikes, targets.contiguous()


def clip_steps(
    samples: np.ndarray, front_end: AudioFrontEndConfig, encoder: SpikeEncoder, pad_s: float = 0.3
) -> torch.Tensor:
    """One clip with ``pad_s`` of silence on both sides → spike steps ``[T, 1, C, F]`` (streaming MFCC)."""
    silence = np.zeros(int(pad_s * front_end.mfcc.sample_rate_hz), np.float32)
    encoder.reset()
    return features_to_steps(
        clip_features(np.concatenate([silence, samples, silence]), front_end.mfcc), front_end, encoder
    )


def audio_windows(clips: list[torch.Tensor], window_steps: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """A random window of ``window_steps`` from each clip's steps (zero-padded when shorter)."""
    windows = []
    for steps in clips:
        if steps.shape[0] < window_steps:
            steps = torch.cat([steps, torch.zeros((window_steps - steps.shape[0], *steps.shape[1:]))])
        start = int(rng.integers(0, steps.shape[0] - window_steps + 1))
        windows.append(steps[start : start + window_steps])
    return windows


def window_means(errors: torch.Tensor, window_steps: int) -> np.ndarray:
    """Sliding-window means of per-step errors ``[T, B]`` over full windows: ``[(T − w + 1) · B]``."""
    if errors.shape[0] < window_steps:
        return np.zeros(0)
    return errors.unfold(0, window_steps, 1).mean(dim=-1).reshape(-1).numpy()


def calibrate(model: torch.nn.Module, sequences: list[torch.Tensor], window_steps: int) -> dict:
    """Window scores of held-back normal sequences ``[T, B, ...]``, each from the state a stream starts in
    (:func:`~spikestream.models.autoencoder.settled_state`)."""
    model.eval()
    scores, relative = [], []
    with torch.no_grad():
        for steps in sequences:
            reconstruction, _ = model(steps, settled_state(model, steps))
            target, _ = delayed_target(steps, model.config.target_delay_steps)
            scores.append(window_means(reconstruction_error(reconstruction, target), window_steps))
            if steps.shape[1] == 1:  # streams only (none for MNIST's batches of images)
                relative.append(last_relative_error(reconstruction, steps, target))
    scores, relative = np.concatenate(scores), np.sort(np.asarray(relative))
    return {
        "window_steps": window_steps, "windows": int(len(scores)),
        "window_scores": calibration_sample(scores, CALIBRATION_SAMPLES),
        **({"relative_window_steps": RELATIVE_WINDOW_STEPS, "relative_scores": [float(v) for v in relative]}
           if relative.size else {}),
    }  # fmt: skip


def write_reconstruction_png(inputs: np.ndarray, reconstructions: np.ndarray, path: Path, title: str) -> None:
    """Inputs (top row) beside their reconstructions (bottom row); each ``[N, H, W]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(inputs)
    figure, axes = plt.subplots(2, count, figsize=(1.2 * count, 2.6), squeeze=False)
    for column in range(count):
        for row, images in enumerate((inputs, reconstructions)):
            axes[row, column].imshow(images[column], cmap="gray", aspect="auto")
            axes[row, column].axis("off")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def build_model(
    settings: AutoencoderTrainingSettings, input_shape: tuple[int, ...], step_ms: float, target_delay_steps: int = 0
) -> torch.nn.Module:
    """The network of ``settings.kind``; ``target_delay_steps`` applies unless the settings name one."""
    kind = MODEL_KINDS.get(settings.kind)
    if kind is None or kind.outputs != "reconstruction":
        raise ValueError(f"--kind {settings.kind!r}: expected one of sae, fsvae, esvae")
    time_constants = {}
    if step_ms > 10.0:  # event bins: constants in steps, as the event classifiers have them; the readout
        # follows its input within a step (τ_mem = dt), a reconstruction of the bin just closed
        time_constants = {
            "tau_syn_ms": step_ms, "tau_mem_ms": 2 * step_ms, "embedding_tau_mem_ms": 4 * step_ms,
            "readout_tau_syn_ms": step_ms, "readout_tau_mem_ms": step_ms,
        }  # fmt: skip
    config = kind.config_class(
        input_shape=tuple(input_shape), channels=tuple(settings.channels), kernel_size=settings.kernel_size,
        embedding=settings.embedding, recurrent=settings.recurrent, step_ms=step_ms, **time_constants,
        target_delay_steps=target_delay_steps if settings.target_delay_steps is None else settings.target_delay_steps,
    )  # fmt: skip
    return kind.module_class(config)


def mnist_data(data: str, settings: AutoencoderTrainingSettings, rng, generator) -> AutoencoderData:
    (train_images, _), (test_images, _) = mnist_split(mnist_folder(str(data)))
    if settings.max_train_items:
        train_images = train_images[: settings.max_train_items]
    held_batches = list(
        mnist_batches(test_images[:256], settings, np.random.default_rng(1), torch.Generator().manual_seed(1))
    )
    return AutoencoderData(
        input_shape=(1, 28, 28), step_ms=settings.step_ms,
        front_end={"kind": "images", "steps": settings.steps, "step_ms": settings.step_ms,
                   "max_rate_hz": settings.max_rate_hz},
        make_batches=lambda: mnist_batches(train_images, settings, rng, generator),
        batch_count=-(-len(train_images) // settings.batch_size), held_batches=held_batches,
        held_sequences=[spikes for spikes, _ in held_batches], train_count=len(train_images),
        held_count=len(test_images),
    )  # fmt: skip


def audio_data(data: str, settings: AutoencoderTrainingSettings, rng) -> AutoencoderData:
    clips = list_labelled_clips(data)
    train_clips, held_clips = hold_back(clips)  # never clips of a trained voice, unless FSDD test takes
    if not held_clips:  # the threshold is calibrated on held-back normal data: there must be some
        raise ValueError(
            f"{data}: all {len(clips)} clips are one speaker's, so none can be held back to calibrate the "
            "anomaly threshold; expected clips of two speakers or more, or FSDD names with takes 5 and above"
        )
    for folder in settings.extra_data:
        train_clips = train_clips + list_labelled_clips(folder)
    if settings.max_train_items and len(train_clips) > settings.max_train_items:
        chosen = np.sort(rng.choice(len(train_clips), settings.max_train_items, replace=False))
        train_clips = [train_clips[i] for i in chosen]
    rate = settings.mfcc.sample_rate_hz
    train_audio = [
        read_audio(c.path, rate)
        for c in tqdm(train_clips, desc="reading clips", file=sys.stderr, mininterval=progress_interval_s())
    ]
    mean, std = feature_statistics(train_audio[:2000], settings.mfcc)  # the classifier trainer's statistics
    front_end_config = AudioFrontEndConfig(
        mfcc=settings.mfcc, encoder=EncoderConfig(name="direct", steps_per_frame=1),
        feature_mean=tuple(float(v) for v in mean), feature_std=tuple(float(v) for v in std),
    )  # fmt: skip
    encoder = SpikeEncoder(front_end_config.encoder, settings.mfcc.hop_ms / 1000.0, seed=settings.seed)
    train_steps = [clip_steps(a, front_end_config, encoder) for a in train_audio]
    held_steps = [clip_steps(read_audio(c.path, rate), front_end_config, encoder) for c in held_clips[:300]]

    def make_batches():
        order = rng.permutation(len(train_steps))
        for start in range(0, len(order), settings.batch_size):
            chosen = [train_steps[i] for i in order[start : start + settings.batch_size]]
            windows = torch.cat(audio_windows(chosen, settings.window_steps, rng), dim=1)
            yield windows, windows

    return AutoencoderData(
        input_shape=front_end_config.input_shape, step_ms=front_end_config.step_us / 1000.0,
        front_end=front_end_config.to_dict(), make_batches=make_batches,
        batch_count=-(-len(train_steps) // settings.batch_size),
        held_batches=[(steps, steps) for steps in held_steps[:64]], held_sequences=held_steps,
        train_count=len(train_steps), held_count=len(held_clips), target_delay_steps=AUDIO_TARGET_DELAY_STEPS,
    )  # fmt: skip


def gesture_frames(
    samples, settings: AutoencoderTrainingSettings, seed: int, description: str, recordings: list | None = None
) -> list[torch.Tensor]:
    """Noise-padded gestures → frames ``[T, 1, 2, H, W]`` each, skipping ``exclude_labels`` classes (their
    events appended to ``recordings`` when given)."""
    from .gesture import sample_events

    rng, examples = np.random.default_rng(seed), []
    classes = list(GESTURE_CLASSES)
    for index in tqdm(range(len(samples)), desc=description, file=sys.stderr, mininterval=progress_interval_s()):
        events, label = sample_events(samples[index])
        if classes[label] in settings.exclude_labels:
            continue
        frames, _ = make_gesture_example(events, label + 1, settings.event_front_end, GestureExampleConfig(), rng)
        examples.append(torch.from_numpy(frames).unsqueeze(1))
        if recordings is not None:
            recordings.append(events)
    return examples


def gesture_data(data: str, settings: AutoencoderTrainingSettings, rng) -> AutoencoderData:
    from .gesture import HELD_OUT_SEED, gesture_dataset

    unknown = sorted(set(settings.exclude_labels) - set(GESTURE_CLASSES))
    if unknown:
        raise ValueError(f"--exclude-labels {','.join(unknown)}: not gesture classes; expected some of "
                         f"{', '.join(GESTURE_CLASSES)}")  # fmt: skip
    source = None if str(data) in SYNTHETIC_GESTURES else str(data)
    train_samples, _ = gesture_dataset(source, settings.gesture_count, settings.seed, train=True)
    held_samples, _ = gesture_dataset(source, settings.held_out_gestures, HELD_OUT_SEED, train=False)
    train = gesture_frames(train_samples, settings, settings.seed, "simulating/framing training gestures")
    held_recordings: list[np.ndarray] = []
    held = gesture_frames(held_samples, settings, HELD_OUT_SEED, "held-out gestures", held_recordings)
    if not train:
        raise ValueError(f"--data {data}: no training gestures left (all excluded or none found)")

    def make_batches():
        order = rng.permutation(len(train))
        for start in range(0, len(order), settings.batch_size):
            frames = pad_sequences([train[i] for i in order[start : start + settings.batch_size]])
            yield frames, frames

    front_end = settings.event_front_end
    return AutoencoderData(
        input_shape=front_end.output_shape, step_ms=front_end.bin_ms, front_end=front_end.to_dict(),
        make_batches=make_batches, batch_count=-(-len(train) // settings.batch_size),
        held_batches=[(frames, frames) for frames in (pad_sequences(held[i : i + 32]) for i in range(0, 64, 32))],
        held_sequences=held, train_count=len(train), held_count=len(held), held_recordings=held_recordings,
    )  # fmt: skip


def pad_sequences(sequences: list[torch.Tensor]) -> torch.Tensor:
    """``[T_i, 1, ...]`` each → ``[max T, B, ...]``, zeros after a shorter one's end (a quiet scene)."""
    steps = max(sequence.shape[0] for sequence in sequences)
    padded = torch.zeros((steps, len(sequences)) + tuple(sequences[0].shape[2:]))
    for column, sequence in enumerate(sequences):
        padded[: sequence.shape[0], column] = sequence[:, 0]
    return padded


def train_autoencoder(data: str, out_dir: str | Path, settings: AutoencoderTrainingSettings) -> dict:
    """Train, calibrate, save a checkpoint (and ``reconstructions.png``) into ``out_dir``.

    Returns its training record.
    """
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    out_dir = Path(out_dir)
    started = time.time()
    if is_mnist(data):
        prepared = mnist_data(data, settings, rng, generator)
    elif is_gestures(data):
        prepared = gesture_data(data, settings, rng)
    else:
        prepared = audio_data(data, settings, rng)
    model = build_model(settings, prepared.input_shape, prepared.step_ms, prepared.target_delay_steps)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=settings.epochs * prepared.batch_count
    )
    loss_of = lambda network, batch: autoencoder_loss(network, batch[0], batch[1])[0]  # noqa: E731
    history = []
    for epoch in range(settings.epochs):
        epoch_started = time.perf_counter()
        loss = train_epoch(
            model, optimiser, scheduler, prepared.make_batches(), prepared.batch_count, loss_of,
            f"epoch {epoch + 1}/{settings.epochs}",
        )  # fmt: skip
        epoch_s = round(time.perf_counter() - epoch_started, 2)  # the optimiser steps, not the scoring below
        held = held_out_reconstruction(model, prepared.held_batches)
        history.append({"epoch": epoch + 1, "loss": loss, **held, "train_s": epoch_s})
        print(f"epoch {epoch + 1}: loss {loss:.4f}, held-out mse {held['mse']:.5f}, nrmse {held['nrmse']:.4f} "
              f"(per-feature-mean baseline nrmse {held['baseline_nrmse']:.4f})", file=sys.stderr)  # fmt: skip
    calibration = calibrate(model, prepared.held_sequences, settings.decision_window_steps)
    threshold = threshold_at(calibration, settings.false_alarm_rate)
    hot_pixel_rate_hz, labels = None, AUTOENCODER_LABELS
    if prepared.held_recordings:  # events: the hot-pixel rule, calibrated on the same held-back recordings
        front_end = EventFrontEndConfig.from_dict(prepared.front_end)
        window = DecisionConfig.hot_pixel_window_steps
        calibration.update(pixel_rate_calibration(prepared.held_recordings, front_end, window))
        hot_pixel_rate_hz = hot_pixel_threshold(calibration, settings.false_alarm_rate, front_end.bin_us)
        labels = EVENT_AUTOENCODER_LABELS
    decision = DecisionConfig(
        mode="anomaly", window_steps=settings.decision_window_steps, score_threshold=threshold, refractory_ms=500.0,
        hot_pixel_rate_hz=hot_pixel_rate_hz,
    )  # fmt: skip
    config = {
        "name": out_dir.name,
        "task": "autoencoder",
        "labels": labels,
        "front_end": prepared.front_end,
        "decision": asdict(decision),
        "calibration": {**calibration, "false_alarm_rate": settings.false_alarm_rate},
        "training": {
            "data": str(data), "train_items": prepared.train_count, "held_out_items": prepared.held_count,
            "settings": json.loads(json.dumps(asdict(settings))), "history": history,
            "seconds": round(time.time() - started, 1),
            "command": "spikestream " + " ".join(sys.argv[1:]) if sys.argv and "spikestream" in sys.argv[0] else None,
        },
    }  # fmt: skip
    save_checkpoint(out_dir, model.eval(), config)
    write_examples_png(model, prepared.held_batches, out_dir / "reconstructions.png", out_dir.name)
    return config["training"]


def held_out_reconstruction(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Held-out MSE, nRMSE = RMSE(X, X̂) / σ_X, and the trivial baseline's nRMSE (predicting the
    per-feature mean of the held-out targets at every step); ``x̂_t`` against ``x_{t−d}`` (the model's
    ``target_delay_steps``) over the steps that have one, as the loss scores it."""
    model.eval()
    squared, baseline, variance, count = 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        pairs = [aligned_steps(model(steps)[0], target, model.config.target_delay_steps) for steps, target in batches]
        targets = torch.cat([target.reshape(-1, *target.shape[2:]) for _, target in pairs])
        feature_mean = targets.mean(dim=0)
        for reconstruction, target in pairs:
            squared += float((reconstruction - target).pow(2).sum())
            baseline += float((target - feature_mean).pow(2).sum())
            count += target.numel()
        variance = float(targets.var())
    model.train()
    mse = squared / count
    return {
        "mse": mse,
        "nrmse": float(np.sqrt(mse) / np.sqrt(variance)),
        "baseline_nrmse": float(np.sqrt(baseline / count) / np.sqrt(variance)),
    }


def write_examples_png(
    model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], path: Path, title: str
) -> None:
    """Eight held-out inputs beside their reconstructions: images for MNIST, MFCC-by-time for audio."""
    model.eval()
    with torch.no_grad():
        if batches[0][0].shape[1] > 1:  # a batch of images: time-mean of targets and reconstructions
            steps, target = batches[0]
            reconstruction, _ = model(steps[:, :8])
            inputs, outputs = target[:, :8].mean(0)[:, 0].numpy(), reconstruction.mean(0)[:, 0].numpy()
        else:  # audio sequences [T, 1, 1, F]: features × time, each reconstruction beside its (delayed) target
            delay = model.config.target_delay_steps
            pairs = [
                (delayed_target(t, delay)[0][:, 0, 0].T.numpy(), model(s)[0][:, 0, 0].T.numpy()) for s, t in batches[:8]
            ]
            inputs, outputs = np.stack([p[0][:, :120] for p in pairs if p[0].shape[1] >= 120] or [pairs[0][0]]), None
            outputs = np.stack([p[1][:, :120] for p in pairs if p[1].shape[1] >= 120] or [pairs[0][1]])
    write_reconstruction_png(inputs, outputs, path, f"{title}: inputs (top) and reconstructions (bottom)")


def load_autoencoder(name: str):
    """A checkpoint that must be an autoencoder (``ValueError`` naming it otherwise)."""
    loaded = load_checkpoint(name)
    if MODEL_KINDS[loaded.model_kind].outputs != "reconstruction":
        raise ValueError(
            f"model {loaded.name!r} is a {loaded.model_kind}, not an autoencoder; pass an autoencoder checkpoint"
        )
    return loaded
