"""Wiring sources to the runtime: build a front end from a checkpoint's config and turn any source
into the runtime's :class:`Chunk` stream. No signal processing here; that lives in ``sources``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..models.checkpoint import LoadedModel
from ..sources.audio.audio_file import AUDIO_EXTENSIONS, AudioChunk, AudioFileSource
from ..sources.audio.front_end import AudioFrontEnd, AudioFrontEndConfig
from ..sources.events.framing import EventFrontEndConfig
from ..sources.events.front_end import EventFrontEnd
from .decision import DecisionConfig
from .runtime import Chunk, StreamingClassifier

# Audio arrives in 80 ms blocks (8 SNN steps per model call; openWakeWord uses the same block):
# the per-call cost of the small convolutions is shared by 8 steps. Adds at most 80 ms of capture delay.
AUDIO_BLOCK_MS = 80.0


def build_front_end(front_end_config: dict):
    """The streaming front end a checkpoint was trained with (audio MFCC or event framing)."""
    kind = front_end_config.get("kind")
    if kind == "audio":
        return AudioFrontEnd(AudioFrontEndConfig.from_dict(front_end_config))
    if kind == "events":
        return EventFrontEnd(EventFrontEndConfig.from_dict(front_end_config))
    raise ValueError(f"checkpoint front end kind {kind!r} is unknown; expected 'audio' or 'events'")


def decision_config(loaded: LoadedModel, overrides: dict | None = None) -> DecisionConfig:
    """The checkpoint's default decision settings, with command-line overrides applied."""
    values = dict(loaded.config.get("decision", {}))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return DecisionConfig(**values)


def make_classifier(
    loaded: LoadedModel, source_name: str, decision_overrides: dict | None = None, classifier_class: type[StreamingClassifier] = StreamingClassifier
) -> StreamingClassifier:
    """A checkpoint's front end, model and decision (with overrides) as one streaming classifier."""
    return classifier_class(loaded, build_front_end(loaded.config["front_end"]), decision_config(loaded, decision_overrides), source_name)


def audio_chunks(blocks: Iterable[AudioChunk], sample_rate_hz: int) -> Iterator[Chunk]:
    """Audio blocks → runtime chunks with their stream time span in µs."""
    for block in blocks:
        end_us = block.start_us + block.samples.size * 1_000_000 // sample_rate_hz
        yield Chunk(block.samples, block.start_us, end_us, block.available_ns)


def padded_audio_chunks(samples: np.ndarray, sample_rate_hz: int, block_ms: float, lead_s: float, tail_s: float) -> Iterator[Chunk]:
    """In-memory samples with silence before and after, cut into blocks (evaluation and tests)."""
    padded = np.concatenate(
        [np.zeros(int(lead_s * sample_rate_hz), np.float32), samples.astype(np.float32), np.zeros(int(tail_s * sample_rate_hz), np.float32)]
    )
    block = max(1, int(sample_rate_hz * block_ms / 1000))
    for start in range(0, padded.size, block):
        piece = padded[start : start + block]
        start_us = start * 1_000_000 // sample_rate_hz
        yield Chunk(piece, start_us, start_us + piece.size * 1_000_000 // sample_rate_hz)


def is_audio_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def audio_file_chunks(path: str | Path, loaded: LoadedModel, block_ms: float) -> tuple[AudioFileSource, Iterator[Chunk]]:
    """Open an audio file at the model's rate; raises ``AudioFileError`` before streaming starts."""
    rate = loaded.config["front_end"]["mfcc"]["sample_rate_hz"]
    source = AudioFileSource(path, rate, block_ms)
    return source, audio_chunks(source, rate)
