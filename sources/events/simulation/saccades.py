"""N-MNIST from simulation: an event camera making N-MNIST's three saccades over an MNIST image.

N-MNIST (Orchard et al. 2015) was recorded by an ATIS camera on a pan-tilt unit looking at an
LCD monitor that showed one MNIST digit; the unit traced a triangle in three saccades of about
100 ms each, and the recording is cropped to 34×34 pixels. Here the same scene is rendered frame by
frame (``frame_ms``) and fed to the project's DVS pixel model
(:mod:`spikestream.sources.events.simulation.dvs_simulator`):

- **Monitor.** The 28×28 image (values in [0, 1]) becomes luminance
  ``black_level + (1 - black_level) · value ** gamma`` (relative to white = 1), placed centred on a
  34×34 black canvas, blurred by the optics (Gaussian, ``blur_px``), and modulated by the monitor's
  refresh: luminance × ``1 - flicker_depth · sawtooth(refresh_hz)`` (each refresh repaints, then
  the backlight decays).
- **Saccades.** The image moves (sub-pixel, bilinear) by ``offset(t)``: from ``vertices_px[k]`` to
  ``vertices_px[k+1]`` (the triangle closes on the first vertex) with a minimum-jerk profile
  (``10τ³ − 15τ⁴ + 6τ⁵``: the bell-shaped event rate of each real saccade) starting at
  ``saccade_starts_ms[k]`` and lasting ``saccade_ms``; between saccades it rests. Offsets are in
  pixels, x to the right, y down; the defaults were measured from the event centroids of the 100
  real recordings in ``../shared/data/dvs/nmnist_small`` (``bench/bench_saccades.py``).
- **Camera.** Per-pixel threshold mismatch, refractory period and background activity are the
  pixel model's (:class:`~.dvs_simulator.DvsConfig`). ``on_polarity`` is the polarity value a
  brightness increase gets: 0, as the N-MNIST files store it. Measured on all 100 real recordings:
  while the digit moves down (saccade 1) the events with ``p = 1`` lie 3.7 px *above* those with
  ``p = 0``, i.e. on the trailing edge of a bright digit, in every one of them (either the ATIS bit
  means OFF or the monitor showed dark ink on white; the events are the same).

The nominal black level (0.15), blur, image scale (0.85) and threshold (0.25) match the real
recordings' events per recording (4,056 simulated vs 4,022 real), ON/OFF separation (4.2 vs 3.7 px)
and spatial spread (x 4.4 vs 4.2 px, y 6.0 vs 6.3 px; ``bench/bench_saccades.py``).

:func:`draw_saccade_variant` widens every setting by a seeded random draw (domain randomisation, so
a model trained on simulation meets a real camera's spread); :class:`SaccadeDigits` is the dataset.
Everything is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..event_array import SensorSize
from .dvs_simulator import DvsConfig, simulate_dvs


@dataclass(frozen=True)
class SaccadeConfig:
    """Nominal scene, motion and camera settings (units in the names; luminance relative to white)."""

    sensor_width: int = 34
    sensor_height: int = 34
    vertices_px: tuple[tuple[float, float], ...] = ((-2.3, -1.5), (-0.5, 3.8), (3.3, -1.5))
    saccade_starts_ms: tuple[float, ...] = (0.0, 104.0, 212.0)
    saccade_ms: float = 92.0
    duration_ms: float = 305.0
    frame_ms: float = 1.0
    blur_px: float = 0.5
    black_level: float = 0.15
    gamma: float = 2.2
    refresh_hz: float = 60.0
    flicker_depth: float = 0.03
    image_scale: float = 0.85
    on_polarity: int = 0
    dvs: DvsConfig = field(
        default_factory=lambda: DvsConfig(
            on_threshold=0.25, off_threshold=0.25, threshold_mismatch=0.05, refractory_us=1000, noise_rate_hz=1.3
        )
    )

    def __post_init__(self) -> None:
        if len(self.vertices_px) != len(self.saccade_starts_ms) or not self.vertices_px:
            raise ValueError(
                f"SaccadeConfig: one start per vertex, got {len(self.vertices_px)} vertices and "
                f"{len(self.saccade_starts_ms)} starts"
            )
        if not (0 < self.frame_ms <= self.saccade_ms and self.duration_ms > 0):
            raise ValueError(f"SaccadeConfig: need 0 < frame_ms <= saccade_ms and duration_ms > 0, got {self}")
        if not (0 < self.black_level < 1 and self.gamma > 0 and 0 <= self.flicker_depth < 1 and self.blur_px >= 0):
            raise ValueError(f"SaccadeConfig: need 0 < black_level < 1, gamma > 0, 0 <= flicker_depth < 1, got {self}")
        if self.on_polarity not in (0, 1) or not 0.3 <= self.image_scale <= 1.5:
            raise ValueError(f"SaccadeConfig: on_polarity must be 0 or 1 and image_scale in [0.3, 1.5], got {self}")

    @property
    def sensor_size(self) -> SensorSize:
        return SensorSize(self.sensor_width, self.sensor_height)

    def to_dict(self) -> dict:
        """Plain data (stored in the checkpoint beside the randomisation)."""
        return asdict(self)


@dataclass(frozen=True)
class SaccadeRandomisation:
    """Spread of :func:`draw_saccade_variant` around a :class:`SaccadeConfig` (all draws uniform).

    ``*_scale``: multiplicative ranges; ``*_px`` / ``*_ms``: additive ± ranges."""

    threshold_scale: tuple[float, float] = (0.6, 1.5)
    on_off_ratio: tuple[float, float] = (0.85, 1.15)
    mismatch: tuple[float, float] = (0.02, 0.12)
    refractory_us: tuple[int, int] = (200, 3000)
    noise_rate_hz: tuple[float, float] = (0.2, 3.0)
    vertex_jitter_px: float = 0.8
    start_jitter_ms: float = 6.0
    saccade_ms_scale: tuple[float, float] = (0.85, 1.15)
    blur_px: tuple[float, float] = (0.3, 1.0)
    black_level: tuple[float, float] = (0.05, 0.3)
    gamma: tuple[float, float] = (1.8, 2.6)
    flicker_depth: tuple[float, float] = (0.0, 0.1)
    image_scale: tuple[float, float] = (0.88, 1.12)

    def to_dict(self) -> dict:
        return asdict(self)


def draw_saccade_variant(
    config: SaccadeConfig, spread: SaccadeRandomisation, rng: np.random.Generator
) -> SaccadeConfig:
    """One random camera, monitor and saccade around ``config``."""
    scale = rng.uniform(*spread.threshold_scale)
    ratio = rng.uniform(*spread.on_off_ratio)
    dvs = replace(
        config.dvs,
        on_threshold=config.dvs.on_threshold * scale * np.sqrt(ratio),
        off_threshold=config.dvs.off_threshold * scale / np.sqrt(ratio),
        threshold_mismatch=rng.uniform(*spread.mismatch),
        refractory_us=int(rng.integers(*spread.refractory_us)),
        noise_rate_hz=rng.uniform(*spread.noise_rate_hz),
    )
    jitter = rng.uniform(-spread.vertex_jitter_px, spread.vertex_jitter_px, size=(len(config.vertices_px), 2))
    starts = np.asarray(config.saccade_starts_ms) + rng.uniform(-1, 1, len(config.saccade_starts_ms)) * (
        spread.start_jitter_ms
    )
    return replace(
        config,
        vertices_px=tuple(tuple(map(float, v)) for v in np.asarray(config.vertices_px) + jitter),
        saccade_starts_ms=tuple(float(s) for s in np.maximum(starts, 0.0)),
        saccade_ms=config.saccade_ms * rng.uniform(*spread.saccade_ms_scale),
        blur_px=rng.uniform(*spread.blur_px),
        black_level=rng.uniform(*spread.black_level),
        gamma=rng.uniform(*spread.gamma),
        flicker_depth=rng.uniform(*spread.flicker_depth),
        dvs=dvs,
        image_scale=config.image_scale
        * float(rng.uniform(*spread.image_scale)),  # the last draw: the order fixes each seed's variant
    )


def saccade_offsets(t_ms: np.ndarray, config: SaccadeConfig) -> np.ndarray:
    """Image offset ``[T, 2]`` (x, y px) at times ``t_ms`` ``[T]``: rest at a vertex, minimum-jerk
    move to the next (the last saccade returns to the first vertex)."""
    vertices = np.asarray(config.vertices_px, dtype=np.float64)
    offsets = np.repeat(vertices[:1], len(t_ms), axis=0)
    for k, start_ms in enumerate(config.saccade_starts_ms):
        tau = np.clip((np.asarray(t_ms) - start_ms) / config.saccade_ms, 0.0, 1.0)
        progress = tau**3 * (10 - 15 * tau + 6 * tau**2)
        move = vertices[(k + 1) % len(vertices)] - vertices[k]
        offsets += progress[:, None] * move
    return offsets


def monitor_luminance(image: np.ndarray, config: SaccadeConfig) -> np.ndarray:
    """Canvas ``[H, W]`` of relative luminance: the image ``[28, 28]`` in [0, 1] centred, scaled by
    ``config.image_scale`` about its centre, through the monitor's gamma and the optics' blur."""
    image_scale = config.image_scale
    image = np.clip(np.asarray(image, dtype=np.float64).reshape(28, 28), 0.0, 1.0)
    height, width = config.sensor_height, config.sensor_width
    canvas = np.zeros((height, width))
    top, left = (height - 28) // 2, (width - 28) // 2
    canvas[top : top + 28, left : left + 28] = image
    if image_scale != 1.0:
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        canvas = ndimage.affine_transform(canvas, np.eye(2) / image_scale, centre - centre / image_scale, order=1)
    luminance = config.black_level + (1 - config.black_level) * np.clip(canvas, 0, 1) ** config.gamma
    return ndimage.gaussian_filter(luminance, config.blur_px, mode="nearest") if config.blur_px > 0 else luminance


def render_saccade_frames(image: np.ndarray, config: SaccadeConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(frames [T, H, W] luminance > 0, timestamps_us [T])`` every ``frame_ms`` over ``duration_ms``."""
    still = monitor_luminance(image, config)
    t_ms = np.arange(0.0, config.duration_ms + config.frame_ms / 2, config.frame_ms)
    offsets = saccade_offsets(t_ms, config)
    frames = np.empty((len(t_ms),) + still.shape)
    for index, (dx, dy) in enumerate(offsets):
        frames[index] = ndimage.shift(still, (dy, dx), order=1, mode="constant", cval=config.black_level)
    refresh_phase = (t_ms * config.refresh_hz / 1000.0) % 1.0
    frames *= (1.0 - config.flicker_depth * refresh_phase)[:, None, None]
    return np.maximum(frames, 1e-4), np.rint(t_ms * 1000).astype(np.int64)


