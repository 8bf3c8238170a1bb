"""The speech-band level of each MFCC frame and the stream's recent noise floor (dB), streamed.

Noise, hum, tones and DC levels are *stationary*: their level hardly moves over seconds. A word is
not: it rises well above the room it is spoken in, and the room is heard again after it. A segment
decision that requires this rise (``min_rise_db``, :mod:`spikestream.pipeline.decisions.segment`:
the segment's peak level minus the floor when it is decided) stays quiet on steady sounds at any
level, whatever the network makes of them, and still hears a word at any gain, because the rise is
a ratio of two levels of the same stream.

Per frame ``k`` (the MFCC's own power spectrum ``P_k[f]`` of the Hann-windowed ``n_fft`` frame):

- band power ``E_k = Σ_{f_lo ≤ f < f_hi} P_k[f]`` over ``band_low_hz`` … ``band_high_hz`` (speech
  formants; DC, hum and the rumble of brown noise below ``band_low_hz`` are left out);
- level ``L_k = 10·log10(mean(E_{k−s+1} … E_k) · 16 / (3·n_fft²))`` over ``smooth_frames`` frames:
  the band's mean square in dB re a unit-RMS signal (Parseval with the Hann window's ``Σw² = 3N/8``);
- a frame is *clean* unless it, or another frame of its smoothing span, holds
  ``digital_silence_run`` identical samples in a row (the silence put around a recording, a partial
  first frame, a dropout) or a sample at ``clip_level`` or beyond (a clipped signal is distorted:
  its band level says nothing of the room), or its level is below ``quiet_level_db`` (below 16-bit
  quantisation); unclean frames have no level (NaN);
- floor ``F_k = min L_j`` over the clean frames ``j`` of the last ``floor_window_ms`` (NaN before
  the first clean frame).

State is the last ``smooth_frames − 1`` band powers and a monotonic queue of at most one entry per
frame of the floor window, so memory is bounded and a stream gives the same track however it is cut
into chunks.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LevelRiseConfig:
    """Settings of the level track (plain data, stored in the front end of a checkpoint)."""

    band_low_hz: float = 250.0
    band_high_hz: float = 3800.0
    smooth_frames: int = 4
    floor_window_ms: float = 2000.0
    digital_silence_run: int = 16  # identical samples in a row that mark a frame as not the room's sound
    quiet_level_db: float = -100.0  # a frame below this level (dB re unit RMS) is digital quiet
    clip_level: float = 0.99  # a frame with a sample this far from zero (full scale 1) is clipped

    def __post_init__(self) -> None:
        if not 0.0 <= self.band_low_hz < self.band_high_hz:
            raise ValueError(
                f"level band must satisfy 0 <= band_low_hz < band_high_hz, got {self.band_low_hz}..{self.band_high_hz}"
            )
        if self.smooth_frames < 1:
            raise ValueError(f"smooth_frames must be >= 1, got {self.smooth_frames}")
        if not 0.0 < self.floor_window_ms <= 60_000.0:
            raise ValueError(f"floor_window_ms must be in (0, 60000] ms, got {self.floor_window_ms}")
        if self.digital_silence_run < 1:
            raise ValueError(f"digital_silence_run must be >= 1 samples, got {self.digital_silence_run}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> LevelRiseConfig:
        return cls(**values)


def has_stuck_run(frames: np.ndarray, run: int) -> np.ndarray:
    """``[n]`` bool: which frames ``[n, n_fft]`` hold ``run`` identical samples in a row (digital
    silence, a dropout, a clipped stretch)."""
    if frames.shape[0] == 0 or run < 2:
        return np.full(frames.shape[0], run < 2, dtype=bool)
    windows, covered = frames[:, 1:] == frames[:, :-1], 1  # [n, k]: the `covered` pairs from k on are equal
    while covered < run - 1:  # widen the windows by doubling (AND of two overlapping ones): a few passes
        shift = min(covered, run - 1 - covered)
        windows, covered = windows[:, :-shift] & windows[:, shift:], covered + shift
    return windows.any(axis=1)


def _trailing_sums(recent: np.ndarray, new: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the trailing window of up to ``span`` values ending at each of the ``n`` values ``new``
    (``recent``, the last ``span − 1`` values before them, continue the windows across calls).

    Returns the sums ``[n]`` (float for float values, int for bool: how many are true), the window
    lengths ``[n]`` (``span``, fewer at the start of a stream) and the last ``span − 1`` values to pass
    as ``recent`` next time."""
    history = np.concatenate([recent, new])
    cumulative = np.concatenate([[0], np.cumsum(history)])
    ends = np.arange(recent.size, history.size) + 1
    starts = np.maximum(0, ends - span)
    keep = span - 1
    return cumulative[ends] - cumulative[starts], ends - starts, history[history.size - keep :] if keep else history[:0]


class LevelRise:
    """Streaming level track; ``push(frames [n, n_fft], power [n, n_fft//2+1])`` → ``(level_db [n], floor_db [n])``."""

    def __init__(self, config: LevelRiseConfig, sample_rate_hz: int, n_fft: int, hop_ms: float) -> None:
        self.config = config
        bin_hz = sample_rate_hz / n_fft
        self.first_bin = int(math.ceil(config.band_low_hz / bin_hz))
        self.end_bin = max(self.first_bin + 1, min(n_fft // 2 + 1, int(config.band_high_hz / bin_hz) + 1))
        self.mean_square_scale = 16.0 / (3.0 * n_fft * n_fft)
        self.floor_frames = max(1, int(round(config.floor_window_ms / hop_ms)))
        self.reset()

    def reset(self) -> None:
        """Start a new stream: no floor yet."""
        self._recent_power = np.zeros(0, dtype=np.float64)
        self._recent_flawed = np.zeros(0, dtype=bool)  # frames of the smoothing span with a stuck run or clipping
        self._floor: deque[tuple[int, float]] = deque()  # (frame index, level), levels increasing
        self._frame = 0

    def push(self, frames: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Levels (dB, NaN for unclean frames) and floors (dB, NaN before any clean frame), float32 ``[n]``
        each, of ``n`` new frames given their samples and power spectra."""
        count = frames.shape[0]
        if count == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        span = self.config.smooth_frames
        band = power[:, self.first_bin : self.end_bin].astype(np.float64).sum(axis=1) * self.mean_square_scale
        power_sums, lengths, self._recent_power = _trailing_sums(self._recent_power, band, span)
        levels = 10.0 * np.log10(np.maximum(power_sums / lengths, 1e-30))
        flawed = has_stuck_run(frames, self.config.digital_silence_run)
        flawed |= np.abs(frames).max(axis=1) >= self.config.clip_level
        flawed_counts, _, self._recent_flawed = _trailing_sums(self._recent_flawed, flawed, span)
        clean = (flawed_counts == 0) & (levels >= self.config.quiet_level_db)
        levels = np.where(clean, levels, np.nan)
        floors = np.full(count, np.nan)
        for i in range(count):
            index, level = self._frame, float(levels[i])
            self._frame += 1
            while self._floor and self._floor[0][0] <= index - self.floor_frames:
                self._floor.popleft()
            if clean[i]:
                while self._floor and self._floor[-1][1] >= level:
                    self._floor.pop()
                self._floor.append((index, level))
            if self._floor:
                floors[i] = self._floor[0][1]
        return levels.astype(np.float32), floors.astype(np.float32)
