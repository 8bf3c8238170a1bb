"""One-pass event binning kernels: events → flat frame counts ``[bins, 2·H_out·W_out]`` float32.

The pixel mapping is two small lookup tables built once per geometry (:func:`pixel_tables`):
``x_table[x]`` = output column (``(x − x0) // factor``) or −1 outside the roi, ``y_table[y]`` =
output row · ``W_out`` or −1; the OFF/ON channel adds ``plane = H_out·W_out``. So roi crop,
downsampling and the range check are two table reads per event, with no integer division.

:func:`frame_block` validates the events (inside the table ranges, time-ordered after
``previous_t_us``), maps each to its cell and, in the same pass, adds it to bin
``(t − t_start_us) // bin_us`` of ``frames`` (or sets the cell to 1 in binary mode). Events before
``t_start_us`` are dropped; so are events after the last bin, except that with ``keep_open`` the
bin right after ``frames`` goes to ``open_frame`` (the streaming framer's open bin).

Two implementations with identical results: a numba-compiled loop (used when numba imports) and a
NumPy fallback (blocks of :data:`BLOCK_EVENTS`, ``searchsorted`` + ``np.add.at``). Both return
``0``, or ``−1 − i`` for the first invalid event ``i`` (:func:`bad_event_error` words the error).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:  # optional: without numba the NumPy implementation below gives the same frames
    import numba
except ImportError:  # pragma: no cover - numba ships with librosa in this project
    numba = None

NO_PREVIOUS_US = int(np.iinfo(np.int64).min)  # "no earlier event": any time is in order after it
BLOCK_EVENTS = 1 << 16  # NumPy path: per-event temporaries of one block stay in cache
_SMALL_WINDOW_CELLS = 1 << 20  # NumPy path: up to this many cells (4 MiB), add all bins of a block in one call
_BATCH = 1024  # compiled path: events mapped before they are added (a constant of the compiled code)
_ONE = np.float32(1.0)


def pixel_tables(
    width: int, height: int, roi: tuple[int, int, int, int], factor: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup tables of a ``width × height`` input (pixels): ``x_table`` ``[width]`` int64 = output
    column or −1 outside ``roi = (x0, y0, roi_width, roi_height)``; ``y_table`` ``[height]`` int64 =
    output row · ``W_out`` or −1; ``plane = H_out·W_out`` cells per channel, ``ceil(roi / factor)``."""
    x0, y0, roi_width, roi_height = roi
    width_out, height_out = -(-roi_width // factor), -(-roi_height // factor)
    x_table, y_table = np.full(width, -1, np.int64), np.full(height, -1, np.int64)
    x_table[x0 : x0 + roi_width] = np.arange(roi_width) // factor
    y_table[y0 : y0 + roi_height] = (np.arange(roi_height) // factor) * width_out
    return x_table, y_table, height_out * width_out


def bad_event_error(
    where: str, x: np.ndarray, y: np.ndarray, t_us: np.ndarray, index: int, width: int, height: int, previous_t_us: int
) -> ValueError:
    """The ``ValueError`` for event ``index`` that :func:`frame_block` rejected (range or time order)."""
    xi, yi, ti = int(x[index]), int(y[index]), int(t_us[index])
    if not (0 <= xi < width and 0 <= yi < height):
        return ValueError(
            f"{where}: event {index} at x={xi}, y={yi} lies outside the sensor; "
            f"expected 0 <= x < {width}, 0 <= y < {height}"
        )
    before = int(t_us[index - 1]) if index > 0 else previous_t_us
    return ValueError(f"{where}: events must be in time order; t[{index}]={ti} µs follows t={before} µs")


def _add_batch(
    flat: np.ndarray, open_frame: np.ndarray, batch: np.ndarray, used: int, closed_size: int, binary: bool
) -> None:  # pragma: no cover - compiled
    """Compiled: add the events at flat indices ``batch[:used]``; indices from ``closed_size`` on
    belong to ``open_frame``."""
    for j in range(used):
        index = batch[j]
        if index < closed_size:
            flat[index] = 1.0 if binary else flat[index] + 1.0
        else:
            open_frame[index - closed_size] = 1.0 if binary else open_frame[index - closed_size] + 1.0


def _frame_block_loop(
    x: np.ndarray,
    y: np.ndarray,
    t_us: np.ndarray,
    p: np.ndarray,
    x_table: np.ndarray,
    y_table: np.ndarray,
    plane: int,
    frames: np.ndarray,
    t_start_us: int,
    bin_us: int,
    binary: bool,
    previous_t_us: int,
    open_frame: np.ndarray,
    keep_open: bool,
) -> int:  # pragma: no cover - compiled
    """The compiled single pass of :func:`frame_block` (same arguments; see the module docstring).

    The checking loop writes flat ``bin·cells + cell`` indices (the open bin continues past
    ``frames.size``) to a buffer of :data:`_BATCH`; a tight loop adds each full buffer. Kept apart,
    the adding loop has few instructions per event, so the CPU overlaps more cache misses on a
    large frame (2.3x faster on 1280x720 counts). One flat loop: nested batch loops ran 1.7x slower."""
    flat, cells_per_bin, closed_size = frames.reshape(-1), frames.shape[1], frames.size
    end_us = t_start_us + (frames.shape[0] + (1 if keep_open else 0)) * bin_us
    width, height = x_table.shape[0], y_table.shape[0]
    previous, bin_end_us, offset = previous_t_us, t_start_us, 0  # the current bin ends at bin_end_us
    batch, used = np.empty(_BATCH, np.int64), 0
    for i in range(t_us.shape[0]):
        t, xi, yi = np.int64(t_us[i]), np.int64(x[i]), np.int64(y[i])
        if t < previous or xi < 0 or xi >= width or yi < 0 or yi >= height:
            return -1 - i
        previous = t
        column, row = x_table[xi], y_table[yi]
        if column < 0 or row < 0 or t < t_start_us or t >= end_us:
            continue
        if t >= bin_end_us:  # events are time-ordered: one division per new bin, not per event
            k = (t - t_start_us) // bin_us
            bin_end_us, offset = t_start_us + (k + 1) * bin_us, k * cells_per_bin
        batch[used] = offset + row + column + (plane if p[i] > 0 else 0)
        used += 1
        if used == _BATCH:
            _add_batch(flat, open_frame, batch, used, closed_size, binary)
            used = 0
    _add_batch(flat, open_frame, batch, used, closed_size, binary)
    return 0


def _add_cells(target: np.ndarray, cells: np.ndarray, binary: bool) -> None:
    """NumPy: add one event at each of ``cells`` (intp, repeats count) of the flat ``target``.
    ``np.add.at`` with one flat intp index and a float32 one is NumPy's (>= 1.25) fast path."""
    if binary:
        target[cells] = _ONE
    else:
        np.add.at(target, cells, _ONE)


def _add_binned(
    frames: np.ndarray, cells: np.ndarray, t_us: np.ndarray, t_start_us: int, bin_us: int, binary: bool
) -> None:
    """NumPy: add time-ordered events, all inside ``frames`` ``[bins, cells]``, with bin edges from
    ``searchsorted``: many small bins in one call on ``bin·cells + cell``, else one call per bin."""
    if len(t_us) == 0:
        return
    first_bin, end_bin = (int(t_us[0]) - t_start_us) // bin_us, (int(t_us[-1]) - t_start_us) // bin_us + 1
    if end_bin - first_bin == 1:  # a streamed chunk: all in one bin
        return _add_cells(frames[first_bin], cells, binary)
    window = frames[first_bin:end_bin]
    edges = np.searchsorted(t_us, t_start_us + bin_us * np.arange(first_bin, end_bin + 1, dtype=np.int64))
    if len(window) > 8 and window.size <= _SMALL_WINDOW_CELLS:
        offsets = np.repeat(np.arange(len(window), dtype=np.intp) * window.shape[1], np.diff(edges))
        _add_cells(window.reshape(-1), cells + offsets, binary)
    else:  # one call per bin keeps the written frame in cache
        for k in np.flatnonzero(np.diff(edges)):
            _add_cells(window[k], cells[edges[k] : edges[k + 1]], binary)


def _first_bad_event(
    x: np.ndarray, y: np.ndarray, t_us: np.ndarray, width: int, height: int, previous_t_us: int, signed: bool
) -> int:
    """Index of the first event outside ``width × height`` pixels or out of time order; −1 if none
    (``signed``: ``x`` or ``y`` came from a signed dtype and may be negative)."""
    if (
        x.max() < width
        and y.max() < height
        and t_us[0] >= previous_t_us
        and bool(np.all(t_us[1:] >= t_us[:-1]))
        and (signed is False or min(x.min(), y.min()) >= 0)
    ):
        return -1
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    bad[0] |= t_us[0] < previous_t_us
    bad[1:] |= t_us[1:] < t_us[:-1]
    return int(np.argmax(bad))


def frame_block_numpy(
    x: np.ndarray,
    y: np.ndarray,
    t_us: np.ndarray,
    p: np.ndarray,
    x_table: np.ndarray,
    y_table: np.ndarray,
    plane: int,
    frames: np.ndarray,
    t_start_us: int,
    bin_us: int,
    binary: bool,
    previous_t_us: int,
    open_frame: np.ndarray,
    keep_open: bool,
) -> int:
    """NumPy implementation of :func:`frame_block`, in blocks of :data:`BLOCK_EVENTS` events."""
    end_us, width, height = t_start_us + len(frames) * bin_us, len(x_table), len(y_table)
    cropping = min(x_table.min(initial=0), y_table.min(initial=0)) < 0
    identity = x_table[-1] == width - 1 and y_table[-1] == (height - 1) * width and not cropping  # no roi, no pooling
    signed = x.dtype.kind != "u" or y.dtype.kind != "u"
    for start in range(0, len(t_us), BLOCK_EVENTS):
        xb, yb = x[start : start + BLOCK_EVENTS].astype(np.intp), y[start : start + BLOCK_EVENTS].astype(np.intp)
        tb = t_us[start : start + BLOCK_EVENTS].astype(np.int64)
        if (bad := _first_bad_event(xb, yb, tb, width, height, previous_t_us, signed)) >= 0:
            return -1 - (start + bad)
        previous_t_us = int(tb[-1])
        column, row = (xb, yb * width) if identity else (x_table[xb], y_table[yb])
        cells = row + column + plane * (p[start : start + BLOCK_EVENTS] > 0)
        if cropping:
            inside = (column >= 0) & (row >= 0)
            cells, tb = cells[inside], tb[inside]
        first, closed_end, open_end = np.searchsorted(tb, [t_start_us, end_us, end_us + bin_us])
        _add_binned(frames, cells[first:closed_end], tb[first:closed_end], t_start_us, bin_us, binary)
        if keep_open:
            _add_cells(open_frame, cells[closed_end:open_end], binary)
    return 0


def _compile(function: Callable) -> Callable:
    """``numba.njit`` with an on-disk cache, or without one where no cache directory is writable."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba: "cannot cache function ... no locator available"
        return numba.njit(cache=False, nogil=True)(function)


if numba is not None:
    _add_batch = _compile(_add_batch)  # the loop below calls the compiled helper
frame_block_numba = _compile(_frame_block_loop) if numba is not None else None
_NUMBA_ERRORS = (numba.core.errors.NumbaError,) if numba is not None else ()


def frame_block(
    x: np.ndarray,
    y: np.ndarray,
    t_us: np.ndarray,
    p: np.ndarray,
    x_table: np.ndarray,
    y_table: np.ndarray,
    plane: int,
    frames: np.ndarray,
    t_start_us: int,
    bin_us: int,
    binary: bool,
    previous_t_us: int,
    open_frame: np.ndarray,
    keep_open: bool,
) -> int:
    """Bin events ``x, y, t_us, p`` ``[N]`` (any integer dtypes; strided views of an event array are
    fine) into ``frames`` ``[bins, 2·plane]`` float32 (C order) in place; bin 0 starts at
    ``t_start_us`` µs, each is ``bin_us`` µs long. With ``keep_open``, events of the next bin go to
    ``open_frame`` ``[2·plane]`` float32. Returns 0, or ``−1 − i`` when event ``i`` lies outside the
    tables or breaks time order (nothing is undone then)."""
    args = (
        x,
        y,
        t_us,
        p,
        x_table,
        y_table,
        plane,
        frames,
        t_start_us,
        bin_us,
        binary,
        previous_t_us,
        open_frame,
        keep_open,
    )
    # numba's dispatcher would run a byte-swapped array through the native-order build: NumPy reads those
    if (
        frame_block_numba is not None
        and x.dtype.isnative
        and y.dtype.isnative
        and t_us.dtype.isnative
        and p.dtype.isnative
    ):
        try:
            return frame_block_numba(*args)
        except _NUMBA_ERRORS:  # a dtype numba cannot compile: the same result in NumPy
            pass
    return frame_block_numpy(*args)
