"""Checkpoint format and registry: ``models/checkpoints/NAME/{config.json, weights.pt}``.

``config.json`` is plain data::

    {
      "name": "fsdd-digits",
      "task": "audio-classifier" | "gesture-classifier",
      "model_kind": "conv-snn-classifier",            # the registry's key (models/registry.py)
      "labels": ["background", "0", ..., "9"],      # index 0 is the background class
      "model": {...ConvSNNConfig...},
      "front_end": {...},                             # rebuilt by the pipeline through sources
      "decision": {...},                              # default decision settings
      "training": {...},                              # data, command, epochs, metrics, date
    }

``--model NAME`` resolves NAME as a folder path first, then as a shipped checkpoint.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint_paths import (  # noqa: F401 (re-exported: where checkpoints are, without torch)
    CHECKPOINT_DIR,
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    resolve_checkpoint,
    shipped_model_names,
)
from .registry import DEFAULT_MODEL_KIND, build_model, model_kind_name


@dataclass
class LoadedModel:
    """A network in eval mode, its checkpoint config (plain data) and the folder it came from."""

    model: nn.Module
    config: dict
    path: Path

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)

    @property
    def model_kind(self) -> str:
        return str(self.config.get("model_kind", DEFAULT_MODEL_KIND))

    @property
    def front_end_kind(self) -> str:
        """``"audio"`` or ``"events"``: which inputs this model takes."""
        return str(self.config.get("front_end", {}).get("kind", "audio"))

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])


def save_checkpoint(folder: str | Path, model: nn.Module, config: dict) -> Path:
    """Write ``weights.pt`` and ``config.json`` (with the model's kind and architecture) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config, model_kind=model_kind_name(model), model=model.config.to_dict())
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def load_checkpoint(name_or_path: str | Path) -> LoadedModel:
    """Load a checkpoint in eval mode; raises :class:`CheckpointError` with the reason."""
    folder = resolve_checkpoint(name_or_path)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
        model = build_model(config.get("model_kind", DEFAULT_MODEL_KIND), config["model"])
        state_dict = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{folder}: not a usable checkpoint ({error})") from error
    return LoadedModel(model.eval(), config, folder)
