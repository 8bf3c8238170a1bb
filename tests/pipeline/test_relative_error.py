"""The running-mean baseline of the relative reconstruction error: its sums over a stream do not
depend on the chunk size, and its means are the recursion it documents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikestream.pipeline.relative_error import RecentRelativeError, RunningMeanBaseline


def test_running_mean_sums_do_not_depend_on_the_chunk_size_and_follow_the_recursion():
    generator = torch.Generator().manual_seed(0)
    steps = torch.rand((40, 1, 1, 5), generator=generator)
    target = torch.rand((40, 1, 1, 5), generator=generator)
    whole = RunningMeanBaseline(4.0).squared_errors(steps, target).sum()
    chunked = RunningMeanBaseline(4.0)
    pieces = sum(chunked.squared_errors(steps[a:b], target[a:b]).sum() for a, b in ((0, 1), (1, 1), (1, 17), (17, 40)))
    assert pieces == pytest.approx(whole, rel=1e-12)
    mean, expected = steps[0].double(), 0.0
    for t in range(40):  # m_t = m_{t−1} + (x_t − m_{t−1}) / τ, from the first step
        mean = mean + (steps[t].double() - mean) / 4.0
        expected += float(((mean - target[t].double()) ** 2).sum())
    assert whole == pytest.approx(expected, rel=1e-9)
    constant = steps[:1].expand(10, 1, 1, 5)
    assert RunningMeanBaseline().squared_errors(constant, constant).sum() == pytest.approx(0.0, abs=1e-12)


def test_recent_relative_error_covers_the_last_window_of_steps_only():
    recent = RecentRelativeError(window_steps=3)
    assert recent.value() == 0.0
    recent.push(np.array([100.0, 1.0]), np.array([1.0, 1.0]))
    recent.push(np.array([1.0, 1.0]), np.array([1.0, 1.0]))  # the 100 has left the window
    assert recent.value() == pytest.approx(1.0)
    recent.reset()
    recent.push(np.array([2.0]), np.array([4.0]))
    assert recent.value() == pytest.approx(0.5)
