"""The project's event contract: a NumPy structured array with tonic's field names.

Every reader, filter, framer and sender in :mod:`spikestream.sources.events` takes and returns
arrays of :data:`EVENT_DTYPE`, so tonic transforms apply unchanged.

Fields
------
x, y : uint16   pixel column / row, ``0 <= x < width``, ``0 <= y < height``
t    : int64    timestamp in microseconds (monotonic non-decreasing within a recording)
p    : uint8    polarity, 1 = ON (brightness increase), 0 = OFF
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])


@dataclass(frozen=True)
class SensorSize:
    """Sensor geometry in pixels (tonic order: width, height, polarities)."""

    width: int
    height: int
    polarities: int = 2

    def as_tonic(self) -> tuple[int, int, int]:
        """``(W, H, P)`` as tonic transforms expect it."""
        return (self.width, self.height, self.polarities)


def make_events(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack equal-length coordinate, time (µs) and polarity arrays into an :data:`EVENT_DTYPE` array."""
    count = len(t_us)
    if not (len(x) == len(y) == len(p) == count):
        raise ValueError(
            f"make_events: x, y, t_us, p must have equal lengths, got {len(x)}, {len(y)}, {count}, {len(p)}"
        )
    events = np.empty(count, dtype=EVENT_DTYPE)
    events["x"] = x
    events["y"] = y
    events["t"] = t_us
    events["p"] = np.asarray(p) > 0
    return events


def as_event_array(events: np.ndarray) -> np.ndarray:
    """Convert any structured array with fields ``x, y, t, p`` (e.g. tonic's) to :data:`EVENT_DTYPE`.

    Raises ``ValueError`` naming the missing fields when the array is not an event array.
    """
    names = tuple(events.dtype.fields or ())  # names and titles (tonic's aedat4 reader titles "on" as "p")
    missing = [name for name in ("x", "y", "t", "p") if name not in names]
    if missing:
        raise ValueError(f"expected an event array with fields x, y, t, p; missing {missing} in dtype {events.dtype}")
    if events.dtype == EVENT_DTYPE:
        return events
    return make_events(events["x"], events["y"], events["t"], events["p"])


def rescale_events(events: np.ndarray, from_size: SensorSize, to_size: SensorSize) -> np.ndarray:
    """Map coordinates from one sensor geometry to another (nearest pixel, each axis scaled on its
    own: ``x' = x · W_to // W_from``), so a recording from any camera can drive a model trained
    on another sensor size. Returns a new array; identity when the sizes match."""
    if (from_size.width, from_size.height) == (to_size.width, to_size.height):
        return events
    scaled = events.copy()
    scaled["x"] = (events["x"].astype(np.int64) * to_size.width // from_size.width).astype(np.uint16)
    scaled["y"] = (events["y"].astype(np.int64) * to_size.height // from_size.height).astype(np.uint16)
    return scaled
