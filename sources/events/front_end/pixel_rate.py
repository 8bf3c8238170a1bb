"""Steady pixel rates: how fast the busiest *steady* pixel fires, bin by bin — a hot pixel's signature.

A hot pixel (a leaky reset transistor) fires at a high rate whatever the scene; a moving edge makes a
pixel fire a few events as it passes, and then it falls quiet. Per closed bin ``k`` of the event front
end (bins of ``bin_us``), the *steady count* is the largest number of events one pixel fired in
**each** of the last ``window_bins`` bins,

    steady[k] = max_p min_{j < W} count[k − j, p],

and the steady rate is ``steady[k] · 10⁶ / bin_us`` in Hz. A burst from many pixels at once (flicker,
noise) or a fast edge does not raise it; one pixel firing at 1 kHz for two 25 ms bins gives ≈ 1 kHz.

It counts the raw events over the whole sensor (before the roi, the filters and the downsampling):
a measure of the camera's health, not of the model's input. Bins are the front end's: the caller says
which bins each call closed (:class:`~spikestream.sources.events.front_end.streaming.EventFrontEnd`).
Work is proportional to the events and to the bins that hold events; empty bins cost nothing.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class SteadyPixelRate:
    """Streaming steady pixel rate (Hz) per closed bin; state: the open bin's per-pixel counts and the
    per-pixel counts of the last ``window_bins − 1`` closed bins that held events."""

    def __init__(self, sensor_width: int, sensor_height: int, bin_us: int, window_bins: int) -> None:
        if window_bins < 1:
            raise ValueError(f"window_bins must be >= 1, got {window_bins}")
        self.sensor_width, self.pixel_count = int(sensor_width), int(sensor_width) * int(sensor_height)
        self.bin_us, self.window_bins = int(bin_us), int(window_bins)
        self.reset()

    def reset(self) -> None:
        """Forget the open bin and the history (a gap in the input, the end of a stream)."""
        self._open: np.ndarray | None = None  # [pixel_count] int64, events per pixel in the open bin
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=max(self.window_bins - 1, 1))
        self._closed = 0  # closed bins so far: the absolute index of the next bin to close

    def _pixels(self, events: np.ndarray) -> np.ndarray:
        return events["y"].astype(np.int64) * self.sensor_width + events["x"].astype(np.int64)

    def _steady_count(self, bin_index: int, counts: np.ndarray) -> int:
        """``min`` over the window of the per-pixel counts, then ``max`` over pixels (0 when a bin of
        the window held no event)."""
        window = [c for index, c in self._recent if index > bin_index - self.window_bins] + [counts]
        if len(window) < self.window_bins:
            return 0
        return int(np.minimum.reduce(window).max())

    def add(self, events: np.ndarray, first_closed_start_us: int, closed_bins: int) -> np.ndarray:
        """Add a time-ordered chunk whose call closed ``closed_bins`` bins, the first starting at
        ``first_closed_start_us`` (the bin that was open before it); events after them open the next
        bin. Returns the steady rates of the closed bins ``[closed_bins]`` float64, Hz."""
        rates = np.zeros(closed_bins, dtype=np.float64)
        pixels = self._pixels(events)
        bins = (events["t"].astype(np.int64) - int(first_closed_start_us)) // self.bin_us
        if closed_bins == 0:
            if len(pixels):
                self._open = self._add_counts(self._open, pixels)
            return rates
        closed_mask = bins < closed_bins
        closed_pixels, closed_bin_of = pixels[closed_mask], bins[closed_mask]
        with_events = np.unique(closed_bin_of)
        if self._open is not None and (len(with_events) == 0 or with_events[0] != 0):
            with_events = np.concatenate([[0], with_events])  # the open bin's earlier events close now
        for k in with_events:
            counts = self._add_counts(self._open if k == 0 else None, closed_pixels[closed_bin_of == k])
            index = self._closed + int(k)
            rates[k] = self._steady_count(index, counts) * 1e6 / self.bin_us
            self._recent.append((index, counts))
        self._closed += closed_bins
        self._open = self._add_counts(None, pixels[~closed_mask]) if (~closed_mask).any() else None
        return rates

    def _add_counts(self, counts: np.ndarray | None, pixels: np.ndarray) -> np.ndarray:
        added = np.bincount(pixels, minlength=self.pixel_count)
        return added if counts is None else counts + added


def steady_pixel_rates(
    events: np.ndarray, sensor_width: int, sensor_height: int, bin_us: int, window_bins: int, t_start_us: int = 0
) -> np.ndarray:
    """A whole recording's steady pixel rates ``[bins]`` Hz, bins of ``bin_us`` from ``t_start_us`` up
    to the one holding the last event (the same values as the streaming front end's)."""
    tracker = SteadyPixelRate(sensor_width, sensor_height, bin_us, window_bins)
    if len(events) == 0:
        return np.zeros(0, dtype=np.float64)
    bin_count = (int(events["t"][-1]) - int(t_start_us)) // int(bin_us) + 1
    return tracker.add(events, t_start_us, bin_count)
