"""Synthetic DVS128-Gesture-like recordings: moving hands rendered and seen by the DVS pixel model.

A person faces the camera: textured background, a static torso, a head that may nod, and two hands
(soft-edged discs, brighter or darker than the scene) moving along class-specific trajectories.
Image conventions: ``x`` grows to the right, ``y`` grows **downwards** (row index). The camera is
not mirrored, so the subject's **right** hand appears on the image's **left** (``x < width/2``).
"Clockwise" is as seen in the image: with ``y`` down, the hand's angle ``atan2(y - cy, x - cx)``
around the circle centre *increases* for clockwise motion.

Classes follow DVS128 Gesture's order (:data:`GESTURE_CLASSES`). Per sample, the seed draws the
period, amplitude, body position and scale, hand size, contrast polarity, background texture,
torso/head contrast, head nods, a slowly moving distractor, hot pixels, noise rate, duration and
start phase. Rendering works on pixel *samples*: only the pixels near each moving disc's edge are
evaluated per frame (an annulus that provably contains every pixel whose value changes), composited
in ln-intensity and passed to :func:`~spikestream.sources.events.simulation.dvs_simulator.crossing_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..event_array import SensorSize
from . import dvs_simulator as dvs

GESTURE_CLASSES: tuple[str, ...] = (
    "hand_clap", "right_hand_wave", "left_hand_wave", "right_arm_clockwise", "right_arm_counter_clockwise",
    "left_arm_clockwise", "left_arm_counter_clockwise", "arm_roll", "air_drums", "air_guitar", "other_gestures",
)  # fmt: skip
SUBJECT_RIGHT, SUBJECT_LEFT = -1.0, 1.0  # image-x direction of the subject's right / left side


@dataclass(frozen=True)
class GestureSimConfig:
    """Rendering and sensor settings; ranges are ``(low, high)`` drawn per sample from its seed."""

    sensor_width: int = 128
    sensor_height: int = 128
    duration_range_ms: tuple[float, float] = (1000.0, 1500.0)
    frame_step_us: int = 2000  # render rate; crossings are interpolated between frames
    noise_rate_range_hz: tuple[float, float] = (0.02, 0.3)  # per pixel, drawn log-uniformly
    on_threshold: float = 0.2  # ln-intensity units
    off_threshold: float = 0.2
    threshold_mismatch: float = 0.03
    refractory_us: int = 500
    hot_pixel_probability: float = 0.3  # chance a sample has 1–3 hot pixels
    edge_width_px: float = 1.5  # width of the hands' soft edge
    position_step_px: float = 0.25  # sprite positions are rounded to this grid: slow motion updates sparsely

    def __post_init__(self) -> None:
        if self.sensor_width < 16 or self.sensor_height < 16 or self.frame_step_us <= 0:
            raise ValueError(f"GestureSimConfig: sensor must be >= 16x16 and frame_step_us > 0, got {self}")
        if not 0 < self.duration_range_ms[0] <= self.duration_range_ms[1]:
            raise ValueError(
                f"GestureSimConfig: duration_range_ms must be 0 < low <= high, got {self.duration_range_ms}"
            )

    @property
    def sensor_size(self) -> SensorSize:
        return SensorSize(width=self.sensor_width, height=self.sensor_height)


class Sprite(NamedTuple):
    """A soft-edged disc: centre per frame ``[T, 2]`` (x, y pixels), radius (pixels), ln-intensity."""

    centre_px: np.ndarray
    radius_px: float
    log_value: float


# ----------------------------------------------------------------------------------- trajectories
def _phase(t_s: np.ndarray, rng: np.random.Generator, period_range_s: tuple[float, float]) -> np.ndarray:
    """Oscillation phase (rad) ``[T]``: random period and start phase, with a slight tempo wobble."""
    period_s = rng.uniform(*period_range_s)
    wobble = rng.uniform(0.0, 0.3) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t_s + rng.uniform(0, 2 * np.pi))
    return rng.uniform(0, 2 * np.pi) + 2 * np.pi * t_s / period_s + wobble


def _resting_hand(t_s: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """The idle hand hanging at the subject's ``side``, mostly still (sometimes a slow drift)."""
    start = np.array([side * rng.uniform(0.2, 0.28), rng.uniform(0.25, 0.38)])
    drift = rng.uniform(-0.03, 0.03, size=2) * (rng.random() < 0.3)
    return start + np.outer(t_s / max(t_s[-1], 1e-9), drift)


