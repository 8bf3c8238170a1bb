"""The stream command handlers behind :mod:`.cli` (one function per sub-command: ``replay``, ``listen``,
``send``, ``show``, ``show-activity``, ``batch``, and the main job); they parse nothing. The commands
that make and inspect models are in :mod:`.model_commands`.

A stream command follows one recording or device through the input factory (:func:`open_stream`),
the streaming model, the runtime and the sinks, in that order, and prints the run summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..models.checkpoint import LoadedModel, load_checkpoint
from ..sources.audio.microphone import MicrophoneUnavailable, list_input_devices
from ..sources.events.event_array import SensorSize
from .errors import EXIT_INTERRUPTED, EXIT_OUTPUT_INCOMPLETE, UsageError
from .inputs import Stream, open_stream, target_kind
from .runtime import RunReport, run_stream
from .sinks import build_sinks
from .streaming_model import PairedStreamingModel, StreamingModel, make_paired_model, make_streaming_model

DEFAULT_AUDIO_MODEL = "fsdd-digits"
DEFAULT_EVENT_MODEL = "dvs-gestures"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECORDING = REPO_ROOT / "recordings" / "digits_sequence.wav"


def use_one_thread() -> None:
    """Streaming is latency-bound: one torch thread per process (set once, in ``main``)."""
    torch.set_num_threads(1)


def sink_specs(args: argparse.Namespace) -> list[str]:
    specs = list(args.sink) if args.sink else []
    if args.jsonl:
        specs.append("jsonl" if args.jsonl == "-" else f"jsonl:{args.jsonl}")
    return specs or ["console"]


def model_for(target: str | Path, name: str | None) -> LoadedModel:
    """``--model`` or the default model for the target's kind of input."""
    default = DEFAULT_AUDIO_MODEL if target_kind(target) in ("audio", "microphone") else DEFAULT_EVENT_MODEL
    return load_checkpoint(name or default)


def exit_code(report: RunReport, quiet: bool = False) -> int:
    """Print the summary; 130 when interrupted, 3 when a sink did not get every detection, else 0."""
    if not quiet:
        print(report.summary(), file=sys.stderr)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OUTPUT_INCOMPLETE if report.output_incomplete else 0


def is_autoencoder(loaded: LoadedModel) -> bool:
    from ..models.registry import MODEL_KINDS

    return MODEL_KINDS[loaded.model_kind].outputs == "reconstruction"


def streaming_model_for(
    loaded: LoadedModel, source_name: str, args: argparse.Namespace, live: bool = False
) -> StreamingModel | PairedStreamingModel:
    """The streaming model a stream command asked for: ``--model`` alone, or paired with ``--anomaly-model``;
    ``--threshold`` (classifiers), ``--false-alarm-rate`` and ``--scores`` (autoencoders) applied."""
    from ..sources.events.front_end.framing import EventFrontEndConfig
    from .training.autoencoder import load_autoencoder, threshold_at
    from .training.hot_pixels import hot_pixel_threshold

    anomaly_name = getattr(args, "anomaly_model", None)
    if anomaly_name and is_autoencoder(loaded):
        raise UsageError(
            f"--model {loaded.name!r} is an autoencoder; --anomaly-model pairs a classifier with an autoencoder"
        )
    try:
        autoencoder = load_autoencoder(anomaly_name) if anomaly_name else (loaded if is_autoencoder(loaded) else None)
    except ValueError as error:
        raise UsageError(f"--anomaly-model: {error}") from None
    overrides: dict = {"on_threshold": args.threshold}
    if getattr(args, "false_alarm_rate", None) is not None:
        if autoencoder is None:
            raise UsageError(
                "--false-alarm-rate sets an autoencoder's threshold; pass an autoencoder (--model or --anomaly-model)"
            )
        calibration = autoencoder.config["calibration"]
        overrides["score_threshold"] = threshold_at(calibration, args.false_alarm_rate)
        if "pixel_rates_hz" in calibration:  # an event autoencoder's hot-pixel rule, at the same rate
            bin_us = EventFrontEndConfig.from_dict(autoencoder.config["front_end"]).bin_us
            overrides["hot_pixel_rate_hz"] = hot_pixel_threshold(calibration, args.false_alarm_rate, bin_us)
    if getattr(args, "scores", False):
        overrides["emit_scores"] = True
    if anomaly_name:
        try:
            return make_paired_model(
                loaded, autoencoder, source_name, overrides, live, getattr(args, "false_alarm_rate", None)
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
    return make_streaming_model(loaded, source_name, overrides, live)


def stream_to_sinks(stream: Stream, loaded: LoadedModel, args: argparse.Namespace) -> int:
    """Input factory → streaming model → runtime → sinks, then the summary and exit code."""
    with stream:
        for note in stream.notes:
            print(f"note: {note}", file=sys.stderr)
        model = streaming_model_for(loaded, stream.name, args, stream.live)
        meter = stats_meter(loaded, args)
        if meter is not None and sys.stderr.isatty():
            from .activity_report import LiveActivityView

            model = LiveActivityView(model, meter)
        sinks = build_sinks(sink_specs(args))
        if stream.live and not args.quiet:
            print(f"listening to {stream.name} with {loaded.name}; Ctrl-C to stop", file=sys.stderr)
        report = run_stream(stream, model, sinks, stream.pacer, stream.drop_counts)
    if getattr(stream.source, "no_input", False):
        print(f"warning: {stream.name}: no event arrived; is the sender running?", file=sys.stderr)
    skipped = {name: count for name, count in getattr(stream.source, "skipped_words", dict)().items() if count}
    if skipped:  # AEDAT 2.0: frame, IMU and special words are not DVS events (not drops)
        words = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in skipped.items())
        print(f"note: {stream.name}: skipped {words} (not DVS events)", file=sys.stderr)
    code = exit_code(report, args.quiet)
    report_stats(meter, args, report.summary())
    return code


