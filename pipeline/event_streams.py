"""Event-camera commands: replay a recording, listen to a live camera, send a recording over UDP,
show a recording as frames. Same runtime, decision and sinks as audio; only the ends differ."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..models.checkpoint import LoadedModel
from ..sources.events.event_array import SensorSize, rescale_events
from ..sources.events.event_queue import monotonic_us
from ..sources.events.framing import EventFrontEndConfig, FrameEvents
from ..sources.events.recording import EventFileError, EventRecording, open_recording
from ..sources.events.render import write_gif, write_png_montage
from ..sources.events.udp_camera import UdpEventSender, check_usb_camera_support, open_camera, parse_camera_uri
from .cli import DEFAULT_GESTURE_MODEL, UsageError, load_model, sink_specs
from .runtime import Chunk, ReplayPacer, RunReport, StreamingClassifier, run_stream
from .sinks import build_sinks
from .streams import make_classifier

SLICE_US = 10_000  # replay granularity: one chunk per 10 ms of recording time
LIVE_MARGIN_US = 5_000  # live bins close 5 ms behind the wall clock, so in-flight events still fit


def model_sensor(loaded: LoadedModel) -> SensorSize:
    front_end = loaded.config["front_end"]
    return SensorSize(front_end["sensor_width"], front_end["sensor_height"])


def open_event_recording(path: Path, fallback_sensor: SensorSize | None = None) -> EventRecording:
    """Open any supported event file; headerless formats (.npy) take ``fallback_sensor``."""
    try:
        try:
            return open_recording(path)
        except EventFileError:
            if fallback_sensor is None or path.suffix.lower() not in (".npy", ".npz"):
                raise
            return open_recording(path, sensor_size=fallback_sensor)
    except EventFileError as error:
        raise UsageError(str(error)) from error


def slice_by_time(events: np.ndarray, first_edge_us: int, slice_count: int, slice_us: int) -> list[Chunk]:
    """Chunks covering ``[first + k·slice_us, first + (k+1)·slice_us)`` for ``k < slice_count`` of a
    time-sorted event array (events before ``first_edge_us`` go into the first chunk)."""
    ends_us = first_edge_us + slice_us * np.arange(1, slice_count + 1)
    bounds = np.searchsorted(events["t"], ends_us)
    starts = np.concatenate([[0], bounds[:-1]]).astype(np.int64)
    return [Chunk(events[start:bound], int(end_us) - slice_us, int(end_us)) for start, bound, end_us in zip(starts, bounds, ends_us)]


def recording_chunks(recording: EventRecording, to_sensor: SensorSize | None = None) -> Iterator[Chunk]:
    """A recording as chunks of ``SLICE_US`` of its own time (from its first event), rescaled to the
    model's sensor when the geometries differ."""
    origin_us = None
    next_edge_us = 0
    pending: list[np.ndarray] = []
    for block in recording.iter_chunks():
        if len(block) == 0:
            continue
        if origin_us is None:
            origin_us = int(block["t"][0])
        block = block.copy()
        block["t"] -= origin_us
        if to_sensor is not None:
            block = rescale_events(block, recording.sensor_size, to_sensor)
        pending.append(block)
        merged = np.concatenate(pending)
        complete = (int(merged["t"][-1]) - next_edge_us) // SLICE_US  # slices whose end the data has passed
        yield from slice_by_time(merged, next_edge_us, complete, SLICE_US)
        next_edge_us += complete * SLICE_US
        pending = [merged[np.searchsorted(merged["t"], next_edge_us) :]]
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.dtype([("t", "<i8")]))
    if len(rest):
        yield Chunk(rest, next_edge_us, int(rest["t"][-1]) + 1)


def replay_events(path: Path, model_name: str | None, speed: float, specs: list[str], threshold: float | None) -> RunReport:
    torch.set_num_threads(1)
    loaded = load_model(model_name, DEFAULT_GESTURE_MODEL)
    if loaded.config["front_end"].get("kind") != "events":
        raise UsageError(f"{path} is an event recording but model {loaded.path.name!r} takes audio; pass --model {DEFAULT_GESTURE_MODEL}")
    sensor = model_sensor(loaded)
    recording = open_event_recording(path, sensor)
    classifier = make_classifier(loaded, path.name, {"on_threshold": threshold})
    try:
        return run_stream(recording_chunks(recording, sensor), classifier, build_sinks(specs), ReplayPacer(speed), source_counters=recording)
    except EventFileError as error:
        raise UsageError(str(error)) from error


