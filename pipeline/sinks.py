"""Sinks: where detections go. None of them blocks the pipeline, not even a stalled or a dead one.

Every sink runs behind a :class:`NonBlockingSink`: a bounded queue drained by its own writer thread.
What the wrapper guarantees, and counts (all counts are numbers of detections):

- ``emit`` never waits. When a sink is slower than the detections arrive, new detections for *that*
  sink are not queued: ``dropped`` (queue full).
- A sink whose write raises is *dead*: it is not written to again, its error text is kept in ``error``
  (e.g. ``"jsonl:/dev/full: [Errno 28] No space left on device"``), and the detection that failed,
  everything still queued and every later ``emit`` are counted in ``lost``. No traceback is printed.
- A :class:`CallbackSink` whose callback raises is *not* dead: the stream goes on, the detection is
  counted in ``errors`` and the first failure is kept in ``error``.
- ``close()`` drains the queue and closes the sink, but waits at most ``close_timeout_s`` seconds
  (default :data:`DEFAULT_CLOSE_TIMEOUT_S`); a second Ctrl-C while it waits stops the wait at once.
  Whatever was not delivered by then is counted in ``lost`` and ``error`` says that the sink stalled.
- After ``close()``: ``emitted == delivered + dropped + lost + errors``; ``incomplete`` is True when
  anything emitted was not delivered.

Outputs (console, JSON lines) write with ``os.write`` on the file descriptor, no Python-level buffer:

- A line is passed to one ``write`` call, the whole line including its ``"\\n"``. If the kernel takes
  only part of it (a full file system, a file size limit) and the rest fails, the output is a regular
  file, and nobody else wrote after us, the partial line is cut off again (``ftruncate``): a JSON-lines
  *file* holds whole lines only. Where that cannot be done (a pipe, a device, a rollback that failed),
  ``error`` says how many bytes of an unfinished line were left. Pipe/FIFO writes of up to
  :data:`PIPE_BUF_BYTES` bytes (a detection line is ~130 bytes) are atomic: never partial.
- The writer waits for a stalled descriptor with ``poll`` in short slices, so ``close`` can stop it.
- A FIFO is opened with ``O_NONBLOCK``: opening never waits for a reader. If no process has the FIFO
  open for reading, :class:`JsonLinesSink` raises :class:`SinkError` at once (start the reader first,
  e.g. ``cat /tmp/fifo &``). A reader that goes away later makes the sink dead (``Broken pipe``).
- Stdout (``jsonl:-``, ``console``) is written with ``os.write(1, ...)`` and is left in blocking mode
  (other processes may share it); it is polled before each write. Streams without a file descriptor
  (``io.StringIO``, pytest's ``capsys``) are written with ``write`` + ``flush``; if one of those blocks,
  the writer thread is abandoned at close and what it held is counted in ``lost``.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO

from .detection import Detection

DEFAULT_QUEUE_SIZE = 256
"""Detections a sink may have queued before new ones are dropped."""

DEFAULT_CLOSE_TIMEOUT_S = 3.0
"""How long ``close()`` waits, in seconds, for a sink to take what is queued."""

PIPE_BUF_BYTES = select.PIPE_BUF
"""Writes to a pipe or FIFO up to this many bytes are atomic (POSIX); detection lines are far shorter."""

_POLL_SLICE_MS = 50
"""A writer waiting for a stalled output wakes this often (milliseconds) to see whether to give up."""

_ABANDON_GRACE_S = 0.5
"""After a close times out, how long (seconds) the writer thread gets to notice and close its output."""


class SinkError(ValueError):
    """A sink cannot be built: a bad sink spec, or a ``jsonl:PATH`` that cannot be opened for appending."""


class Sink(Protocol):
    """What :class:`NonBlockingSink` drives (from its writer thread).

    ``write`` returns ``None`` (or ``True``) when the detection was delivered, ``False`` when it was not
    but the sink goes on (counted in ``errors``), and raises when the sink is dead (counted in ``lost``).
    Sinks may also have ``label`` (for messages), ``last_error`` (text for a ``False`` write) and
    ``abort()`` (stop waiting for a stalled output: the pending ``write`` raises soon after).
    """

    name: str

    def write(self, detection: Detection) -> bool | None: ...

    def close(self) -> None: ...


class _Aborted(Exception):
    """A write gave up waiting for a stalled output because the sink is being abandoned."""


class _LineOutput:
    """Writes whole text lines to a file descriptor (or, lacking one, to a text stream); see the module doc."""

    def __init__(self, label: str, *, fd: int | None = None, owns_fd: bool = False, stream: TextIO | None = None):
        self.label = label
        self._fd = fd
        self._owns_fd = owns_fd
        self._stream = stream
        self._abort = threading.Event()
        self._regular_file = False
        self._poller: select.poll | None = None
        if fd is not None:
            self._regular_file = stat.S_ISREG(os.fstat(fd).st_mode)
            self._poller = select.poll()
            self._poller.register(fd, select.POLLOUT)

    @classmethod
    def for_stream(cls, label: str, stream: TextIO) -> _LineOutput:
        """Write to ``stream``'s file descriptor (not owned: never closed) if it has one, else to the stream."""
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.StringIO, pytest's capsys, a closed stream
            return cls(label, stream=stream)
        try:
            stream.flush()  # what was printed before comes before our lines
        except (OSError, ValueError):
            pass  # a broken stream: our first write will say so
        try:
            return cls(label, fd=fd)
        except OSError as error:  # e.g. a closed descriptor 1
            raise SinkError(f"{label}: cannot write to it: {_reason(error)}") from None

    @classmethod
    def for_path(cls, label: str, path: Path) -> _LineOutput:
        """Open ``path`` for appending (created with its directories); never waits, raises :class:`SinkError`."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(f"{label}: cannot create the directory {str(path.parent)!r}: {_reason(error)}") from None
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as error:
            if error.errno == errno.ENXIO and _is_fifo(path):
                raise SinkError(
                    f"{label}: the FIFO {str(path)!r} has no reader; start the reader first (e.g. `cat {path} &`)"
                ) from None
            raise SinkError(f"{label}: cannot open {str(path)!r} for appending: {_reason(error)}") from None
        return cls(label, fd=fd, owns_fd=True)

    def abort(self) -> None:
        """Make a write that waits for a stalled output raise :class:`_Aborted` within ``_POLL_SLICE_MS``."""
        self._abort.set()

    def write_line(self, line: str) -> None:
        """Write ``line`` (ending in ``"\\n"``) whole, or raise; a partial line is cut off where possible."""
        if self._fd is None:
            self._stream.write(line)
            self._stream.flush()
            return
        data = memoryview(line.encode("utf-8"))
        written_bytes = 0
        try:
            while written_bytes < len(data):
                self._wait_writable()
                try:
                    written_bytes += os.write(self._fd, data[written_bytes:])  # the first call: the whole line
                except BlockingIOError:  # a non-blocking pipe without room for the line: poll again
                    continue
        except _Aborted:
            raise
        except OSError as error:
            if written_bytes and not self._cut_off(written_bytes):
                raise OSError(
                    error.errno, f"{error.strerror} ({written_bytes} bytes of an unfinished line were left)"
                ) from error
            raise

    def _wait_writable(self) -> None:
        while not self._abort.is_set():
            if self._poller.poll(_POLL_SLICE_MS):  # writable, or an error/hang-up that write() will report
                return
        raise _Aborted

    def _cut_off(self, partial_bytes: int) -> bool:
        """Remove the last ``partial_bytes`` bytes we wrote if they end a regular file; True if done."""
        if not self._regular_file:
            return False
        try:
            end = os.lseek(self._fd, 0, os.SEEK_CUR)
            size = os.fstat(self._fd).st_size
            if end != size or size < partial_bytes:  # someone else wrote after us: not ours to cut
                return False
            os.ftruncate(self._fd, size - partial_bytes)
            os.lseek(self._fd, size - partial_bytes, os.SEEK_SET)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Close an owned descriptor; flush a stream. Neither waits for a stalled reader."""
        if self._fd is None:
            self._stream.flush()
        elif self._owns_fd:
            fd, self._fd = self._fd, None
            os.close(fd)


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


