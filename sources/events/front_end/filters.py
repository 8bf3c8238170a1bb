"""Per-pixel event filters, vectorised and chunk-safe: refractory period and tonic's Denoise.

Both filters keep one ``int64`` array of per-pixel times (µs), shaped ``[H, W]``, as their state
(:func:`new_filter_state`). Feeding a recording in one call or in time-ordered chunks that pass the
state along gives exactly the same events. The state is updated **in place** and also returned.
A pixel that has never fired holds :data:`NEVER_US`.

The ``*_keep_mask`` functions are the maths on plain columns (what the streaming framer calls);
``refractory_filter`` / ``denoise_filter`` wrap them for :data:`EVENT_DTYPE` arrays.
"""

from __future__ import annotations

import numpy as np

from ..event_array import SensorSize, as_event_array

NEVER_US = np.iinfo(np.int64).min // 4  # "no event yet": far enough from int64's end that ± a window cannot wrap
_KEY_LIMIT = 2**62
NEIGHBOUR_OFFSETS = {
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)),
}


def new_filter_state(sensor_size: SensorSize) -> np.ndarray:
    """A fresh per-pixel time memory ``[H, W]`` int64 filled with :data:`NEVER_US`."""
    return np.full((sensor_size.height, sensor_size.width), NEVER_US, dtype=np.int64)