def stats_meter(loaded: LoadedModel, args: argparse.Namespace):
    """An activity meter on the classifier when ``--stats`` or ``--stats-json`` asks for one."""
    if not (getattr(args, "stats", False) or getattr(args, "stats_json", None)):
        return None
    from .activity_report import activity_meter_for

    if args.stats_json is not None and not args.stats_json.parent.is_dir():
        raise UsageError(f"--stats-json {args.stats_json}: the folder {args.stats_json.parent} does not exist")
    return activity_meter_for(loaded.model)


def report_stats(meter, args: argparse.Namespace, run_summary: str) -> dict | None:
    """The meter's table on stderr (``--stats``) and JSON file (``--stats-json``); the report."""
    if meter is None:
        return None
    from .activity_report import activity_table, write_activity_json

    report = meter.report()
    meter.detach()
    if args.stats:
        print(activity_table(report), file=sys.stderr)
    if args.stats_json is not None:
        write_activity_json(args.stats_json, report, run_summary)
    return report


def command_replay(args: argparse.Namespace) -> int:
    loaded = model_for(args.recording, args.model)
    return stream_to_sinks(open_stream(args.recording, loaded, speed=args.speed), loaded, args)


def command_listen(args: argparse.Namespace) -> int:
    if args.list_devices:
        devices = list_input_devices()
        if not devices:
            raise UsageError("no audio input devices found (PortAudio sees none); replay a file instead")
        for device in devices:
            print(
                f"{device.index:3d}  {device.name}  "
                f"({device.max_input_channels} ch, {device.default_sample_rate_hz:.0f} Hz)"
            )
        return 0
    target = args.camera or ("mic:" + args.device if args.device else "mic")
    loaded = model_for(target, args.model)
    stream = open_stream(
        target,
        loaded,
        seconds=args.seconds,
        idle_timeout_s=args.idle_timeout,
        buffer_s=args.buffer_seconds,
        device_rate_hz=args.device_rate,
    )
    return stream_to_sinks(stream, loaded, args)


def main_job() -> int:
    """Default job: live microphone if one works, else the shipped recording at real-time pace."""
    args = argparse.Namespace(
        model=None,
        device=None,
        camera=None,
        list_devices=False,
        idle_timeout=5.0,
        seconds=None,
        device_rate=None,
        buffer_seconds=10.0,
        threshold=None,
        quiet=False,
        sink=None,
        jsonl=None,
    )
    try:
        devices = list_input_devices()
    except MicrophoneUnavailable as error:
        devices, reason = [], str(error)
    else:
        reason = "no audio input device found"
    if devices:
        try:
            return command_listen(args)
        except MicrophoneUnavailable as error:
            reason = str(error)
    print(f"spikestream: {reason}; replaying {DEFAULT_RECORDING.name} in real time instead", file=sys.stderr)
    return command_replay(argparse.Namespace(**vars(args), recording=DEFAULT_RECORDING, speed=1.0))


