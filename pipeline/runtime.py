"""The streaming runtime: source chunks → front end → model (persistent state) → decision → sinks.

One code path for live input, paced replay and as-fast-as-possible batch runs: only the source
and the :class:`ReplayPacer` differ. The model is called on the few steps each chunk yields, with
its state passed back, so no window is ever recomputed.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import numpy as np
import torch

from ..models.checkpoint import LoadedModel
from .decision import DecisionConfig, StreamingDecision
from .detection import Detection
from .sinks import NonBlockingSink


class FrontEnd(Protocol):
    """What the runtime needs of a front end (audio or events)."""

    step_us: int

    def push(self, payload: Any) -> torch.Tensor: ...

    def flush(self) -> torch.Tensor: ...


@dataclass
class Chunk:
    """What a source yields: a payload the front end understands (samples or events),
    its stream time span in µs, and when it became available (``time.monotonic_ns()``, 0 = unknown)."""

    payload: Any
    start_us: int
    end_us: int
    available_ns: int = 0


class ReplayPacer:
    """Releases each chunk when its end time is reached on the wall clock, ``speed``× real time.

    ``speed = 0`` releases immediately (as fast as possible). Sleeping, no busy-wait."""

    def __init__(self, speed: float) -> None:
        if speed < 0:
            raise ValueError(f"--speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.speed = speed
        self._origin_ns: int | None = None

    def release(self, chunk: Chunk) -> int:
        """Wait until ``chunk`` is due; return its availability time in ``monotonic_ns``."""
        now_ns = time.monotonic_ns()
        if self.speed == 0:
            return now_ns
        if self._origin_ns is None:
            self._origin_ns = now_ns - int(chunk.start_us * 1000 / self.speed)
        due_ns = self._origin_ns + int(chunk.end_us * 1000 / self.speed)
        if due_ns > now_ns:
            time.sleep((due_ns - now_ns) / 1e9)
            return due_ns
        return now_ns


@dataclass
class RunReport:
    """Measured facts of one run (printed at the end, returned to library users)."""

    source: str
    detections: list[Detection] = field(default_factory=list)
    chunks: int = 0
    steps: int = 0
    stream_us: int = 0
    processing_s: float = 0.0
    wall_s: float = 0.0
    sink_drops: dict[str, int] = field(default_factory=dict)
    source_drops: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def real_time_factor(self) -> float:
        """Processing time / stream duration (0.05 = 20× faster than real time)."""
        return self.processing_s / (self.stream_us / 1e6) if self.stream_us else float("nan")

    def summary(self) -> str:
        latencies = [d.latency_ms for d in self.detections]
        latency = f", latency p50 {np.percentile(latencies, 50):.1f} ms" if latencies else ""
        drops = {**self.sink_drops, **self.source_drops}
        lost = ", ".join(f"{name} {count}" for name, count in drops.items() if count) or "none"
        return (
            f"{self.source}: {len(self.detections)} detections in {self.stream_us / 1e6:.2f} s of stream "
            f"({self.steps} steps), real-time factor {self.real_time_factor:.4f}{latency}; dropped: {lost}"
            + (" (interrupted)" if self.interrupted else "")
        )


class StreamingClassifier:
    """Model + persistent state + decision for one stream; holds no signal processing."""

    def __init__(self, loaded: LoadedModel, front_end: FrontEnd, decision: DecisionConfig, source_name: str) -> None:
        self.model = loaded.model.eval()
        self.labels = loaded.labels
        self.front_end = front_end
        self.decision = StreamingDecision(decision, len(self.labels), front_end.step_us)
        self.source_name = source_name
        self.state: tuple | None = None
        self.steps = 0

    def _classify(self, steps: torch.Tensor, available_ns: int) -> list[Detection]:
        if steps.shape[0] == 0:
            return []
        with torch.no_grad():
            logits, self.state = self.model(steps, self.state)
        self.steps += steps.shape[0]
        now_ns = time.monotonic_ns()
        latency_ms = (now_ns - available_ns) / 1e6 if available_ns else 0.0
        return [
            Detection(d.time_us, self.labels[d.class_index], d.score, self.source_name, latency_ms)
            for d in self.decision.update(logits[:, 0])
        ]

    def process(self, chunk: Chunk) -> list[Detection]:
        return self._classify(self.front_end.push(chunk.payload), chunk.available_ns)

    def finish(self) -> list[Detection]:
        return self._classify(self.front_end.flush(), time.monotonic_ns())


def run_stream(
    chunks: Iterable[Chunk],
    classifier: StreamingClassifier,
    sinks: list[NonBlockingSink],
    pacer: ReplayPacer | None = None,
    source_counters: Any = None,
) -> RunReport:
    """Drive one stream to its end (or Ctrl-C); sinks are closed (flushed) in every case.

    ``pacer`` is for replays; live sources pass ``None`` and stamp ``available_ns`` themselves.
    ``source_counters`` is an object whose ``*_drops``/``overflow*`` attributes are reported.
    """
    report = RunReport(source=classifier.source_name)
    started = time.perf_counter()
    previous_handler = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM → KeyboardInterrupt → flush
    try:
        for chunk in chunks:
            if pacer is not None:
                chunk.available_ns = pacer.release(chunk)
            elif not chunk.available_ns:
                chunk.available_ns = time.monotonic_ns()
            tick = time.perf_counter()
            detections = classifier.process(chunk)
            report.processing_s += time.perf_counter() - tick
            report.chunks += 1
            report.stream_us = chunk.end_us
            for detection in detections:
                report.detections.append(detection)
                for sink in sinks:
                    sink.emit(detection)
        tick = time.perf_counter()
        for detection in classifier.finish():
            report.detections.append(detection)
            for sink in sinks:
                sink.emit(detection)
        report.processing_s += time.perf_counter() - tick
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        for sink in sinks:
            sink.close()
        report.sink_drops = {f"sink {sink.name}": sink.dropped for sink in sinks}
        if source_counters is not None:
            report.source_drops = {
                name: int(getattr(source_counters, name))
                for name in dir(source_counters)
                if (name.endswith("_drops") or name.startswith("overflow") or name.startswith("dropped")) and not name.startswith("_")
                and isinstance(getattr(source_counters, name), (int, np.integer))
            }
        report.steps = classifier.steps
        report.wall_s = time.perf_counter() - started
    return report
