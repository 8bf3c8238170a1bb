"""The command handlers that make and inspect models (``train``, ``evaluate``, ``merge``, ``sample``,
``embed``, ``export``), one function per sub-command beside the stream commands of :mod:`.commands`;
they parse nothing. Each loads a checkpoint or writes one, and refuses the wrong kind of model.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..models.checkpoint import LoadedModel, load_checkpoint
from ..sources.events.simulation.dvs_gesture_dataset import is_dvs_gesture_root
from .commands import DEFAULT_AUDIO_MODEL, DEFAULT_EVENT_MODEL, is_autoencoder, report_stats, stats_meter
from .errors import UsageError

TRAINED_CHECKPOINTS = Path("out") / "checkpoints"  # where `train` writes without --out (never the shipped models)


def command_export(args: argparse.Namespace) -> int:
    from .export import export_nir

    loaded = load_checkpoint(args.model)
    sidecar = export_nir(loaded, args.nir)
    print(
        f"wrote {args.nir} ({sidecar['nodes']} nodes, dt {sidecar['dt_s'] * 1000:g} ms) and "
        f"{args.nir.with_suffix('.json')}; read back through nirtorch, readout differs by at most "
        f"{sidecar['round_trip_max_abs_difference']:.3g} over {sidecar['round_trip_steps']} steps",
        file=sys.stderr,
    )
    return 0


def checkpoint_out(out: Path | None, default_name: str) -> Path:
    """``--out`` or ``out/checkpoints/NAME``; refuses the shipped checkpoints' folder and existing files."""
    from ..models.checkpoint import CHECKPOINT_DIR

    folder = out or TRAINED_CHECKPOINTS / default_name
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder}: is a file; expected a checkpoint folder to write")
    if folder.resolve().parent == CHECKPOINT_DIR.resolve() and out is None:
        raise UsageError(f"--out {folder}: would overwrite a shipped model; pass --out explicitly")
    return folder


def train_autoencoder_command(args: argparse.Namespace) -> int:
    from .training.autoencoder import AutoencoderTrainingSettings, is_gestures, train_autoencoder

    if not args.data:
        raise UsageError(
            "train autoencoder needs --data DIR (a folder of audio clips), --data mnist or --data gestures"
        )
    settings = AutoencoderTrainingSettings(kind=args.kind, seed=args.seed, recurrent=args.recurrent)
    settings.extra_data = tuple(args.extra_data)
    for option, name in (
        ("embedding", "embedding"),
        ("kernel", "kernel_size"),
        ("max_rate_hz", "max_rate_hz"),
        ("epochs", "epochs"),
        ("learning_rate", "learning_rate"),
        ("max_items", "max_train_items"),
        ("target_delay_steps", "target_delay_steps"),
    ):
        if getattr(args, option, None) is not None:
            setattr(settings, name, getattr(args, option))
    if args.encoder not in ("direct", "rate"):
        raise UsageError(f"--encoder {args.encoder}: autoencoders take 'rate' (images) or 'direct' (audio)")
    settings.encoder = args.encoder
    if args.exclude_labels:
        settings.exclude_labels = tuple(label.strip() for label in args.exclude_labels.split(",") if label.strip())
    if is_gestures(args.data):  # event bins of 25 ms: a fault is flagged within 2 bins
        settings.decision_window_steps, settings.false_alarm_rate = 2, 0.0005
        settings.embedding = args.embedding or 32
        if args.max_items:
            settings.gesture_count = args.max_items
    out = checkpoint_out(args.out, f"{'mnist' if str(args.data) == 'mnist' else Path(args.data).name}-{args.kind}")
    try:
        training = train_autoencoder(args.data, out, settings)
    except ValueError as error:
        raise UsageError(str(error)) from error
    last = training["history"][-1]
    print(
        f"checkpoint written to {out} (held-out nRMSE {last['nrmse']:.4f}, per-feature-mean baseline "
        f"{last['baseline_nrmse']:.4f}); inputs and reconstructions in {out / 'reconstructions.png'}",
        file=sys.stderr,
    )
    return 0


