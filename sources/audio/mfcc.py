"""Streaming MFCC: each new hop of audio yields exactly one new feature frame.

The maths matches ``librosa.feature.mfcc(y, sr, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax)``
(centred frames, periodic Hann window, power spectrum, Slaney mel filterbank, ``10·log10`` with
``amin = 1e-10``, orthonormal DCT-II), with one deliberate difference: librosa's default
``top_db = 80`` clips every value to ``max(whole signal) − 80 dB``, which needs the whole signal and
so cannot be causal. The streaming version uses the fixed floor ``amin`` only; on real speech the
two agree (see ``tests/sources/test_streaming_mfcc.py``).

Streaming: :class:`StreamingFrames` (the framing and power spectra :class:`StreamingMfcc` builds on)
keeps only the last ``n_fft − hop`` samples (plus whatever part of a hop has arrived), so frame ``k``
— centred on sample ``k·hop`` — is computed once, when sample ``k·hop + n_fft/2`` arrives.
``flush()`` pads the end with zeros exactly as ``center=True`` does.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import librosa
import numpy as np
import scipy.fft


@dataclass(frozen=True)
class MfccConfig:
    """Parameters of the MFCC front end (all plain data, stored in model checkpoints)."""

    sample_rate_hz: int = 8000
    n_fft: int = 256
    hop_ms: float = 10.0
    n_mels: int = 40
    n_mfcc: int = 20
    fmin_hz: float = 20.0
    fmax_hz: float | None = None
    amin_power: float = 1e-10
    # True: the features are the n_mels log-mel energies themselves (dB, no DCT; n_mfcc must equal
    # n_mels), so neighbouring features are neighbouring frequency bands, as a convolution expects
    log_mel: bool = False

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be > 0, got {self.sample_rate_hz}")
        if self.hop_length < 1 or self.hop_length > self.n_fft:
            raise ValueError(
                f"hop_ms={self.hop_ms} gives hop_length={self.hop_length} samples; expected 1..n_fft={self.n_fft}"
            )
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels={self.n_mels}, got {self.n_mfcc}")
        if self.log_mel and self.n_mfcc != self.n_mels:
            raise ValueError(f"log_mel gives n_mels={self.n_mels} features: n_mfcc must equal it, got {self.n_mfcc}")

    @property
    def hop_length(self) -> int:
        """Samples per hop (one feature frame, one SNN step)."""
        return int(round(self.sample_rate_hz * self.hop_ms / 1000.0))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MfccConfig:
        return cls(**values)


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, no longer writable (a cached table every stream of a process shares)."""
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=16)
def mel_filterbank(config: MfccConfig) -> np.ndarray:
    """Slaney mel filterbank as librosa builds it: ``[n_mels, n_fft // 2 + 1]`` float32, read-only
    (built once per configuration and process: a batch job opens a front end per file)."""
    return read_only(
        librosa.filters.mel(
            sr=config.sample_rate_hz,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.fmin_hz,
            fmax=config.fmax_hz,
        ).astype(np.float32)
    )


@functools.lru_cache(maxsize=16)
def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix ``[n_mfcc, n_mels]`` so that ``mfcc = D @ log_mel`` (read-only, cached)."""
    return read_only(scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32))


def feature_basis(config: MfccConfig) -> np.ndarray:
    """``[n_mfcc, n_mels]``: features = basis @ log_mel; the DCT, or the identity with ``config.log_mel``."""
    if config.log_mel:
        return read_only(np.eye(config.n_mels, dtype=np.float32))
    return dct_matrix(config.n_mels, config.n_mfcc)


@functools.lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window ``[n_fft]`` float32 as librosa frames with it (read-only, cached)."""
    return read_only(librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32))


