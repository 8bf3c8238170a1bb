"""Training runner for streaming audio classifiers (``spikestream train audio``).

Data: a folder of labelled clips (FSDD file names or one sub-folder per label). What is held back
for the per-epoch figure is, in this order: ``validation_data`` when given (then the epoch that
scores best on it is the one saved); FSDD takes 0–4 when the names carry them (the official test
split) and other takes are left to train; else about a tenth of the *speakers* (never a tenth of the
clips); nothing when all clips are one speaker's (one's own voice: every clip trains and no accuracy
is claimed). Held-back clips are never used for training or for the normalisation statistics.

``unknown_data`` folders teach an ``unknown`` class (any other word: reported as such, never forced
onto a keyword); their clips are repeated to about the mean count of a keyword, and a tenth of their
speakers is held back with the rest. ``noise_data`` folders are real background recordings laid under
the words and used as background-only canvases. Every epoch draws new augmented canvases (see
:mod:`spikestream.sources.audio.training_examples`) and trains the Norse conv SNN with
backpropagation through time (SuperSpike surrogate gradient) on per-step targets.

``shared_layers_from`` starts the convolutional blocks (and their batch norms) from another task's
classifier, for example the digit model from the keyword model that heard 1,907 voices: the new
model takes that model's front end (its feature statistics, which the shared blocks learned on) and
conv architecture, and trains its own hidden and readout layers for its labels.
``freeze_shared_layers`` keeps the shared blocks exactly as they were (weights and normalisation
statistics); no gradient flows through them.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...models.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from ...models.conv_snn import ConvSNNClassifier, ConvSNNConfig
from ...models.losses import NO_EVENT_TARGET
from ...sources.audio.audio_file import AUDIO_EXTENSIONS, read_audio
from ...sources.audio.augment import trim_silence
from ...sources.audio.feature_masks import FeatureMaskConfig, mask_features
from ...sources.audio.front_end import AudioFrontEndConfig, features_to_steps, remove_dc
from ...sources.audio.mfcc import MfccConfig, StreamingMfcc
from ...sources.audio.speech_mean import SpeechMeanConfig
from ...sources.audio.training_examples import CanvasConfig, make_example
from ...sources.labelled_clips import (
    LabelledClip,
    hold_back,
    list_labelled_clips,
    recordings_under,
    sorted_labels,
    speaker_of,
    split_by_speaker,
)
from ...sources.spike_encoding import EncoderConfig, SpikeEncoder
from ...sources.step_targets import BACKGROUND_LABEL, UNKNOWN_LABEL
from ..decisions import DecisionConfig
from .loop import LossOf, classification_loss, held_out_accuracy, train_epoch

# spoken words: one detection per word, decided on the word's evidence without the readout's decaying tail
# (evidence_end_fraction chosen on a speaker left out of training: bench/bench_unseen_speaker.py;
# see pipeline/decision.py)
AUDIO_DECISION = DecisionConfig(
    mode="segment",
    window_steps=8,
    on_threshold=0.5,
    off_threshold=0.6,
    refractory_ms=200.0,
    min_score=0.15,
    evidence_end_fraction=0.75,
)


@dataclass
class AudioTrainingSettings:
    """Hyper-parameters of ``spikestream train audio`` (all recorded in the checkpoint)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2.5e-3
    seed: int = 0
    encoder: str = "direct"
    channels: tuple[int, ...] = (24, 32, 48)
    kernel_size: int = 3
    kernel_t: tuple[int, ...] = (5, 5, 5)
    dilation_t: tuple[int, ...] = (1, 3, 6)
    hidden: int = 128
    readout_tau_mem_ms: float = 40.0
    background_weight: float = 0.1
    no_event_weight: float | None = None  # loss weight of background-only canvases' steps (None: background_weight)
    recurrent: bool = False
    downsample: str = "max-pool"  # "stride" (--hardware-friendly): strided convolutions, exactly exportable to NIR
    mfcc: MfccConfig = field(default_factory=MfccConfig)
    canvas: CanvasConfig = field(default_factory=CanvasConfig)
    threads: int = 2
    init_from: str | None = None  # continue training a checkpoint (its front end and weights)
    shared_layers_from: str | None = None  # start the conv blocks from another task's model (its front end too)
    freeze_shared_layers: bool = False  # with shared_layers_from: those blocks stay as trained there
    feature_masks: FeatureMaskConfig = field(default_factory=FeatureMaskConfig)  # SpecAugment-style (off)
    extra_data: tuple[str, ...] = ()  # folders whose clips all train (e.g. extra speakers); none held back
    dc_cutoff_hz: float | None = None  # DC blocker ahead of the MFCC (None: off, or as --init-from has it)
    validation_data: str | None = None  # held-back folder (other speakers), scored every epoch
    keep: str = "best"  # with validation_data: save the best epoch on it ("best") or the last ("last")
    unknown_data: tuple[str, ...] = ()  # folders of other words: one "unknown" class
    noise_data: tuple[str, ...] = ()  # folders of real background recordings
    field_data: tuple[str, ...] = ()  # folders of non-speech field recordings, on background-only canvases only
    trim_db: float | None = None  # cut each clip to its word (frames within this many dB of the loudest)
    crop_ms: float | None = None  # each example: a random stretch this long of a longer clip (sound events)
    speech_mean: SpeechMeanConfig | None = None  # remove the running speech mean from the features (None: off)


