"""Live microphone: a ``sounddevice.InputStream`` callback into a bounded buffer.

The PortAudio callback only copies the block and stamps it with its capture time; it never
blocks. When the consumer falls behind, new blocks are dropped and counted
(``overflow_samples``), as are PortAudio's own input overflows (``device_overflows``): both are
reported, never silent. Capture is int16 (TESTING.md: float32 capture from some ALSA devices
reads raw bytes as floats) and converted to float32 here; the stream is resampled once to the
model's rate with soxr's streaming resampler.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..chunk import Chunk
from .audio_file import samples_chunk
from .resampling import StreamResampler


class MicrophoneUnavailable(RuntimeError):
    """No usable input device (no PortAudio, no device, or the chosen one cannot capture)."""


def _sounddevice():
    try:
        import sounddevice
    except OSError as error:  # PortAudio shared library missing
        raise MicrophoneUnavailable(
            f"PortAudio is not installed ({error}); install it with `apt-get install -y libportaudio2`"
        ) from error
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    max_input_channels: int
    default_sample_rate_hz: float


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel."""
    sounddevice = _sounddevice()
    return [
        InputDevice(index, info["name"], info["max_input_channels"], info["default_samplerate"])
        for index, info in enumerate(sounddevice.query_devices())
        if info["max_input_channels"] > 0
    ]


def resolve_input_device(device: int | str | None) -> InputDevice:
    """Pick an input device by index, by (part of its) name, or the system default when ``None``."""
    devices = list_input_devices()
    if not devices:
        raise MicrophoneUnavailable(
            "no audio input device found; plug in a microphone or replay a file with `spikestream replay FILE`"
        )
    if device is None:
        sounddevice = _sounddevice()
        default_index = sounddevice.default.device[0]
        for candidate in devices:
            if candidate.index == default_index:
                return candidate
        return devices[0]
    if isinstance(device, int) or str(device).isdigit():
        for candidate in devices:
            if candidate.index == int(device):
                return candidate
    else:
        matches = [candidate for candidate in devices if str(device).lower() in candidate.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise MicrophoneUnavailable(
                f"input device {device!r} is ambiguous: {[m.name for m in matches]}; give its index instead"
            )
    names = ", ".join(f"{d.index}: {d.name}" for d in devices)
    raise MicrophoneUnavailable(f"no input device {device!r}; available input devices are {names}")


class MicrophoneSource:
    """Yields :class:`Chunk` blocks from a live input device at ``sample_rate_hz``.

    Args:
        sample_rate_hz: the model's rate; the device is opened at its own default rate (or this
            one if it supports it) and resampled once.
        device: index, name fragment, or ``None`` for the default input.
        block_ms: PortAudio block length.
        max_buffer_s: capacity of the bounded buffer between callback and consumer.
        idle_timeout_s: stop when no block arrives for this long (``None`` = wait forever).
        max_duration_s: stop after this much captured audio (``None`` = until ``stop()``).
        device_sample_rate_hz: capture rate (default: the device's default rate).
    """

    def __init__(
        self,
        sample_rate_hz: int,
        device: int | str | None = None,
        block_ms: float = 20.0,
        max_buffer_s: float = 10.0,
        idle_timeout_s: float | None = 5.0,
        max_duration_s: float | None = None,
        device_sample_rate_hz: int | None = None,
    ) -> None:
        self.sample_rate_hz = int(sample_rate_hz)
        self.device = resolve_input_device(device)
        self.name = f"mic:{self.device.name}"
        self.device_sample_rate_hz = int(
            device_sample_rate_hz or self.device.default_sample_rate_hz or self.sample_rate_hz
        )
        self.block_frames = max(1, int(round(self.device_sample_rate_hz * block_ms / 1000.0)))
        self.max_buffer_blocks = max(2, int(max_buffer_s * 1000.0 / block_ms))
        self.idle_timeout_s = idle_timeout_s
        self.max_duration_s = max_duration_s
        self.overflow_samples = 0
        self.device_overflows = 0
        self.captured_samples = 0
        self._queue: queue.Queue = queue.Queue(maxsize=self.max_buffer_blocks)
        self._stopped = False

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        if status and status.input_overflow:
            self.device_overflows += 1
        try:
            self._queue.put_nowait((indata[:, 0].copy(), time.monotonic_ns()))
        except queue.Full:
            self.overflow_samples += frames

    def drop_counts(self) -> dict[str, int]:
        """Samples lost because the consumer fell behind the bounded buffer, and the overflows the
        audio device itself reported."""
        return {"overflow_samples": self.overflow_samples, "device_overflows": self.device_overflows}

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[Chunk]:
        sounddevice = _sounddevice()
        resampler = None
        if self.device_sample_rate_hz != self.sample_rate_hz:
            resampler = StreamResampler(self.device_sample_rate_hz, self.sample_rate_hz)
        emitted = 0
        max_samples = None if self.max_duration_s is None else int(self.max_duration_s * self.sample_rate_hz)
        try:
            stream = sounddevice.InputStream(
                samplerate=self.device_sample_rate_hz,
                blocksize=self.block_frames,
                device=self.device.index,
                channels=1,
                dtype="int16",
                callback=self._callback,
            )
        except Exception as error:  # PortAudioError and friends
            raise MicrophoneUnavailable(f"cannot open input device {self.device.name!r}: {error}") from error
        with stream:
            while not self._stopped and (max_samples is None or emitted < max_samples):
                try:
                    block, captured_ns = self._queue.get(timeout=self.idle_timeout_s)
                except queue.Empty:
                    break
                self.captured_samples += block.size
                samples = block.astype(np.float32) / 32768.0
                if resampler is not None:
                    samples = resampler.push(samples)
                if max_samples is not None:
                    samples = samples[: max_samples - emitted]
                if samples.size:
                    yield samples_chunk(samples, emitted, self.sample_rate_hz, captured_ns)
                    emitted += samples.size


def record_seconds(
    sample_rate_hz: int,
    seconds: float,
    device: int | str | None = None,
    device_sample_rate_hz: int | None = None,
    idle_timeout_s: float = 5.0,
) -> np.ndarray:
    """One take from a live input: ``seconds`` of mono float32 samples ``[N]`` at ``sample_rate_hz``
    (fewer when the device stops delivering for ``idle_timeout_s``). Raises :class:`MicrophoneUnavailable`
    when the device cannot be opened."""
    source = MicrophoneSource(
        sample_rate_hz,
        device,
        idle_timeout_s=idle_timeout_s,
        max_duration_s=seconds,
        device_sample_rate_hz=device_sample_rate_hz,
    )
    parts = [chunk.payload for chunk in source]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
