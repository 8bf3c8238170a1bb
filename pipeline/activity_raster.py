"""``spikestream show-activity RECORDING --model M --out act.png``: a model's spikes, layer by layer.

The recording streams through the same path as ``replay`` (front end, network with persistent
state, decision), unpaced; every neuron layer's output is recorded step by step through the
classifier's ``spike_probe``. The PNG stacks, on one time axis: the input steps as a heat map
(features or event-frame pixels × time), then a raster per layer (a dot per spike, neurons flattened
channel by channel), each titled with its spike rate and silent share, and the detections as
vertical lines with their labels. At most ``max_seconds`` of the recording are drawn (memory
depends on that, not on the recording's length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.checkpoint import LoadedModel
from .errors import UsageError
from .inputs import open_stream
from .runtime import run_stream
from .streaming_model import make_streaming_model

MAX_NEURONS_DRAWN = 2048  # a layer with more neurons is drawn as an even subsample of them


class SpikeRecorder:
    """Keeps each layer's outputs ``[T, *shape]`` (stream 0) for the first ``max_steps`` steps."""

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps
        self.layers: dict[str, list[np.ndarray]] = {}
        self.steps: dict[str, int] = {}

    def __call__(self, name: str, values: torch.Tensor) -> None:
        kept = self.steps.get(name, 0)
        room = self.max_steps - kept
        if room <= 0:
            return
        block = values[:room, 0].reshape(min(room, values.shape[0]), -1).numpy().astype(np.float32)
        self.layers.setdefault(name, []).append(block)
        self.steps[name] = kept + block.shape[0]

    def arrays(self) -> dict[str, np.ndarray]:
        """Layer name → ``[T, N]`` (time × flattened neurons)."""
        return {name: np.concatenate(blocks) for name, blocks in self.layers.items()}


def record_activity(loaded: LoadedModel, recording: Path, max_seconds: float) -> tuple[dict, list, float, dict]:
    """``(layer arrays [T, N], detections, step_ms, drops)`` for the first ``max_seconds`` of ``recording``;
    ``drops``: what the source lost or repaired (a truncated file's missing samples), as ``replay`` reports it."""
    if not hasattr(loaded.model, "spike_probe"):
        raise UsageError(
            f"show-activity: model {loaded.name!r} is not a conv SNN classifier; it draws classifiers' spikes"
        )
    step_ms = float(loaded.model.config.step_ms)
    recorder = SpikeRecorder(max(1, int(max_seconds * 1000.0 / step_ms)))
    stream = open_stream(recording, loaded, speed=0.0)
    loaded.model.spike_probe = recorder
    try:
        with stream:
            report = run_stream(stream, make_streaming_model(loaded, stream.name), [], None, stream.drop_counts)
    finally:
        loaded.model.spike_probe = None
    if "input" not in recorder.layers:
        raise UsageError(f"{recording}: no input steps came from it; nothing to draw")
    horizon_ms = recorder.max_steps * step_ms
    detections = [d for d in report.detections if d.time_us / 1000.0 <= horizon_ms]
    return recorder.arrays(), detections, step_ms, {k: v for k, v in report.source_drops.items() if v}


def draw_activity(layers: dict[str, np.ndarray], detections: list, step_ms: float, title: str, out: Path) -> None:
    """The PNG described in the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(layers)
    heights = [2.0] + [1.4] * (len(names) - 1)
    figure, axes = plt.subplots(
        len(names), 1, figsize=(11, sum(heights) + 1), sharex=True, gridspec_kw={"height_ratios": heights}
    )
    steps = layers["input"].shape[0]
    seconds = steps * step_ms / 1000.0
    for axis, name in zip(axes, names):
        values = layers[name]
        if name == "input":
            axis.imshow(
                values.T,
                aspect="auto",
                origin="lower",
                cmap="magma",
                extent=(0, values.shape[0] * step_ms / 1000.0, 0, values.shape[1]),
            )
            axis.set_title(f"input steps ({values.shape[1]} values per {step_ms:g} ms step)", fontsize=9)
        else:
            neurons = values.shape[1]
            chosen = np.linspace(0, neurons - 1, min(neurons, MAX_NEURONS_DRAWN)).astype(int)
            times, rows = np.nonzero(values[:, chosen])
            axis.scatter(times * step_ms / 1000.0, rows, s=0.5, marker="|", color="black", linewidths=0.4)
            axis.set_ylim(0, len(chosen))
            rate = values.sum() / neurons / max(seconds, 1e-9)
            silent = 1.0 - float((values.sum(axis=0) > 0).mean())
            sampled = "" if len(chosen) == neurons else f", {len(chosen)} drawn"
            axis.set_title(
                f"{name}: {neurons} neurons{sampled}, {rate:.1f} spikes/neuron/s, {silent:.0%} silent", fontsize=9
            )
        axis.set_ylabel("neuron" if name != "input" else "feature", fontsize=8)
        for detection in detections:
            axis.axvline(detection.time_us / 1e6, color="tab:red", linewidth=0.8, alpha=0.7)
    for detection in detections:
        axes[0].text(
            detection.time_us / 1e6,
            axes[0].get_ylim()[1],
            f" {detection.label}",
            color="tab:red",
            fontsize=8,
            va="bottom",
        )
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, seconds)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    try:
        figure.savefig(out, dpi=110)
    finally:
        plt.close(figure)
