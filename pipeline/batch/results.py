"""The one writer of a batch job: a journal of rows in input order that is its own index of completed inputs.

Layout beside ``--out results.jsonl``: a folder ``results.jsonl.job/`` holding ``job.json`` (the
job's fingerprint: inputs, model and version, options) and ``rows.jsonl``, the journal. Rows are
appended in input order only (a row waits until every earlier row is written), each append one
``write`` of whole lines followed by ``fsync``, so after any crash the journal is a prefix of the
final output plus, at worst, one cut line: row ``k`` of the journal is input ``k``, and resuming
keeps the longest prefix whose lines are whole, parse, and name the same inputs in the same
positions, cuts the rest and carries on from there. When the last row is written the output is
made in one step: the journal itself is renamed to a ``.jsonl`` output, a ``.csv`` or ``.parquet``
output is written to a temporary file and renamed; ``job.json`` is then marked complete and keeps
the summary. No output file is ever half written, and a second run of a complete job does nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import UsageError
from .rows import NESTED_KEYS, ROW_KEYS

OUTPUT_FORMATS = (".jsonl", ".csv", ".parquet")
JOURNAL_FILE = "rows.jsonl"
JOB_FILE = "job.json"


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that cannot be written: unknown suffix, missing folder, a folder, parquet without pyarrow."""
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(f"--out {out}: expected a file name ending in {', '.join(OUTPUT_FORMATS)}")
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; expected a file name such as results.jsonl")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(
                f"--out {out}: Parquet output needs pyarrow (pip install pyarrow); use .jsonl or .csv"
            ) from None
    if out.exists() and not job_folder(out).is_dir() and not overwrite:
        raise UsageError(f"--out {out}: exists and was not written by a batch job; pass --overwrite or another --out")


def job_folder(out: Path) -> Path:
    return out.with_name(out.name + ".job")


def fingerprint(description: dict) -> str:
    """SHA-256 of the job's description (canonical JSON)."""
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file, fsync and rename (readers see old or new, never half)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    fsync_folder(path.parent)


class Journal:
    """Append-only rows of one job in input order (see the module docstring)."""

    def __init__(self, out: Path, description: dict, overwrite: bool = False) -> None:
        self.out = out
        self.folder = job_folder(out)
        self.path = self.folder / JOURNAL_FILE
        self.description = dict(description, fingerprint=fingerprint(description))
        self.complete_before = False
        self.previous_summary: dict | None = None
        self._descriptor: int | None = None
        self._open(overwrite)

    def _open(self, overwrite: bool) -> None:
        job_file = self.folder / JOB_FILE
        if overwrite and self.folder.is_dir():
            for leftover in self.folder.iterdir():
                leftover.unlink()
            self.folder.rmdir()
        if job_file.is_file():
            stored = json.loads(job_file.read_text())
            if stored.get("fingerprint") != self.description["fingerprint"]:
                raise UsageError(
                    f"--out {self.out}: {self.folder} belongs to another job (other inputs, model or options); "
                    "run the same command to resume it, or pass --overwrite or another --out"
                )
            if stored.get("complete") and self.out.exists():
                self.complete_before, self.previous_summary = True, stored.get("summary")
                return
            if stored.get("complete"):  # the output was removed since: start over
                self.path.unlink(missing_ok=True)
        self.folder.mkdir(exist_ok=True)
        write_atomically(job_file, json.dumps(self.description, indent=2) + "\n")
        self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    def existing_lines(self) -> Iterator[tuple[int, bytes]]:
        """``(byte offset, line)`` of the journal's whole lines (a cut last line is left out)."""
        offset = 0
        with open(self.path, "rb") as stream:
            for line in stream:
                if not line.endswith(b"\n"):
                    return
                yield offset, line
                offset += len(line)

    def truncate(self, length_bytes: int) -> None:
        """Cut the journal to its first ``length_bytes`` (the prefix resume keeps)."""
        os.ftruncate(self._descriptor, length_bytes)
        os.fsync(self._descriptor)

    def append(self, lines: list[bytes]) -> None:
        """Whole lines in one write, then fsync: after a crash they are all there, or a cut last line is."""
        data = b"".join(lines)
        while data:
            written = os.write(self._descriptor, data)
            data = data[written:]
        os.fsync(self._descriptor)

    def finish(self, summary: dict) -> None:
        """Make the output in one step (see the module docstring) and mark the job complete."""
        os.close(self._descriptor)
        self._descriptor = None
        suffix = self.out.suffix.lower()
        if suffix == ".jsonl":
            os.replace(self.path, self.out)
        else:
            temporary = self.out.with_name(self.out.name + ".tmp")
            (write_csv if suffix == ".csv" else write_parquet)(self.path, temporary)
            os.replace(temporary, self.out)
            self.path.unlink()
        fsync_folder(self.out.parent)
        write_atomically(
            self.folder / JOB_FILE, json.dumps(dict(self.description, complete=True, summary=summary), indent=2) + "\n"
        )

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def flat_rows(journal_path: Path) -> Iterator[dict]:
    """Journal rows with the nested fields as JSON text (CSV / Parquet columns)."""
    with open(journal_path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            for key in NESTED_KEYS:
                row[key] = json.dumps(row[key], ensure_ascii=False)
            yield row


def write_csv(journal_path: Path, path: Path) -> None:
    """The journal as CSV, one header line then one row per file, streamed."""
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=ROW_KEYS, lineterminator="\n")
        writer.writeheader()
        for row in flat_rows(journal_path):
            writer.writerow(row)
        stream.flush()
        os.fsync(stream.fileno())


def write_parquet(journal_path: Path, path: Path, rows_per_group: int = 10_000) -> None:
    """The journal as Parquet (pyarrow), one row group per ``rows_per_group`` rows, streamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("index", pa.int64()),
            ("path", pa.string()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("duration_s", pa.float64()),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("top_k", pa.string()),
            ("detections", pa.string()),
            ("truth", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("drops", pa.string()),
            ("reconstruction", pa.string()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        group: list[dict] = []
        for row in flat_rows(journal_path):
            group.append(row)
            if len(group) == rows_per_group:
                writer.write_table(pa.Table.from_pylist(group, schema))
                group = []
        if group:
            writer.write_table(pa.Table.from_pylist(group, schema))