def train_saccade_digits_command(args: argparse.Namespace) -> int:
    """``train events``: N-MNIST digits from simulated saccades over the MNIST images in ``--data``."""
    from ..sources.images.mnist import MnistFileError
    from .training.saccade_digits import SaccadeDigitData, saccade_digit_settings, train_saccade_digits, with_overrides

    settings = with_overrides(
        saccade_digit_settings(), seed=args.seed, epochs=args.epochs, threads=args.threads,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        train_count=args.train_count, held_out_count=args.held_out_count,
        downsample="stride" if args.hardware_friendly else None,
    )  # fmt: skip
    out = checkpoint_out(args.out, "nmnist")
    try:
        training = train_saccade_digits(SaccadeDigitData(args.data or "mnist"), out, settings)
    except MnistFileError as error:
        raise UsageError(str(error)) from error
    print(
        f"checkpoint written to {out} (simulated held-out accuracy "
        f"{training['history'][-1]['held_out_accuracy']:.4f}); test it on real recordings with "
        f"`spikestream evaluate --model {out} --data DIR`",
        file=sys.stderr,
    )
    return 0


def command_train(args: argparse.Namespace) -> int:
    if args.task == "autoencoder":
        return train_autoencoder_command(args)
    if args.task == "events":
        return train_saccade_digits_command(args)
    if args.task == "gesture":
        from .training.gesture import GestureTrainingSettings, train_gesture

        settings = GestureTrainingSettings(seed=args.seed)
        if args.hardware_friendly:
            settings.downsample = "stride"
        if args.epochs:
            settings.epochs = args.epochs
        if args.data not in (None, "synthetic"):
            settings.train_count = settings.held_out_count = 0  # all the recordings of the layout
        out = checkpoint_out(args.out, DEFAULT_EVENT_MODEL)
        training = train_gesture(args.data, out, settings)
        print(
            f"checkpoint written to {out} (held-out accuracy {training['history'][-1]['held_out_accuracy']:.4f})",
            file=sys.stderr,
        )
        return 0
    from .training.audio import train_audio
    from .training.audio_options import audio_training_settings

    settings = audio_training_settings(args)
    out = checkpoint_out(args.out, DEFAULT_AUDIO_MODEL)
    try:
        training = train_audio(args.data, out, settings)
    except ValueError as error:
        raise UsageError(str(error)) from error
    accuracy = training["history"][training["selected_epoch"] - 1]["held_out_clip_accuracy"]
    measured = "no clip held back" if accuracy is None else f"held-out clip accuracy {accuracy:.4f}"
    print(f"checkpoint written to {out} ({measured})", file=sys.stderr)
    return 0