def _waypoints(t_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Aperiodic motion through 3–6 random points with eased segments of random duration, ``[T, 2]``."""
    count = int(rng.integers(3, 7))
    points = rng.uniform(-0.35, 0.35, size=(count, 2))
    segment_s = rng.uniform(0.5, 1.5, count - 1)
    knots_s = np.concatenate([[0.0], np.cumsum(segment_s / segment_s.sum())]) * (t_s[-1] + 1e-9)
    segment = np.clip(np.searchsorted(knots_s, t_s, side="right") - 1, 0, count - 2)
    local = (t_s - knots_s[segment]) / (knots_s[segment + 1] - knots_s[segment])
    ease = ((1 - np.cos(np.pi * np.clip(local, 0, 1))) / 2)[:, None]
    return points[segment] * (1 - ease) + points[segment + 1] * ease


def hand_trajectories(label: int, t_s: np.ndarray, hand_radius: float, rng: np.random.Generator) -> np.ndarray:
    """Both hands' centres ``[2, T, 2]`` in body units (x right, y down, origin mid-chest, 1 unit ≈
    sensor size) at times ``t_s`` ``[T]`` (seconds) for gesture ``label``."""
    cos, sin = np.cos, np.sin
    if label == 0:  # hand_clap: hands meet at the centre and part again
        ph, spread = _phase(t_s, rng, (0.35, 0.7)), rng.uniform(0.08, 0.18)
        x = hand_radius + spread * (1 + cos(ph)) / 2
        y = rng.uniform(-0.05, 0.05) + 0.015 * sin(ph)
        hands = [np.stack([sign * x, y], axis=1) for sign in (SUBJECT_RIGHT, SUBJECT_LEFT)]
    elif label in (1, 2):  # hand waves: raised hand swinging left-right on an arc beside the head
        side = SUBJECT_RIGHT if label == 1 else SUBJECT_LEFT
        ph, amplitude = _phase(t_s, rng, (0.3, 0.7)), rng.uniform(0.05, 0.11)
        x = side * rng.uniform(0.2, 0.28) + amplitude * sin(ph)
        y = rng.uniform(-0.3, -0.2) + rng.uniform(0.3, 0.8) * amplitude * sin(ph) ** 2
        hands = [np.stack([x, y], axis=1), _resting_hand(t_s, -side, rng)]
    elif label in (3, 4, 5, 6):  # arm circles on one side; +1 = clockwise in the image (y down)
        side = SUBJECT_RIGHT if label in (3, 4) else SUBJECT_LEFT
        direction = 1.0 if label in (3, 5) else -1.0
        ph, radius, aspect = direction * _phase(t_s, rng, (0.45, 1.0)), rng.uniform(0.08, 0.15), rng.uniform(0.75, 1.25)
        centre = (side * rng.uniform(0.18, 0.28), rng.uniform(-0.2, -0.05))
        circle = np.stack([centre[0] + radius * cos(ph), centre[1] + radius * aspect * sin(ph)], axis=1)
        hands = [circle, _resting_hand(t_s, -side, rng)]
    elif label == 7:  # arm_roll: both hands orbit each other in front of the chest, either direction
        ph = rng.choice([-1.0, 1.0]) * _phase(t_s, rng, (0.3, 0.6))
        radius, aspect = rng.uniform(0.05, 0.09), rng.uniform(0.5, 1.0)
        centre = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.02, 0.1)])
        hands = [centre + radius * np.stack([cos(a), aspect * sin(a)], axis=1) for a in (ph, ph + np.pi)]
    elif label == 8:  # air_drums: two hands striking down in alternation
        ph, depth, base = _phase(t_s, rng, (0.3, 0.6)), rng.uniform(0.08, 0.15), rng.uniform(-0.02, 0.1)
        hands = [
            np.stack(
                [np.full_like(t_s, sign * rng.uniform(0.12, 0.22)), base + depth * (1 - cos(ph + k * np.pi)) / 2], 1
            )
            for k, sign in enumerate((SUBJECT_RIGHT, SUBJECT_LEFT))
        ]
    elif label == 9:  # air_guitar: right hand strums fast at the waist, left hand high on the neck
        ph, stroke = _phase(t_s, rng, (0.18, 0.4)), rng.uniform(0.05, 0.09)
        strum_x = SUBJECT_RIGHT * rng.uniform(0.02, 0.1) + 0.02 * sin(ph)
        strum = np.stack([strum_x, rng.uniform(0.12, 0.22) + stroke * sin(ph)], axis=1)
        slide = 0.03 * sin(2 * np.pi * t_s / rng.uniform(0.8, 1.6) + rng.uniform(0, 2 * np.pi))
        fret = np.stack(
            [SUBJECT_LEFT * rng.uniform(0.25, 0.32) + slide, rng.uniform(-0.15, -0.02) - 0.5 * slide], axis=1
        )
        hands = [strum, fret]
    elif label == 10:  # other_gestures: aperiodic point-to-point motion of one or both hands
        side = rng.choice([SUBJECT_RIGHT, SUBJECT_LEFT])
        hands = [_waypoints(t_s, rng), _waypoints(t_s, rng) if rng.random() < 0.5 else _resting_hand(t_s, -side, rng)]
    else:
        raise ValueError(
            f"gesture label must be 0..{len(GESTURE_CLASSES) - 1} ({', '.join(GESTURE_CLASSES)}), got {label}"
        )
    jitter = [
        rng.uniform(0.005, 0.02)
        * sin(2 * np.pi * rng.uniform(0.5, 2.0, (1, 2)) * t_s[:, None] + rng.uniform(0, 6.3, (1, 2)))
        for _ in hands
    ]  # natural unsteadiness of moving hands; idle hands stay still
    return np.stack([hand + wobble * (np.ptp(hand, axis=0).max() > 0.05) for hand, wobble in zip(hands, jitter)])


# ---------------------------------------------------------------------------------------- scene
def _smooth_texture(height: int, width: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Bilinearly upsampled ``cells × cells`` Gaussian noise, ``[H, W]``."""
    coarse = rng.standard_normal((cells, cells))

    def axis(size: int) -> tuple[np.ndarray, np.ndarray]:
        position = np.linspace(0, cells - 1, size)
        low = np.minimum(position.astype(int), cells - 2)
        return low, position - low

    ylow, yw = axis(height)
    xlow, xw = axis(width)
    rows = coarse[ylow] * (1 - yw[:, None]) + coarse[ylow + 1] * yw[:, None]
    return rows[:, xlow] * (1 - xw) + rows[:, xlow + 1] * xw


