"""The one evaluator: labelled recordings streamed through the same runtime as live input.

Every recording is streamed on its own through the checkpoint's front end, network (persistent
state) and decision, as fast as possible. The prediction is the first detection's label, or
``none`` when nothing was detected. Every task writes the same ``metrics.json`` keys (``accuracy``,
``clips``, ``missed``, ``per_class_recall``, ``confusion``, …), ``predictions.jsonl`` and
``confusion.png``.

Audio clips are streamed bare, exactly as ``replay`` streams the file (the audio front end
itself frames every recorded stream with silence, see :mod:`spikestream.sources.audio.front_end`);
``pad=True`` adds the older evaluator's 0.3 s of silence before and 0.7 s after on top. Event
recordings are streamed as they are.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...models.checkpoint import LoadedModel
from ...sources.audio.audio_file import read_audio, samples_chunk
from ...sources.chunk import Chunk
from ...sources.events.chunking import RecordingChunks
from ...sources.events.formats.dispatch import EVENT_EXTENSIONS
from ...sources.labelled_clips import LabelledClip, list_labelled_clips, split_by_take
from ...sources.step_targets import UNKNOWN_LABEL
from ..inputs import AUDIO_BLOCK_MS, model_sensor, open_event_recording, sample_rate_hz
from ..runtime import RunReport, run_stream
from ..streaming_model import StreamingModel, make_streaming_model
from .loop import progress_interval_s

NO_DETECTION = "none"
AUDIO_LEAD_S, AUDIO_TAIL_S = 0.3, 0.7  # silence around an evaluated clip


@dataclass(frozen=True)
class LabelledInput:
    """One recording to evaluate: its name, true label, and a function giving its chunks."""

    name: str
    label: str
    chunks: Callable[[], Iterable[Chunk]]


@dataclass
class ClipResult:
    path: str
    truth: str
    predicted: str
    detections: int
    score: float


def evaluation_clips(data_dir: str | Path, split: str, extensions: tuple[str, ...] | None = None) -> list[LabelledClip]:
    """``split``: ``test`` (FSDD takes 0–4 when names carry takes, else all), ``train`` or ``all``."""
    clips = (
        list_labelled_clips(data_dir)
        if extensions is None
        else list_labelled_clips(data_dir, extensions, "event recordings")
    )
    train, test = split_by_take(clips)
    if split == "all" or (split == "test" and not test):
        return clips
    return test if split == "test" else train


def samples_chunks(
    samples: np.ndarray, sample_rate_hz: int, block_ms: float = AUDIO_BLOCK_MS, lead_s: float = 0.0, tail_s: float = 0.0
) -> Iterator[Chunk]:
    """In-memory samples with ``lead_s`` / ``tail_s`` of silence before and after, cut into blocks."""
    padded = np.concatenate(
        [
            np.zeros(int(lead_s * sample_rate_hz), np.float32),
            samples.astype(np.float32),
            np.zeros(int(tail_s * sample_rate_hz), np.float32),
        ]
    )
    block = max(1, int(sample_rate_hz * block_ms / 1000))
    for start in range(0, padded.size, block):
        piece = padded[start : start + block]
        yield samples_chunk(piece, start, sample_rate_hz)


def longest_common_subsequence(first: list[str], second: list[str]) -> int:
    """Length of the longest common subsequence of two label lists: how much of an expected word or
    gesture sequence a stream's detections read back in order."""
    table = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            table[i + 1][j + 1] = table[i][j] + 1 if a == b else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def stream_clip(
    loaded: LoadedModel,
    samples: np.ndarray,
    source_name: str,
    lead_s: float = AUDIO_LEAD_S,
    tail_s: float = AUDIO_TAIL_S,
    model: StreamingModel | None = None,
) -> RunReport:
    """One audio clip through the streaming pipeline (``model``: the checkpoint's own by default)."""
    model = model or make_streaming_model(loaded, source_name)
    return run_stream(samples_chunks(samples, sample_rate_hz(loaded), AUDIO_BLOCK_MS, lead_s, tail_s), model, sinks=[])


def labelled_inputs(loaded: LoadedModel, clips: list[LabelledClip], pad: bool = False) -> list[LabelledInput]:
    """Audio clips or event recordings (by the model's front end) as evaluator inputs."""
    if loaded.front_end_kind == "audio":
        rate = sample_rate_hz(loaded)
        lead_s, tail_s = (AUDIO_LEAD_S, AUDIO_TAIL_S) if pad else (0.0, 0.0)
        return [
            LabelledInput(
                clip.path.name,
                clip.label,
                lambda clip=clip: samples_chunks(read_audio(clip.path, rate), rate, AUDIO_BLOCK_MS, lead_s, tail_s),
            )
            for clip in clips
        ]
    sensor = model_sensor(loaded)
    return [
        LabelledInput(
            clip.path.name,
            clip.label,
            lambda clip=clip: RecordingChunks(open_event_recording(clip.path, sensor, []), sensor),
        )
        for clip in clips
    ]