def output_folder(out: Path) -> Path:
    """``--out`` of ``evaluate`` / ``merge``: a folder (created), never an existing file."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; expected a folder to write into")
    return out


def command_evaluate(args: argparse.Namespace) -> int:
    loaded = load_checkpoint(args.model or DEFAULT_AUDIO_MODEL)
    out = output_folder(args.out)
    meter = stats_meter(loaded, args)  # refuses autoencoders: --stats covers the classifiers
    if is_autoencoder(loaded) or args.normal or args.anomalous:
        return evaluate_autoencoder_command(loaded, args, out)
    synthetic_gestures = loaded.config.get("task") == "gesture-classifier" and args.data in (None, "synthetic")
    if synthetic_gestures or is_dvs_gesture_root(args.data):
        from .training.gesture import evaluate_gestures

        count = (
            0
            if args.data not in (None, "synthetic")
            else loaded.config.get("training", {}).get("held_out_samples", 220)
        )
        metrics = evaluate_gestures(loaded, args.data, count, out)
    else:
        from .training.evaluate import evaluate_folder

        if not args.data:
            raise UsageError(
                "evaluate needs --data DIR (a folder of labelled recordings: one sub-folder per label, or FSDD names)"
            )
        try:
            metrics = evaluate_folder(loaded, args.data, args.split, out, pad=args.pad)
        except ValueError as error:
            raise UsageError(str(error)) from error
    activity = report_stats(meter, args, f"accuracy {metrics['accuracy']:.4f} on {metrics['clips']} recordings")
    if activity is not None:  # beside the accuracy it was measured with
        metrics["activity"] = activity
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"streaming accuracy {metrics['accuracy']:.4f} on {metrics['clips']} recordings ({metrics['missed']} missed); "
        f"wrote {out}/metrics.json and confusion.png"
    )
    return 0


def evaluate_autoencoder_command(loaded: LoadedModel, args: argparse.Namespace, out: Path) -> int:
    from .training.anomaly_evaluation import evaluate_anomaly

    if not is_autoencoder(loaded):
        raise UsageError(
            f"--normal/--anomalous score an autoencoder; model {loaded.name!r} is a classifier (use --data)"
        )
    if not (args.normal and args.anomalous):
        raise UsageError(f"model {loaded.name!r} is an autoencoder: evaluate it with --normal DIR --anomalous DIR")
    try:
        metrics = evaluate_anomaly(loaded, args.normal, args.anomalous, out)
    except ValueError as error:
        raise UsageError(str(error)) from error
    print(
        f"AUROC {metrics['auroc']:.4f}; normal MSE {metrics['normal']['mse']:.5f} "
        f"(nRMSE {metrics['normal']['nrmse']:.3f}), "
        f"anomalous MSE {metrics['anomalous']['mse']:.5f}; detection rate at 5 % false alarms "
        f"{metrics['detection_rate_at_5pct_false_alarms']:.3f}; wrote {out}/metrics.json, roc.png"
    )
    return 0


def command_sample(args: argparse.Namespace) -> int:
    from .training.generation import sample_grid

    loaded = load_checkpoint(args.model)
    if not hasattr(loaded.model, "sample"):
        raise UsageError(f"model {loaded.name!r} is a {loaded.model_kind}; sample needs a spiking VAE (fsvae or esvae)")
    if args.out.suffix.lower() != ".png" or not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: expected a .png file in an existing folder")
    print(f"wrote {sample_grid(loaded, args.out, args.n, args.seed)}", file=sys.stderr)
    return 0


def command_embed(args: argparse.Namespace) -> int:
    from .training.generation import embed_folder

    loaded = load_checkpoint(args.model)
    if not is_autoencoder(loaded):
        raise UsageError(f"model {loaded.name!r} is a classifier; embed needs an autoencoder (sae, fsvae or esvae)")
    if args.out.suffix.lower() != ".npz" or not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: expected a .npz file in an existing folder")
    try:
        summary = embed_folder(loaded, args.data, args.out, args.plot)
    except ValueError as error:
        raise UsageError(str(error)) from error
    print(summary, file=sys.stderr)
    return 0


def command_merge(args: argparse.Namespace) -> int:
    """Merge trained classifiers into one checkpoint whose logits are their mean (see models/ensemble.py)."""
    from ..models.checkpoint import save_checkpoint
    from ..models.ensemble import merge_checkpoints

    out = output_folder(args.out)
    members = [load_checkpoint(name) for name in args.models]
    for member in members:
        if is_autoencoder(member):
            raise UsageError(f"merge: {member.path} is an autoencoder; merge averages classifiers' logits")
    first = members[0]
    for member in members[1:]:
        for key in ("task", "labels", "front_end"):
            if member.config.get(key) != first.config.get(key):
                raise UsageError(
                    f"merge: {member.path} has another {key} than {first.path}; members must share labels and front end"
                )
    try:
        merged = merge_checkpoints(members)
    except ValueError as error:
        raise UsageError(f"merge: {error}") from error
    training = {
        "ensemble_of": [
            {"path": str(member.path), "training": member.config.get("training", {})} for member in members
        ],
        "command": "spikestream " + " ".join(sys.argv[1:]) if sys.argv and "spikestream" in sys.argv[0] else None,
    }
    merged.config.update(name=args.name or out.name, training=training)
    save_checkpoint(out, merged.model, merged.config)
    print(
        f"merged {len(members)} models into {out} "
        f"(channels {list(merged.model.config.channels)}, hidden {merged.model.config.hidden})"
    )
    return 0


SPEAKER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
QUIET_PEAK_DBFS = -40.0  # a take whose loudest sample is below this heard no voice
RECORD_PAUSE_S = 0.5  # between the prompt and the capture: time to draw breath
RECORD_MODEL = "fsdd-digits-nir"  # one small member: a 150-epoch fine-tune takes minutes (bench/bench_enrolment.py)


def record_labels(args: argparse.Namespace, loaded: LoadedModel) -> list[str]:
    """``--labels`` or the model's word labels (not background, not ``unknown``), checked as folder names."""
    from ..sources.step_targets import UNKNOWN_LABEL

    labels = [label.strip() for label in args.labels.split(",")] if args.labels is not None else loaded.labels[1:]
    labels = [label for label in labels if label != UNKNOWN_LABEL]
    bad = [label for label in labels if not label or "/" in label or label.startswith(".")]
    if bad or not labels:
        raise UsageError(f"--labels {args.labels!r}: expected comma-separated names usable as folder names")
    strange = sorted(set(labels) - set(loaded.labels))
    if strange:
        raise UsageError(f"--labels: {strange} are not labels of {loaded.name!r} ({loaded.labels[1:]})")
    return labels


