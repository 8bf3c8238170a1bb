"""A bounded queue of event chunks filled by one daemon thread: the shape of every live event source.

A subclass implements ``_run`` (loop until ``self._stop_event`` is set, calling ``_push``) and
``_release`` (free the device after the thread ended). Consumers call ``iter_chunks``. The queue
holds at most ``queue_max_events`` events; what does not fit is dropped and counted in
:class:`ReceiverStats`, never silently, so a producer far faster than its consumer (a UDP burst,
a replay at full speed) costs events, not memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from ..event_array import EVENT_DTYPE, SensorSize


def monotonic_us() -> int:
    """Microseconds on the monotonic clock (``time.monotonic_ns() // 1000``): arrival stamps."""
    return time.monotonic_ns() // 1000


@dataclass
class ReceiverStats:
    """Counters of a live source (cumulative since it opened).

    ``events`` counts valid events received, including the ``dropped_events`` that found the queue
    full; ``invalid_events`` never reach the queue. ``kernel_dropped_packets`` is what the OS
    dropped before the source could read it (UDP socket overflow, Linux; sources that cannot
    see it leave it 0).
    """

    packets: int = 0
    events: int = 0
    malformed_packets: int = 0
    invalid_events: int = 0
    dropped_events: int = 0
    kernel_dropped_packets: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ThreadedEventSource:
    """Bounded queue of event chunks filled by a daemon thread (``_run``), read by ``iter_chunks``.

    ``idle_timeout_s``: ``iter_chunks`` ends after this long without input (``None`` = never).
    Use as a context manager or call :meth:`close`, which always joins the thread.
    """

    def __init__(self, sensor_size: SensorSize, queue_max_events: int, idle_timeout_s: float | None) -> None:
        if queue_max_events < 1:
            raise ValueError(f"queue_max_events must be >= 1, got {queue_max_events}")
        if idle_timeout_s is not None and idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0 or None (wait forever), got {idle_timeout_s}")
        self.sensor_size = sensor_size
        self.queue_max_events = queue_max_events
        self.idle_timeout_s = idle_timeout_s
        self._chunks: deque[np.ndarray] = deque()
        self._queued_events = 0
        self._cond = threading.Condition()
        self._stop_event = threading.Event()
        self._stats = ReceiverStats()
        self._last_arrival_s = time.monotonic()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run_guarded, name=type(self).__name__, daemon=True)

    def _run(self) -> None:
        """Receive until ``self._stop_event`` is set, handing events to :meth:`_push`."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the input (socket, aestream object) after the thread has ended."""

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by iter_chunks, never swallowed
            self._error = error
        finally:
            with self._cond:
                self._cond.notify_all()

    def _push(self, events: np.ndarray, packets: int = 0, malformed: int = 0, invalid: int = 0) -> None:
        """Queue ``events`` [N] and update the counters; the newest events that do not fit are dropped
        and counted. Any packet or event counts as activity for ``idle_timeout_s``."""
        with self._cond:
            stats = self._stats
            stats.packets += packets
            stats.malformed_packets += malformed
            stats.invalid_events += invalid
            stats.events += len(events)
            if packets or len(events):
                self._last_arrival_s = time.monotonic()
            room = self.queue_max_events - self._queued_events
            if len(events) > room:
                stats.dropped_events += len(events) - room
                events = events[:room]
            if len(events):
                self._chunks.append(events)
                self._queued_events += len(events)
                self._cond.notify_all()

    @property
    def stats(self) -> ReceiverStats:
        """A snapshot of the counters."""
        with self._cond:
            return ReceiverStats(**self._stats.as_dict())

    def iter_chunks(self, poll_s: float = 0.01, yield_empty: bool = False) -> Iterator[np.ndarray]:
        """Yield :data:`EVENT_DTYPE` chunks ``[N]`` (``t`` = arrival time, µs) as they arrive.

        Waits at most ``poll_s`` seconds per round (yielding an empty chunk then if
        ``yield_empty``). Ends after :meth:`stop` (once the queue is drained) or after
        ``idle_timeout_s`` without packets. Raises ``RuntimeError`` if the receive thread failed.
        """
        while True:
            with self._cond:
                finished = not self._thread.is_alive()  # after stop() or a failure: nothing more comes
                if not self._chunks and not finished:
                    self._cond.wait(poll_s)
                pending = list(self._chunks)
                self._chunks.clear()
                self._queued_events = 0
                idle_s = time.monotonic() - self._last_arrival_s
            if pending:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                continue
            if self._error is not None:
                raise RuntimeError(f"{type(self).__name__}: receive thread failed: {self._error!r}") from self._error
            if finished or (self.idle_timeout_s is not None and idle_s >= self.idle_timeout_s):
                return
            if yield_empty:
                yield np.empty(0, dtype=EVENT_DTYPE)

    def stop(self) -> None:
        """Ask the thread to stop (it ends within ~50 ms); ``iter_chunks`` then drains the queue and ends."""
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop, join the thread and release the input. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self._thread.is_alive():
            self._thread.join(join_timeout_s)
        self._release()

    def __enter__(self) -> ThreadedEventSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