def build_scene(
    label: int, t_s: np.ndarray, config: GestureSimConfig, rng: np.random.Generator
) -> tuple[np.ndarray, list[Sprite]]:
    """Static background ln-intensity ``[H, W]`` and the sprites in painting order (back to front)."""
    height, width = config.sensor_height, config.sensor_width
    unit_px = min(width, height) * rng.uniform(0.85, 1.15)  # person scale (distance to the camera)
    origin = np.array([width * (0.5 + rng.uniform(-0.07, 0.07)), height * (0.5 + rng.uniform(-0.05, 0.05))])
    torso_log = rng.uniform(-0.4, 0.4)
    background = rng.uniform(0.05, 0.3) * _smooth_texture(height, width, int(rng.integers(4, 12)), rng)
    background += rng.uniform(0.0, 0.05) * rng.standard_normal((height, width))
    y, x = np.mgrid[0:height, 0:width]
    shoulders_y, half_width = origin[1] - 0.17 * unit_px, 0.18 * unit_px
    top_round = ((x - origin[0]) / half_width) ** 2 + ((y - shoulders_y - 0.06 * unit_px) / (0.06 * unit_px)) ** 2 <= 1
    torso = (np.abs(x - origin[0]) <= half_width) & ((y >= shoulders_y + 0.06 * unit_px) | top_round)
    background[torso] += torso_log
    head_track = np.tile(origin + np.array([0.0, -0.3]) * unit_px, (t_s.size, 1))
    if rng.random() < 0.4:  # a nod: 1–3 px down and back within a random window
        start_s, length_s = rng.uniform(0, t_s[-1] * 0.7), rng.uniform(0.2, 0.5)
        bump = np.sin(np.pi * np.clip((t_s - start_s) / length_s, 0, 1)) ** 2
        head_track[:, 1] += rng.uniform(1.0, 3.0) * bump
    sprites = [Sprite(head_track, 0.08 * unit_px, torso_log + rng.choice([-1, 1]) * rng.uniform(0.2, 0.6))]
    if rng.random() < 0.4:  # a distractor drifting slowly in an upper corner
        start_x = width * rng.choice([rng.uniform(0.03, 0.22), rng.uniform(0.78, 0.97)])
        start = np.array([start_x, height * rng.uniform(0.05, 0.35)])
        velocity = rng.uniform(5, 25) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        radius_px, log_value = rng.uniform(0.02, 0.06) * unit_px, rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)
        sprites.insert(0, Sprite(start + np.outer(t_s, velocity), radius_px, log_value))
    polarity = rng.choice([-1.0, 1.0])  # hands brighter (or darker) than everything behind them
    scene_values = [background.min(), background.max(), *(sprite.log_value for sprite in sprites)]
    extreme = max(scene_values) if polarity > 0 else min(scene_values)
    hand_radius = rng.uniform(0.04, 0.065)
    for track in hand_trajectories(label, t_s, hand_radius, rng):
        sprites.append(
            Sprite(origin + track * unit_px, hand_radius * unit_px, extreme + polarity * rng.uniform(0.4, 0.9))
        )
    return background, sprites


