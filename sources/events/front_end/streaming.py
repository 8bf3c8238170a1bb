"""The event front end: event chunks → spike steps ``[T, 1, 2, H, W]`` (one step per time bin).

Wraps :class:`StreamingEventFramer` (crop → filters → downsample → bins) and hands torch tensors
to the model; with :meth:`EventFrontEnd.track_pixel_rates` it also measures the steady pixel rate of
every bin it emits (:mod:`.pixel_rate`: hot pixels), taken with :meth:`EventFrontEnd.take_pixel_rates`.
Built from the plain-data ``front_end`` section of a checkpoint (:meth:`EventFrontEndConfig.to_dict`,
``kind = "events"``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..event_array import EVENT_DTYPE
from .framing import EventFrontEndConfig, StreamingEventFramer
from .pixel_rate import SteadyPixelRate

_NO_EVENTS = np.zeros(0, dtype=EVENT_DTYPE)


class EventFrontEnd:
    """``push(events)`` → new spike steps ``[n_bins, 1, 2, H, W]`` float32; ``step_us`` = bin length."""

    def __init__(self, config: EventFrontEndConfig) -> None:
        self.config = config
        self.framer = StreamingEventFramer(config)
        self.pixel_rates: SteadyPixelRate | None = None  # on with track_pixel_rates()
        self._pending_rates: list[np.ndarray] = []

    @property
    def step_us(self) -> int:
        return self.config.bin_us

    def track_pixel_rates(self, window_bins: int) -> None:
        """Measure the steady pixel rate (Hz) of every bin from now on, over ``window_bins`` bins."""
        config = self.config
        self.pixel_rates = SteadyPixelRate(config.sensor_width, config.sensor_height, config.bin_us, window_bins)

    def take_pixel_rates(self) -> np.ndarray | None:
        """Steady pixel rates ``[T]`` Hz of the steps returned since the last call (None when not tracked)."""
        if self.pixel_rates is None:
            return None
        rates = np.concatenate(self._pending_rates) if self._pending_rates else np.zeros(0, np.float64)
        self._pending_rates = []
        return rates

    def _track(self, events: np.ndarray, frames: np.ndarray, first_start_us: int | None) -> None:
        """Steady pixel rates of the ``frames`` a call closed (the first starting at ``first_start_us``,
        known whenever a call closes a bin or holds events) and the open bin's share of ``events``."""
        if self.pixel_rates is not None and (len(frames) or len(events)):
            self._pending_rates.append(self.pixel_rates.add(events, first_start_us, len(frames)))

    def _closed_start_us(self, frames: np.ndarray) -> int | None:
        """Start of the first bin a call closed, read after it (the framer's clock has moved past them)."""
        after_us = self.framer.next_bin_start_us
        return None if after_us is None else after_us - len(frames) * self.config.bin_us

    def reset(self) -> None:
        self.framer.reset()
        if self.pixel_rates is not None:
            self.pixel_rates.reset()
        self._pending_rates = []

    @staticmethod
    def _steps(frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).unsqueeze(1)

    def push(self, events: np.ndarray) -> torch.Tensor:
        frames = self.framer.push(events)
        self._track(events, frames, self._closed_start_us(frames))
        return self._steps(frames)

    def advance_to(self, t_us: int) -> torch.Tensor:
        """Close the bins that end before ``t_us`` (live input: time passes without events)."""
        frames = self.framer.advance_to(t_us)
        self._track(_NO_EVENTS, frames, self._closed_start_us(frames))
        return self._steps(frames)

    def skip_to(self, t_us: int) -> tuple[torch.Tensor, int]:
        """A gap without events until ``t_us``: the open bin's steps and the number of bins skipped (the
        steady pixel rates start again after it)."""
        open_start_us = self.framer.next_bin_start_us
        frames, skipped = self.framer.skip_to(t_us)
        self._track(_NO_EVENTS, frames, open_start_us)
        if self.pixel_rates is not None:
            self.pixel_rates.reset()
        return self._steps(frames), skipped

    def flush(self) -> torch.Tensor:
        open_start_us = self.framer.next_bin_start_us
        frames = self.framer.flush()  # resets the framer
        self._track(_NO_EVENTS, frames, open_start_us)
        if self.pixel_rates is not None:
            self.pixel_rates.reset()
        return self._steps(frames)


def events_to_steps(events: np.ndarray, config: EventFrontEndConfig, t_start_us: int, bin_count: int) -> np.ndarray:
    """Whole event array → ``[bin_count, 2, H, W]`` float32 through the same streaming framer,
    bins starting at ``t_start_us`` (training and evaluation data)."""
    framer = StreamingEventFramer(config, t_start_us=t_start_us)
    frames = [framer.push(events), framer.advance_to(t_start_us + bin_count * config.bin_us)]
    stacked = np.concatenate([f for f in frames if len(f)] or [np.zeros((0,) + config.output_shape, np.float32)])
    if stacked.shape[0] < bin_count:
        stacked = np.concatenate([stacked, np.zeros((bin_count - stacked.shape[0],) + config.output_shape, np.float32)])
    return stacked[:bin_count]
