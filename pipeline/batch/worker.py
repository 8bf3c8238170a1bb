"""One task of a batch job: decode and featurise each file, then the network batched across files.

A task is a few consecutive listed files. Each file goes through its own front end and its own
decision, built by :func:`~spikestream.pipeline.streaming_model.make_streaming_model` exactly as a
single stream would be, and its chunks come from the one input factory
(:func:`~spikestream.pipeline.inputs.open_stream`; with ``pad`` the evaluator's padded chunks).
Only the network call is shared: the files' spike steps are sorted by length, grouped
``batch_size`` at a time, zero-padded at the end to the longest and run as one ``[T, B, …]`` call
from rest (each column keeps its own state; the network is causal, so padding after a file's end
changes none of its outputs), in slices of :data:`MAX_STEPS_PER_CALL` steps with the state passed
on; the lead silence every framed file begins with is run once per worker and each batch starts
from its state (:class:`SharedPrefix`). Each file's logits ``[T_i, K]`` then go to its own
decision. The network gives the same bits for a sequence whole or in pieces and for a column
alone or in a batch, so every row equals what :func:`~spikestream.pipeline.runtime.run_stream`
gives for that file (``tests/pipeline/test_batch.py``).

A file whose stream has a gap (an event recording whose timestamps jump; the model restarts from
rest there), and every file of an autoencoder (its decision reads the reconstruction error, which
the streaming model computes), is streamed on its own through ``run_stream``. Any failure of a file becomes its
failed row; nothing a file does stops the task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ...models.checkpoint import LoadedModel, load_checkpoint
from ...models.conv_snn import ConvSNNClassifier, repeat_state_columns
from ..detection import Detection
from ..inputs import AUDIO_BLOCK_MS, open_stream, sample_rate_hz
from ..runtime import run_stream
from ..streaming_model import StreamingModel, make_streaming_model, within_recording
from .listing import ListedInput
from .rows import failed_row, ok_row

MAX_STEPS_PER_CALL = 512  # bounds activation memory for long files ([512, B, C, F] per layer)
MAX_SOURCE_RATE_HZ = 384_000


@dataclass(frozen=True)
class JobSpec:
    """What every worker needs (plain data, sent once to each worker): the checkpoint to load, its
    name and version for the rows, the padding mode, ``top_k``, ``batch_size`` files per network call
    and ``soft_timeout_s`` (an in-process alarm per file; 0 = off, the local engine kills instead)."""

    model: str
    model_name: str
    model_version: str
    pad: bool = False
    top_k: int = 3
    batch_size: int = 8
    soft_timeout_s: float = 0.0


@dataclass
class FileSteps:
    """One decoded file: its spike steps ``[T, 1, …]``, duration (s), losses and its streaming model."""

    item: ListedInput
    steps: torch.Tensor
    duration_s: float
    drops: dict[str, int]
    model: StreamingModel
    detections: list[Detection] = field(default_factory=list)
    logits: torch.Tensor | None = None  # [T, K]
    levels_db: tuple[np.ndarray, np.ndarray] | None = None  # ([T], [T]): level and floor, when tracked
    final: bool = False  # detections already decided (a file streamed alone)
    reconstruction: dict[str, float] | None = None  # an autoencoder's whole-file scores


_LOADED: dict[str, LoadedModel] = {}
_PREFIXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network → its SharedPrefix, this process


def loaded_model(spec: JobSpec, loaded: LoadedModel | None = None) -> LoadedModel:
    """The job's checkpoint, loaded once per process (torch on one thread); ``loaded``: one loaded already."""
    if loaded is not None:
        _LOADED[spec.model] = loaded
    if spec.model not in _LOADED:
        torch.set_num_threads(1)
        _LOADED[spec.model] = load_checkpoint(spec.model)
    return _LOADED[spec.model]


