"""The streaming runtime: chunks → :class:`StreamingModel` → sinks, with pacing and measurement.

One code path for live input, paced replay and as-fast-as-possible batch runs: only the source
and the :class:`ReplayPacer` differ. The runtime installs no signal handler and changes no thread
setting (the command line does, in ``main``), so a library user may run a stream from any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..sources.chunk import Chunk
from .detection import Detection
from .sinks import NonBlockingSink, close_sinks
from .streaming_model import StreamingModel


class ReplayPacer:
    """Releases each chunk when its end time is reached on the wall clock, ``speed``× real time.

    ``speed = 0`` releases immediately (as fast as possible). Sleeping, no busy-wait. A gap chunk
    (hours without events in a recording) is released at once and not waited for."""

    def __init__(self, speed: float) -> None:
        if not (speed == 0 or 0.001 <= speed <= 1000):
            raise ValueError(
                f"--speed {speed}: expected 0 (as fast as possible) or a factor of real time in [0.001, 1000]"
            )
        self.speed = speed
        self._origin_ns: int | None = None

    def release(self, chunk: Chunk) -> int:
        """Wait until ``chunk`` is due; return its availability time in ``monotonic_ns``."""
        now_ns = time.monotonic_ns()
        if self.speed == 0:
            return now_ns
        if self._origin_ns is None:
            self._origin_ns = now_ns - int(chunk.start_us * 1000 / self.speed)
        if chunk.gap:  # empty time is skipped, not waited for: later chunks come that much earlier
            self._origin_ns -= int((chunk.end_us - chunk.start_us) * 1000 / self.speed)
            return now_ns
        due_ns = self._origin_ns + int(chunk.end_us * 1000 / self.speed)
        if due_ns > now_ns:
            time.sleep((due_ns - now_ns) / 1e9)
            return due_ns
        return now_ns


@dataclass
class RunReport:
    """Measured facts of one run (printed at the end, returned to library users).

    ``source_drops`` come from the source's ``drop_counts()``, ``sink_drops`` from each sink (queue
    full, or lost when the sink failed), ``sink_errors`` name sinks that failed and why.
    ``gated_segments``: segments a segment decision's level gate (``min_rise_db``) closed without a
    detection."""

    source: str
    detections: list[Detection] = field(default_factory=list)
    chunks: int = 0
    steps: int = 0
    gaps: int = 0
    gated_segments: int = 0
    stream_us: int = 0
    processing_s: float = 0.0
    wall_s: float = 0.0
    sink_drops: dict[str, int] = field(default_factory=dict)
    sink_errors: dict[str, str] = field(default_factory=dict)
    source_drops: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def real_time_factor(self) -> float:
        """Processing time / stream duration (0.05 = 20× faster than real time); NaN without stream time."""
        return self.processing_s / (self.stream_us / 1e6) if self.stream_us > 0 else float("nan")

    @property
    def output_incomplete(self) -> bool:
        """True when some detection did not reach every sink (a slow or failed sink)."""
        return bool(self.sink_errors) or any(self.sink_drops.values())

    def summary(self) -> str:
        latencies = [d.latency_ms for d in self.detections]
        latency = f", latency p50 {np.percentile(latencies, 50):.1f} ms" if latencies else ""
        rtf = f", real-time factor {self.real_time_factor:.4f}" if self.stream_us > 0 else ", no input received"
        drops = {**self.sink_drops, **self.source_drops}
        lost = ", ".join(f"{name} {count}" for name, count in drops.items() if count) or "none"
        gaps = f", {self.gaps} gaps in the input skipped (model state reset)" if self.gaps else ""
        plural = "" if self.gated_segments == 1 else "s"
        gate = f", {self.gated_segments} segment{plural} closed by the level gate (below min_rise_db)"
        gate = gate if self.gated_segments else ""
        failed = "".join(f"; sink failed: {error}" for error in self.sink_errors.values())
        return (
            f"{self.source}: {len(self.detections)} detections in {self.stream_us / 1e6:.2f} s of stream "
            f"({self.steps} steps){rtf}{latency}{gaps}{gate}; dropped: {lost}{failed}"
            + (" (interrupted)" if self.interrupted else "")
        )


def run_stream(
    chunks: Iterable[Chunk],
    model: StreamingModel,
    sinks: list[NonBlockingSink],
    pacer: ReplayPacer | None = None,
    drop_counts: Callable[[], dict[str, int]] | None = None,
) -> RunReport:
    """Drive one stream to its end (or ``KeyboardInterrupt``); sinks are closed in every case.

    ``pacer`` is for replays; live sources pass ``None`` and stamp ``available_ns`` themselves.
    ``drop_counts`` is the source's loss report, read once at the end."""
    report = RunReport(source=model.source_name)
    started = time.perf_counter()

    def emit(detections: list[Detection]) -> None:
        for detection in detections:
            report.detections.append(detection)
            for sink in sinks:
                sink.emit(detection)

    try:
        for chunk in chunks:
            if pacer is not None:
                chunk.available_ns = pacer.release(chunk)
            elif not chunk.available_ns:
                chunk.available_ns = time.monotonic_ns()
            tick = time.perf_counter()
            detections = model.process(chunk)
            report.processing_s += time.perf_counter() - tick
            report.chunks += 1
            report.stream_us = max(report.stream_us, chunk.end_us)
            emit(detections)
        tick = time.perf_counter()
        emit(model.finish())
        report.processing_s += time.perf_counter() - tick
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        close_sinks(sinks)  # bounded in time: a stalled sink's undelivered detections are counted as lost
        report.sink_drops = {f"sink {sink.label}": sink.undelivered for sink in sinks}
        report.sink_errors = {sink.label: sink.summary() for sink in sinks if sink.incomplete and sink.error}
        report.source_drops = dict(drop_counts()) if drop_counts is not None else {}
        report.steps = model.steps
        report.gaps = model.gaps
        report.gated_segments = model.gated_segments
        report.wall_s = time.perf_counter() - started
    return report
