"""Streaming sample-rate conversion of a stream already at one model's rate, for a second model.

A source resamples once, to its model's rate (:mod:`.audio_file`, :mod:`.microphone`). A classifier
paired with an autoencoder that listens at another rate (``keywords`` at 16 kHz beside ``speech-ae``
at 8 kHz) needs the same stream at that rate too: :class:`StreamResampler` converts each chunk as it
comes with soxr's streaming resampler (the one the sources use), whose output does not depend on how
the input was cut into chunks (``tests/sources/test_resampling.py``); ``flush()`` returns what the
filter still holds at the end of the stream.
"""

from __future__ import annotations

import numpy as np
import soxr


class StreamResampler:
    """float32 mono samples at ``from_hz`` in, the same stream at ``to_hz`` out, chunk by chunk."""

    def __init__(self, from_hz: int, to_hz: int) -> None:
        if from_hz <= 0 or to_hz <= 0:
            raise ValueError(f"sample rates must be > 0 Hz, got {from_hz} -> {to_hz}")
        self.from_hz, self.to_hz = from_hz, to_hz
        self._stream = soxr.ResampleStream(from_hz, to_hz, 1, dtype="float32")

    def push(self, samples: np.ndarray) -> np.ndarray:
        """``samples [N]`` at ``from_hz`` → the samples at ``to_hz`` that are ready (about ``N·to/from``)."""
        return self._stream.resample_chunk(np.ascontiguousarray(samples, dtype=np.float32))

    def flush(self) -> np.ndarray:
        """The end of the stream: the samples the filter still holds."""
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