class FileTimeout(Exception):
    """The soft per-file alarm fired."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`FileTimeout` in the main thread after ``seconds`` (0, or not the main thread: no alarm).
    Interrupts Python code and blocking system calls (a FIFO's ``open``), not a C loop: the engines kill
    the worker for those."""
    if seconds <= 0:
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise FileTimeout

    try:
        previous = signal.signal(signal.SIGALRM, fire)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def file_chunks(loaded: LoadedModel, path: str, pad: bool):
    """``(chunks, drop_counts, duration source)`` of one file: ``open_stream`` (bare, as replay), or the
    evaluator's chunks with its silence around the clip (``pad``)."""
    if not pad or loaded.front_end_kind != "audio":
        stream = open_stream(path, loaded)
        return stream, stream.drop_counts, None
    from ...sources.audio.audio_file import read_audio
    from ..training.evaluate import AUDIO_LEAD_S, AUDIO_TAIL_S, samples_chunks

    rate_hz = sample_rate_hz(loaded)
    samples = read_audio(path, rate_hz)
    chunks = samples_chunks(samples, rate_hz, AUDIO_BLOCK_MS, AUDIO_LEAD_S, AUDIO_TAIL_S)
    return chunks, dict, samples.size / rate_hz


def check_source_rate(loaded: LoadedModel, path: str) -> None:
    """Refuse a file recorded below the model's rate (upsampling invents no band the model was trained on,
    and a corrupt rate of a few Hz would expand into hours) or above 384 kHz."""
    if loaded.front_end_kind != "audio":
        return
    import soundfile

    try:
        native_hz = soundfile.info(path).samplerate
    except (soundfile.LibsndfileError, RuntimeError):
        return  # formats soundfile cannot open (MP3 via librosa): decoded and resampled as replay does
    model_hz = sample_rate_hz(loaded)
    if not model_hz <= native_hz <= MAX_SOURCE_RATE_HZ:
        raise ValueError(
            f"sample rate {native_hz} Hz is outside {model_hz}..{MAX_SOURCE_RATE_HZ} Hz: model needs audio "
            f"recorded at {model_hz} Hz or above; resample from the original recording"
        )


def decode_file(loaded: LoadedModel, spec: JobSpec, item: ListedInput) -> FileSteps:
    """Chunks → the file's own front end, exactly as ``StreamingModel.process`` pushes them, then flushed.
    A gap chunk sends the whole file through ``run_stream`` instead (its detections are final)."""
    if os.path.isfile(item.path) and os.path.getsize(item.path) == 0:
        raise ValueError(f"{item.path}: empty file (0 bytes); expected audio samples")
    chunks, drop_counts, duration_s = file_chunks(loaded, item.path, spec.pad)
    if not spec.pad:
        check_source_rate(loaded, item.path)
    model = make_streaming_model(loaded, item.path)
    if getattr(model, "reconstructs", False):  # an autoencoder's decision reads its reconstruction error
        return stream_alone(loaded, spec, item)
    front_end = model.front_end
    parts, end_us = [], 0
    for chunk in chunks:
        if chunk.gap:
            return stream_alone(loaded, spec, item)
        parts.append(front_end.push(chunk.payload))
        parts.append(front_end.advance_to(chunk.end_us))
        end_us = max(end_us, chunk.end_us)
    parts.append(front_end.flush())
    model.end_us = end_us  # as StreamingModel.process records it
    steps = torch.cat([part for part in parts if part.shape[0]] or [parts[-1]])
    duration = end_us / 1e6 if duration_s is None else duration_s
    return FileSteps(item, steps, duration, dict(drop_counts()), model, levels_db=model.take_levels())


def stream_alone(loaded: LoadedModel, spec: JobSpec, item: ListedInput) -> FileSteps:
    """A file with gaps through the runtime itself (no batching); its detections are final."""
    chunks, drop_counts, _ = file_chunks(loaded, item.path, spec.pad)
    model = make_streaming_model(loaded, item.path)
    report = run_stream(chunks, model, sinks=[], drop_counts=drop_counts)
    empty = torch.zeros((0, 1) + tuple(loaded.model.config.input_shape))
    done = FileSteps(item, empty, report.stream_us / 1e6, report.source_drops, model, report.detections)
    done.logits = torch.zeros((0, len(loaded.labels)))
    done.final = True
    done.reconstruction = model.reconstruction_metrics() if model.reconstructs else None
    return done


