"""Write sample synthetic DVS gestures (128×128) as ``.npy`` event arrays for demos and tests.

Outputs, in ``--out`` (default ``recordings/gestures/`` beside this script):

- ``gesture_NN_<class>.npy``: one gesture per class, fixed seeds, 1.0 s each;
- ``gesture_sequence.npy``: several gestures one after another, separated by noise-only gaps
  (0.3 s, also before the first and after the last), and ``gesture_sequence.json`` listing each
  gesture's label, class name, seed and ``start_us``/``end_us``.

Every file is a NumPy structured array of ``spikestream.sources.events.event_array.EVENT_DTYPE``
(``x, y`` uint16, ``t`` int64 µs, ``p`` uint8 with 1 = ON), time-sorted; load with ``np.load``.
Made entirely by the simulator (``spikestream.sources.events.simulation.synthetic_gestures``): no external data.
Run: ``python recordings/make_gesture_recordings.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from spikestream.sources.events.simulation import dvs_simulator
from spikestream.sources.events.simulation.synthetic_gestures import GESTURE_CLASSES, GestureSimConfig, simulate_gesture

CLASS_SEED_BASE = 1000  # gesture NN uses seed 1000 + NN
SEQUENCE_LABELS = (1, 3, 8)  # right_hand_wave, right_arm_clockwise, air_drums
SEQUENCE_SEED_BASE = 2000
GAP_US = 300_000
NOISE_RATE_HZ = 0.05
SIZE_LIMIT_BYTES = 5 * 1024 * 1024
CONFIG = GestureSimConfig(
    duration_range_ms=(1000.0, 1000.0), noise_rate_range_hz=(NOISE_RATE_HZ, NOISE_RATE_HZ), hot_pixel_probability=0.0
)


def gap_noise(start_us: int, rng: np.random.Generator) -> np.ndarray:
    """Noise-only events (unsorted) in ``[start_us, start_us + GAP_US)``."""
    return dvs_simulator.noise_events(CONFIG.sensor_size, start_us, start_us + GAP_US, NOISE_RATE_HZ, rng)


def gesture_sequence(labels: tuple[int, ...], seed_base: int) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Gestures ``labels`` in order with noise-only gaps of :data:`GAP_US`; returns the time-sorted
    events and one ``{label, name, seed, start_us, end_us}`` entry per gesture."""
    noise_rng = np.random.default_rng(seed_base)
    parts, entries, cursor_us = [], [], 0
    for index, label in enumerate(labels):
        parts.append(gap_noise(cursor_us, noise_rng))
        cursor_us += GAP_US
        seed = seed_base + index
        events = simulate_gesture(label, seed, CONFIG)
        duration_us = int(CONFIG.duration_range_ms[1] * 1000)
        events["t"] += cursor_us
        parts.append(events)
        entry = {"label": label, "name": GESTURE_CLASSES[label], "seed": seed}
        entries.append({**entry, "start_us": cursor_us, "end_us": cursor_us + duration_us})
        cursor_us += duration_us
    parts.append(gap_noise(cursor_us, noise_rng))
    return dvs_simulator.sort_by_time(*parts), entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "gestures", help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for label, name in enumerate(GESTURE_CLASSES):
        path = args.out / f"gesture_{label:02d}_{name}.npy"
        np.save(path, simulate_gesture(label, CLASS_SEED_BASE + label, CONFIG))
        written.append(path)
    events, entries = gesture_sequence(SEQUENCE_LABELS, SEQUENCE_SEED_BASE)
    np.save(args.out / "gesture_sequence.npy", events)
    sidecar = {
        "sensor": {"width": CONFIG.sensor_width, "height": CONFIG.sensor_height},
        "duration_us": int(entries[-1]["end_us"]) + GAP_US,
        "gap_us": GAP_US,
        "noise_rate_hz": NOISE_RATE_HZ,
        "classes": list(GESTURE_CLASSES),
        "gestures": entries,
        "made_by": "recordings/make_gesture_recordings.py "
        "(synthetic, spikestream.sources.events.simulation.synthetic_gestures)",
    }
    (args.out / "gesture_sequence.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    written += [args.out / "gesture_sequence.npy", args.out / "gesture_sequence.json"]
    total = sum(path.stat().st_size for path in written)
    for path in written:
        print(f"{path.stat().st_size / 1024:8.1f} KiB  {path}")
    print(f"{total / 1024 / 1024:8.2f} MiB  total ({len(written)} files)")
    if total > SIZE_LIMIT_BYTES:
        print(
            f"error: recordings total {total} bytes > limit {SIZE_LIMIT_BYTES}; shorten or lower the noise",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
