"""`make bench`: every benchmark that needs no training, one after another, each writing bench/results/*.json.

The training benchmarks take hours on two cores and are run by name (see the README):
``bench_unseen_speaker.py`` (four trainings per speaker), then ``bench_decision_pooling.py`` (on its
models), and ``bench_ensemble.py MEMBER ...`` (on trained ensemble members).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
QUICK_BENCHMARKS = ("bench_audio.py", "bench_events.py", "bench_event_binning.py", "bench_udp_camera.py")


def main() -> int:
    failed = []
    for name in QUICK_BENCHMARKS:
        started = time.perf_counter()
        print(f"== {name}", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, str(BENCH / name)], cwd=BENCH.parent)
        print(
            f"== {name}: exit {result.returncode} after {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        if result.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