# ------------------------------------------------------------------------------------ rendering
def _coverage(x: np.ndarray, y: np.ndarray, centre: np.ndarray, radius: float, half_edge: float) -> np.ndarray:
    """Disc coverage in [0, 1] of pixels ``x, y`` ``[N]`` by discs centred at ``centre`` ``[N, 2]`` or ``[2]``."""
    distance = np.sqrt((x - centre[..., 0]) ** 2 + (y - centre[..., 1]) ** 2)
    return np.clip((radius + half_edge - distance) / (2 * half_edge), 0.0, 1.0)


def render_log_frame(background: np.ndarray, sprites: list[Sprite], frame: int, half_edge_px: float) -> np.ndarray:
    """The full ln-intensity frame ``[H, W]`` at frame index ``frame``."""
    image = background.copy()
    for sprite in sprites:
        centre, reach = sprite.centre_px[frame], sprite.radius_px + half_edge_px + 1
        x0, y0 = (max(int(np.floor(c - reach)), 0) for c in centre)
        x1, y1 = (min(int(np.ceil(c + reach)) + 1, size) for c, size in zip(centre, image.shape[::-1]))
        if x1 <= x0 or y1 <= y0:
            continue
        y, x = np.mgrid[y0:y1, x0:x1]
        alpha = _coverage(x, y, centre, sprite.radius_px, half_edge_px)
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + sprite.log_value * alpha
    return image


