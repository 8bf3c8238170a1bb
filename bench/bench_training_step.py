"""Training step of the conv SNN classifier: the unbound neuron loop against Norse's own module loop, same run.

One training step (forward, per-step cross-entropy, backward, AdamW update) on a batch of 64 canvases
of 160 steps (1.6 s of 10 ms MFCC hops, the keyword recipe's batch), for the shipped keyword
architecture and wider ones. ``neuron_loop = unbound`` is what training runs (``run_lif`` /
``run_li`` → ``models/neuron_loops.unrolled``); ``norse`` runs Norse's ``SNN.forward``, which
indexes ``current[t]`` and so writes a whole ``[T, ...]`` zero tensor per step in the backward pass.
The two give the same gradients (``tests/models/test_neuron_loops.py``), so the ratio is pure cost.

Run: ``.venv/bin/python bench/bench_training_step.py [--threads 2]`` (about 3 minutes on 2 idle cores).
Writes ``bench/results/training_step.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikestream.models import neuron_loops
from spikestream.models.conv_snn import ConvSNNClassifier, ConvSNNConfig
from spikestream.models.losses import sequence_loss

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
STEPS, BATCH, CLASSES = 160, 64, 6
# (MFCC coefficients, conv channels, hidden neurons)
ARCHITECTURES = [
    (20, (24, 32, 48), 128),  # shipped `keywords` (8 kHz, 20 MFCCs)
    (30, (32, 48, 64), 128),  # 16 kHz, 30 MFCCs, wider
    (40, (24, 32, 48), 128),
    (40, (48, 64, 96), 256),
]


def norse_loop(module: torch.nn.Module, current: torch.Tensor, state):
    """The baseline: Norse's own ``SNN.forward`` over ``current [T, ...]``."""
    return module(current, state)


def seconds_per_step(features: int, channels: tuple[int, ...], hidden: int, repeats: int) -> float:
    """Median wall time of one training step after one warm-up step."""
    torch.manual_seed(0)
    config = ConvSNNConfig(
        input_shape=(1, features),
        n_classes=CLASSES,
        channels=channels,
        kernel_size=3,
        kernel_t=(5,) * len(channels),
        dilation_t=(1, 3, 6)[: len(channels)],
        hidden=hidden,
    )
    model = ConvSNNClassifier(config).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps = (torch.rand(STEPS, BATCH, 1, features) * 3.0).float()
    targets = torch.randint(0, CLASSES, (STEPS, BATCH))
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        loss = sequence_loss(model(steps)[0], targets, 0.1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - started)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unbound = neuron_loops.unrolled
    rows = []
    for features, channels, hidden in ARCHITECTURES:
        row = {"mfcc_coefficients": features, "channels": list(channels), "hidden": hidden}
        for name, loop in (("unbound", unbound), ("norse", norse_loop)):
            neuron_loops.unrolled = loop
            try:
                row[f"{name}_s_per_step"] = round(seconds_per_step(features, channels, hidden, args.repeats), 3)
            finally:
                neuron_loops.unrolled = unbound
        row["speedup"] = round(row["norse_s_per_step"] / row["unbound_s_per_step"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training_step.json").write_text(
        json.dumps(
            {
                "batch": BATCH,
                "steps": STEPS,
                "threads": args.threads,
                "baseline": "norse: Norse's SNN.forward time loop (indexes current[t])",
                "architectures": rows,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
