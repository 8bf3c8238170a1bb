"""Events → spike frames ``[T, 2, H, W]`` float32: crop, downsample, time binning, streaming.

Channels as tonic's ``ToFrame``: 0 = OFF (``p == 0``), 1 = ON (``p > 0``). Bin ``k`` holds the
events with ``t_start + k·bin_us <= t < t_start + (k+1)·bin_us``. Stages: roi crop (sensor pixels)
→ optional filters → downsampling (``x // f``; size ``ceil(roi / f)``) → bins → binary, counts or
``ln(1 + counts)`` (``log-counts``).

tonic alignment: ``ToFrame(sensor_size, time_window=bin_us, include_incomplete=True)`` starts bin 0
at the **first event** ``t[0]`` (not 0) and makes ``max(1, ceil((t[-1] − t[0] − bin_us) / bin_us) + 1)``
bins; ``bin_events(events, sensor, t[0], bin_us, that_count)`` equals its frames exactly (float32,
not int16). The framer also starts at ``t[0]`` by default and differs only when ``t[-1] − t[0]`` is a
multiple of ``bin_us``: tonic then drops the events at ``t[-1]``; ``flush()`` emits them in one more bin.

Binning is one pass over the events per call (:mod:`.binning_kernel`: numba-compiled, or NumPy
with the same frames when numba is missing); the filters alone run as NumPy passes before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..event_array import SensorSize
from . import binning_kernel as kernel
from .filters import check_time_order, denoise_keep_mask, new_filter_state, refractory_keep_mask

OUTPUT_MODES = ("binary", "counts", "log-counts")  # log-counts: ln(1 + count), heavy tails compressed
_NO_OPEN_FRAME = np.empty(0, np.float32)  # bin_events keeps no open bin


@dataclass(frozen=True)
class EventFrontEndConfig:
    """Plain-data settings of the event front end (stored in model checkpoints as a dict).

    ``roi`` = ``(x0, y0, width, height)`` in sensor pixels, ``None`` = whole sensor. One output
    bin of ``bin_ms`` is one SNN time step (``dt``). ``refractory_ms`` / ``denoise_ms``: optional
    per-pixel filters (:mod:`.filters`), applied inside the roi before downsampling.
    """

    sensor_width: int
    sensor_height: int
    bin_ms: float = 1.0
    roi: tuple[int, int, int, int] | None = None
    downsample_factor: int = 1
    output_mode: str = "binary"
    refractory_ms: float | None = None
    denoise_ms: float | None = None

    def __post_init__(self) -> None:
        if self.sensor_width < 1 or self.sensor_height < 1:
            raise ValueError(f"sensor size must be >= 1x1 pixels, got {self.sensor_width}x{self.sensor_height}")
        if not self.bin_ms > 0 or abs(self.bin_ms * 1000.0 - round(self.bin_ms * 1000.0)) > 1e-6:
            raise ValueError(f"bin_ms must be > 0 ms and a whole number of µs, got {self.bin_ms}")
        if self.downsample_factor < 1 or int(self.downsample_factor) != self.downsample_factor:
            raise ValueError(f"downsample_factor must be an integer >= 1, got {self.downsample_factor}")
        if self.output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {self.output_mode!r}")
        for name, value in (("refractory_ms", self.refractory_ms), ("denoise_ms", self.denoise_ms)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 ms or None, got {value}")
        if self.roi is not None:
            object.__setattr__(self, "roi", tuple(int(v) for v in self.roi))
            x0, y0, width, height = self.roi if len(self.roi) == 4 else (-1, -1, 0, 0)
            outside = x0 + width > self.sensor_width or y0 + height > self.sensor_height
            if min(x0, y0) < 0 or min(width, height) < 1 or outside:
                raise ValueError(
                    f"roi {self.roi} must be (x0, y0, width, height) inside the "
                    f"{self.sensor_width}x{self.sensor_height} sensor, with width and height >= 1"
                )

    @property
    def bin_us(self) -> int:
        """Bin length = SNN time step in µs."""
        return int(round(self.bin_ms * 1000.0))

    @property
    def roi_box(self) -> tuple[int, int, int, int]:
        """``(x0, y0, width, height)``; the whole sensor when ``roi`` is None."""
        return self.roi if self.roi is not None else (0, 0, self.sensor_width, self.sensor_height)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(2, H_out, W_out)`` of one frame: ``ceil(roi / downsample_factor)``."""
        _, _, width, height = self.roi_box
        return (2, -(-height // self.downsample_factor), -(-width // self.downsample_factor))

    def to_dict(self) -> dict:
        """JSON-ready dict (``dataclasses.asdict`` plus ``kind = "events"``)."""
        return {"kind": "events", **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict) -> EventFrontEndConfig:
        """Rebuild from :meth:`to_dict` / ``asdict`` output (``roi`` may be a JSON list)."""
        values = dict(values)
        if (kind := values.pop("kind", "events")) != "events":
            raise ValueError(f"front end kind {kind!r} is not an event front end (expected 'events')")
        if unknown := sorted(set(values) - {f.name for f in fields(cls)}):
            raise ValueError(f"unknown event front end settings {unknown}; expected {[f.name for f in fields(cls)]}")
        return cls(**values)  # __post_init__ turns a JSON list roi back into a tuple


_INT64_MAX = np.iinfo(np.int64).max


def _kernel_coordinates(values: np.ndarray) -> np.ndarray:
    """Coordinates ``[N]`` as the range checks and the kernel can take them. Unsigned 64-bit values from
    2**63 on would wrap negative in their intp arithmetic and pass as valid (negative) indices, so such
    columns are saturated at int64's maximum (still outside any sensor); other dtypes pass unchanged."""
    if values.dtype.kind == "u" and values.dtype.itemsize >= 8:
        return np.minimum(values, np.uint64(_INT64_MAX)).astype(np.int64)
    return values


def _columns(
    events: np.ndarray, width: int, height: int, where: str, previous_t_us: int | None
) -> tuple[np.ndarray, ...]:
    """``x, y`` (intp), ``t`` (int64 µs), ``on`` (bool) of a block, checked: inside the sensor, time-ordered."""
    x, y = _kernel_coordinates(events["x"]).astype(np.intp), _kernel_coordinates(events["y"]).astype(np.intp)
    t_us, on = events["t"].astype(np.int64), events["p"] > 0
    signed = events["x"].dtype.kind == "i" or events["y"].dtype.kind == "i"
    if x.max() >= width or y.max() >= height or (signed and min(x.min(), y.min()) < 0):
        raise ValueError(
            f"{where}: events reach x={int(x.max())}, y={int(y.max())}; expected 0 <= x < {width}, 0 <= y < {height}"
        )
    if previous_t_us is not None and t_us[0] < previous_t_us:
        raise ValueError(f"{where}: events must be in time order; t={int(t_us[0])} µs follows t={previous_t_us} µs")
    check_time_order(t_us, where)
    return x, y, t_us, on


def bin_events(
    events: np.ndarray, sensor_size: SensorSize | tuple[int, int, int], t_start_us: int, bin_us: int, bin_count: int
) -> np.ndarray:
    """Event counts per time bin: ``[bin_count, 2, H, W]`` float32, channel 0 = OFF, 1 = ON.

    ``events``: time-ordered event array; ``sensor_size``: :class:`SensorSize` or tonic's
    ``(W, H, P)``; bin ``k`` covers ``[t_start_us + k·bin_us, t_start_us + (k+1)·bin_us)`` µs.
    Events before ``t_start_us`` or after the last bin are dropped. See the module docstring for
    matching tonic's ``ToFrame`` exactly (``t_start_us = t[0]`` and tonic's bin count). One pass of
    :func:`.binning_kernel.frame_block` over the events (compiled when numba is installed).
    """
    width, height = (sensor_size.width, sensor_size.height) if isinstance(sensor_size, SensorSize) else sensor_size[:2]
    if bin_us <= 0 or bin_count < 0:
        raise ValueError(f"bin_events: bin_us must be > 0 µs and bin_count >= 0, got {bin_us}, {bin_count}")
    frames = np.zeros((int(bin_count), 2 * height * width), dtype=np.float32)  # lazily zeroed pages (calloc)
    if len(events):
        x, y, t_us = _kernel_coordinates(events["x"]), _kernel_coordinates(events["y"]), events["t"]
        tables = kernel.pixel_tables(width, height, (0, 0, width, height), 1)
        status = kernel.frame_block(
            x,
            y,
            t_us,
            events["p"],
            *tables,
            frames,
            int(t_start_us),
            int(bin_us),
            False,
            kernel.NO_PREVIOUS_US,
            _NO_OPEN_FRAME,
            False,
        )
        if status < 0:
            raise kernel.bad_event_error("bin_events", x, y, t_us, -1 - status, width, height, kernel.NO_PREVIOUS_US)
    return frames.reshape(int(bin_count), 2, height, width)


def crop_events(events: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """Keep events inside ``roi = (x0, y0, width, height)`` and shift them to roi coordinates."""
    x0, y0, width, height = roi
    x, y = events["x"].astype(np.int64) - x0, events["y"].astype(np.int64) - y0
    cropped = events[(x >= 0) & (x < width) & (y >= 0) & (y < height)].copy()
    cropped["x"], cropped["y"] = cropped["x"] - x0, cropped["y"] - y0
    return cropped


def downsample_events(events: np.ndarray, factor: int) -> np.ndarray:
    """Pool pixels ``factor × factor``: ``x // factor``, ``y // factor`` (sensor size ceil-divides)."""
    if factor < 1:
        raise ValueError(f"downsample factor must be an integer >= 1, got {factor}")
    pooled = events.copy()
    pooled["x"], pooled["y"] = pooled["x"] // factor, pooled["y"] // factor
    return pooled


class StreamingEventFramer:
    """Stateful front end: time-ordered event chunks of any size → frames ``[n, 2, H_out, W_out]``.

    Each bin of ``bin_ms`` is emitted exactly once, as soon as an event (or :meth:`advance_to`)
    at or after its end proves it complete; :meth:`flush` emits the open bin if an event fell in
    it, then resets. Only the open bin's frame is kept; it is returned as is when the bin closes.
    The first bin starts at ``t_start_us``
    if given, else at the first event (tonic's convention), else at the first ``advance_to`` time.
    The output is the same whatever the chunking. After a ``ValueError`` call :meth:`reset`.
    """

    def __init__(self, config: EventFrontEndConfig, t_start_us: int | None = None) -> None:
        self.config, self._shape, self._bin_us = config, config.output_shape, config.bin_us
        self._initial_t_start_us = t_start_us
        self._filtered = config.refractory_ms is not None or config.denoise_ms is not None
        x0, y0, width, height = config.roi_box  # cell tables: sensor pixels, or roi pixels after the filters
        factor = config.downsample_factor
        self._tables = (
            kernel.pixel_tables(width, height, (0, 0, width, height), factor)
            if self._filtered
            else kernel.pixel_tables(config.sensor_width, config.sensor_height, config.roi_box, factor)
        )
        self.reset()

    def reset(self) -> None:
        """Forget all events, filter memories and the time origin."""
        config = self.config
        self._bin_start_us = self._initial_t_start_us
        self._watermark_us: int | None = None  # no event earlier than this may arrive
        self._open_bin_has_event = False
        self._open_frame: np.ndarray | None = None  # [1, cells] float32: the open bin's events so far
        roi_size = SensorSize(config.roi_box[2], config.roi_box[3])
        self._refractory_state = new_filter_state(roi_size) if config.refractory_ms else None
        self._denoise_state = new_filter_state(roi_size) if config.denoise_ms else None

    @property
    def next_bin_start_us(self) -> int | None:
        """Start (µs) of the bin that will be emitted next; None before any time is known."""
        return self._bin_start_us

    def _filtered_columns(self, events: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        """With filters only, per block: checked, cropped, filtered ``x, y`` (roi pixels), ``t_us``, ``on``."""
        config, previous_t_us = self.config, None
        x0, y0, width, height = config.roi_box
        for start in range(0, len(events), kernel.BLOCK_EVENTS):
            block = events[start : start + kernel.BLOCK_EVENTS]
            x, y, t_us, on = _columns(
                block, config.sensor_width, config.sensor_height, "StreamingEventFramer.push", previous_t_us
            )
            previous_t_us = int(t_us[-1])
            if config.roi is not None:  # x - x0 wraps to a huge unsigned value left of the roi
                x, y = x - x0, y - y0
                inside = (x.view(np.uintp) < width) & (y.view(np.uintp) < height)
                x, y, t_us, on = x[inside], y[inside], t_us[inside], on[inside]
            for state, keep_mask, window_ms in (
                (self._refractory_state, refractory_keep_mask, config.refractory_ms),
                (self._denoise_state, denoise_keep_mask, config.denoise_ms),
            ):
                if state is not None:
                    kept = keep_mask(x, y, t_us, int(round(window_ms * 1000.0)), state)
                    x, y, t_us, on = x[kept], y[kept], t_us[kept], on[kept]
            yield x, y, t_us, on.view(np.uint8)

    def _add_events(self, events: np.ndarray, frames: np.ndarray, open_frame: np.ndarray | None) -> None:
        """Bin ``events`` into ``frames`` ``[bins, cells]`` (from ``_bin_start_us``) and ``open_frame``
        ``[1, cells]`` (the bin after them; None: there is none)."""
        config, binary = self.config, self.config.output_mode == "binary"
        parts = (
            self._filtered_columns(events)
            if self._filtered
            else [(_kernel_coordinates(events["x"]), _kernel_coordinates(events["y"]), events["t"], events["p"])]
        )
        open_cells = _NO_OPEN_FRAME if open_frame is None else open_frame.reshape(-1)
        for x, y, t_us, p in parts:
            status = kernel.frame_block(
                x,
                y,
                t_us,
                p,
                *self._tables,
                frames,
                self._bin_start_us,
                self._bin_us,
                binary,
                kernel.NO_PREVIOUS_US,
                open_cells,
                open_frame is not None,
            )
            if status < 0:
                raise kernel.bad_event_error(
                    "StreamingEventFramer.push",
                    x,
                    y,
                    t_us,
                    -1 - status,
                    config.sensor_width,
                    config.sensor_height,
                    kernel.NO_PREVIOUS_US,
                )

    def _close_bins(self, bin_count: int, events: np.ndarray | None = None) -> np.ndarray:
        """Emit ``bin_count`` bins: the open bin's frame so far, completed by ``events``, then the next
        ones; the events after them start a new open frame. No frame is copied when ``bin_count <= 1``:
        the open frame itself is returned (a push of a few ms closes one bin at a time)."""
        cells, open_frame = math.prod(self._shape), self._open_frame
        if bin_count == 0:  # the events all fall in the open bin
            if events is not None:
                self._open_frame = open_frame if open_frame is not None else np.zeros((1, cells), np.float32)
                self._add_events(events, self._open_frame, None)
            return np.zeros((0, *self._shape), dtype=np.float32)
        if bin_count == 1 and open_frame is not None:
            frames = open_frame
        else:  # one output for this call; np.zeros is lazily zeroed memory
            frames = np.zeros((bin_count, cells), dtype=np.float32)
            if open_frame is not None:
                frames[0] = open_frame[0]
        self._open_frame = np.zeros((1, cells), np.float32) if events is not None else None
        if events is not None:
            self._add_events(events, frames, self._open_frame)
        self._bin_start_us, self._open_bin_has_event = self._bin_start_us + bin_count * self._bin_us, False
        if self.config.output_mode == "log-counts":  # a closed bin's counts are final: compress them once
            np.log1p(frames, out=frames)
        return frames.reshape(bin_count, *self._shape)

    def push(self, events: np.ndarray) -> np.ndarray:
        """Add a time-ordered chunk; return the bins it completes, ``[n_new, 2, H_out, W_out]`` float32."""
        if len(events) == 0:
            return self._close_bins(0)  # a no-op that returns no frames
        first_us, last_us = int(events["t"][0]), int(events["t"][-1])
        earliest_us = max((t for t in (self._watermark_us, self._bin_start_us) if t is not None), default=first_us)
        if first_us < earliest_us:
            raise ValueError(
                f"StreamingEventFramer.push: event at t={first_us} µs is earlier than {earliest_us} µs "
                "(an earlier chunk, advance_to or t_start_us); feed chunks in time order"
            )
        self._bin_start_us = first_us if self._bin_start_us is None else self._bin_start_us
        self._watermark_us = last_us
        frames = self._close_bins(max(0, (last_us - self._bin_start_us) // self._bin_us), events)
        self._open_bin_has_event = True  # the last event always lies in the open bin
        return frames

    def advance_to(self, t_us: int) -> np.ndarray:
        """Declare that no event earlier than ``t_us`` will come (e.g. wall clock of a live source);
        emit the bins that end at or before ``t_us`` (empty bins on silence)."""
        t_us = int(t_us)
        if self._watermark_us is not None and t_us < self._watermark_us:
            raise ValueError(f"advance_to({t_us} µs) goes back before {self._watermark_us} µs; time must not decrease")
        self._watermark_us = t_us
        self._bin_start_us = t_us if self._bin_start_us is None else self._bin_start_us
        return self._close_bins(max(0, (t_us - self._bin_start_us) // self._bin_us))

    def skip_to(self, t_us: int) -> tuple[np.ndarray, int]:
        """A gap in the input: no event before ``t_us``. Emit the open bin if an event fell in it, then
        move to the bin containing ``t_us`` without emitting the empty bins between (bounded work
        whatever the gap). Returns ``(frames [0 or 1, 2, H_out, W_out], bins skipped)``."""
        t_us = int(t_us)
        if self._watermark_us is not None and t_us < self._watermark_us:
            raise ValueError(f"skip_to({t_us} µs) goes back before {self._watermark_us} µs; time must not decrease")
        if self._bin_start_us is None:
            self._bin_start_us = self._watermark_us = t_us
            return np.zeros((0, *self._shape), dtype=np.float32), 0
        frames = self._close_bins(1) if self._open_bin_has_event else np.zeros((0, *self._shape), dtype=np.float32)
        skipped = max(0, (t_us - self._bin_start_us) // self._bin_us)
        self._bin_start_us += skipped * self._bin_us
        self._open_frame, self._open_bin_has_event = None, False
        self._watermark_us = t_us
        return frames, skipped

    def flush(self) -> np.ndarray:
        """Emit the open, partial bin if an event fell in it (``[0 or 1, 2, H_out, W_out]``), then reset."""
        frames = self._close_bins(1 if self._open_bin_has_event else 0)
        self.reset()
        return frames


@dataclass(frozen=True)
class FrameEvents:
    """tonic-style transform: a whole recording → ``[T, 2, H_out, W_out]`` float32, the same as one
    :class:`StreamingEventFramer` ``push`` + ``flush`` (bins from ``t_start_us`` or the first event)."""

    config: EventFrontEndConfig
    t_start_us: int | None = None

    def __call__(self, events: np.ndarray) -> np.ndarray:
        framer = StreamingEventFramer(self.config, self.t_start_us)  # push + flush, without copying frames:
        if len(events) == 0:
            return framer.flush()
        start_us = framer._bin_start_us = int(events["t"][0]) if self.t_start_us is None else self.t_start_us
        if int(events["t"][0]) < start_us:
            raise ValueError(f"FrameEvents: event at t={int(events['t'][0])} µs precedes t_start_us={start_us}")
        return framer._close_bins((int(events["t"][-1]) - start_us) // framer._bin_us + 1, events)
