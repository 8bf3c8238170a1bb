"""Per-step training targets for streaming classifiers (audio words, event gestures).

A streaming classifier must say "background" before an event, the event's label once it has seen
enough of it, and "background" again after it. Given the time of every SNN step and where the
event lies, each step gets a target:

======================================  ==============================
step time                                target
======================================  ==============================
before ``onset + early_fraction·dur``    background (index 0)
up to ``onset + decide_fraction·dur``    ignored (``IGNORE_TARGET``)
up to ``end + hold_ms``                  the event's label
up to ``end + release_ms``               ignored
after that                               background
======================================  ==============================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_TARGET = -1
BACKGROUND_LABEL = "background"  # the name of class 0 in every classifier's label list
UNKNOWN_LABEL = "unknown"  # the class of other words a keyword model reports instead of forcing a keyword
BACKGROUND_INDEX = 0


@dataclass(frozen=True)
class TargetTiming:
    early_fraction: float = 0.3
    decide_fraction: float = 0.5
    hold_ms: float = 150.0
    release_ms: float = 400.0


def step_targets(
    step_times_us: np.ndarray, onset_us: int, duration_us: int, label_index: int, timing: TargetTiming
) -> np.ndarray:
    """Targets ``[len(step_times_us)]`` int64 following the table in the module docstring."""
    end_us = onset_us + duration_us
    targets = np.full(step_times_us.shape, BACKGROUND_INDEX, dtype=np.int64)
    targets[step_times_us >= onset_us + timing.early_fraction * duration_us] = IGNORE_TARGET
    targets[step_times_us >= onset_us + timing.decide_fraction * duration_us] = label_index
    targets[step_times_us > end_us + timing.hold_ms * 1000] = IGNORE_TARGET
    targets[step_times_us > end_us + timing.release_ms * 1000] = BACKGROUND_INDEX
    return targets
