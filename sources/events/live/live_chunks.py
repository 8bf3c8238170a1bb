"""A live event receiver as the runtime's chunk stream, on the wall clock.

Stream time is µs since the first event arrived (a detection's ``time_us`` is where it lies in
what the camera sent); ``duration_s`` and the start-up timeout count on the wall clock from when
listening began, so they hold whether or not a sender ever speaks. Bins close along the wall
clock (each chunk's end is "now" minus a small margin for in-flight events), so decisions never
stall when a camera sees nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ...chunk import Chunk
from .event_queue import ThreadedEventSource, monotonic_us

LIVE_MARGIN_US = 5_000  # live bins close 5 ms behind the wall clock, so in-flight events still fit


class LiveEventChunks:
    """Chunks from a live receiver; ends after ``duration_s`` of listening, ``idle_timeout_s``
    without events once the first came (a sender that stops), or ``startup_timeout_s`` when nothing
    ever arrives (``no_input`` is then True)."""

    def __init__(
        self,
        receiver: ThreadedEventSource,
        name: str,
        duration_s: float | None = None,
        idle_timeout_s: float | None = 5.0,
        startup_timeout_s: float = 60.0,
    ) -> None:
        for option, value in (("duration_s", duration_s), ("idle_timeout_s", idle_timeout_s)):
            if value is not None and not value > 0:
                raise ValueError(f"{option} {value}: expected a number of seconds > 0")
        self.receiver = receiver
        self.name = name
        self.duration_us = None if duration_s is None else int(duration_s * 1e6)
        self.idle_timeout_us = None if idle_timeout_s is None else int(idle_timeout_s * 1e6)
        self.startup_timeout_us = int(startup_timeout_s * 1e6)
        self.no_input = False

    def drop_counts(self) -> dict[str, int]:
        stats = self.receiver.stats.as_dict()
        keys = ("dropped_events", "malformed_packets", "invalid_events", "kernel_dropped_packets")
        return {f"receiver {key}": stats[key] for key in keys}

    def __iter__(self) -> Iterator[Chunk]:
        listening_since_us = monotonic_us()
        origin_us: int | None = None  # arrival time of the first event: stream time 0
        last_end_us = 0
        last_event_us: int | None = None
        for events in self.receiver.iter_chunks(poll_s=0.01, yield_empty=True):
            now_wall_us = monotonic_us()
            listened_us = now_wall_us - listening_since_us
            if self.duration_us is not None and listened_us >= self.duration_us:
                self.no_input = origin_us is None
                return
            if origin_us is None:
                if len(events) == 0:
                    if listened_us > self.startup_timeout_us:
                        self.no_input = True
                        return
                    continue
                origin_us = int(events["t"][0])
            now_us = now_wall_us - origin_us
            if len(events):
                last_event_us = now_us
                events = events.copy()
                # arrival stamps: an event stamped just before the previous chunk's end is moved to it
                events["t"] = np.maximum(events["t"] - origin_us, last_end_us)
            elif (
                self.idle_timeout_us is not None
                and last_event_us is not None
                and now_us - last_event_us > self.idle_timeout_us
            ):
                return
            end_us = max(last_end_us, now_us - LIVE_MARGIN_US, int(events["t"][-1]) + 1 if len(events) else 0)
            yield Chunk(events, last_end_us, end_us, time.monotonic_ns())
            last_end_us = end_us
        if origin_us is None:
            self.no_input = True