def changed_pixel_samples(background: np.ndarray, sprites: list[Sprite], half_edge_px: float) -> tuple[np.ndarray, ...]:
    """Every pixel whose ln-intensity changes between consecutive frames, frame-major:
    ``(pixel_index [N] (y*W + x), log_start [N], log_end [N], frame [N])`` for the interval ``frame-1 → frame``."""
    height, width = background.shape
    mids = [(s.centre_px[1:] + s.centre_px[:-1]) / 2 for s in sprites]  # [T-1, 2]
    steps = [np.hypot(*(s.centre_px[1:] - s.centre_px[:-1]).T) for s in sprites]  # [T-1]
    moving = [step > 0 for step in steps]
    margin = [half_edge_px + step.max(initial=0.0) / 2 + 0.75 for step in steps]  # 0.75 ≥ rounding of the centre
    outer = [s.radius_px + m for s, m in zip(sprites, margin)]
    inner = [max(s.radius_px - m, 0.0) for s, m in zip(sprites, margin)]
    centres = [np.rint(mid).astype(np.int64) for mid in mids]
    parts: list[tuple[np.ndarray, ...]] = []

    def alphas(sprite: Sprite, x: np.ndarray, y: np.ndarray, interval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(_coverage(x, y, sprite.centre_px[interval + k], sprite.radius_px, half_edge_px) for k in (0, 1))

    def near_frames(first: int, second: int) -> np.ndarray:  # [T-1] bool: the two sprites may touch a pixel
        return np.hypot(*(mids[first] - mids[second]).T) <= outer[first] + outer[second] + 1

    for index, sprite in enumerate(sprites):
        frames = np.nonzero(moving[index])[0]  # interval k-1 → k stored at k-1
        if frames.size == 0:
            continue
        span = int(np.ceil(outer[index]))
        dy, dx = np.mgrid[-span : span + 1, -span : span + 1].reshape(2, -1)
        ring = (dx**2 + dy**2 >= inner[index] ** 2) & (dx**2 + dy**2 <= outer[index] ** 2)
        x = (centres[index][frames, 0:1] + dx[ring]).ravel()
        y = (centres[index][frames, 1:2] + dy[ring]).ravel()
        interval = np.repeat(frames, int(ring.sum()))
        inside = np.nonzero((x >= 0) & (x < width) & (y >= 0) & (y < height))[0]
        x, y, interval = x[inside], y[inside], interval[inside]
        own_start, own_end = alphas(sprite, x, y, interval)
        keep = own_start != own_end  # a pixel belongs to the first sprite whose coverage of it changes
        for earlier in range(index):
            chosen = np.nonzero(keep & (moving[earlier] & near_frames(earlier, index))[interval])[0]
            if chosen.size:
                start, end = alphas(sprites[earlier], x[chosen], y[chosen], interval[chosen])
                keep[chosen[start != end]] = False
        x, y, interval, own_start, own_end = (a[keep] for a in (x, y, interval, own_start, own_end))
        log_start = background[y, x]
        log_end = log_start.copy()
        for other_index, other in enumerate(sprites):  # composite back to front
            if other_index == index:
                chosen, (start, end) = slice(None), (own_start, own_end)
            else:
                chosen = np.nonzero(near_frames(other_index, index)[interval])[0]
                if chosen.size == 0:
                    continue
                start, end = alphas(other, x[chosen], y[chosen], interval[chosen])
            log_start[chosen] = log_start[chosen] * (1 - start) + other.log_value * start
            log_end[chosen] = log_end[chosen] * (1 - end) + other.log_value * end
        changed = log_start != log_end
        parts.append((y[changed] * width + x[changed], log_start[changed], log_end[changed], interval[changed] + 1))
    if not parts:
        return np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int64)
    pixel, log_start, log_end, frame = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(frame.astype(np.uint16 if frame.max() < 65536 else np.int64), kind="stable")
    return pixel[order], log_start[order], log_end[order], frame[order]


