"""Progress of a batch job on stderr: a tqdm bar on a terminal, plain periodic lines otherwise.

Both show files done of the total, failures, files/s and audio-seconds/s (seconds of audio
processed per wall second: 1000 = a thousand times real time), measured over this run only.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``advance(files, audio_s, failed)`` after each write; ``close()`` prints the last line."""

    def __init__(
        self,
        total_files: int,
        already_done: int,
        interval_s: float = 10.0,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total_files = total_files
        self.files = already_done
        self.failed = 0
        self.run_files = 0
        self.audio_s = 0.0
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._last_line = self.started
        self.bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_files, initial=already_done, unit="file", file=self.stream, smoothing=0.1)

    def rates(self) -> tuple[float, float]:
        """(files/s, audio-s/s) of this run."""
        elapsed_s = max(time.monotonic() - self.started, 1e-9)
        return self.run_files / elapsed_s, self.audio_s / elapsed_s

    def advance(self, files: int, audio_s: float, failed: int) -> None:
        self.files += files
        self.run_files += files
        self.audio_s += audio_s
        self.failed += failed
        files_per_s, audio_per_s = self.rates()
        if self.bar is not None:
            self.bar.update(files)
            self.bar.set_postfix_str(f"{files_per_s:.1f} files/s, {audio_per_s:.0f} audio-s/s, {self.failed} failed")
        elif self.enabled and time.monotonic() - self._last_line >= self.interval_s:
            self._print_line()

    def _print_line(self) -> None:
        files_per_s, audio_per_s = self.rates()
        share = f" ({100 * self.files / self.total_files:.0f}%)" if self.total_files else ""
        print(
            f"batch: {self.files}/{self.total_files} files{share}, {self.failed} failed, "
            f"{files_per_s:.1f} files/s, {audio_per_s:.0f} audio-s/s",
            file=self.stream,
            flush=True,
        )
        self._last_line = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._print_line()