class SharedPrefix:
    """The steps every framed file of a job begins with (the front end's lead silence, before the
    first frame that reaches the audio) and the network's logits ``[k, K]`` and one-column state after
    the first ``k`` of them, from rest: computed once per worker instead of once per file.

    The prefix is taken from the first batch of several files (their longest common run of equal
    steps); a later batch uses the part of it that all its files share, step for step (``torch.equal``
    per step), so a file that does not start with it simply runs from rest. The network gives the same
    bits for a sequence whole or in pieces and for a column alone or in a batch, so the logits are those
    of running every file from rest (``tests/pipeline/test_batch.py``)."""

    MAX_STEPS = 256
    MIN_STEPS = 4  # shorter shared runs are not worth a state copy
    MAX_CACHED = 8  # prefix lengths kept (a job's files usually all share one)

    def __init__(self) -> None:
        self.steps: torch.Tensor | None = None  # [P, 1, …]
        self.runs: dict[int, tuple[torch.Tensor, tuple]] = {}  # k → (logits [k, K], state)

    def shared_length(self, steps: list[torch.Tensor]) -> int:
        """How many leading steps every file of ``steps`` shares with the prefix (0: none or too few);
        each file keeps at least one step of its own."""
        if self.steps is None:
            if len(steps) < 2:
                return 0
            self.steps = steps[0][: self.MAX_STEPS].clone()
        length = min([self.steps.shape[0]] + [part.shape[0] - 1 for part in steps])
        for part in steps:
            if length < self.MIN_STEPS:
                return 0
            same = (part[:length] == self.steps[:length]).flatten(1).all(dim=1)
            length = int(same.long().cumprod(dim=0).sum())
        return length if length >= self.MIN_STEPS else 0

    def run(self, network: torch.nn.Module, length: int) -> tuple[torch.Tensor, tuple]:
        """Logits ``[length, K]`` and the one-column state after the prefix's first ``length`` steps."""
        if length not in self.runs:
            if len(self.runs) >= self.MAX_CACHED:
                self.runs.clear()
            with torch.no_grad():
                logits, state = network(self.steps[:length], None)
            self.runs[length] = (logits[:, 0], state)
        return self.runs[length]


def run_network(
    network: torch.nn.Module, steps: list[torch.Tensor], prefix: SharedPrefix | None = None
) -> list[torch.Tensor]:
    """Spike steps of several files ``[T_i, 1, …]`` → their logits ``[T_i, K]``: one zero-padded batch
    ``[max T_i, B, …]`` from rest, in slices of :data:`MAX_STEPS_PER_CALL` with the state passed on;
    with ``prefix`` (a conv SNN classifier), the steps all files share with it are not run again."""
    shared = prefix.shared_length(steps) if prefix is not None else 0
    longest = max(part.shape[0] for part in steps)
    batch = torch.zeros((longest - shared, len(steps)) + tuple(steps[0].shape[2:]))
    for column, part in enumerate(steps):
        batch[: part.shape[0] - shared, column] = part[shared:, 0]
    outputs, state = [], None
    if shared:
        prefix_logits, prefix_state = prefix.run(network, shared)
        outputs.append(prefix_logits[:, None].expand(shared, len(steps), prefix_logits.shape[-1]))
        state = repeat_state_columns(prefix_state, len(steps))
    with torch.no_grad():
        for start in range(0, longest - shared, MAX_STEPS_PER_CALL):
            logits, state = network(batch[start : start + MAX_STEPS_PER_CALL], state)
            outputs.append(logits)
    logits = torch.cat(outputs)
    return [logits[: part.shape[0], column] for column, part in enumerate(steps)]


