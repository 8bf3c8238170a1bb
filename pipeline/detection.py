"""The detection record every sink receives, with a stable JSON form."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """One detected event.

    Attributes:
        time_us: stream time (µs from the start of the stream) of the step that fired.
        label: class name, e.g. ``"7"`` or ``"hand_clap"``.
        score: window-mean probability of that class in [0, 1].
        source: where the stream came from (file name, ``mic:<device>``, ``udp://host:port``).
        latency_ms: wall-clock time from when the input that fired became available (captured,
            received, or released by the replay pacer) to when the detection was made.
        threshold: for anomaly detections and scores, the calibrated threshold the score (a
            reconstruction error; for ``"hot-pixels"``, a steady pixel rate in Hz) is compared with;
            ``None`` for classifiers.
    """

    time_us: int
    label: str
    score: float
    source: str
    latency_ms: float
    threshold: float | None = None

    def to_json_dict(self) -> dict:
        """Stable JSON form: keys and units never change between releases (``threshold`` only on
        anomaly records)."""
        record = {
            "time_us": int(self.time_us),
            "time_s": round(self.time_us / 1e6, 3),
            "label": self.label,
            "score": round(float(self.score), 6 if self.threshold is not None else 4),
            "source": self.source,
            "latency_ms": round(float(self.latency_ms), 2),
        }
        if self.threshold is not None:
            record["threshold"] = round(float(self.threshold), 6)
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), sort_keys=True)

    def to_console(self) -> str:
        score = (
            f"score {self.score:.2f}"
            if self.threshold is None
            else f"error {self.score:.4g} (threshold {self.threshold:.4g})"
        )
        return (
            f"[{self.time_us / 1e6:8.2f} s] {self.label:<12} {score}  "
            f"latency {self.latency_ms:6.1f} ms  ({self.source})"
        )
