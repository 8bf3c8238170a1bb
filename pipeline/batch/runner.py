"""The batch runner: listing → tasks → engine → rows in input order → journal → output and summary.

One job is the same whatever the engine and the number of workers: tasks of consecutive files are
handed out while the listing is read (never ahead of a bounded window past the next row to write),
their rows wait until every earlier row is there, and then go to the journal in one append
(:mod:`.results`). A task that produced no rows (a file that hung or crashed its worker) is retried
without the file that caused it, which gets a failed row; when the engine cannot say which file it
was, the task's files are retried one per task. A rerun of the same command keeps the journal's
valid prefix (counted into the summary as skipped) and carries on after it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...models.checkpoint import LoadedModel, load_checkpoint
from ...sources.audio.audio_file import AUDIO_EXTENSIONS
from ...sources.events.formats.dispatch import EVENT_EXTENSIONS
from ..errors import UsageError
from .engines import Engine, Outcome, Task, make_engine
from .listing import ListedInput, check_inputs, check_matches, iter_inputs
from .progress import Progress
from .results import Journal, check_output
from .rows import failed_row, row_line
from .summary import BatchSummary, summary_paths, write_summary
from .worker import JobSpec, loaded_model

TASKS_PER_WORKER_AHEAD = 4  # how far past the next row to write the runner hands out tasks
POLL_S = 0.2


@dataclass
class BatchOptions:
    """A batch job. ``inputs``: files, folders, globs; ``files_from``: a list file (one path per line);
    ``pad``: the evaluator's silence around each clip (0.3 s before, 0.7 s after) instead of the bare
    file; ``batch_size``: files per network call; ``timeout_s``: per file decode; ``workers``: default
    the core count."""

    inputs: list[str]
    out: Path
    model: str = "fsdd-digits"
    files_from: Path | None = None
    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    timeout_s: float = 60.0
    top_k: int = 3
    batch_size: int = 8
    pad: bool = False
    overwrite: bool = False
    progress_s: float = 10.0
    quiet: bool = False
    about: dict = field(default_factory=dict)

    @property
    def files_per_task(self) -> int:
        return 4 * self.batch_size


def model_version(loaded: LoadedModel) -> str:
    """First 12 hex digits of the SHA-256 of the checkpoint's files (config, then weights)."""
    digest = hashlib.sha256()
    for name in ("config.json", "weights.pt"):
        path = Path(loaded.path) / name
        if path.is_file():
            with open(path, "rb") as stream:
                for block in iter(lambda stream=stream: stream.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:12]


def resume(
    journal: Journal, listing: Iterator[ListedInput], summary: BatchSummary
) -> tuple[int, Iterator[ListedInput]]:
    """Keep the journal's longest valid prefix (whole lines naming the listed inputs in order), count it
    into ``summary``, cut the rest; return the next index and the listing from there."""
    kept_bytes, kept_rows = 0, 0
    for offset, line in journal.existing_lines():
        item = next(listing, None)
        try:
            row = json.loads(line)
            valid = item is not None and row["index"] == item.index and row["path"] == item.path
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            if item is not None:
                listing = itertools.chain([item], listing)
            break
        summary.add(row, from_earlier_run=True)
        kept_bytes, kept_rows = offset + len(line), kept_rows + 1
    journal.truncate(kept_bytes)
    return kept_rows, listing


def tasks_of(listing: Iterator[ListedInput], files_per_task: int) -> Iterator[list[ListedInput]]:
    while True:
        items = list(itertools.islice(listing, files_per_task))
        if not items:
            return
        yield items


class Scheduler:
    """Keeps the engine fed, retries tasks without rows, and orders rows for the writer."""

    def __init__(self, engine: Engine, spec: JobSpec, next_index: int, ahead_files: int) -> None:
        self.engine = engine
        self.model_id = (spec.model_name, spec.model_version)
        self.next_index = next_index
        self.ahead_files = ahead_files
        self.in_flight = 0
        self.ids = itertools.count()
        self.ready: dict[int, dict] = {}

    def submit(self, items: list[ListedInput], urgent: bool = False) -> None:
        self.engine.submit(Task(next(self.ids), items), urgent)
        self.in_flight += 1

    def take(self, outcome: Outcome) -> None:
        self.in_flight -= 1
        if outcome.rows is not None:
            self.ready.update((row["index"], row) for row in outcome.rows)
            return
        items = outcome.task.items
        if outcome.culprit is None and len(items) > 1:
            for item in items:  # which file it was is unknown: each alone
                self.submit([item], urgent=True)
            return
        culprit = outcome.culprit if outcome.culprit is not None else items[0].index
        for item in items:
            if item.index == culprit:
                self.ready[item.index] = failed_row(item.index, item.path, item.truth, self.model_id, outcome.reason)
        rest = [item for item in items if item.index != culprit]
        if rest:
            self.submit(rest, urgent=True)

    def writable(self) -> list[dict]:
        """Rows that continue the written prefix, in order."""
        rows = []
        while self.next_index in self.ready:
            rows.append(self.ready.pop(self.next_index))
            self.next_index += 1
        return rows


