"""Sinks: where detections go. None of them blocks the pipeline.

Every sink runs behind a :class:`NonBlockingSink`: a bounded queue drained by its own thread.
When a sink is slower than the detections arrive, new detections for *that* sink are dropped and
counted (``dropped``), and the count is reported at the end of the run. ``close()`` drains what is
queued and flushes files, so Ctrl-C loses nothing already detected.
"""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path
from typing import Callable, TextIO

from .detection import Detection


class ConsoleSink:
    """Human-readable lines on a text stream (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def write(self, detection: Detection) -> None:
        print(detection.to_console(), file=self.stream, flush=True)

    def close(self) -> None:
        self.stream.flush()


class JsonLinesSink:
    """One JSON object per line (see :meth:`Detection.to_json_dict`), to a file (appended) or ``-`` = stdout."""

    name = "jsonl"

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        if self.target == "-":
            self.stream: TextIO = sys.stdout
            self._owns_stream = False
        else:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            self.stream = open(self.target, "a", encoding="utf-8")
            self._owns_stream = True

    def write(self, detection: Detection) -> None:
        self.stream.write(detection.to_json() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()
        if self._owns_stream:
            self.stream.close()


class CallbackSink:
    """Calls ``callback(detection)`` for library users; exceptions are counted, not raised."""

    name = "callback"

    def __init__(self, callback: Callable[[Detection], None]) -> None:
        self.callback = callback
        self.errors = 0

    def write(self, detection: Detection) -> None:
        try:
            self.callback(detection)
        except Exception:  # a user's bug must not stop the stream
            self.errors += 1

    def close(self) -> None:
        pass


class NonBlockingSink:
    """Wraps a sink with a bounded queue and a writer thread; ``emit`` never waits."""

    def __init__(self, sink, queue_size: int = 256) -> None:
        self.sink = sink
        self.name = getattr(sink, "name", type(sink).__name__)
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._drain, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    def emit(self, detection: Detection) -> None:
        try:
            self._queue.put_nowait(detection)
        except queue.Full:
            self.dropped += 1

    def _drain(self) -> None:
        while True:
            detection = self._queue.get()
            if detection is None:
                return
            self.sink.write(detection)
            self.written += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued, then close the sink (file flush)."""
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
        self.sink.close()


def build_sinks(sink_specs: list[str], callback: Callable[[Detection], None] | None = None) -> list[NonBlockingSink]:
    """Sinks from command-line specs: ``console``, ``jsonl`` (stdout), ``jsonl:PATH``; plus a callback."""
    sinks = []
    for spec in sink_specs:
        kind, _, argument = spec.partition(":")
        if kind == "console":
            sinks.append(ConsoleSink(sys.stdout))
        elif kind == "jsonl":
            sinks.append(JsonLinesSink(argument or "-"))
        else:
            raise ValueError(f"unknown sink {spec!r}; expected 'console', 'jsonl' (stdout) or 'jsonl:PATH'")
    if callback is not None:
        sinks.append(CallbackSink(callback))
    return [NonBlockingSink(sink) for sink in sinks]
