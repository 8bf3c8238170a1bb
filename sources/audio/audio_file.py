"""Audio files → float32 mono chunks at the model's sample rate, resampled once at the source.

WAV/FLAC/OGG (and MP3 where the bundled libsndfile supports it) are read by soundfile in blocks,
so a long recording streams in bounded memory; anything soundfile cannot open falls back to
librosa/audioread (whole file). Resampling uses soxr's streaming resampler, so chunk boundaries
do not change the samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile
import soxr

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


class AudioFileError(ValueError):
    """A file that cannot be read as audio; the message names the file and what was expected."""


@dataclass(frozen=True)
class AudioChunk:
    """A block of mono float32 samples in [-1, 1].

    ``start_us`` is the stream time of the first sample (µs from the start of the stream);
    ``available_ns`` is the ``time.monotonic_ns()`` at which the block became available
    (capture time for a microphone; set by the pacer for a replay; 0 when unknown).
    """

    samples: np.ndarray
    start_us: int
    available_ns: int = 0


def to_mono_float32(block: np.ndarray) -> np.ndarray:
    """``[N]`` or ``[N, channels]`` samples → ``[N]`` float32 mono (mean of channels)."""
    block = np.asarray(block, dtype=np.float32)
    return block.mean(axis=1) if block.ndim == 2 else block


def sanitize_samples(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN/±inf by 0 and clip to [-1, 1]; returns the samples and how many were not finite."""
    finite = np.isfinite(samples)
    bad = int(samples.size - np.count_nonzero(finite))
    if bad:
        samples = np.where(finite, samples, 0.0).astype(np.float32)
    return np.clip(samples, -1.0, 1.0), bad


class AudioFileSource:
    """Streams an audio file as :class:`AudioChunk` blocks of ``block_ms`` at ``sample_rate_hz``.

    Raises :class:`AudioFileError` on construction when the file is missing, not audio, or empty.
    After iteration, ``nonfinite_samples`` counts NaN/inf samples that were replaced by silence.
    """

    def __init__(self, path: str | Path, sample_rate_hz: int, block_ms: float = 20.0) -> None:
        self.path = Path(path)
        self.sample_rate_hz = int(sample_rate_hz)
        self.block_samples = max(1, int(round(sample_rate_hz * block_ms / 1000.0)))
        self.nonfinite_samples = 0
        self.name = self.path.name
        if not self.path.exists():
            raise AudioFileError(f"{self.path}: no such file; expected an audio file ({', '.join(AUDIO_EXTENSIONS)})")
        if self.path.is_dir():
            raise AudioFileError(f"{self.path}: is a directory; expected an audio file")
        self._info = self._probe()

    def _probe(self) -> soundfile._SoundFileInfo | None:
        try:
            info = soundfile.info(str(self.path))
        except (soundfile.LibsndfileError, RuntimeError) as error:
            if self.path.suffix.lower() in (".mp3", ".m4a", ".aac", ".wma"):
                return None  # librosa/audioread fallback
            raise AudioFileError(
                f"{self.path}: not a readable audio file ({error}); expected WAV, FLAC, OGG or MP3 audio"
            ) from error
        if info.frames == 0:
            raise AudioFileError(f"{self.path}: contains no samples (empty or header-only audio file)")
        return info

    @property
    def source_sample_rate_hz(self) -> int | None:
        return None if self._info is None else int(self._info.samplerate)

    @property
    def duration_s(self) -> float | None:
        return None if self._info is None else self._info.frames / self._info.samplerate

    def _raw_blocks(self) -> Iterator[tuple[np.ndarray, int]]:
        if self._info is None:
            import librosa  # slow import; only for formats soundfile cannot open

            try:
                audio, rate = librosa.load(str(self.path), sr=None, mono=True)
            except Exception as error:  # audioread raises many unrelated types
                raise AudioFileError(f"{self.path}: could not decode audio ({error})") from error
            if audio.size == 0:
                raise AudioFileError(f"{self.path}: contains no samples")
            yield audio.astype(np.float32), int(rate)
            return
        rate = int(self._info.samplerate)
        block_frames = max(1024, self.block_samples * 4)
        try:
            for block in soundfile.blocks(str(self.path), blocksize=block_frames, dtype="float32", always_2d=True):
                yield to_mono_float32(block), rate
        except soundfile.LibsndfileError as error:
            warnings.warn(f"{self.path}: stopped reading at a damaged part ({error}); the samples before it were used")

    def _resampled(self) -> Iterator[np.ndarray]:
        resampler = None
        for block, rate in self._raw_blocks():
            if rate != self.sample_rate_hz and resampler is None:
                resampler = soxr.ResampleStream(rate, self.sample_rate_hz, 1, dtype="float32")
            block, bad = sanitize_samples(block)
            self.nonfinite_samples += bad
            yield block if resampler is None else resampler.resample_chunk(block)
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)

    def __iter__(self) -> Iterator[AudioChunk]:
        """Blocks of exactly ``block_samples`` (the last may be shorter), stream times in µs."""
        pending = np.zeros(0, dtype=np.float32)
        emitted = 0
        for block in self._resampled():
            pending = np.concatenate([pending, block])
            while pending.size >= self.block_samples:
                yield AudioChunk(pending[: self.block_samples], emitted * 1_000_000 // self.sample_rate_hz)
                emitted += self.block_samples
                pending = pending[self.block_samples :]
        if pending.size:
            yield AudioChunk(pending, emitted * 1_000_000 // self.sample_rate_hz)
        if self.nonfinite_samples:
            warnings.warn(f"{self.path}: {self.nonfinite_samples} NaN/inf samples were replaced by silence")


def read_audio(path: str | Path, sample_rate_hz: int) -> np.ndarray:
    """Whole file as float32 mono ``[N]`` at ``sample_rate_hz`` (for datasets and tests)."""
    chunks = [chunk.samples for chunk in AudioFileSource(path, sample_rate_hz, block_ms=1000.0)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
