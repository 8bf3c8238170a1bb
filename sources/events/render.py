"""Event frames ``[T, 2, H, W]`` (channel 0 = OFF, 1 = ON) → RGB pictures, animated GIFs, PNG montages.

Colours (exact in the written files; the GIF uses a fixed 5-entry palette):

- background (no event): :data:`BACKGROUND_RGB`, near black
- ON only: :data:`ON_RGB`, yellow; OFF only: :data:`OFF_RGB`, blue; both in one bin: :data:`BOTH_RGB`, white
- GIF timeline bar below the picture: :data:`TIMELINE_RGB` (grey), growing with the frame index

A pixel counts as active when its count is > 0 (binary and count frames render the same).
Pillow only; nothing here imports matplotlib.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

BACKGROUND_RGB = (16, 16, 16)
OFF_RGB = (0, 110, 255)
ON_RGB = (255, 210, 0)
BOTH_RGB = (255, 255, 255)
TIMELINE_RGB = (128, 128, 128)
_PALETTE = np.array([BACKGROUND_RGB, OFF_RGB, ON_RGB, BOTH_RGB, TIMELINE_RGB], dtype=np.uint8)
_TIMELINE_INDEX = 4
GIF_MIN_FRAME_MS = 20  # browsers show shorter GIF delays as 100 ms


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1] != 2 or frames.shape[0] == 0:
        raise ValueError(f"expected frames shaped [T >= 1, 2, H, W] (OFF, ON), got {frames.shape}")
    return frames


def frames_to_palette_indices(frames: np.ndarray) -> np.ndarray:
    """``[T, 2, H, W]`` → ``[T, H, W]`` uint8 palette index: 0 none, 1 OFF, 2 ON, 3 both."""
    frames = _check_frames(frames)
    return (frames[:, 0] > 0).astype(np.uint8) + 2 * (frames[:, 1] > 0).astype(np.uint8)


def upscale_factor(height: int, width: int, min_side_px: int) -> int:
    """Smallest integer factor that makes the longer side at least ``min_side_px`` (>= 1)."""
    return max(1, math.ceil(min_side_px / max(height, width)))


def frames_to_rgb(frames: np.ndarray, scale: int = 1) -> np.ndarray:
    """``[T, 2, H, W]`` → ``[T, H·scale, W·scale, 3]`` uint8 RGB, nearest-neighbour upscaled."""
    indices = frames_to_palette_indices(frames)
    if scale > 1:
        indices = indices.repeat(scale, axis=1).repeat(scale, axis=2)
    return _PALETTE[indices]


def _palette_image(indices: np.ndarray) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), mode="P")
    image.putpalette(_PALETTE.reshape(-1).tolist())
    return image


def write_gif(
    frames: np.ndarray, path: str | Path, bin_ms: float, min_side_px: int = 256, playback_speed: float = 1.0
) -> Path:
    """Write an animated GIF, one GIF frame per time bin, and return its path.

    ``frames``: ``[T, 2, H, W]``; each picture is upscaled (nearest neighbour) by
    :func:`upscale_factor` so its longer side is ``>= min_side_px``. Frame duration is
    ``bin_ms / playback_speed``, rounded to GIF's 10 ms unit and at least :data:`GIF_MIN_FRAME_MS`.
    A timeline bar of 4 rows (times scale) under each picture grows with the frame index: it shows
    progress and keeps consecutive frames distinct, because Pillow merges identical GIF frames.
    """
    frames = _check_frames(frames)
    if not bin_ms > 0 or not playback_speed > 0:
        raise ValueError(f"bin_ms and playback_speed must be > 0, got {bin_ms}, {playback_speed}")
    frame_count, _, height, width = frames.shape
    scale = upscale_factor(height, width, min_side_px)
    indices = frames_to_palette_indices(frames).repeat(scale, axis=1).repeat(scale, axis=2)
    bar = np.zeros((frame_count, 4 * scale, width * scale), dtype=np.uint8)
    for index in range(frame_count):
        bar[index, :, : max(1, round((index + 1) / frame_count * width * scale))] = _TIMELINE_INDEX
    images = [_palette_image(picture) for picture in np.concatenate([indices, bar], axis=1)]
    duration_ms = max(GIF_MIN_FRAME_MS, int(round(bin_ms / playback_speed / 10.0)) * 10)
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False)
    return path


def write_png_montage(
    frames: np.ndarray, path: str | Path, columns: int | None = None, min_side_px: int = 64, gap_px: int = 2
) -> Path:
    """Write all frames as one PNG grid (row by row, left to right) and return its path.

    ``columns`` defaults to ``ceil(sqrt(T))``; each tile is upscaled so its longer side is
    ``>= min_side_px``; tiles are separated by ``gap_px`` pixels of :data:`TIMELINE_RGB`.
    """
    frames = _check_frames(frames)
    frame_count, _, height, width = frames.shape
    columns = columns or math.ceil(math.sqrt(frame_count))
    rows = math.ceil(frame_count / columns)
    scale = upscale_factor(height, width, min_side_px)
    tiles = frames_to_rgb(frames, scale)
    tile_h, tile_w = height * scale, width * scale
    canvas = np.empty((rows * tile_h + (rows - 1) * gap_px, columns * tile_w + (columns - 1) * gap_px, 3), np.uint8)
    canvas[:] = TIMELINE_RGB
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (tile_h + gap_px), (index % columns) * (tile_w + gap_px)
        canvas[top : top + tile_h, left : left + tile_w] = tile
    path = Path(path)
    Image.fromarray(canvas, mode="RGB").save(path)
    return path


MAX_RENDER_BYTES = 1 << 30  # frames kept in memory for one picture


def render_recording(recording, out: Path, bin_ms: float, max_frames: int) -> str:
    """The first ``max_frames`` frames of ``bin_ms`` of a recording (an ``EventRecording``) as a GIF
    or PNG montage at ``out``, read in bounded memory (long gaps are skipped); returns a summary line.
    Raises ``ValueError`` when the frames asked for would not fit in :data:`MAX_RENDER_BYTES`."""
    from .chunking import MAX_GAP_US, RecordingChunks
    from .front_end.framing import EventFrontEndConfig, StreamingEventFramer

    sensor = recording.sensor_size
    config = EventFrontEndConfig(sensor.width, sensor.height, bin_ms=bin_ms, output_mode="counts")
    frame_bytes = 4 * math.prod(config.output_shape)
    if frame_bytes * max_frames > MAX_RENDER_BYTES:
        raise ValueError(
            f"--max-frames {max_frames}: {max_frames} frames of {sensor.width}x{sensor.height} need "
            f"{frame_bytes * max_frames / 2**30:.1f} GiB; expected at most {MAX_RENDER_BYTES // frame_bytes} frames"
        )
    framer = StreamingEventFramer(config)
    chunks = RecordingChunks(recording, None, slice_us=config.bin_us, max_gap_us=max(MAX_GAP_US, 2 * config.bin_us))
    frames, frame_count, event_count = [], 0, 0
    for chunk in chunks:
        if chunk.gap:
            parts = [framer.advance_to(chunk.start_us), framer.skip_to(chunk.end_us)[0]]
        else:
            event_count += len(chunk.payload)
            parts = [framer.push(chunk.payload), framer.advance_to(chunk.end_us)]
        frames += [part for part in parts if len(part)]
        frame_count += sum(len(part) for part in parts)
        if frame_count >= max_frames:
            break
    else:
        frames.append(framer.flush())
    stacked = np.concatenate(frames)[:max_frames] if frames else np.zeros((0, *config.output_shape), np.float32)
    if out.suffix.lower() == ".gif":
        write_gif(stacked, out, bin_ms)
    else:
        write_png_montage(stacked, out)
    return (
        f"{len(stacked)} frames of {bin_ms} ms from {event_count} events "
        f"({recording.format_name}, {sensor.width}x{sensor.height})"
    )