def training_split(settings: AudioTrainingSettings, data_dir: str | Path) -> tuple[list, list, list[str]]:
    """``(train clips, held-back clips, labels)``; labels start with background, ``unknown`` among them
    when ``unknown_data`` is given. See the module docstring for what is held back."""
    clips = list_labelled_clips(data_dir)
    if settings.validation_data:
        train_clips, held_clips = clips, list_labelled_clips(settings.validation_data)
        strange = sorted(set(sorted_labels(held_clips)) - set(sorted_labels(clips)))
        if strange:
            raise ValueError(f"--validation {settings.validation_data}: labels {strange} are not in {data_dir}")
    else:
        train_clips, held_clips = hold_back(clips)
    labels = [BACKGROUND_LABEL] + sorted_labels(clips)
    if settings.unknown_data:
        if UNKNOWN_LABEL in labels:
            raise ValueError(f"{data_dir}: a label is already called {UNKNOWN_LABEL!r}; drop --unknown or rename it")
        unknown = [
            replace(clip, label=UNKNOWN_LABEL)
            for folder in settings.unknown_data
            for clip in list_labelled_clips(folder)
        ]
        unknown_train, unknown_held = split_by_speaker(unknown)
        if settings.validation_data:  # other words by a validation speaker: held back, never trained on
            voices = {speaker_of(clip) for clip in held_clips}
            unknown_held += [clip for clip in unknown_train if speaker_of(clip) in voices]
            unknown_train = [clip for clip in unknown_train if speaker_of(clip) not in voices]
        repeats = max(1, round(len(train_clips) / (len(labels) - 1) / max(1, len(unknown_train))))
        train_clips = train_clips + unknown_train * repeats
        held_clips = held_clips + unknown_held
        labels = [BACKGROUND_LABEL] + sorted(labels[1:] + [UNKNOWN_LABEL])
    return train_clips, held_clips, labels


def shared_layers_source(settings: AudioTrainingSettings) -> LoadedModel | None:
    """The classifier ``shared_layers_from`` names, with ``settings``' conv architecture set to its
    own; a ``ValueError`` naming it when it cannot share (not one conv SNN, another MFCC)."""
    if not settings.shared_layers_from:
        if settings.freeze_shared_layers:
            raise ValueError("--freeze-shared-layers needs --shared-layers-from MODEL")
        return None
    if settings.init_from:
        raise ValueError("--shared-layers-from and --init-from: choose one (--init-from continues a whole model)")
    source = load_checkpoint(settings.shared_layers_from)
    what = f"--shared-layers-from {settings.shared_layers_from}"
    one_network = isinstance(source.model, ConvSNNClassifier) and source.model.config.members == 1
    if not one_network or source.config.get("front_end", {}).get("kind") != "audio":
        raise ValueError(f"{what}: expected one audio conv SNN classifier (not a merged ensemble or another kind)")
    front_end = AudioFrontEndConfig.from_dict(source.config["front_end"])
    if front_end.mfcc != settings.mfcc:
        raise ValueError(
            f"{what}: its MFCC front end {asdict(front_end.mfcc)} differs from --mfcc {asdict(settings.mfcc)}"
        )
    if front_end.encoder.name != settings.encoder:
        raise ValueError(f"{what}: its encoder {front_end.encoder.name!r} differs from --encoder {settings.encoder!r}")
    config = source.model.config
    settings.channels, settings.kernel_size = tuple(config.channels), config.kernel_size
    settings.kernel_t, settings.dilation_t = tuple(config.kernel_t), tuple(config.dilation_t)
    settings.downsample = config.downsample
    return source


