"""The library face: load a model, open any input, run it; ``import spikestream`` re-exports these.

    import spikestream
    model = spikestream.load_model("fsdd-digits")
    report = spikestream.run(spikestream.open_stream("recordings/digits_sequence.wav", model), model, callback=print)

The same three calls serve audio files, event recordings, microphones (``"mic"``) and UDP cameras
(``"udp://127.0.0.1:3333"``), from the main thread or a worker thread (nothing here touches signal
handlers). ``run`` closes the stream and its sinks and returns the :class:`RunReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..models.checkpoint import LoadedModel, load_checkpoint
from .detection import Detection
from .inputs import Stream, open_stream
from .runtime import RunReport, run_stream
from .sinks import build_sinks
from .streaming_model import make_streaming_model


def load_model(name_or_path: str | Path) -> LoadedModel:
    """A shipped checkpoint by name (``fsdd-digits``, ``dvs-gestures``) or a checkpoint folder."""
    return load_checkpoint(name_or_path)


def run(
    stream: Stream,
    model: LoadedModel,
    sinks: Sequence[str] | None = None,
    callback: Callable[[Detection], None] | None = None,
    threshold: float | None = None,
) -> RunReport:
    """Stream ``stream`` through ``model`` to its end; each detection goes to ``sinks`` (specs:
    ``"console"``, ``"jsonl"``, ``"jsonl:PATH"``) and ``callback``. ``threshold`` overrides the
    checkpoint's decision on-threshold. Returns the run report (detections, drops, timing)."""
    streaming_model = make_streaming_model(model, stream.name, {"on_threshold": threshold}, stream.live)
    with stream:
        return run_stream(
            stream, streaming_model, build_sinks(list(sinks or []), callback), stream.pacer, stream.drop_counts
        )


__all__ = ["load_model", "open_stream", "run"]