class LiveEventChunks:
    """Chunks from a live receiver, in stream time (µs since the first packet); closes bins on the
    wall clock when no event arrives (``EventFrontEnd.advance_to``) so decisions never stall."""

    def __init__(self, receiver, duration_s: float | None, idle_timeout_s: float | None, startup_timeout_s: float = 60.0) -> None:
        self.receiver = receiver
        self.duration_us = None if duration_s is None else int(duration_s * 1e6)
        self.idle_timeout_us = None if idle_timeout_s is None else int(idle_timeout_s * 1e6)
        self.startup_timeout_us = int(startup_timeout_s * 1e6)
        self.origin_us: int | None = None

    def __iter__(self) -> Iterator[Chunk]:
        """Ends after ``duration_s`` of stream, or ``idle_timeout_s`` without events once the first
        event came (a sender that stops), or ``startup_timeout_s`` when nothing ever arrives."""
        last_end_us = 0
        started_us = last_event_us = monotonic_us()
        for events in self.receiver.iter_chunks(poll_s=0.01, yield_empty=True):
            now_us = monotonic_us()
            if len(events):
                last_event_us = now_us
            elif self.origin_us is None and now_us - started_us > self.startup_timeout_us:
                return
            elif self.origin_us is not None and self.idle_timeout_us is not None and now_us - last_event_us > self.idle_timeout_us:
                return
            if self.origin_us is None:
                if len(events) == 0:
                    continue
                self.origin_us = int(events["t"][0])
            events = events.copy()
            # arrival stamps: an event stamped just before the previous chunk's end is moved to it
            events["t"] = np.maximum(events["t"] - self.origin_us, last_end_us)
            end_us = max(last_end_us, now_us - self.origin_us - LIVE_MARGIN_US, int(events["t"][-1]) + 1 if len(events) else 0)
            yield Chunk(events, last_end_us, end_us, time.monotonic_ns())
            last_end_us = end_us
            if self.duration_us is not None and end_us >= self.duration_us:
                return


class LiveEventClassifier(StreamingClassifier):
    """A classifier whose front end is advanced to each chunk's end time (live cameras)."""

    def process(self, chunk: Chunk):
        steps = self.front_end.push(chunk.payload)
        closed = self.front_end.advance_to(chunk.end_us)
        return self._classify(torch.cat([steps, closed]) if closed.shape[0] else steps, chunk.available_ns)


def listen_camera(args: argparse.Namespace) -> RunReport:
    torch.set_num_threads(1)
    loaded = load_model(args.model, DEFAULT_GESTURE_MODEL)
    try:
        spec = parse_camera_uri(args.camera)
        if spec.transport == "usb":
            check_usb_camera_support()
        receiver = open_camera(spec, model_sensor(loaded), idle_timeout_s=None)
    except (ValueError, RuntimeError, OSError) as error:
        raise UsageError(str(error)) from error
    source_name = args.camera
    classifier = make_classifier(loaded, source_name, {"on_threshold": args.threshold}, LiveEventClassifier)
    if not args.quiet:
        print(f"listening to {args.camera} ({model_sensor(loaded).width}x{model_sensor(loaded).height}); Ctrl-C to stop", file=sys.stderr)
    with receiver:
        report = run_stream(LiveEventChunks(receiver, args.seconds, args.idle_timeout), classifier, build_sinks(sink_specs(args)))
        report.source_drops = {f"receiver {k}": v for k, v in receiver.stats.as_dict().items() if k in ("dropped_events", "malformed_packets", "invalid_events", "kernel_dropped_packets")}
    return report


def parse_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--udp {value!r}: expected HOST:PORT, e.g. 127.0.0.1:3333")
    return host, int(port)


def send_recording(args: argparse.Namespace) -> int:
    host, port = parse_host_port(args.udp)
    recording = open_event_recording(args.recording, SensorSize(128, 128))
    with UdpEventSender(host, port, recording.sensor_size, speed=args.speed) as sender:
        try:
            stats = sender.send_recording(recording.iter_chunks())
        except EventFileError as error:
            raise UsageError(str(error)) from error
    print(f"sent {stats.events_sent} events in {stats.packets_sent} packets over {stats.duration_s:.2f} s "
          f"({stats.events_per_s:.0f} events/s) to {host}:{port}; {stats.out_of_range_events} out of range dropped", file=sys.stderr)
    return 0


def show_recording(args: argparse.Namespace) -> int:
    recording = open_event_recording(args.recording, SensorSize(128, 128))
    config = EventFrontEndConfig(recording.sensor_size.width, recording.sensor_size.height, bin_ms=args.bin_ms, output_mode="counts")
    events = recording.read_all()
    frames = FrameEvents(config)(events)[: args.max_frames]
    suffix = args.out.suffix.lower()
    if suffix == ".gif":
        write_gif(frames, args.out, args.bin_ms)
    elif suffix == ".png":
        write_png_montage(frames, args.out)
    else:
        raise UsageError(f"--out {args.out}: expected a .gif (animation) or .png (montage) file name")
    print(f"wrote {args.out}: {len(frames)} frames of {args.bin_ms} ms from {len(events)} events ({recording.format_name}, "
          f"{recording.sensor_size.width}x{recording.sensor_size.height})", file=sys.stderr)
    return 0
