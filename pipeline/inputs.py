"""The one input factory: :func:`open_stream` turns any target into the runtime's chunk stream.

Targets: an audio file (``.wav .flac .ogg .mp3 …``), an event recording (any format
:func:`~spikestream.sources.events.formats.dispatch.open_recording` reads), ``mic`` / ``mic:DEVICE``
(a microphone by index or name), ``udp://HOST:PORT`` (a live event camera sending SPIF packets) and
``usb`` / ``usb://SERIAL`` (aestream's USB drivers). The model decides the sample rate or sensor
geometry the source delivers, and a model that does not take the target's kind of input is refused.

A :class:`Stream` is the source's chunks, its pacing (a replay is paced by the recording's own
timestamps, a live source by the device) and its loss report, ``drop_counts()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.checkpoint import LoadedModel
from ..sources.audio.audio_file import AUDIO_EXTENSIONS, AudioFileSource
from ..sources.chunk import Chunk
from ..sources.events.chunking import RecordingChunks
from ..sources.events.event_array import SensorSize
from ..sources.events.formats.dispatch import open_recording
from ..sources.events.formats.recording import EventRecording, MissingSensorSizeError
from .errors import UsageError
from .preflight import check_recording_path
from .runtime import ReplayPacer

# Audio arrives in 80 ms blocks (8 SNN steps per model call; openWakeWord uses the same block):
# the per-call cost of the small convolutions is shared by 8 steps. Adds at most 80 ms of capture delay.
AUDIO_BLOCK_MS = 80.0
MICROPHONE_PREFIX = "mic"
CAMERA_SCHEMES = ("udp://", "aestream+udp://", "usb")


@dataclass
class Stream:
    """One opened input: ``chunks`` to iterate once, the ``pacer`` of a replay (``None`` for live
    input), and ``drop_counts()`` of what the source lost. Close it (or use ``with``) to release a
    device or socket."""

    name: str
    input_kind: str  # "audio" or "events": what the model's front end must take
    chunks: Iterable[Chunk]
    drop_counts: Callable[[], dict[str, int]]
    pacer: ReplayPacer | None = None
    live: bool = False
    on_close: Callable[[], None] | None = None
    source: Any = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # what the factory assumed, for the user to see

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self.chunks)

    def close(self) -> None:
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def target_kind(target: str | Path) -> str:
    """``"microphone"``, ``"camera"``, ``"audio"`` (an audio file) or ``"events"`` (an event recording)."""
    text = str(target)
    if text == MICROPHONE_PREFIX or text.startswith(MICROPHONE_PREFIX + ":"):
        return "microphone"
    if text.startswith(CAMERA_SCHEMES) or "://" in text:
        return "camera"
    return "audio" if Path(text).suffix.lower() in AUDIO_EXTENSIONS else "events"


def model_sensor(loaded: LoadedModel) -> SensorSize:
    """The sensor geometry an event model was trained on."""
    front_end = loaded.config["front_end"]
    return SensorSize(front_end["sensor_width"], front_end["sensor_height"])


def sample_rate_hz(loaded: LoadedModel) -> int:
    """The sample rate an audio model was trained on."""
    return int(loaded.config["front_end"]["mfcc"]["sample_rate_hz"])


INPUT_DESCRIPTIONS = {"audio": "audio", "events": "event-camera input", "images": "still images (MNIST)"}


def check_model_fits(loaded: LoadedModel, input_kind: str, target: str) -> None:
    """Refuse a model whose front end takes another kind of input than ``target`` gives."""
    if loaded.front_end_kind != input_kind:
        takes = INPUT_DESCRIPTIONS.get(loaded.front_end_kind, loaded.front_end_kind)
        gives = INPUT_DESCRIPTIONS[input_kind]
        raise UsageError(
            f"{target} gives {gives} but model {loaded.name!r} takes {takes}; pass --model with a model "
            f"for {gives} (e.g. {'fsdd-digits' if input_kind == 'audio' else 'dvs-gestures'})"
        )


def open_stream(
    target: str | Path,
    model: LoadedModel,
    *,
    speed: float = 0.0,
    block_ms: float = AUDIO_BLOCK_MS,
    seconds: float | None = None,
    idle_timeout_s: float | None = 5.0,
    buffer_s: float = 10.0,
    device_rate_hz: int | None = None,
) -> Stream:
    """Open ``target`` for ``model`` (see the module docstring). ``speed``: replay pace (1 = real
    time, 0 = as fast as possible; live input ignores it); ``seconds``: stop live input after this
    long; ``idle_timeout_s``: stop live input when nothing arrives for this long after the first input;
    ``buffer_s`` / ``device_rate_hz``: microphone capture buffer and rate. Raises
    :class:`~.errors.UsageError`, ``AudioFileError``, ``EventFileError`` or ``MicrophoneUnavailable``
    before anything streams."""
    kind = target_kind(target)
    if kind == "microphone":
        return _open_microphone(str(target), model, block_ms, seconds, idle_timeout_s, buffer_s, device_rate_hz)
    if kind == "camera":
        return _open_camera(str(target), model, seconds, idle_timeout_s)
    pacer = ReplayPacer(speed)
    path = Path(target)
    check_recording_path(path)
    if kind == "audio":
        check_model_fits(model, "audio", str(path))
        source = AudioFileSource(path, sample_rate_hz(model), block_ms)
        return Stream(path.name, "audio", source, source.drop_counts, pacer, source=source)
    check_model_fits(model, "events", str(path))
    notes: list[str] = []
    recording = open_event_recording(path, model_sensor(model), notes)
    chunks = RecordingChunks(recording, model_sensor(model))
    return Stream(path.name, "events", chunks, chunks.drop_counts, pacer, source=recording, notes=notes)


def open_event_recording(path: Path, fallback_sensor: SensorSize | None, notes: list[str]) -> EventRecording:
    """Open any event file; one whose format stores no geometry (``.npy``) takes ``fallback_sensor``
    (and a note saying so) or, without one, raises the reader's error naming the option to pass."""
    try:
        return open_recording(path)
    except MissingSensorSizeError:
        if fallback_sensor is None:
            raise
    notes.append(f"{path.name} stores no sensor size; reading it as {fallback_sensor.width}x{fallback_sensor.height}")
    return open_recording(path, sensor_size=fallback_sensor)


