"""``spikestream train events``: an N-MNIST digit classifier trained on simulated saccades only.

The MNIST folder's first 8,000 images (``sources.images.mnist``) are moved along N-MNIST's three
saccades in front of the simulated camera (:mod:`spikestream.sources.events.simulation.saccades`),
each with its own random camera and saccade (domain randomisation); the simulated held-out digits
are the last 2,000 images. Real N-MNIST recordings are never trained on: ``evaluate --data`` on a
folder of them (one sub-folder per digit) is the test. The simulator's settings and spread are
stored in the checkpoint. The network, loss, padding and checkpoint are the gesture classifier's
(:func:`.gesture.train_event_classifier`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ...sources.events.front_end.framing import EventFrontEndConfig
from ...sources.events.simulation.gesture_examples import GestureExampleConfig
from ...sources.events.simulation.saccades import SaccadeConfig, SaccadeDigits, SaccadeRandomisation
from ...sources.images.mnist import mnist_folder, mnist_split
from ...sources.step_targets import TargetTiming
from ..decisions import DecisionConfig
from .gesture import GestureTrainingSettings, train_event_classifier

DIGIT_CLASSES = [str(digit) for digit in range(10)]
HELD_OUT_SEED = 535_353  # simulated held-out digits: other images and other cameras


def saccade_digit_settings() -> GestureTrainingSettings:
    """The recipe of the shipped ``nmnist`` checkpoint: 34×34 counts in 10 ms bins, strided convolutions
    (fast on a CPU, and exactly exportable to NIR)."""
    return GestureTrainingSettings(
        train_count=8000,
        held_out_count=500,
        epochs=10,
        batch_size=32,
        learning_rate=3e-3,
        background_weight=0.2,
        front_end=EventFrontEndConfig(
            sensor_width=34, sensor_height=34, bin_ms=10.0, downsample_factor=1, output_mode="counts"
        ),
        examples=GestureExampleConfig(
            lead_ms_range=(0.0, 100.0),
            tail_ms=150.0,
            noise_rate_hz=1.3,
            timing=TargetTiming(early_fraction=0.1, decide_fraction=0.25, hold_ms=100.0, release_ms=200.0),
        ),
        channels=(16, 32),
        kernel_t=(3, 1),
        dilation_t=(1, 1),
        downsample="stride",
        # on-threshold 0.8: the best streaming accuracy on 300 simulated held-out digits among windows
        # of 4 / 8 steps and thresholds 0.6-0.9 (chosen on simulation only; README, "nmnist")
        decision=DecisionConfig(
            window_steps=4, on_threshold=0.8, off_threshold=0.6, refractory_ms=400.0, max_active_ms=1000.0
        ),
    )


@dataclass
class SaccadeDigitData:
    """Where the images come from and how they are simulated."""

    mnist_dir: str  # a folder, or "mnist" for ../shared/data/mnist
    simulator: SaccadeConfig = field(default_factory=SaccadeConfig)
    spread: SaccadeRandomisation = field(default_factory=SaccadeRandomisation)


def saccade_datasets(data: SaccadeDigitData, settings: GestureTrainingSettings) -> tuple[SaccadeDigits, SaccadeDigits]:
    """``(train, held_out)``: simulated digits from the first 8,000 and the last 2,000 MNIST images."""
    (train_images, train_labels), (test_images, test_labels) = mnist_split(mnist_folder(data.mnist_dir))
    train_count = min(settings.train_count or len(train_images), len(train_images))
    held_count = min(settings.held_out_count or len(test_images), len(test_images))
    train = SaccadeDigits(
        train_images[:train_count], train_labels[:train_count], settings.seed, data.simulator, data.spread
    )
    held = SaccadeDigits(test_images[:held_count], test_labels[:held_count], HELD_OUT_SEED, data.simulator, data.spread)
    return train, held


def train_saccade_digits(data: SaccadeDigitData, out_dir: str | Path, settings: GestureTrainingSettings) -> dict:
    """Simulate, train and save an N-MNIST classifier checkpoint in ``out_dir``."""
    train, held = saccade_datasets(data, settings)
    about = {
        "data": f"{data.mnist_dir} (MNIST images 0-{len(train) - 1}, simulated saccades)",  # never real recordings
        "held_out_data": f"MNIST images 8000-{8000 + len(held) - 1}, simulated (seed {HELD_OUT_SEED})",
        "simulator": data.simulator.to_dict(),
        "simulator_spread": data.spread.to_dict(),
    }
    return train_event_classifier(train, held, DIGIT_CLASSES, out_dir, settings, "event-classifier", about)


def with_overrides(settings: GestureTrainingSettings, **overrides) -> GestureTrainingSettings:
    """``settings`` with the given fields replaced (those that are not None)."""
    return replace(settings, **{key: value for key, value in overrides.items() if value is not None})