def simulate_saccades(image: np.ndarray, seed: int, config: SaccadeConfig = SaccadeConfig()) -> np.ndarray:
    """Time-sorted :data:`EVENT_DTYPE` events of the camera making the saccades over ``image``."""
    frames, timestamps_us = render_saccade_frames(image, config)
    events = simulate_dvs(frames, timestamps_us, config.dvs, seed)
    if config.on_polarity == 0:  # as N-MNIST files store it (see the module docstring)
        events["p"] = 1 - events["p"]
    return events


class SaccadeDigits(Sequence):
    """Simulated N-MNIST: item ``i`` is ``(events, label)`` for ``images[i]`` ``[N, 1, 28, 28]`` in [0, 1].

    With ``spread``, every item gets its own camera and saccade variant (:func:`draw_saccade_variant`)
    from a seed derived from ``(seed, i)``; without it, the nominal config (still a distinct pixel
    seed per item)."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int = 0,
        config: SaccadeConfig = SaccadeConfig(),
        spread: SaccadeRandomisation | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"SaccadeDigits: {len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.seed, self.config, self.spread = seed, config, spread
        self.sensor_size = config.sensor_size

    def __len__(self) -> int:
        return len(self.images)

    def sample_seed(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(f"SaccadeDigits: index {index} out of range for {len(self)} images")
        index %= len(self)
        seed = self.sample_seed(index)
        config = self.config
        if self.spread is not None:
            config = draw_saccade_variant(self.config, self.spread, np.random.default_rng(seed))
        return simulate_saccades(self.images[index], seed, config), int(self.labels[index])


__all__ = [
    "SaccadeConfig",
    "SaccadeDigits",
    "SaccadeRandomisation",
    "draw_saccade_variant",
    "monitor_luminance",
    "render_saccade_frames",
    "saccade_offsets",
    "simulate_saccades",
]