def evaluate_inputs(
    loaded: LoadedModel,
    inputs: list[LabelledInput],
    classes: list[str],
    out_dir: str | Path | None = None,
    about: dict | None = None,
) -> dict:
    """Stream every input on its own; return the metrics (with ``about``, e.g. the data's name) and
    write them under ``out_dir`` when given."""
    results = []
    for item in tqdm(inputs, desc="evaluating (streaming)", file=sys.stderr, mininterval=progress_interval_s()):
        report = run_stream(item.chunks(), make_streaming_model(loaded, item.name), sinks=[])
        first = report.detections[0] if report.detections else None
        results.append(
            ClipResult(
                item.name,
                item.label,
                first.label if first else NO_DETECTION,
                len(report.detections),
                first.score if first else 0.0,
            )
        )
    metrics = summarise(results, classes)
    metrics["model"] = str(loaded.path)
    metrics.update(about or {})
    if out_dir is not None:
        write_report(metrics, results, Path(out_dir))
    return metrics


def evaluate_folder(
    loaded: LoadedModel, data_dir: str | Path, split: str = "all", out_dir: str | Path | None = None, pad: bool = False
) -> dict:
    """A folder of labelled recordings (audio or events, by the model) through :func:`evaluate_inputs`."""
    extensions = None if loaded.front_end_kind == "audio" else EVENT_EXTENSIONS
    clips = evaluation_clips(data_dir, split, extensions)
    unknown = sorted({clip.label for clip in clips} - set(loaded.labels[1:]))
    about: dict = {"data": str(data_dir), "padded": pad}
    if unknown and UNKNOWN_LABEL in loaded.labels:  # other words: right when rejected (unknown or nothing)
        clips = [replace(clip, label=UNKNOWN_LABEL) if clip.label in unknown else clip for clip in clips]
        about["labels_counted_as_unknown"] = unknown
    elif unknown:
        raise ValueError(
            f"{data_dir}: labels {unknown} are not among model {loaded.name!r}'s labels {loaded.labels[1:]}"
        )
    return evaluate_inputs(loaded, labelled_inputs(loaded, clips, pad), loaded.labels[1:], out_dir, about)


def evaluate_audio(
    loaded: LoadedModel, clips: list[LabelledClip], out_dir: str | Path | None = None, pad: bool = False
) -> dict:
    """Stream labelled audio clips (bare, as ``replay``; with extra silence around them when ``pad``) and score them."""
    return evaluate_inputs(loaded, labelled_inputs(loaded, clips, pad), loaded.labels[1:], out_dir)


def is_correct(result: ClipResult) -> bool:
    """Right label, or an other word (truth ``unknown``) rejected: reported as unknown or not at all."""
    return result.truth == result.predicted or (result.truth == UNKNOWN_LABEL and result.predicted == NO_DETECTION)


def summarise(results: list[ClipResult], labels: list[str]) -> dict:
    columns = labels + [NO_DETECTION]
    confusion = np.zeros((len(labels), len(columns)), dtype=np.int64)
    for result in results:
        if result.truth in labels:
            confusion[
                labels.index(result.truth), columns.index(result.predicted) if result.predicted in columns else -1
            ] += 1
    correct = sum(is_correct(result) for result in results)
    detections_per_clip = Counter(result.detections for result in results)
    return {
        "clips": len(results),
        "accuracy": correct / max(len(results), 1),
        "missed": sum(result.predicted == NO_DETECTION for result in results),
        "clips_with_more_than_one_detection": sum(result.detections > 1 for result in results),
        "detections_per_clip": {str(k): v for k, v in sorted(detections_per_clip.items())},
        "per_class_recall": {
            label: float(
                (confusion[i, i] + (confusion[i, -1] if label == UNKNOWN_LABEL else 0)) / max(confusion[i].sum(), 1)
            )
            for i, label in enumerate(labels)
        },
        "confusion": {"rows_truth": labels, "columns_predicted": columns, "counts": confusion.tolist()},
    }


def write_report(metrics: dict, results: list[ClipResult], out_dir: Path) -> None:
    """``metrics.json``, ``predictions.jsonl`` and ``confusion.png`` into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(out_dir / "predictions.jsonl", "w", encoding="utf-8") as stream:
        for result in results:
            stream.write(json.dumps(result.__dict__) + "\n")
    confusion = np.array(metrics["confusion"]["counts"])
    figure, axes = plt.subplots(figsize=(1 + 0.55 * confusion.shape[1], 1 + 0.5 * confusion.shape[0]))
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(confusion.shape[1]), metrics["confusion"]["columns_predicted"], rotation=45)
    axes.set_yticks(range(confusion.shape[0]), metrics["confusion"]["rows_truth"])
    for (row, column), count in np.ndenumerate(confusion):
        if count:
            axes.text(
                column,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="black" if count < confusion.max() / 2 else "white",
            )
    axes.set_xlabel("predicted (first detection)")
    axes.set_ylabel("true label")
    axes.set_title(f"streaming accuracy {metrics['accuracy']:.3f} on {metrics['clips']} clips")
    figure.tight_layout()
    figure.savefig(out_dir / "confusion.png", dpi=100)
    plt.close(figure)
