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
    """

    time_us: int
    label: str
    score: float
    source: str
    latency_ms: float

    def to_json_dict(self) -> dict:
        """Stable JSON form: keys and units never change between releases."""
        return {
            "time_us": int(self.time_us),
            "time_s": round(self.time_us / 1e6, 3),
            "label": self.label,
            "score": round(float(self.score), 4),
            "source": self.source,
            "latency_ms": round(float(self.latency_ms), 2),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), sort_keys=True)

    def to_console(self) -> str:
        return (
            f"[{self.time_us / 1e6:8.2f} s] {self.label:<12} score {self.score:.2f}  "
            f"latency {self.latency_ms:6.1f} ms  ({self.source})"
        )