def share_layers(model: ConvSNNClassifier, source: ConvSNNClassifier, freeze: bool) -> list[torch.nn.Module]:
    """Copy ``source``'s conv blocks and their batch norms into ``model`` (same architecture there);
    with ``freeze`` their parameters take no gradient. Returns the norms to keep in eval mode."""
    model.convs.load_state_dict(source.convs.state_dict())
    model.norms.load_state_dict(source.norms.state_dict())
    if not freeze:
        return []
    for parameter in [*model.convs.parameters(), *model.norms.parameters()]:
        parameter.requires_grad_(False)
    return list(model.norms)


def with_frozen_norms(loss_of: LossOf, norms: list[torch.nn.Module]) -> LossOf:
    """``loss_of`` with ``norms`` in eval mode (their running statistics untouched) while the rest trains."""
    if not norms:
        return loss_of

    def frozen_loss_of(model: torch.nn.Module, batch: tuple) -> torch.Tensor:
        for norm in norms:
            norm.eval()
        return loss_of(model, batch)

    return frozen_loss_of


def read_clips(clips: list[LabelledClip], rate_hz: int, trim_db: float | None, desc: str) -> list[np.ndarray]:
    """Each clip's samples at ``rate_hz`` (read once per distinct file), cut to the word with ``trim_db``."""
    cache: dict[Path, np.ndarray] = {}
    for clip in tqdm(clips, desc=desc, file=sys.stderr):
        if clip.path not in cache:
            samples = read_audio(clip.path, rate_hz)
            cache[clip.path] = samples if trim_db is None else trim_silence(samples, rate_hz, trim_db)
    return [cache[clip.path] for clip in clips]


