"""Run the real ``spikestream`` command in a subprocess and parse its JSON-lines output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from spikestream.pipeline.training.evaluate import longest_common_subsequence  # noqa: F401 (the tests' import point)

REPO_ROOT = Path(__file__).resolve().parents[2]
SPIKESTREAM = [sys.executable, "-m", "spikestream.pipeline.cli"]


def run_cli(*args: str, env: dict | None = None, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        SPIKESTREAM + list(args), cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout_s
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def expected_digits() -> list[str]:
    meta = json.loads((REPO_ROOT / "recordings" / "digits_sequence.json").read_text())
    return [utterance["label"] for utterance in meta["utterances"]]