def _open_microphone(
    target: str,
    model: LoadedModel,
    block_ms: float,
    seconds: float | None,
    idle_timeout_s: float | None,
    buffer_s: float,
    device_rate_hz: int | None,
) -> Stream:
    from ..sources.audio.microphone import MicrophoneSource

    check_model_fits(model, "audio", target)
    device = target.partition(":")[2] or None  # an index or (part of) a name: resolve_input_device reads both
    microphone = MicrophoneSource(
        sample_rate_hz(model),
        device,
        block_ms,
        max_buffer_s=buffer_s,
        idle_timeout_s=idle_timeout_s,
        max_duration_s=seconds,
        device_sample_rate_hz=device_rate_hz,
    )
    return Stream(
        microphone.name,
        "audio",
        microphone,
        microphone.drop_counts,
        live=True,
        on_close=microphone.stop,
        source=microphone,
    )


def _open_camera(target: str, model: LoadedModel, seconds: float | None, idle_timeout_s: float | None) -> Stream:
    from ..sources.events.live.live_chunks import LiveEventChunks
    from ..sources.events.live.udp_camera import check_usb_camera_support, open_camera, parse_camera_uri

    check_model_fits(model, "events", target)
    try:
        spec = parse_camera_uri(target)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if spec.transport == "aestream+udp":
        raise UsageError(
            f"camera {target!r}: aestream's own UDP receiver is not offered: it writes each event into memory "
            "without checking its coordinates, so one malformed datagram crashes the process. "
            f"Use udp://{spec.host}:{spec.port}, which reads the same SPIF packets and checks every event"
        )
    try:
        if spec.transport == "usb":
            check_usb_camera_support()
        receiver = open_camera(spec, model_sensor(model), idle_timeout_s=None)
    except (RuntimeError, OSError) as error:
        raise UsageError(f"camera {target!r}: {error}") from None
    try:
        chunks = LiveEventChunks(receiver, target, duration_s=seconds, idle_timeout_s=idle_timeout_s)
    except ValueError as error:
        receiver.close()
        raise UsageError(str(error)) from None
    return Stream(target, "events", chunks, chunks.drop_counts, live=True, on_close=receiver.close, source=chunks)
