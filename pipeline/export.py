"""``spikestream export MODEL --nir out.nir``: a checkpoint as a NIR graph, with what it needs beside it.

Writes ``out.nir`` (:func:`spikestream.models.nir_export.classifier_to_nir`) and ``out.json``: the
time step ``dt_s`` the graph runs at, how a step is computed (the discretisation), the checkpoint's
front end (so the graph can be fed the same spikes: MFCC or event-frame settings, normalisation,
encoder), its labels and decision settings. Before it reports success it reads the file back,
runs it through nirtorch (:class:`spikestream.models.nir_import.NirNetwork`) beside the checkpoint
on the same input steps, and records the largest difference of their readouts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nir
import torch

from ..models.checkpoint import LoadedModel
from ..models.nir_export import DISCRETISATION, classifier_to_nir, refusal
from ..models.nir_import import NirNetwork
from .errors import UsageError

ROUND_TRIP_STEPS = 200  # steps of deterministic test input compared after writing


def round_trip_difference(loaded: LoadedModel, nir_path: Path, dt_s: float, steps: int = ROUND_TRIP_STEPS) -> float:
    """Largest |readout difference| between the checkpoint and the graph read back from ``nir_path``,
    on ``steps`` steps of fixed pseudo-random input (spikes for binary inputs, normal values for MFCCs)."""
    generator = torch.Generator().manual_seed(0)
    shape = (steps, 1) + tuple(loaded.model.config.input_shape)
    if loaded.front_end_kind == "events":
        inputs = (torch.rand(shape, generator=generator) < 0.1).float()
    else:
        inputs = torch.randn(shape, generator=generator)
    with torch.no_grad():
        expected, _ = loaded.model(inputs)
        exported, _ = NirNetwork(nir_path, dt_s)(inputs)
    return float((expected - exported).abs().max())


def export_nir(loaded: LoadedModel, nir_path: Path) -> dict:
    """Write ``nir_path`` and its ``.json`` beside it; the JSON's content. :class:`UsageError` when the
    model cannot be exported exactly or the path cannot be written."""
    if nir_path.suffix != ".nir":
        raise UsageError(f"--nir {nir_path}: expected a file name ending in .nir")
    if not nir_path.parent.is_dir():
        raise UsageError(f"--nir {nir_path}: the folder {nir_path.parent} does not exist; create it first")
    if nir_path.is_dir():
        raise UsageError(f"--nir {nir_path}: is a folder; expected a file name ending in .nir")
    reason = refusal(loaded.model)
    if reason:
        raise UsageError(f"{loaded.name}: {reason}")
    dt_s = float(loaded.model.config.step_ms) / 1000.0
    graph = classifier_to_nir(loaded.model, dt_s)
    sidecar_path = nir_path.with_suffix(".json")
    partial = nir_path.with_name(nir_path.name + ".partial")
    try:
        nir.write(str(partial), graph)
        os.replace(partial, nir_path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UsageError(f"--nir {nir_path}: cannot write ({error.strerror or error})") from None
    sidecar = {
        "model": loaded.name,
        "checkpoint": str(loaded.path),
        "nir_version": nir.version,
        "dt_s": dt_s,
        "discretisation": DISCRETISATION,
        "input_node": "input",
        "input_shape": list(loaded.model.config.input_shape),
        "output_node": "output",
        "readout": "voltage of readout.li each step = the classifier's logits, read by the decision below",
        "labels": loaded.labels,
        "front_end": loaded.config["front_end"],
        "decision": loaded.config.get("decision", {}),
        "nodes": len(graph.nodes),
        "edges": len(graph.edges),
        "round_trip_steps": ROUND_TRIP_STEPS,
        "round_trip_max_abs_difference": round_trip_difference(loaded, nir_path, dt_s),
    }
    try:
        sidecar_path.write_text(json.dumps(sidecar, indent=1) + "\n")
    except OSError as error:
        raise UsageError(f"{sidecar_path}: cannot write ({error.strerror or error})") from None
    return sidecar