def crop(samples: np.ndarray, crop_ms: float | None, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``crop_ms`` stretch of ``samples`` when longer (no draw otherwise): five-second sound
    recordings train on short canvases, whose backward pass costs far less than a whole clip's."""
    length = int(crop_ms * rate_hz / 1000.0) if crop_ms else samples.size
    if samples.size <= length:
        return samples
    start = int(rng.integers(0, samples.size - length + 1))
    return samples[start : start + length]


def noise_recordings(folders: tuple[str, ...], rate_hz: int, option: str = "--noise") -> list[np.ndarray] | None:
    """Every audio file under ``folders`` at ``rate_hz`` (``None`` without folders); ``option`` names
    the folders in the error when one holds none."""
    if not folders:
        return None
    paths = []
    for folder in folders:
        found = recordings_under(Path(folder))
        if not found:
            raise ValueError(f"{option} {folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
        paths += found
    return [read_audio(path, rate_hz) for path in paths]


def clip_features(samples: np.ndarray, mfcc_config: MfccConfig) -> np.ndarray:
    """Whole-clip MFCCs through the same streaming code the pipeline runs, ``[frames, n_mfcc]``."""
    stream = StreamingMfcc(mfcc_config)
    return np.concatenate([stream.push(samples), stream.flush()])


def feature_statistics(clips: list[np.ndarray], mfcc_config: MfccConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and std over all frames of the (clean) training clips."""
    frames = np.concatenate([clip_features(clip, mfcc_config) for clip in clips])
    return frames.mean(axis=0), frames.std(axis=0) + 1e-3


def build_batch(
    examples: list[tuple[np.ndarray, np.ndarray]],
    front_end: AudioFrontEndConfig,
    encoder: SpikeEncoder,
    masks: FeatureMaskConfig = FeatureMaskConfig(),
    rng: np.random.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvases → spike steps ``[T, B, C, F]`` and targets ``[T, B]`` (repeated per sub-step);
    ``masks`` (training only, drawn from ``rng``) are laid on each canvas's MFCC frames."""
    mean = np.asarray(front_end.feature_mean, np.float32)
    steps, targets = [], []
    for canvas, frame_targets in examples:
        features = clip_features(remove_dc(canvas, front_end), front_end.mfcc)
        features = mask_features(features, mean, front_end.mfcc.hop_ms, masks, rng)  # inactive: unchanged, no draw
        steps.append(features_to_steps(features, front_end, encoder))
        targets.append(torch.from_numpy(frame_targets).repeat_interleave(front_end.encoder.steps_per_frame))
    return torch.cat(steps, dim=1), torch.stack(targets, dim=1)


def train_audio(
    data_dir: str | Path, out_dir: str | Path, settings: AudioTrainingSettings, name: str | None = None
) -> dict:
    """Train, save a checkpoint into ``out_dir`` and return its training metrics."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    train_clips, held_clips, labels = training_split(settings, data_dir)
    extra_clip_count = 0
    for folder in settings.extra_data:
        extra = list_labelled_clips(folder)
        unknown = sorted(set(sorted_labels(extra)) - set(labels))
        if unknown:
            raise ValueError(f"--extra-data {folder}: labels {unknown} are not among the training data's {labels[1:]}")
        train_clips = train_clips + extra
        extra_clip_count += len(extra)
    initial = load_checkpoint(settings.init_from) if settings.init_from else None
    shared = shared_layers_source(settings)  # checked before any audio is read
    if initial is not None and initial.labels != labels:  # checked before any audio is read
        raise ValueError(
            f"--init-from {settings.init_from}: its labels {initial.labels} differ from the data's {labels}"
        )
    if initial is not None:  # a fine-tune reads and frames its clips as the front end it keeps (16 kHz for sounds)
        settings = replace(settings, mfcc=AudioFrontEndConfig.from_dict(initial.config["front_end"]).mfcc)
    index = {label: i for i, label in enumerate(labels)}
    rate = settings.mfcc.sample_rate_hz
    print(
        f"train audio: {len(train_clips)} training clips ({len(settings.extra_data)} extra folder(s)), "
        f"{len(held_clips)} held back, labels {labels[1:]}",
        file=sys.stderr,
    )
    if not held_clips:
        print(
            f"note: {data_dir} holds one speaker's clips and no --validation was given: no clip is held back, so "
            "no accuracy is measured while training; pass --validation DIR (other recordings of the same labels) "
            "or score the checkpoint with `spikestream evaluate`",
            file=sys.stderr,
        )
    train_audio_clips = read_clips(train_clips, rate, settings.trim_db, "reading clips")
    held_audio_clips = read_clips(held_clips, rate, settings.trim_db, "reading held-back clips")
    noise_bank = noise_recordings(settings.noise_data, rate)
    field_bank = noise_recordings(settings.field_data, rate, "--background-recordings")
    if initial is not None or shared is not None:
        front_end = AudioFrontEndConfig.from_dict((initial or shared).config["front_end"])
        if settings.dc_cutoff_hz is not None:  # the fine-tune learns the blocked features; statistics kept
            front_end = replace(front_end, dc_cutoff_hz=settings.dc_cutoff_hz)
        if settings.speech_mean is not None:  # likewise the speech-mean normalised features
            front_end = replace(front_end, speech_mean=settings.speech_mean)
    else:
        no_dc = AudioFrontEndConfig(mfcc=settings.mfcc, dc_cutoff_hz=settings.dc_cutoff_hz)
        distinct = list({id(clip): clip for clip in train_audio_clips}.values())  # repeated unknown clips once
        mean, std = feature_statistics([remove_dc(clip, no_dc) for clip in distinct], settings.mfcc)
        front_end = AudioFrontEndConfig(
            mfcc=settings.mfcc,
            encoder=EncoderConfig(
                name=settings.encoder, steps_per_frame=1 if settings.encoder in ("direct", "delta") else 4
            ),
            feature_mean=tuple(float(v) for v in mean),
            feature_std=tuple(float(v) for v in std),
            dc_cutoff_hz=settings.dc_cutoff_hz,
            speech_mean=settings.speech_mean,
        )
    encoder = SpikeEncoder(front_end.encoder, settings.mfcc.hop_ms / 1000.0, seed=settings.seed)
    model = ConvSNNClassifier(
        ConvSNNConfig(
            input_shape=front_end.input_shape,
            n_classes=len(labels),
            channels=tuple(settings.channels),
            kernel_size=settings.kernel_size,
            kernel_t=tuple(settings.kernel_t),
            dilation_t=tuple(settings.dilation_t),
            hidden=settings.hidden,
            recurrent=settings.recurrent,
            downsample=settings.downsample,
            readout_tau_mem_ms=settings.readout_tau_mem_ms,
            step_ms=front_end.step_us / 1000.0,
        )
    )
    if initial is not None:
        model = initial.model
    frozen = share_layers(model, shared.model, settings.freeze_shared_layers) if shared is not None else []
    held_rng = np.random.default_rng(10_000 + settings.seed)
    held_examples = [
        make_example(
            crop(a, settings.crop_ms, rate, held_rng),
            index[c.label],
            rate,
            settings.mfcc.hop_length,
            settings.canvas,
            held_rng,
            noise_bank,
        )
        for a, c in zip(held_audio_clips, held_clips)
    ]
    held_batches = [
        build_batch(held_examples[i : i + 128], front_end, encoder) for i in range(0, len(held_examples), 128)
    ]
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=1e-4)
    batches_per_epoch = -(-len(train_clips) // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=settings.epochs * batches_per_epoch
    )
    history = []
    best_accuracy, best_epoch, best_weights = -1.0, 0, None
    started = time.time()
    for epoch in range(settings.epochs):
        order = rng.permutation(len(train_clips))

        def batches(order=order):
            for batch_index in range(batches_per_epoch):
                members = order[batch_index * settings.batch_size : (batch_index + 1) * settings.batch_size]
                examples = []
                for member in members:
                    clip = (
                        None
                        if rng.random() < settings.canvas.background_only_probability
                        else crop(train_audio_clips[member], settings.crop_ms, rate, rng)
                    )
                    canvas, targets = make_example(
                        clip,
                        index[train_clips[member].label],
                        rate,
                        settings.mfcc.hop_length,
                        settings.canvas,
                        rng,
                        noise_bank,
                        field_bank,
                    )
                    if clip is None and settings.no_event_weight is not None:  # weighted apart in the loss
                        targets = np.full_like(targets, NO_EVENT_TARGET)
                    examples.append((canvas, targets))
                yield build_batch(examples, front_end, encoder, settings.feature_masks, rng)

        loss = train_epoch(
            model,
            optimiser,
            scheduler,
            batches(),
            batches_per_epoch,
            with_frozen_norms(classification_loss(settings.background_weight, settings.no_event_weight), frozen),
            f"epoch {epoch + 1}/{settings.epochs}",
        )
        accuracy = held_out_accuracy(model, held_batches) if held_clips else None  # None: nothing to measure on
        history.append({"epoch": epoch + 1, "loss": loss, "held_out_clip_accuracy": accuracy})
        measured = "no clip held back" if accuracy is None else f"held-out clip accuracy {accuracy:.4f}"
        print(f"epoch {epoch + 1}: loss {loss:.4f}, {measured}", file=sys.stderr)
        if (
            settings.validation_data and settings.keep == "best" and accuracy > best_accuracy
        ):  # select on validation speakers only
            best_accuracy, best_epoch, best_weights = accuracy, epoch + 1, copy.deepcopy(model.state_dict())
    if best_weights is not None:
        model.load_state_dict(best_weights)
        print(f"kept epoch {best_epoch} (best validation clip accuracy {best_accuracy:.4f})", file=sys.stderr)
    config = {
        "name": name or Path(out_dir).name,
        "task": "audio-classifier",
        "labels": labels,
        "front_end": front_end.to_dict(),
        # a fine-tune keeps the decision its checkpoint was tuned with, as it keeps its front end
        "decision": dict(initial.config["decision"]) if initial is not None else asdict(AUDIO_DECISION),
        "training": {
            "data": str(data_dir),
            "train_clips": len(train_clips),
            "extra_train_clips": extra_clip_count,
            "held_out_clips": len(held_clips),
            "train_files": sorted(str(clip.path) for clip in train_clips),
            "held_out_files": sorted(str(clip.path) for clip in held_clips),
            "settings": json.loads(json.dumps(asdict(settings))),
            "history": history,
            "selected_epoch": best_epoch or settings.epochs,
            "seconds": round(time.time() - started, 1),
            "command": "spikestream " + " ".join(sys.argv[1:]) if sys.argv and "spikestream" in sys.argv[0] else None,
        },
    }
    save_checkpoint(out_dir, model.eval(), config)
    return config["training"]
