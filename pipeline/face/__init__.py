"""spikestream: spiking neural networks (Norse) on event-based audio and vision as the data streams in.

The library face (this file is the ``spikestream`` package; ``pyproject.toml`` maps it from
``pipeline/face/``)::

    import spikestream

    model = spikestream.load_model("fsdd-digits")
    stream = spikestream.open_stream("recordings/digits_sequence.wav", model)   # or "mic", a .aedat4, "udp://HOST:PORT"
    report = spikestream.run(stream, model, callback=print)

- :func:`load_model` (name or folder) → a loaded checkpoint;
- :func:`open_stream` (file, ``mic[:DEVICE]``, ``udp://HOST:PORT``, ``usb``) → a stream of chunks;
- :func:`run` (stream, model, sinks, callback) → the run report.

The packages: ``spikestream.sources`` (inputs → spike steps), ``spikestream.models`` (networks,
checkpoints), ``spikestream.pipeline`` (runtime, decisions, sinks, training, CLI). Names are
imported lazily, so ``import spikestream`` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["load_model", "open_stream", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("spikestream.pipeline.library"), name)
    raise AttributeError(f"module 'spikestream' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