def infer_batched(loaded: LoadedModel, files: list[FileSteps], batch_size: int) -> None:
    """Network logits for every file with steps, ``batch_size`` files per call, bucketed by length."""
    waiting = sorted((f for f in files if f.logits is None and f.steps.shape[0]), key=lambda f: f.steps.shape[0])
    network = loaded.model.eval()
    prefix = _PREFIXES.setdefault(network, SharedPrefix()) if isinstance(network, ConvSNNClassifier) else None
    for start in range(0, len(waiting), batch_size):
        group = waiting[start : start + batch_size]
        for done, logits in zip(group, run_network(network, [f.steps for f in group], prefix)):
            done.logits = logits
    for file in files:
        if file.logits is None:  # no step at all (a file shorter than one frame)
            file.logits = torch.zeros((0, len(loaded.labels)))


def decide(file: FileSteps) -> list[Detection]:
    """The file's logits through its own decision (then closed at the end of the file), as the runtime does;
    decisions become detections through the streaming model's own mapping."""
    decision = file.model.decision
    fired = decision.update(file.logits, file.levels_db) if file.logits.shape[0] else []
    fired += decision.close()
    return within_recording(file.model._detections(fired, 0), file.model.end_us)


def peak_top_k(logits: torch.Tensor, window_steps: int, labels: list[str], k: int) -> list[dict]:
    """The ``k`` non-background classes of highest peak window-mean probability (the decision's window,
    starting in background) over logits ``[T, K]``, best first; ties in label order."""
    if logits.shape[0] == 0:
        return []
    probabilities = torch.softmax(logits.float(), dim=-1).double().numpy()
    background = np.zeros((window_steps - 1, probabilities.shape[1]))
    background[:, 0] = 1.0
    padded = np.concatenate([background, probabilities])
    cumulative = np.concatenate([np.zeros((1, padded.shape[1])), np.cumsum(padded, axis=0)])
    means = (cumulative[window_steps:] - cumulative[:-window_steps]) / window_steps
    peaks = means.max(axis=0)[1:]
    order = sorted(range(peaks.size), key=lambda i: (-peaks[i], i))[:k]
    return [{"label": labels[i + 1], "score": round(float(peaks[i]), 4)} for i in order]


def detection_json(detection: Detection) -> dict:
    """A detection in a row: the stable JSON form without source and latency (rows hold no wall time)."""
    return {key: value for key, value in detection.to_json_dict().items() if key not in ("source", "latency_ms")}


def failure_reason(error: BaseException, spec: JobSpec) -> str:
    """A failed row's ``error``: the domain message (it names the file and what was expected), or the type."""
    if isinstance(error, FileTimeout):
        return f"timed out: decoding took longer than {spec.soft_timeout_s:g} s (--timeout-s)"
    text = str(error).strip() or type(error).__name__
    return text if isinstance(error, ValueError) else f"{type(error).__name__}: {text}"


def run_task(spec: JobSpec, items: list[ListedInput], on_file: Callable[[int], None] | None = None) -> list[dict]:
    """Rows of ``items`` in their order. ``on_file(index)`` is called as each file starts decoding and with
    ``-1`` when the batched inference starts (the local engine's watchdog follows it)."""
    loaded = loaded_model(spec)
    model_id = (spec.model_name, spec.model_version)
    rows: dict[int, dict] = {}
    decoded: list[FileSteps] = []
    for item in items:
        if on_file is not None:
            on_file(item.index)
        try:
            with alarm(spec.soft_timeout_s):
                decoded.append(decode_file(loaded, spec, item))
        except Exception as error:  # a bad file is a failed row, never the end of the task
            rows[item.index] = failed_row(item.index, item.path, item.truth, model_id, failure_reason(error, spec))
    if on_file is not None:
        on_file(-1)
    infer_batched(loaded, decoded, spec.batch_size)
    labels = loaded.labels
    for file in decoded:
        detections = file.detections if file.final else decide(file)
        window_steps = file.model.decision.config.window_steps
        rows[file.item.index] = ok_row(
            file.item.index,
            file.item.path,
            file.item.truth,
            model_id,
            file.duration_s,
            [detection_json(d) for d in detections],
            peak_top_k(file.logits, window_steps, labels, spec.top_k),
            file.drops,
            file.reconstruction,
        )
    return [rows[item.index] for item in items]
