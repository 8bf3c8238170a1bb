"""The command handlers behind :mod:`spikestream.pipeline.cli` (one function per sub-command)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ..models.checkpoint import CHECKPOINT_DIR
from ..sources.audio.audio_file import AudioFileError
from ..sources.audio.microphone import MicrophoneSource, MicrophoneUnavailable, list_input_devices
from .cli import DEFAULT_AUDIO_MODEL, DEFAULT_RECORDING, EXIT_INTERRUPTED, UsageError, load_model, sink_specs
from .runtime import ReplayPacer, RunReport, run_stream
from .sinks import build_sinks
from .streams import AUDIO_BLOCK_MS, audio_chunks, audio_file_chunks, is_audio_file, make_classifier



def finish(report: RunReport, quiet: bool = False) -> int:
    if not quiet:
        print(report.summary(), file=sys.stderr)
    return EXIT_INTERRUPTED if report.interrupted else 0


def replay_file(path: Path, model_name: str | None, speed: float, specs: list[str], threshold: float | None, quiet: bool) -> int:
    """Stream a recording through the pipeline, paced by its own time (``speed``× real time)."""
    torch.set_num_threads(1)
    if not path.exists():
        raise UsageError(f"{path}: no such file; expected an audio file (.wav .flac .ogg .mp3) or an event recording")
    if not is_audio_file(path):
        from .event_streams import replay_events

        return finish(replay_events(path, model_name, speed, specs, threshold), quiet)
    loaded = load_model(model_name, DEFAULT_AUDIO_MODEL)
    try:
        source, chunks = audio_file_chunks(path, loaded, AUDIO_BLOCK_MS)
    except AudioFileError as error:
        raise UsageError(str(error)) from error
    classifier = make_classifier(loaded, source.name, {"on_threshold": threshold})
    try:
        report = run_stream(chunks, classifier, build_sinks(specs), ReplayPacer(speed), source_counters=source)
    except AudioFileError as error:
        raise UsageError(str(error)) from error
    if source.nonfinite_samples:
        print(f"warning: {path}: {source.nonfinite_samples} NaN/inf samples were replaced by silence", file=sys.stderr)
    return finish(report, quiet)


def listen_microphone(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    loaded = load_model(args.model, DEFAULT_AUDIO_MODEL)
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    try:
        microphone = MicrophoneSource(
            rate, args.device, AUDIO_BLOCK_MS, max_buffer_s=args.buffer_seconds, idle_timeout_s=args.idle_timeout,
            max_duration_s=args.seconds, device_sample_rate_hz=args.device_rate,
        )
        classifier = make_classifier(loaded, microphone.name, {"on_threshold": args.threshold})
        if not args.quiet:
            print(f"listening on {microphone.device.name} ({microphone.device_sample_rate_hz} Hz); Ctrl-C to stop", file=sys.stderr)
        report = run_stream(audio_chunks(microphone, rate), classifier, build_sinks(sink_specs(args)), source_counters=microphone)
    except MicrophoneUnavailable as error:
        raise UsageError(str(error)) from error
    if microphone.device_overflows:
        print(f"warning: the audio device reported {microphone.device_overflows} input overflows", file=sys.stderr)
    return finish(report, args.quiet)


def command_listen(args: argparse.Namespace) -> int:
    if args.list_devices:
        try:
            devices = list_input_devices()
        except MicrophoneUnavailable as error:
            raise UsageError(str(error)) from error
        if not devices:
            print("no audio input devices found", file=sys.stderr)
            return 1
        for device in devices:
            print(f"{device.index:3d}  {device.name}  ({device.max_input_channels} ch, {device.default_sample_rate_hz:.0f} Hz)")
        return 0
    if args.camera:
        from .event_streams import listen_camera

        return finish(listen_camera(args), args.quiet)
    return listen_microphone(args)


def command_replay(args: argparse.Namespace) -> int:
    return replay_file(args.recording, args.model, args.speed, sink_specs(args), args.threshold, args.quiet)


def main_job() -> int:
    """Default job: live microphone if one works, else the shipped recording at real-time pace."""
    parser_args = argparse.Namespace(
        model=None, device=None, idle_timeout=5.0, seconds=None, device_rate=None, buffer_seconds=10.0, threshold=None, quiet=False, sink=None, jsonl=None
    )
    try:
        devices = list_input_devices()
    except MicrophoneUnavailable as error:
        devices, reason = [], str(error)
    else:
        reason = "no audio input device found"
    if devices:
        try:
            return listen_microphone(parser_args)
        except UsageError as error:
            reason = str(error)
    print(f"spikestream: {reason}; replaying {DEFAULT_RECORDING.name} in real time instead", file=sys.stderr)
    return replay_file(DEFAULT_RECORDING, None, 1.0, ["console"], None, False)


def comma_separated(option: str, text: str, convert, count: int, expected: str) -> tuple:
    """``"a,b,c"`` → ``count`` values of ``convert``; otherwise a :class:`UsageError` naming the option."""
    try:
        values = tuple(convert(value) for value in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise UsageError(f"{option} {text!r}: expected {expected}")
    return values


def command_train(args: argparse.Namespace) -> int:
    if args.task == "gesture":
        from .train_gesture import command_train_gesture

        return command_train_gesture(args)
    from .train_audio import AudioTrainingSettings, train_audio

    if not args.data:
        raise UsageError("train audio needs --data DIR (a folder of labelled clips, e.g. ../shared/data/fsdd)")
    settings = AudioTrainingSettings(seed=args.seed, encoder=args.encoder)
    if args.epochs:
        settings.epochs = args.epochs
    if args.learning_rate:
        settings.learning_rate = args.learning_rate
    settings.init_from = args.init_from
    settings.extra_data = tuple(args.extra_data)
    if args.speed_range:
        low, high = comma_separated("--speed-range", args.speed_range, float, 2, "two numbers MIN,MAX such as 0.8,1.25")
        if not 0.0 < low <= high:
            raise UsageError(f"--speed-range {args.speed_range!r}: expected 0 < MIN <= MAX")
        settings.canvas = replace(settings.canvas, speed_range=(low, high))
    if args.equaliser_db is not None:
        if not 0.0 <= args.equaliser_db <= 24.0:
            raise UsageError(f"--equaliser-db {args.equaliser_db}: expected a gain bound in dB between 0 and 24")
        settings.canvas = replace(settings.canvas, equaliser_max_db=args.equaliser_db)
    if args.reverb_probability is not None:
        if not 0.0 <= args.reverb_probability <= 1.0:
            raise UsageError(f"--reverb-probability {args.reverb_probability}: expected a probability between 0 and 1")
        settings.canvas = replace(settings.canvas, reverb_probability=args.reverb_probability)
    if args.decide_fraction is not None:
        timing = settings.canvas.timing
        if not timing.early_fraction <= args.decide_fraction <= 1.0:
            raise UsageError(
                f"--decide-fraction {args.decide_fraction}: expected a fraction of the clip between "
                f"{timing.early_fraction} (where its background targets end) and 1"
            )
        settings.canvas = replace(settings.canvas, timing=replace(timing, decide_fraction=args.decide_fraction))
    if args.channels:
        settings.channels = comma_separated(
            "--channels", args.channels, int, len(settings.kernel_t), f"{len(settings.kernel_t)} integers, one per conv block, such as 24,32,48"
        )
    out = args.out or CHECKPOINT_DIR / DEFAULT_AUDIO_MODEL
    try:
        training = train_audio(args.data, out, settings)
    except ValueError as error:
        raise UsageError(str(error)) from error
    print(f"checkpoint written to {out} (held-out clip accuracy {training['history'][-1]['held_out_clip_accuracy']:.4f})", file=sys.stderr)
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    loaded = load_model(args.model, DEFAULT_AUDIO_MODEL)
    if loaded.config.get("task") == "gesture-classifier":
        from .train_gesture import evaluate_gesture_command

        return evaluate_gesture_command(loaded, args)
    from .evaluate import evaluate_audio, evaluation_clips

    if not args.data:
        raise UsageError("evaluate needs --data DIR (a folder of labelled clips)")
    try:
        clips = evaluation_clips(args.data, args.split)
    except ValueError as error:
        raise UsageError(str(error)) from error
    metrics = evaluate_audio(loaded, clips, args.out)
    print(f"streaming accuracy {metrics['accuracy']:.4f} on {metrics['clips']} clips ({metrics['missed']} missed); wrote {args.out}/metrics.json and confusion.png")
    return 0


def command_send(args: argparse.Namespace) -> int:
    from .event_streams import send_recording

    return send_recording(args)


def command_show(args: argparse.Namespace) -> int:
    from .event_streams import show_recording

    return show_recording(args)


def command_merge(args: argparse.Namespace) -> int:
    """Merge trained classifiers into one checkpoint whose logits are their mean (see models/ensemble.py)."""
    from ..models.checkpoint import save_checkpoint
    from ..models.ensemble import merge_checkpoints

    members = [load_model(name, DEFAULT_AUDIO_MODEL) for name in args.models]
    first = members[0]
    for member in members[1:]:
        for key in ("task", "labels", "front_end"):
            if member.config.get(key) != first.config.get(key):
                raise UsageError(f"merge: {member.path} has another {key} than {first.path}; members must share labels and front end")
    try:
        merged = merge_checkpoints(members)
    except ValueError as error:
        raise UsageError(f"merge: {error}") from error
    training = {
        "ensemble_of": [{"path": str(member.path), "training": member.config.get("training", {})} for member in members],
        "command": "spikestream " + " ".join(sys.argv[1:]) if sys.argv and "spikestream" in sys.argv[0] else None,
    }
    merged.config.update(name=args.name or args.out.name, training=training)
    save_checkpoint(args.out, merged.model, merged.config)
    print(f"merged {len(members)} models into {args.out} (channels {list(merged.model.config.channels)}, hidden {merged.model.config.hidden})")
    return 0
