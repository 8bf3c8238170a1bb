"""``--stats``: a model's spiking activity while a stream runs, live in the terminal and at the end.

The figures come from :class:`spikestream.models.activity.ActivityMeter` (spike rate per neuron,
silent neurons, synaptic operations against a dense network's multiply-accumulates);
:func:`activity_table` prints them, :class:`LiveActivityView` redraws a one-line view on stderr at
most every ``refresh_s`` while the stream runs (only when stderr is a terminal: piped output gets
the final table alone), and :func:`write_activity_json` keeps them with the run's summary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from ..models.activity import ActivityMeter
from ..sources.chunk import Chunk
from .detection import Detection
from .errors import UsageError


def activity_meter_for(model) -> ActivityMeter:
    """A meter on ``model`` (a conv SNN classifier), or :class:`UsageError` naming what it is."""
    try:
        return ActivityMeter(model)
    except ValueError as error:
        raise UsageError(f"--stats: {error}") from None


def activity_table(report: dict) -> str:
    """The meter's report as a small table: one row per layer, then the totals."""
    lines = [
        f"spiking activity over {report['seconds_of_input']:.2f} s of input (step {report['step_ms']:g} ms):",
        f"  {'layer':<8} {'neurons':>8} {'spikes/neuron/s':>16} {'silent':>7} {'synops/s out':>13} "
        f"{'dense MAC/s':>12} {'ratio':>6}",
    ]
    for layer in report["layers"]:
        rate = f"{layer['spike_rate_hz']:.2f}" if "spike_rate_hz" in layer else "(input)"
        silent = f"{layer['silent_fraction']:.0%}" if "silent_fraction" in layer else "-"
        ratio = layer["synops_per_s"] / layer["dense_macs_per_s"] if layer["dense_macs_per_s"] else float("nan")
        lines.append(
            f"  {layer['layer']:<8} {layer['neurons']:>8} {rate:>16} {silent:>7} {layer['synops_per_s']:>13.3g} "
            f"{layer['dense_macs_per_s']:>12.3g} {ratio:>6.3f}"
        )
    lines.append(
        f"  total: {report['synops_per_s']:.3g} synops/s against {report['dense_macs_per_s']:.3g} dense MAC/s "
        f"(ratio {report['synops_to_dense_ratio']:.3f})"
    )
    return "\n".join(lines)


def live_line(report: dict) -> str:
    """One line for the live view: spike rate per layer and the synops ratio so far."""
    rates = " ".join(
        f"{layer['layer']} {layer['spike_rate_hz']:.1f}Hz" for layer in report["layers"] if "spike_rate_hz" in layer
    )
    return f"[stats {report['seconds_of_input']:.1f} s] {rates} | synops/dense {report['synops_to_dense_ratio']:.3f}"


def write_activity_json(path: Path, report: dict, run_summary: str) -> None:
    """``path`` ← ``{"activity": report, "summary": run_summary}`` (exit 2 when it cannot be written)."""
    try:
        path.write_text(json.dumps({"activity": report, "summary": run_summary}, indent=1) + "\n")
    except OSError as error:
        raise UsageError(f"--stats-json {path}: cannot write ({error.strerror or error})") from None


class LiveActivityView:
    """A streaming model with its activity redrawn on ``stream`` (a terminal) as chunks flow; the same
    ``process`` / ``finish`` face as the model it wraps."""

    def __init__(self, model, meter: ActivityMeter, stream: TextIO = sys.stderr, refresh_s: float = 0.5) -> None:
        self.model, self.meter, self.stream, self.refresh_s = model, meter, stream, refresh_s
        self.source_name = model.source_name
        self._last_draw = 0.0

    @property
    def steps(self) -> int:
        return self.model.steps

    @property
    def gaps(self) -> int:
        return self.model.gaps

    @property
    def gated_segments(self) -> int:
        return self.model.gated_segments

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_draw >= self.refresh_s:
            self._last_draw = now
            self.stream.write("\r\x1b[2K" + live_line(self.meter.report()))
            self.stream.flush()

    def process(self, chunk: Chunk) -> list[Detection]:
        detections = self.model.process(chunk)
        if detections:  # a detection printed on the console starts on a clean line
            self.stream.write("\r\x1b[2K")
        self._draw()
        return detections

    def finish(self) -> list[Detection]:
        detections = self.model.finish()
        self._draw(force=True)
        self.stream.write("\n")
        return detections
