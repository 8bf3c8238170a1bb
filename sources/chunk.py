"""The unit every source yields: :class:`Chunk` (payload, stream time span, when it became available).

Every source also reports what it lost through one method, ``drop_counts() -> dict[str, int]``
(names in snake_case with their unit, e.g. ``overflow_samples``); the runtime reads only that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Chunk:
    """A piece of a stream: a payload the front end understands (float32 samples ``[N]`` or an
    event array), its stream time span ``[start_us, end_us)`` in µs from the start of the stream,
    and when it became available (``time.monotonic_ns()``; 0 = unknown, the runtime stamps it).

    ``gap = True`` marks a stretch with no input too long to compute step by step (an event
    recording whose timestamps jump): the payload is empty, and the runtime moves the stream's clock
    over it in bounded work instead of running the model on every empty time bin.
    """

    payload: Any
    start_us: int
    end_us: int
    available_ns: int = 0
    gap: bool = False