def command_record(args: argparse.Namespace) -> int:
    """Takes of each label from the microphone into ``DIR/LABEL/SPEAKER_nohash_TAKE.wav`` (16-bit, the model's
    rate), prompting for each; takes already on disk are kept (run again to go on after Ctrl-C)."""
    import os
    import time

    import numpy as np
    import soundfile

    from ..sources.audio.microphone import record_seconds, resolve_input_device
    from .inputs import sample_rate_hz

    if not SPEAKER_NAME.match(args.speaker):
        raise UsageError(f"--speaker {args.speaker!r}: expected letters, digits and '-' only")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a file; expected a folder to record into")
    loaded = load_checkpoint(args.model or RECORD_MODEL)
    if loaded.front_end_kind != "audio" or is_autoencoder(loaded):
        raise UsageError(f"model {loaded.name!r} is not an audio classifier; record takes for one (e.g. fsdd-digits)")
    labels = record_labels(args, loaded)
    rate_hz = sample_rate_hz(loaded)
    resolve_input_device(args.device)  # no microphone: say so before the first prompt (an index or a name)
    try:
        args.out.mkdir(parents=True, exist_ok=True)  # an unwritable --out: said before the first prompt too
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot create the folder ({error.strerror or error})") from None
    recorded = kept = 0
    for take in range(args.takes):
        order = np.random.default_rng(take).permutation(len(labels))  # not the same list intonation every round
        for label in (labels[i] for i in order):
            path = args.out / label / f"{args.speaker}_nohash_{take}.wav"
            if path.exists():
                kept += 1
                continue
            print(f"take {take + 1}/{args.takes}: say {label!r} ({args.seconds:g} s)", file=sys.stderr, flush=True)
            time.sleep(RECORD_PAUSE_S)
            samples = record_seconds(rate_hz, args.seconds, args.device, args.device_rate)
            if samples.size < 0.9 * args.seconds * rate_hz:
                raise UsageError(
                    f"the input device stopped after {samples.size / rate_hz:.2f} s of a {args.seconds:g} s take; "
                    f"{recorded} takes written to {args.out}"
                )
            peak_dbfs = 20 * np.log10(max(float(np.abs(samples).max()), 1e-10))
            if peak_dbfs < QUIET_PEAK_DBFS:
                print(
                    f"  quiet: peak {peak_dbfs:.0f} dBFS (is the microphone muted?); kept, delete {path} to redo it",
                    file=sys.stderr,
                )
            partial = path.with_name(path.name + ".part")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(partial, samples, rate_hz, subtype="PCM_16", format="WAV")
                os.replace(partial, path)  # a take is on disk whole or not at all
            except (OSError, soundfile.LibsndfileError) as error:
                raise UsageError(
                    f"--out {args.out}: cannot write {path.name} ({getattr(error, 'strerror', None) or error}); "
                    f"expected a folder you can write to; {recorded} takes written"
                ) from None
            recorded += 1
    model = args.model or RECORD_MODEL
    print(
        f"recorded {recorded} takes ({kept} already there) of {len(labels)} labels in {args.out}; fine-tune with\n"
        f"  spikestream train audio --data {args.out} --init-from {model} --epochs 150 --learning-rate 5e-4 "
        f"--out out/checkpoints/{Path(model).name}-{args.speaker}",
        file=sys.stderr,
    )
    return 0