def simulate_gesture(label: int, seed: int, config: GestureSimConfig = GestureSimConfig()) -> np.ndarray:
    """Events of one synthetic gesture ``label`` (index into :data:`GESTURE_CLASSES`), deterministic
    in ``seed``; time-sorted :data:`~spikestream.sources.events.event_array.EVENT_DTYPE` starting at t = 0."""
    rng = np.random.default_rng(seed)
    duration_us = int(rng.uniform(*config.duration_range_ms) * 1000)
    frame_count = duration_us // config.frame_step_us + 1
    t_us = np.arange(frame_count, dtype=np.int64) * config.frame_step_us
    background, sprites = build_scene(label, t_us * 1e-6, config, rng)
    if config.position_step_px > 0:
        step = config.position_step_px
        sprites = [sprite._replace(centre_px=np.round(sprite.centre_px / step) * step) for sprite in sprites]
    half_edge = config.edge_width_px / 2
    noise_low, noise_high = config.noise_rate_range_hz
    log_noise_range = np.log(max(noise_low, 1e-9)), np.log(max(noise_high, 1e-9))
    noise_rate_hz = float(np.exp(rng.uniform(*log_noise_range))) if noise_high > 0 else 0.0
    dvs_config = dvs.DvsConfig(
        config.on_threshold, config.off_threshold, config.threshold_mismatch, config.refractory_us,
        noise_rate_hz, int(rng.integers(1, 4)) if rng.random() < config.hot_pixel_probability else 0,
        rng.uniform(20, 200),
    )  # fmt: skip
    sensor = config.sensor_size
    pixel_count = sensor.width * sensor.height
    thresholds = dvs.draw_pixel_thresholds(pixel_count, dvs_config, rng)
    hot_pixels = dvs.draw_hot_pixels(pixel_count, dvs_config, rng)
    state = dvs.initial_state(render_log_frame(background, sprites, 0, half_edge))
    pixel, log_start, log_end, frame = changed_pixel_samples(background, sprites, half_edge)
    pixel, times, polarity, _ = dvs.crossing_events(
        pixel, log_start, log_end, t_us[frame - 1], t_us[frame], state, thresholds, dvs_config.refractory_us
    )
    return dvs.sort_by_time(
        dvs.pack_events(pixel, times, polarity, sensor.width),
        dvs.noise_events(sensor, 0, int(t_us[-1]), noise_rate_hz, rng),
        dvs.hot_pixel_events(hot_pixels, sensor, 0, int(t_us[-1]), dvs_config.hot_pixel_rate_hz, rng),
    )


class SyntheticGestures(Sequence):
    """``count`` synthetic gestures; item ``i`` is ``(events, label)`` with label ``i % 11`` (balanced)
    and events from :func:`simulate_gesture` with a seed derived from ``(seed, i)``."""

    def __init__(
        self, count: int, seed: int = 0, config: GestureSimConfig = GestureSimConfig(),
        transform: Callable[[np.ndarray], object] | None = None,
    ) -> None:  # fmt: skip
        if count < 0:
            raise ValueError(f"SyntheticGestures: count must be >= 0, got {count}")
        self.count, self.seed, self.config, self.transform = count, seed, config, transform
        self.labels = np.arange(count) % len(GESTURE_CLASSES)
        self.sensor_size = config.sensor_size
        self.classes = GESTURE_CLASSES

    def __len__(self) -> int:
        return self.count

    def sample_seed(self, index: int) -> int:
        """The seed of item ``index`` (distinct streams for every ``(seed, index)``)."""
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1, dtype=np.uint64)[0])

    def __getitem__(self, index: int) -> tuple[object, int]:  # type: ignore[override]
        if not -self.count <= index < self.count:
            raise IndexError(f"SyntheticGestures: index {index} out of range for {self.count} samples")
        index %= self.count
        label = int(self.labels[index])
        events = simulate_gesture(label, self.sample_seed(index), self.config)
        return (self.transform(events) if self.transform else events), label
