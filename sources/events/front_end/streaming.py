"""The event front end: event chunks → spike steps ``[T, 1, 2, H, W]`` (one step per time bin).

Wraps :class:`StreamingEventFramer` (crop → filters → downsample → bins) and hands torch tensors
to the model. Built from the plain-data ``front_end`` section of a checkpoint
(:meth:`EventFrontEndConfig.to_dict`, ``kind = "events"``).
"""

from __future__ import annotations

import numpy as np
import torch

from .framing import EventFrontEndConfig, StreamingEventFramer


class EventFrontEnd:
    """``push(events)`` → new spike steps ``[n_bins, 1, 2, H, W]`` float32; ``step_us`` = bin length."""

    def __init__(self, config: EventFrontEndConfig) -> None:
        self.config = config
        self.framer = StreamingEventFramer(config)

    @property
    def step_us(self) -> int:
        return self.config.bin_us

    def reset(self) -> None:
        self.framer.reset()

    @staticmethod
    def _steps(frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).unsqueeze(1)

    def push(self, events: np.ndarray) -> torch.Tensor:
        return self._steps(self.framer.push(events))

    def advance_to(self, t_us: int) -> torch.Tensor:
        """Close the bins that end before ``t_us`` (live input: time passes without events)."""
        return self._steps(self.framer.advance_to(t_us))

    def skip_to(self, t_us: int) -> tuple[torch.Tensor, int]:
        """A gap without events until ``t_us``: the open bin's steps and the number of bins skipped."""
        frames, skipped = self.framer.skip_to(t_us)
        return self._steps(frames), skipped

    def flush(self) -> torch.Tensor:
        return self._steps(self.framer.flush())


def events_to_steps(events: np.ndarray, config: EventFrontEndConfig, t_start_us: int, bin_count: int) -> np.ndarray:
    """Whole event array → ``[bin_count, 2, H, W]`` float32 through the same streaming framer,
    bins starting at ``t_start_us`` (training and evaluation data)."""
    framer = StreamingEventFramer(config, t_start_us=t_start_us)
    frames = [framer.push(events), framer.advance_to(t_start_us + bin_count * config.bin_us)]
    stacked = np.concatenate([f for f in frames if len(f)] or [np.zeros((0,) + config.output_shape, np.float32)])
    if stacked.shape[0] < bin_count:
        stacked = np.concatenate([stacked, np.zeros((bin_count - stacked.shape[0],) + config.output_shape, np.float32)])
    return stacked[:bin_count]