def parse_sensor(text: str | None) -> SensorSize | None:
    """``--sensor WxH`` → :class:`SensorSize` (``None`` when not given)."""
    if text is None:
        return None
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 0 < int(width) <= 65535 and 0 < int(height) <= 65535):
        raise UsageError(f"--sensor {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 128x128")
    return SensorSize(int(width), int(height))


def parse_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` → ``(host, port)``."""
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--udp {value!r}: expected HOST:PORT with a port in 1..65535, e.g. 127.0.0.1:3333 or [::1]:3333"
        )
    return host, int(port)


def command_send(args: argparse.Namespace) -> int:
    from ..sources.events.chunking import TimeOrder, time_ordered_blocks
    from ..sources.events.live.udp_sender import UdpEventSender
    from .inputs import open_event_recording

    host, port = parse_host_port(args.udp)
    recording = open_event_recording(args.recording, parse_sensor(args.sensor), [])
    try:
        sender = UdpEventSender(host, port, recording.sensor_size, speed=args.speed)
    except ValueError as error:
        raise UsageError(f"--udp {args.udp!r}: {error}") from None
    order = TimeOrder()
    with sender:
        stats = sender.send_recording(time_ordered_blocks(recording.iter_chunks(), str(args.recording), order))
    print(
        f"sent {stats.events_sent} events in {stats.packets_sent} packets over {stats.duration_s:.2f} s "
        f"({stats.events_per_s:.0f} events/s) "
        f"to {host}:{port}; dropped: {stats.out_of_range_events} out of range, {order.late_events} out of time order",
        file=sys.stderr,
    )
    return 0


def image_out(out: Path, suffixes: tuple[str, ...], expected: str) -> Path:
    """``--out`` for a picture: one of ``suffixes`` in a folder that exists, else :class:`UsageError`."""
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--out {out}: expected {expected}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    return out


def command_show(args: argparse.Namespace) -> int:
    from ..sources.events.render import render_recording

    image_out(args.out, (".gif", ".png"), "a .gif (animation) or .png (montage) file name")
    from .inputs import open_event_recording

    recording = open_event_recording(args.recording, parse_sensor(args.sensor), [])
    try:
        summary = render_recording(recording, args.out, args.bin_ms, args.max_frames)
    except ValueError as error:  # frames that would not fit in memory, named with the limit
        raise UsageError(str(error)) from None
    print(f"wrote {args.out}: {summary}", file=sys.stderr)
    return 0


def command_show_activity(args: argparse.Namespace) -> int:
    from .activity_raster import draw_activity, record_activity

    image_out(args.out, (".png",), "a .png file name")
    loaded = model_for(args.recording, args.model)
    layers, detections, step_ms, drops = record_activity(loaded, args.recording, args.max_seconds)
    title = f"{loaded.name} on {args.recording.name}: {len(detections)} detections"
    try:
        draw_activity(layers, detections, step_ms, title, args.out)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot write ({error.strerror or error})") from None
    lost = ", ".join(f"{name} {count}" for name, count in drops.items()) or "none"
    print(
        f"wrote {args.out}: {', '.join(layers)} over {layers['input'].shape[0]} steps of {step_ms:g} ms; "
        f"dropped: {lost}",
        file=sys.stderr,
    )
    return 0


def command_batch(args: argparse.Namespace) -> int:
    """Every listed file through the stream path into one table (see pipeline/batch)."""
    from .batch.runner import BatchOptions, run_batch

    options = BatchOptions(
        list(args.inputs),
        args.out,
        args.model or DEFAULT_AUDIO_MODEL,
        args.files_from,
        args.engine,
        args.workers,
        args.address,
        args.timeout_s,
        args.top_k,
        args.batch_size,
        args.pad,
        args.overwrite,
        args.progress_s,
        args.quiet,
    )
    run_batch(options)
    return 0