def check_time_order(t_us: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` naming the first index where ``t_us`` decreases."""
    if len(t_us) > 1 and not bool(np.all(t_us[1:] >= t_us[:-1])):
        first = int(np.flatnonzero(t_us[1:] < t_us[:-1])[0]) + 1
        raise ValueError(
            f"{where}: events must be in time order; "
            f"t[{first}]={int(t_us[first])} µs < t[{first - 1}]={int(t_us[first - 1])} µs"
        )


def _check_chunk(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, state: np.ndarray, where: str) -> None:
    height, width = state.shape
    if len(t_us) and (int(x.max()) >= width or int(y.max()) >= height):
        raise ValueError(
            f"{where}: event at x={int(x.max())} or y={int(y.max())} lies outside the filter state of "
            f"{width}x{height} pixels; build the state with new_filter_state(sensor_size) for the whole sensor"
        )
    check_time_order(t_us, where)


def _pixel_groups(pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort by pixel: ``(order, group_starts, group_ends)`` (positions in the sorted order)."""
    order = np.argsort(pixel, kind="stable")
    pixel_sorted = pixel[order]
    starts = np.flatnonzero(np.r_[True, pixel_sorted[1:] != pixel_sorted[:-1]])
    ends = np.r_[starts[1:], len(pixel)]
    return order, starts, ends


def refractory_keep_mask(
    x: np.ndarray, y: np.ndarray, t_us: np.ndarray, refractory_us: int, last_kept_us: np.ndarray
) -> np.ndarray:
    """Keep an event unless its pixel's last *kept* event is less than ``refractory_us`` before it.

    ``x, y, t_us``: columns of ``N`` time-ordered events; ``last_kept_us``: ``[H, W]`` state, updated
    in place. Returns a bool mask ``[N]``. Kept events satisfy ``t − t_last_kept >= refractory_us``.
    (tonic's ``RefractoryPeriod`` differs: it measures from the last event, kept or not, and keeps
    only ``>``.) Vectorised per pixel: each round finds every pixel's next kept event with one
    ``searchsorted``; there are as many rounds as the most events one pixel keeps in the chunk.
    """
    keep = np.zeros(len(t_us), dtype=bool)
    if len(t_us) == 0:
        return keep
    width = last_kept_us.shape[1]
    order, starts, ends = _pixel_groups(y.astype(np.intp) * width + x)
    group_pixels = (y.astype(np.intp) * width + x)[order[starts]]
    t_origin_us = int(t_us[0])
    t_rel_sorted = t_us[order].astype(np.int64) - t_origin_us
    span_us = int(t_rel_sorted.max()) + int(refractory_us) + 2
    if len(starts) * span_us >= _KEY_LIMIT:  # keys would overflow int64: split the chunk in time
        half = len(t_us) // 2
        return np.concatenate(
            [
                refractory_keep_mask(x[:half], y[:half], t_us[:half], refractory_us, last_kept_us),
                refractory_keep_mask(x[half:], y[half:], t_us[half:], refractory_us, last_kept_us),
            ]
        )
    group_of_event = np.repeat(np.arange(len(starts), dtype=np.int64), ends - starts)
    keys = group_of_event * span_us + t_rel_sorted  # ascending: by pixel group, then time
    last_flat = last_kept_us.reshape(-1)
    threshold = np.clip(last_flat[group_pixels] - t_origin_us + refractory_us, 0, span_us - 1)
    active = np.arange(len(starts), dtype=np.int64)
    after = starts.copy()  # the next kept event lies at or after this sorted position
    while active.size:
        position = np.maximum(np.searchsorted(keys, active * span_us + threshold), after)
        found = position < ends[active]
        active, position = active[found], position[found]
        keep[order[position]] = True
        last_flat[group_pixels[active]] = t_rel_sorted[position] + t_origin_us
        threshold = np.minimum(t_rel_sorted[position] + refractory_us, span_us - 1)
        after = position + 1
    return keep


def denoise_keep_mask(
    x: np.ndarray,
    y: np.ndarray,
    t_us: np.ndarray,
    filter_time_us: int,
    last_event_us: np.ndarray,
    connectivity: int = 4,
) -> np.ndarray:
    """tonic's ``Denoise`` rule, vectorised: keep event ``i`` if an earlier event (any, kept or not)
    at one of its neighbour pixels has ``t_i − t_neighbour < filter_time_us``.

    "Earlier" means earlier in the stream (events with equal timestamps count in array order), as
    in tonic's loop. ``connectivity`` 4 (tonic's: left, right, up, down) or 8 (adds diagonals).
    ``last_event_us``: ``[H, W]`` state of every pixel's latest event time, updated in place.
    Returns a bool mask ``[N]``. For each neighbour offset the latest earlier event at that pixel is
    found with one ``searchsorted`` on keys ``pixel·N + index``; pixels without one in the chunk
    fall back to the state.
    """
    if connectivity not in NEIGHBOUR_OFFSETS:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    count = len(t_us)
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return keep
    height, width = last_event_us.shape
    if height * width * count >= _KEY_LIMIT:
        half = count // 2
        return np.concatenate(
            [
                denoise_keep_mask(x[:half], y[:half], t_us[:half], filter_time_us, last_event_us, connectivity),
                denoise_keep_mask(x[half:], y[half:], t_us[half:], filter_time_us, last_event_us, connectivity),
            ]
        )
    xi, yi = x.astype(np.intp), y.astype(np.intp)
    t_us = t_us.astype(np.int64)
    pixel = yi * width + xi
    order, starts, ends = _pixel_groups(pixel)
    pixel_sorted = pixel[order]
    keys = pixel_sorted * count + order
    last_flat = last_event_us.reshape(-1)
    for dx, dy in NEIGHBOUR_OFFSETS[connectivity]:
        nx, ny = xi + dx, yi + dy
        index = np.flatnonzero((nx >= 0) & (nx < width) & (ny >= 0) & (ny < height))
        neighbour = ny[index] * width + nx[index]
        position = np.searchsorted(keys, neighbour * count + index) - 1  # latest earlier event there
        position_safe = np.maximum(position, 0)
        in_chunk = (position >= 0) & (pixel_sorted[position_safe] == neighbour)
        t_neighbour_us = np.where(in_chunk, t_us[order[position_safe]], last_flat[neighbour])
        keep[index] |= t_neighbour_us > t_us[index] - filter_time_us
    last_flat[pixel_sorted[starts]] = t_us[order[ends - 1]]
    return keep


def _state_for(events: np.ndarray, state: np.ndarray | None, sensor_size: SensorSize | None) -> np.ndarray:
    if state is not None:
        return state
    if sensor_size is None:  # one-shot use, as tonic does: the sensor is as large as the events reach
        width = int(events["x"].max()) + 1 if len(events) else 1
        height = int(events["y"].max()) + 1 if len(events) else 1
        sensor_size = SensorSize(width, height)
    return new_filter_state(sensor_size)


def refractory_filter(
    events: np.ndarray, refractory_us: int, state: np.ndarray | None = None, sensor_size: SensorSize | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Drop events less than ``refractory_us`` after their pixel's last kept event.

    ``events``: time-ordered event array ``[N]``; ``state``: ``[H, W]`` int64 from a previous call
    (or :func:`new_filter_state`), updated in place; without one it is made for ``sensor_size`` or,
    if that is also missing, for the extent of ``events``. Returns ``(kept events, state)``.
    """
    if refractory_us < 0:
        raise ValueError(f"refractory_us must be >= 0 µs, got {refractory_us}")
    events = as_event_array(events)
    state = _state_for(events, state, sensor_size)
    x, y, t_us = events["x"], events["y"], events["t"]
    _check_chunk(x, y, t_us, state, "refractory_filter")
    return events[refractory_keep_mask(x, y, t_us, int(refractory_us), state)], state


def denoise_filter(
    events: np.ndarray,
    filter_time_us: int,
    state: np.ndarray | None = None,
    sensor_size: SensorSize | None = None,
    connectivity: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """tonic's ``Denoise(filter_time)``: drop events with no neighbour event less than
    ``filter_time_us`` before them. Returns ``(kept events, state)``; ``state`` as in
    :func:`refractory_filter` (here: every pixel's latest event time, kept or not).

    Agreement with ``tonic.transforms.Denoise``: identical output for every event with
    ``t >= filter_time_us``. tonic starts its memory at ``filter_time`` (as if every pixel fired at
    t = 0), so it also keeps events earlier than ``filter_time`` that have any in-sensor neighbour;
    this filter starts from "never fired" instead.
    """
    if filter_time_us <= 0:
        raise ValueError(f"filter_time_us must be > 0 µs, got {filter_time_us}")
    events = as_event_array(events)
    state = _state_for(events, state, sensor_size)
    x, y, t_us = events["x"], events["y"], events["t"]
    _check_chunk(x, y, t_us, state, "denoise_filter")
    return events[denoise_keep_mask(x, y, t_us, int(filter_time_us), state, connectivity)], state
