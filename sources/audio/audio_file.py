"""Audio files → float32 mono chunks at the model's sample rate, resampled once at the source.

WAV/FLAC/OGG (and MP3 where the bundled libsndfile supports it) are read by soundfile in blocks,
so a long recording streams in bounded memory; anything soundfile cannot open falls back to
librosa/audioread (whole file). Resampling uses soxr's streaming resampler, so chunk boundaries
do not change the samples.

A damaged file is read as far as it goes and the loss is counted, never raised mid-stream: a WAV
whose ``data`` chunk announces more bytes than the file holds (a cut copy; libsndfile quietly
shortens its frame count to what is there), or a FLAC/OGG file whose decoding fails part way,
yields the samples before the damage, and ``drop_counts()["missing_samples"]`` is the frames the
header promised but the file did not deliver. The run summary reports it once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from ..chunk import Chunk
from .resampling import StreamResampler

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
_UNKNOWN_DATA_BYTES = (0, 0xFFFFFFFF)  # what streaming writers leave in a WAV data chunk of unknown length
_MAX_WAV_CHUNKS = 64  # RIFF chunks looked at before "data"


class AudioFileError(ValueError):
    """A file that cannot be read as audio; the message names the file and what was expected."""


def samples_chunk(samples: np.ndarray, first_sample: int, sample_rate_hz: int, available_ns: int = 0) -> Chunk:
    """A :class:`Chunk` of mono float32 ``samples`` in [-1, 1] starting at sample ``first_sample`` of the
    stream; its span in µs is computed from sample counts, so it never drifts."""
    start_us = first_sample * 1_000_000 // sample_rate_hz
    end_us = (first_sample + samples.size) * 1_000_000 // sample_rate_hz
    return Chunk(samples, start_us, end_us, available_ns)


def to_mono_float32(block: np.ndarray) -> np.ndarray:
    """``[N]`` or ``[N, channels]`` samples → ``[N]`` float32 mono (mean of channels)."""
    block = np.asarray(block, dtype=np.float32)
    return block.mean(axis=1) if block.ndim == 2 else block


def declared_wav_frames(path: Path) -> int | None:
    """Frames the ``data`` chunk of a RIFF/WAVE file announces (its byte size // block align), read from
    the header itself; None when ``path`` is no RIFF WAVE, has no ``fmt `` before ``data``, or leaves the
    length unknown (0 or 0xFFFFFFFF, as streaming writers do). RF64 files (sizes in ``ds64``) give None."""
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        for _ in range(_MAX_WAV_CHUNKS):
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, (chunk_bytes,) = chunk[:4], struct.unpack("<I", chunk[4:])
            if chunk_id == b"data":
                return None if block_align < 1 or chunk_bytes in _UNKNOWN_DATA_BYTES else chunk_bytes // block_align
            if chunk_id == b"fmt ":
                fmt = handle.read(min(chunk_bytes, 16))
                if len(fmt) < 14:
                    return None
                (block_align,) = struct.unpack_from("<H", fmt, 12)
                handle.seek(chunk_bytes - len(fmt) + (chunk_bytes & 1), 1)
            else:
                handle.seek(chunk_bytes + (chunk_bytes & 1), 1)  # chunks are padded to an even size
    return None


def sanitize_samples(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN/±inf by 0 and clip to [-1, 1]; returns the samples and how many were not finite."""
    finite = np.isfinite(samples)
    bad = int(samples.size - np.count_nonzero(finite))
    if bad:
        samples = np.where(finite, samples, 0.0).astype(np.float32)
    return np.clip(samples, -1.0, 1.0), bad


class AudioFileSource:
    """Streams an audio file as :class:`Chunk` blocks of ``block_ms`` at ``sample_rate_hz``.

    Raises :class:`AudioFileError` on construction when the file is missing, not audio, or empty.
    NaN/inf samples are replaced by silence and counted (``drop_counts()["nonfinite_samples"]``);
    frames the header promised but the file did not hold are counted in
    ``drop_counts()["missing_samples"]`` (see the module docstring). Both count frames at the file's
    own rate and are reset by each pass. ``declared_wav_frames``: the frames a WAV header announces
    (None for other formats and WAVs of unknown length).
    """

    def __init__(self, path: str | Path, sample_rate_hz: int, block_ms: float = 20.0) -> None:
        self.path = Path(path)
        self.sample_rate_hz = int(sample_rate_hz)
        self.block_samples = max(1, int(round(sample_rate_hz * block_ms / 1000.0)))
        self.nonfinite_samples = 0
        self.missing_samples = 0
        self.name = self.path.name
        if not self.path.exists():
            raise AudioFileError(f"{self.path}: no such file; expected an audio file ({', '.join(AUDIO_EXTENSIONS)})")
        if self.path.is_dir():
            raise AudioFileError(f"{self.path}: is a directory; expected an audio file")
        self._info = self._probe()
        self.declared_wav_frames = declared_wav_frames(self.path) if self._info is not None else None

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

    def drop_counts(self) -> dict[str, int]:
        """Samples that were not audio (NaN/inf, replaced by silence) and, once a pass found the file
        shorter than its header says, the frames missing from it (``missing_samples``)."""
        counts = {"nonfinite_samples": self.nonfinite_samples}
        if self.missing_samples:
            counts["missing_samples"] = self.missing_samples
        return counts

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
        frames_read, damaged = 0, False
        try:
            for block in soundfile.blocks(str(self.path), blocksize=block_frames, dtype="float32", always_2d=True):
                frames_read += len(block)
                yield to_mono_float32(block), rate
        except (soundfile.LibsndfileError, RuntimeError):
            damaged = True  # the samples before the damaged part were delivered; the rest is counted below
        # the WAV header's own length (libsndfile shortens info.frames to what a cut file holds); else, after a
        # decoding error, the frame count libsndfile read from the header (an estimate for some MP3s: not used alone)
        promised = self.declared_wav_frames or (self._info.frames if damaged else frames_read)
        self.missing_samples = max(0, promised - frames_read)

    def _resampled(self) -> Iterator[np.ndarray]:
        resampler = None
        for block, rate in self._raw_blocks():
            if rate != self.sample_rate_hz and resampler is None:
                resampler = StreamResampler(rate, self.sample_rate_hz)
            block, bad = sanitize_samples(block)
            self.nonfinite_samples += bad
            yield block if resampler is None else resampler.push(block)
        if resampler is not None:
            yield resampler.flush()

    def __iter__(self) -> Iterator[Chunk]:
        """Blocks of exactly ``block_samples`` (the last may be shorter), stream times in µs."""
        pending = np.zeros(0, dtype=np.float32)
        emitted = 0
        self.nonfinite_samples = self.missing_samples = 0
        for block in self._resampled():
            pending = np.concatenate([pending, block])
            while pending.size >= self.block_samples:
                yield samples_chunk(pending[: self.block_samples], emitted, self.sample_rate_hz)
                emitted += self.block_samples
                pending = pending[self.block_samples :]
        if pending.size:
            yield samples_chunk(pending, emitted, self.sample_rate_hz)


def read_audio(path: str | Path, sample_rate_hz: int) -> np.ndarray:
    """Whole file as float32 mono ``[N]`` at ``sample_rate_hz`` (for datasets and tests)."""
    chunks = [chunk.payload for chunk in AudioFileSource(path, sample_rate_hz, block_ms=1000.0)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
