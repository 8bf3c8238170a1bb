"""Decisions: per-step model outputs → detections, one class per behaviour.

Every decision follows :class:`~.window.StreamDecision`: ``update(outputs [T, K])`` for some steps
returns the decisions fired in them, ``close()`` at the end of the stream reports an event still
open, ``reset()`` starts over. A checkpoint names its decision kind (``decision.mode``) and
:func:`make_decision` builds it from the registry :data:`DECISION_KINDS`.
"""

from __future__ import annotations

from .anomaly import AnomalyDecision
from .segment import SegmentDecision
from .threshold import ThresholdDecision
from .window import Decision, DecisionConfig, StreamDecision

DECISION_KINDS: dict[str, type[StreamDecision]] = {
    "threshold": ThresholdDecision,
    "segment": SegmentDecision,
    "anomaly": AnomalyDecision,
}


def make_decision(config: DecisionConfig, n_classes: int, step_us: int) -> StreamDecision:
    """The decision of kind ``config.mode`` for a readout of ``n_classes`` (class 0 = background)."""
    return DECISION_KINDS[config.mode](config, n_classes, step_us)


__all__ = [
    "DECISION_KINDS",
    "Decision",
    "DecisionConfig",
    "SegmentDecision",
    "StreamDecision",
    "ThresholdDecision",
    "make_decision",
]
