"""The one registry of model kinds: a checkpoint's ``model_kind`` → its network and config classes.

A new kind of network (a spiking autoencoder, a VAE) registers here; :mod:`.checkpoint` builds
whatever kind a checkpoint names, and the pipeline drives any of them through the
``forward(x_seq, state) -> (y_seq, state)`` contract.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from .autoencoder import SpikingAutoencoder, SpikingAutoencoderConfig
from .conv_snn import ConvSNNClassifier, ConvSNNConfig
from .spiking_vae import ESVAE, FSVAE, ESVAEConfig, FSVAEConfig

DEFAULT_MODEL_KIND = "conv-snn-classifier"  # checkpoints written before model kinds existed


class ModelKind(NamedTuple):
    """How to build one kind of network from its plain-data config."""

    module_class: type[nn.Module]
    config_class: type
    outputs: str  # "logits" (classifiers) or "reconstruction" (autoencoders)


MODEL_KINDS: dict[str, ModelKind] = {
    DEFAULT_MODEL_KIND: ModelKind(ConvSNNClassifier, ConvSNNConfig, "logits"),
    "sae": ModelKind(SpikingAutoencoder, SpikingAutoencoderConfig, "reconstruction"),
    "fsvae": ModelKind(FSVAE, FSVAEConfig, "reconstruction"),
    "esvae": ModelKind(ESVAE, ESVAEConfig, "reconstruction"),
}


def model_kind_name(module: nn.Module) -> str:
    """The registered kind of ``module`` (raises ``ValueError`` for an unregistered class)."""
    for name, kind in MODEL_KINDS.items():
        if type(module) is kind.module_class:
            return name
    raise ValueError(f"{type(module).__name__} is not a registered model kind; expected one of {sorted(MODEL_KINDS)}")


def build_model(kind_name: str, model_config: dict) -> nn.Module:
    """A fresh network of ``kind_name`` from the ``model`` section of a checkpoint's config."""
    if kind_name not in MODEL_KINDS:
        raise ValueError(f"model kind {kind_name!r} is unknown; expected one of {sorted(MODEL_KINDS)}")
    kind = MODEL_KINDS[kind_name]
    return kind.module_class(kind.config_class.from_dict(model_config))