def run_batch(options: BatchOptions, loaded: LoadedModel | None = None) -> dict:
    """Run (or resume) a batch job to the end; returns the summary (also written beside ``--out``)."""
    check_output(options.out, options.overwrite)
    check_inputs(options.inputs, options.files_from)
    if options.engine != "ray" and options.address is not None:
        raise UsageError("--address is for --engine ray; the local engine runs on this machine")
    loaded = loaded_model(JobSpec(options.model, "", ""), loaded or load_checkpoint(options.model))
    version = model_version(loaded)
    timeout_s = options.timeout_s
    spec = JobSpec(
        options.model,
        loaded.name,
        version,
        options.pad,
        options.top_k,
        options.batch_size,
        soft_timeout_s=timeout_s if options.engine == "ray" else 0.0,
    )
    description = {
        "inputs": list(options.inputs),
        "files_from": str(options.files_from) if options.files_from else None,
        "model": loaded.name,
        "model_version": version,
        "padded": options.pad,
        "top_k": options.top_k,
    }
    extensions = AUDIO_EXTENSIONS if loaded.front_end_kind == "audio" else EVENT_EXTENSIONS
    check_matches(options.inputs, options.files_from, extensions)
    journal = Journal(options.out, description, options.overwrite)
    labels = loaded.labels[1:]
    if journal.complete_before:
        values = dict(journal.previous_summary or {})
        values.update(done=0, failed=0, skipped=values.get("files", 0))
        if not options.quiet:
            print(f"batch: {options.out} is complete ({values.get('files', 0)} files); nothing to do", file=sys.stderr)
        return values

    def listing() -> Iterator[ListedInput]:
        return iter_inputs(options.inputs, options.files_from, extensions, labels)

    summary = BatchSummary(labels)
    workers = options.workers or os.cpu_count() or 1
    engine = None
    started = time.monotonic()
    values: dict = {}
    try:
        next_index, rest = resume(journal, listing(), summary)
        total_files = sum(1 for _ in listing())
        engine = make_engine(options.engine, spec, workers, timeout_s, options.address)
        progress = Progress(
            total_files, next_index, options.progress_s, enabled=not options.quiet
        )  # rates from here: start-up is apart
        # small jobs still reach every worker: at least two tasks per worker when the files allow it
        files_per_task = max(1, min(options.files_per_task, -(-(total_files - next_index) // (2 * workers))))
        scheduler = Scheduler(engine, spec, next_index, TASKS_PER_WORKER_AHEAD * workers * files_per_task)
        tasks = tasks_of(rest, files_per_task)
        upcoming = next(tasks, None)
        while upcoming is not None or scheduler.in_flight:
            while (
                upcoming is not None
                and scheduler.in_flight < engine.capacity
                and upcoming[0].index < scheduler.next_index + scheduler.ahead_files
            ):
                scheduler.submit(upcoming)
                upcoming = next(tasks, None)
            for outcome in engine.wait(POLL_S):
                scheduler.take(outcome)
            rows = scheduler.writable()
            if rows:
                journal.append([row_line(row) for row in rows])
                for row in rows:
                    summary.add(row)
                audio_s = sum(row["duration_s"] or 0.0 for row in rows)
                progress.advance(len(rows), audio_s, sum(row["status"] == "failed" for row in rows))
        progress.close()
        wall_s = time.monotonic() - started
        files_per_s, audio_per_s = progress.rates()
        about = {
            "out": str(options.out),
            "model": loaded.name,
            "model_version": version,
            "padded": options.pad,
            "engine": options.engine,
            "workers": workers,
            "batch_size": options.batch_size,
            "wall_s": round(wall_s, 3),
            "start_up_s": round(progress.started - started, 3),
            "files_per_s": round(files_per_s, 2),
            "audio_s_per_s": round(audio_per_s, 2),
            **options.about,
        }
        values = summary.to_dict(about)
        journal.finish(values)
        write_summary(values, options.out)
    finally:
        if engine is not None:
            engine.close()
        journal.close()
    if not options.quiet:
        json_path, png_path = summary_paths(options.out)
        pictures = f" and {png_path}" if values.get("confusion") else ""
        print(f"batch: {summary.line()}", file=sys.stderr)
        print(
            f"batch: wrote {options.out} ({values['files']} rows), {json_path}{pictures}; "
            f"{values['files_per_s']} files/s, {values['audio_s_per_s']} audio-s/s",
            file=sys.stderr,
        )
    return values