class ConsoleSink:
    """Human-readable lines on a text stream (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.label = "console"
        self._output = _LineOutput.for_stream(self.label, self.stream)

    def write(self, detection: Detection) -> None:
        self._output.write_line(detection.to_console() + "\n")

    def abort(self) -> None:
        self._output.abort()

    def close(self) -> None:
        self._output.close()


class JsonLinesSink:
    """One JSON object per line (see :meth:`Detection.to_json_dict`), to a file (appended) or ``-`` = stdout.

    The file (and its directories) is opened here, without waiting (a FIFO needs its reader already);
    failures raise :class:`SinkError` naming the path and the reason.
    """

    name = "jsonl"

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self.label = f"jsonl:{self.target}"
        if self.target == "-":
            self._output = _LineOutput.for_stream(self.label, sys.stdout)
        else:
            self._output = _LineOutput.for_path(self.label, Path(self.target))

    def write(self, detection: Detection) -> None:
        self._output.write_line(detection.to_json() + "\n")

    def abort(self) -> None:
        self._output.abort()

    def close(self) -> None:
        self._output.close()


class CallbackSink:
    """Calls ``callback(detection)`` for library users; exceptions are counted (``errors``), not raised.

    ``last_error`` is the latest failure as ``"ExceptionType: message"``; :class:`NonBlockingSink` counts
    these detections in its ``errors`` and reports the first one in its ``error``.
    """

    name = "callback"

    def __init__(self, callback: Callable[[Detection], None]) -> None:
        self.callback = callback
        self.label = "callback"
        self.errors = 0
        self.last_error: str | None = None

    def write(self, detection: Detection) -> bool:
        try:
            self.callback(detection)
        except Exception as error:  # a user's bug must not stop the stream
            self.errors += 1
            self.last_error = f"{type(error).__name__}: {error}"
            return False
        return True

    def close(self) -> None:
        pass


class NonBlockingSink:
    """Wraps a sink with a bounded queue and a writer thread; ``emit`` never waits, ``close`` is bounded.

    Counts, in detections (read them after :meth:`close`; during the run they may still change):

    Attributes:
        name: the sink's kind (``console``, ``jsonl``, ``callback``), as before.
        label: the sink and its target for messages, e.g. ``jsonl:/tmp/d.jsonl``.
        emitted: passed to :meth:`emit`.
        delivered: written in full (also readable as ``written``).
        dropped: not queued because the queue was full (the sink is slower than the detections).
        lost: not delivered because the sink died, or because it had not taken them when close timed out,
            or emitted after close.
        errors: taken by a sink that reported a failure and goes on (a :class:`CallbackSink` that raised).
        error: the first failure, prefixed with ``label``; None if there was none.
        close_timeout_s: how long :meth:`close` waits by default, in seconds.
    """

    def __init__(
        self, sink: Sink, queue_size: int = DEFAULT_QUEUE_SIZE, close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S
    ) -> None:
        self.sink = sink
        self.name: str = getattr(sink, "name", type(sink).__name__)
        self.label: str = getattr(sink, "label", self.name)
        self.close_timeout_s = close_timeout_s
        self.emitted = 0
        self.delivered = 0
        self.dropped = 0
        self.lost = 0
        self.errors = 0
        self.error: str | None = None
        self._queue_size = queue_size
        self._queue: deque[Detection] = deque()
        self._state = threading.Condition()
        self._closing = False  # nothing more is queued; the writer stops when the queue is empty
        self._abandoned = False  # close timed out: the writer stops at once
        self._dead = False
        self._final = False  # counts are settled; the writer thread no longer changes them
        self._thread = threading.Thread(target=self._drain, name=f"sink-{self.label}", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Old name of ``delivered``."""
        return self.delivered

    @property
    def undelivered(self) -> int:
        """Detections emitted and not delivered so far: ``dropped + lost + errors``."""
        return self.dropped + self.lost + self.errors

    @property
    def incomplete(self) -> bool:
        """True if anything emitted was not delivered (dropped, lost, or a callback error)."""
        return self.undelivered > 0

    @property
    def dead(self) -> bool:
        """True once a write raised: the sink is not written to again."""
        return self._dead

    @property
    def closed(self) -> bool:
        return self._final

    def summary(self) -> str:
        """One line for the run report, e.g. ``jsonl:/dev/full: 0 of 11 delivered, 11 lost ([Errno 28] ...)``."""
        parts = [f"{self.label}: {self.delivered} of {self.emitted} delivered"]
        parts += [
            f"{count} {what}"
            for what, count in (("dropped", self.dropped), ("lost", self.lost), ("errors", self.errors))
            if count
        ]
        error = self.error.removeprefix(f"{self.label}: ") if self.error else None
        return ", ".join(parts) + (f" ({error})" if error else "")

    def emit(self, detection: Detection) -> None:
        """Queue ``detection`` for the writer thread; never waits."""
        with self._state:
            self.emitted += 1
            if self._dead or self._closing:
                self.lost += 1
            elif len(self._queue) >= self._queue_size:
                self.dropped += 1
            else:
                self._queue.append(detection)
                self._state.notify()

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is queued and close the sink, waiting at most ``timeout_s`` seconds.

        ``None`` means ``close_timeout_s``. What was not delivered by then is counted in ``lost``; a
        KeyboardInterrupt while waiting gives up the wait at once (it is not raised again). Idempotent.
        """
        timeout_s = self.close_timeout_s if timeout_s is None else timeout_s
        self._begin_close()
        self._finish_close(time.monotonic() + timeout_s, timeout_s)

    def _begin_close(self) -> None:
        with self._state:
            self._closing = True
            self._state.notify_all()

    def _finish_close(self, deadline: float, timeout_s: float) -> None:
        if self._final:
            return
        reason = f"stalled: it did not take what was queued within {timeout_s:g} s of close"
        try:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                self._abandon()
                self._thread.join(_ABANDON_GRACE_S)
        except KeyboardInterrupt:
            reason = "close interrupted (Ctrl-C) before it took what was queued"
            self._abandon()
        with self._state:
            self._final = True
            self.lost = self.emitted - self.delivered - self.dropped - self.errors
            if self.lost and self.error is None:
                self.error = f"{self.label}: {reason}"

    def _abandon(self) -> None:
        with self._state:
            self._abandoned = True
            self._state.notify_all()
        abort = getattr(self.sink, "abort", None)
        if abort is not None:
            abort()

    def _drain(self) -> None:
        """The writer thread: write queued detections until closed, dead or abandoned; then close the sink."""
        try:
            while True:
                with self._state:
                    while not self._queue and not self._closing and not self._abandoned:
                        self._state.wait()
                    if self._abandoned or not self._queue:
                        return
                    detection = self._queue.popleft()
                try:
                    result = self.sink.write(detection)
                except _Aborted:
                    return  # counted in lost when close settles the counts
                except BaseException as error:  # noqa: BLE001 - a dead sink is reported, never raised here
                    self._die(error)
                    return
                with self._state:
                    if self._final:
                        return
                    if result is False:
                        self.errors += 1
                        if self.error is None:
                            self.error = f"{self.label}: {getattr(self.sink, 'last_error', None) or 'write failed'}"
                    else:
                        self.delivered += 1
        finally:
            try:
                self.sink.close()
            except BaseException as error:  # noqa: BLE001
                with self._state:
                    if self.error is None and not self._final:
                        self.error = f"{self.label}: close failed: {_describe(error)}"

    def _die(self, error: BaseException) -> None:
        with self._state:
            self._dead = True
            if self.error is None:
                self.error = f"{self.label}: {_describe(error)}"
            if not self._final:
                self.lost += 1 + len(self._queue)  # the detection that failed and all still queued
            self._queue.clear()


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"


def close_sinks(sinks: list[NonBlockingSink], timeout_s: float | None = None) -> None:
    """Close all ``sinks`` together: they drain in parallel, and the whole wait is bounded by ``timeout_s``
    seconds (``None``: the largest ``close_timeout_s`` among them), not by one timeout per sink."""
    if timeout_s is None:
        timeout_s = max((sink.close_timeout_s for sink in sinks), default=0.0)
    deadline = time.monotonic() + timeout_s
    for sink in sinks:
        sink._begin_close()
    for sink in sinks:
        sink._finish_close(deadline, timeout_s)


def build_sinks(
    sink_specs: list[str],
    callback: Callable[[Detection], None] | None = None,
    close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S,
) -> list[NonBlockingSink]:
    """Sinks from command-line specs: ``console``, ``jsonl`` (stdout), ``jsonl:-``, ``jsonl:PATH``; plus a callback.

    Raises :class:`SinkError` (a ValueError) for a bad spec or a path that cannot be opened; sinks
    already opened for earlier specs are closed again.
    """
    sinks: list[Sink] = []
    try:
        for spec in sink_specs:
            kind, colon, argument = spec.partition(":")
            if kind == "console" and not argument:
                sinks.append(ConsoleSink(sys.stdout))
            elif kind == "jsonl" and (argument or not colon):
                sinks.append(JsonLinesSink(argument or "-"))
            else:
                raise SinkError(
                    f"bad sink {spec!r}: expected 'console', 'jsonl' (stdout), 'jsonl:-' (stdout) or 'jsonl:PATH'"
                )
    except SinkError:
        for sink in sinks:
            try:
                sink.close()
            except OSError:
                pass
        raise
    if callback is not None:
        sinks.append(CallbackSink(callback))
    return [NonBlockingSink(sink, close_timeout_s=close_timeout_s) for sink in sinks]