def power_spectrum(frames: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Power spectra ``[n_frames, n_fft // 2 + 1]`` float32 of framed audio ``[n_frames, n_fft]`` under ``window``."""
    spectrum = np.fft.rfft(frames * window, axis=-1)
    return (spectrum.real**2 + spectrum.imag**2).astype(np.float32)


def mfcc_from_power(power: np.ndarray, mel_basis: np.ndarray, dct: np.ndarray, amin_power: float) -> np.ndarray:
    """MFCCs ``[n_frames, n_mfcc]`` float32 of power spectra ``[n_frames, n_fft // 2 + 1]``."""
    mel_power = power @ mel_basis.T
    log_mel = 10.0 * np.log10(np.maximum(mel_power, amin_power))
    return (log_mel @ dct.T).astype(np.float32)


@dataclass(frozen=True)
class PowerFrames:
    """Frames that became complete: their samples ``[n, n_fft]`` and power spectra ``[n, n_fft // 2 + 1]``.

    ``samples`` is a read-only view of the framer's buffer at the time (never written afterwards: the
    framer replaces its buffer rather than changing it), so it stays valid without a copy."""

    samples: np.ndarray
    power: np.ndarray


@dataclass(frozen=True)
class AnalysedFrames:
    """Frames that became complete: their samples ``[n, n_fft]`` (a read-only view, see
    :class:`PowerFrames`), power spectra ``[n, n_fft // 2 + 1]`` and MFCCs ``[n, n_mfcc]``."""

    samples: np.ndarray
    power: np.ndarray
    features: np.ndarray


class StreamingFrames:
    """Incremental centred framing and power spectra over a bounded sample buffer; state only.

    ``push(samples)`` takes float32 mono samples in any chunk size and returns the frames that became
    complete (frame ``k`` is centred on sample ``k·hop``, periodic Hann window), ``flush()`` the last
    frames of a finite stream (zero padding as librosa's ``center=True``): ``1 + N // hop_length``
    frames in all for a stream of N samples. The framing :class:`StreamingMfcc` computes its
    features from, and all the audio front end's level track needs.
    """

    def __init__(self, config: MfccConfig) -> None:
        self.config = config
        self._window = hann_window(config.n_fft)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: the buffer holds the ``n_fft // 2`` zeros of the centred first frame."""
        self._buffer = np.zeros(self.config.n_fft // 2, dtype=np.float32)
        self._samples_seen = 0
        self._frames_emitted = 0

    def push(self, samples: np.ndarray) -> PowerFrames:
        """Add samples; return the newly completed frames (possibly none)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._samples_seen += samples.size
        self._buffer = np.concatenate([self._buffer, samples])
        return self._emit_complete_frames()

    def flush(self) -> PowerFrames:
        """End of stream: pad with zeros and return the remaining frames up to ``1 + N // hop``."""
        total_frames = 1 + self._samples_seen // self.config.hop_length
        missing = total_frames - self._frames_emitted
        if missing <= 0:
            return self._no_frames()
        self._buffer = np.concatenate([self._buffer, np.zeros(self.config.n_fft, dtype=np.float32)])
        frames = self._emit_complete_frames(limit=missing)
        self.reset()
        return frames

    def _no_frames(self) -> PowerFrames:
        n_fft = self.config.n_fft
        return PowerFrames(np.zeros((0, n_fft), np.float32), np.zeros((0, n_fft // 2 + 1), np.float32))

    def _emit_complete_frames(self, limit: int | None = None) -> PowerFrames:
        n_fft, hop = self.config.n_fft, self.config.hop_length
        n_frames = 0 if self._buffer.size < n_fft else 1 + (self._buffer.size - n_fft) // hop
        if limit is not None:
            n_frames = min(n_frames, limit)
        if n_frames == 0:
            return self._no_frames()
        # a read-only view of this buffer, which is never written again: push, flush and reset bind a new one
        step = self._buffer.strides[0]  # the view sliding_window_view(buffer, n_fft)[::hop] gives, built directly
        frames = np.lib.stride_tricks.as_strided(
            self._buffer, shape=(n_frames, n_fft), strides=(hop * step, step), writeable=False
        )
        power = power_spectrum(frames, self._window)
        self._buffer = self._buffer[n_frames * hop :].copy()
        self._frames_emitted += n_frames
        return PowerFrames(frames, power)


class StreamingMfcc:
    """Incremental MFCC over a bounded sample buffer; holds configuration and state only.

    ``push(samples)`` takes float32 mono samples at ``config.sample_rate_hz`` in any chunk size
    and returns the ``[n_new_frames, n_mfcc]`` frames that became complete. ``flush()`` returns the
    final frames of a finite stream (zero padding as librosa's ``center=True``). The total number of
    frames of a stream of N samples is ``1 + N // hop_length``, as librosa gives. The framing and
    power spectra are :class:`StreamingFrames`'.
    """

    def __init__(self, config: MfccConfig) -> None:
        self.config = config
        self._frames = StreamingFrames(config)
        self._mel_basis = mel_filterbank(config)
        self._dct = feature_basis(config)

    def reset(self) -> None:
        """Start a new stream."""
        self._frames.reset()

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add samples; return the newly completed frames ``[n_new, n_mfcc]`` (possibly ``n_new = 0``)."""
        return self.push_analysed(samples).features

    def flush(self) -> np.ndarray:
        """End of stream: pad with zeros and return the remaining frames up to ``1 + N // hop``."""
        return self.flush_analysed().features

    def push_analysed(self, samples: np.ndarray) -> AnalysedFrames:
        """:meth:`push`, with the new frames' samples and power spectra beside their MFCCs."""
        return self._analyse(self._frames.push(samples))

    def flush_analysed(self) -> AnalysedFrames:
        """:meth:`flush`, with the last frames' samples and power spectra beside their MFCCs."""
        return self._analyse(self._frames.flush())

    def _analyse(self, frames: PowerFrames) -> AnalysedFrames:
        if frames.power.shape[0] == 0:
            features = np.zeros((0, self.config.n_mfcc), np.float32)
        else:
            features = mfcc_from_power(frames.power, self._mel_basis, self._dct, self.config.amin_power)
        return AnalysedFrames(frames.samples, frames.power, features)


def reference_mfcc(audio: np.ndarray, config: MfccConfig, top_db: float | None = None) -> np.ndarray:
    """Whole-signal MFCC with librosa, ``[n_frames, n_mfcc]``; the baseline the stream must match."""
    mel_power = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=config.sample_rate_hz,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
        fmax=config.fmax_hz,
    )
    log_mel = librosa.power_to_db(mel_power, amin=config.amin_power, top_db=top_db)
    if config.log_mel:
        return log_mel.T.astype(np.float32)
    return librosa.feature.mfcc(S=log_mel, n_mfcc=config.n_mfcc).T.astype(np.float32)
