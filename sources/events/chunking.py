"""Event recordings → the runtime's :class:`~spikestream.sources.chunk.Chunk` stream, in bounded memory.

Time-order policy (the same for ``replay``, ``send`` and ``show``: :func:`time_ordered_blocks`):
events are sorted within each block the reader delivers (at most ``max_events``); an event earlier
than one already delivered is dropped and counted (``late_events``), never passed on; a timestamp
more than :data:`MAX_RECORDING_SPAN_US` after the first event is refused with an
:class:`EventFileError` naming the event (a corrupt file, not a recording).

Empty time costs bounded work: :class:`RecordingChunks` cuts the ordered events into slices of
``slice_us`` of recording time, lazily, and a stretch without events longer than ``max_gap_us``
becomes one ``gap`` chunk instead of thousands of empty slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..chunk import Chunk
from .event_array import EVENT_DTYPE, SensorSize, rescale_events
from .formats.recording import EventFileError, EventRecording

SLICE_US = 10_000  # replay granularity: one chunk per 10 ms of recording time
MAX_GAP_US = 5_000_000  # a stretch without events longer than this is skipped, not stepped through
MAX_RECORDING_SPAN_US = 48 * 3600 * 1_000_000  # no event camera recording lasts two days


class TimeOrder:
    """Counts what :func:`time_ordered_blocks` repaired (``reordered_blocks``: blocks it sorted) and
    dropped (``late_events``)."""

    def __init__(self) -> None:
        self.late_events = 0
        self.reordered_blocks = 0


def time_ordered_blocks(
    blocks: Iterable[np.ndarray], where: str, counters: TimeOrder | None = None
) -> Iterator[np.ndarray]:
    """Event blocks in time order (see the module docstring); ``where`` names the file in errors."""
    counters = counters if counters is not None else TimeOrder()
    first_us: int | None = None
    last_us: int | None = None
    events_before = 0
    for block in blocks:
        if len(block) == 0:
            continue
        t_us = block["t"]
        if np.any(t_us[1:] < t_us[:-1]):
            block = block[np.argsort(t_us, kind="stable")]
            t_us = block["t"]
            counters.reordered_blocks += 1
        if last_us is not None and int(t_us[0]) < last_us:
            keep = np.searchsorted(t_us, last_us, side="left")
            counters.late_events += int(keep)
            block, t_us = block[keep:], t_us[keep:]
            if len(block) == 0:
                continue
        first_us = int(t_us[0]) if first_us is None else first_us
        if int(t_us[-1]) - first_us > MAX_RECORDING_SPAN_US:
            index = int(np.argmax(t_us - first_us > MAX_RECORDING_SPAN_US))
            raise EventFileError(
                f"{where}: event {events_before + index} has t = {int(t_us[index])} µs, "
                f"{(int(t_us[index]) - first_us) / 3.6e9:.1f} h after the first event; "
                f"expected a recording shorter than {MAX_RECORDING_SPAN_US / 3.6e9:.0f} h. "
                "The file's timestamps are corrupt: cut the recording before that event"
            )
        last_us = int(t_us[-1])
        events_before += len(block)
        yield block


class RecordingChunks:
    """A recording as chunks of ``slice_us`` of its own time (µs from its first event), rescaled to
    ``to_sensor`` when the geometries differ; gaps longer than ``max_gap_us`` become one gap chunk.

    Memory: one reader block plus one slice. ``drop_counts()`` reports events outside the sensor and
    events out of time order."""

    def __init__(
        self,
        recording: EventRecording,
        to_sensor: SensorSize | None = None,
        slice_us: int = SLICE_US,
        max_gap_us: int = MAX_GAP_US,
    ) -> None:
        if slice_us < 1 or max_gap_us < slice_us:
            raise ValueError(f"expected 1 <= slice_us <= max_gap_us, got {slice_us} and {max_gap_us}")
        self.recording = recording
        self.to_sensor = to_sensor
        self.slice_us = slice_us
        self.max_gap_us = max_gap_us
        self.order = TimeOrder()
        self.name = recording.path.name

    def drop_counts(self) -> dict[str, int]:
        return {"out_of_range_events": self.recording.dropped_out_of_range, "late_events": self.order.late_events}

    def _rebased_blocks(self) -> Iterator[np.ndarray]:
        origin_us = None
        blocks = time_ordered_blocks(self.recording.iter_chunks(), str(self.recording.path), self.order)
        for block in blocks:
            origin_us = int(block["t"][0]) if origin_us is None else origin_us
            block = block.copy()
            block["t"] -= origin_us
            if self.to_sensor is not None and self.to_sensor != self.recording.sensor_size:
                block = rescale_events(block, self.recording.sensor_size, self.to_sensor)
            yield block

    def __iter__(self) -> Iterator[Chunk]:
        self.order = TimeOrder()
        slice_us = self.slice_us
        edge_us = 0  # start of the next slice to emit
        pending = np.zeros(0, dtype=EVENT_DTYPE)
        for block in self._rebased_blocks():
            pending = np.concatenate([pending, block]) if len(pending) else block
            t_us = pending["t"]
            while int(t_us[-1]) >= edge_us + slice_us:  # the slice is complete: an event lies past its end
                if int(t_us[0]) - edge_us > self.max_gap_us:
                    gap_end_us = edge_us + (int(t_us[0]) - edge_us) // slice_us * slice_us
                    yield Chunk(pending[:0], edge_us, gap_end_us, gap=True)
                    edge_us = gap_end_us
                    continue
                bound = int(np.searchsorted(t_us, edge_us + slice_us))
                yield Chunk(pending[:bound], edge_us, edge_us + slice_us)
                pending, t_us, edge_us = pending[bound:], t_us[bound:], edge_us + slice_us
        if len(pending):
            yield Chunk(pending, edge_us, int(pending["t"][-1]) + 1)


def slice_by_time(events: np.ndarray, first_edge_us: int, slice_count: int, slice_us: int) -> Iterator[Chunk]:
    """Chunks covering ``[first + k·slice_us, first + (k+1)·slice_us)`` for ``k < slice_count`` of a
    time-sorted in-memory event array (events before ``first_edge_us`` go into the first chunk)."""
    ends_us = first_edge_us + slice_us * np.arange(1, slice_count + 1)
    bounds = np.searchsorted(events["t"], ends_us)
    starts = np.concatenate([[0], bounds[:-1]]).astype(np.int64)
    for start, bound, end_us in zip(starts, bounds, ends_us):
        yield Chunk(events[start:bound], int(end_us) - slice_us, int(end_us))


def slice_span(events: np.ndarray, first_edge_us: int, end_us: int, slice_us: int = SLICE_US) -> Iterator[Chunk]:
    """:func:`slice_by_time` over ``[first_edge_us, end_us)``: as many ``slice_us`` chunks as cover it
    (an in-memory recording streamed as ``replay`` slices a file)."""
    return slice_by_time(events, first_edge_us, -(-(end_us - first_edge_us) // slice_us), slice_us)
