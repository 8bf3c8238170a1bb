"""Streamed input listing: files, folders (recursive), globs and list files, in a deterministic order.

Nothing is materialised as a whole: folders are walked depth first, each directory's entry names
sorted on their own (so memory holds one directory's names, never the tree), globs are matched
segment by segment on the same walk, and a ``--files-from`` list is read line by line. The order
is the order of the inputs as given, each expanded in sorted order; resuming relies on it.
A file listed twice is processed twice (one row per listed entry; removing duplicates would need
the whole list in memory).

Folders yield only files with the model's extensions; files named explicitly, glob matches and
list entries are taken whatever their extension (a non-audio file becomes a failed row).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ...sources.labelled_clips import FSDD_NAME
from ..errors import UsageError


@dataclass(frozen=True)
class ListedInput:
    """One listed file: its path as the user's input spelt it and the true label its name or folder gives
    (``None`` when neither names one of the model's labels)."""

    index: int
    path: str
    truth: str | None


def sorted_entries(folder: str) -> list[tuple[str, bool]]:
    """``(name, is_directory)`` of one directory, sorted by name; unreadable directories give nothing."""
    try:
        with os.scandir(folder) as entries:
            return sorted((entry.name, entry.is_dir()) for entry in entries)
    except OSError:
        return []


def walk_files(folder: str, extensions: tuple[str, ...]) -> Iterator[str]:
    """Regular files under ``folder`` (recursive, depth first, sorted per directory) with one of ``extensions``."""
    for name, is_directory in sorted_entries(folder):
        path = os.path.join(folder, name)
        if is_directory:
            yield from walk_files(path, extensions)
        elif os.path.splitext(name)[1].lower() in extensions and os.path.isfile(path):
            yield path


def glob_paths(pattern: str) -> Iterator[str]:
    """Paths matching ``pattern`` (``*``, ``?``, ``[…]`` per segment, ``**`` for any depth), sorted per
    directory and streamed; directories are not yielded."""
    parts = pattern.split(os.sep)
    root = os.sep if pattern.startswith(os.sep) else ""
    fixed = []
    while parts and not glob.has_magic(parts[0]):
        fixed.append(parts.pop(0))
    base = os.path.join(root, *[part for part in fixed if part]) if fixed or root else ""
    yield from _match(base, parts)


def _match(base: str, parts: list[str]) -> Iterator[str]:
    if not parts:
        if os.path.exists(base) and not os.path.isdir(base):
            yield base
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _match(base, rest)
        for name, is_directory in sorted_entries(base or "."):
            if is_directory and not name.startswith("."):
                yield from _match(os.path.join(base, name), parts)
        return
    if not glob.has_magic(head):
        yield from _match(os.path.join(base, head), rest)
        return
    for name, is_directory in sorted_entries(base or "."):
        if name.startswith(".") and not head.startswith("."):
            continue
        if fnmatch.fnmatchcase(name, head) and (is_directory or not rest):
            yield from _match(os.path.join(base, name), rest)


def list_file_lines(list_path: Path) -> Iterator[str]:
    """Non-empty lines of a ``--files-from`` list (one path per line), read lazily."""
    with open(list_path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield line.rstrip("\r\n")


def label_from_name(path: str, folder_root: str | None, labels: frozenset[str]) -> str | None:
    """The true label: the sub-folder under an input folder, else an FSDD name ``{label}_{speaker}_{take}``;
    ``None`` unless it is one of ``labels``."""
    if folder_root is not None:
        parent = os.path.dirname(path)
        if os.path.normpath(parent) != os.path.normpath(folder_root) and os.path.basename(parent) in labels:
            return os.path.basename(parent)
    match = FSDD_NAME.match(os.path.splitext(os.path.basename(path))[0])
    return match["label"] if match and match["label"] in labels else None


def check_inputs(inputs: Iterable[str], files_from: Path | None) -> None:
    """Refuse, before anything runs, inputs that name nothing: a missing path without glob characters,
    a missing ``--files-from`` list, or no input at all."""
    inputs = list(inputs)
    if not inputs and files_from is None:
        raise UsageError("batch needs at least one INPUT (a file, folder or glob) or --files-from LIST")
    for spec in inputs:
        if not glob.has_magic(spec) and not os.path.exists(spec):
            raise UsageError(f"{spec}: no such file or folder; expected audio files, folders or a quoted glob")
    if files_from is not None and not files_from.is_file():
        raise UsageError(f"--files-from {files_from}: no such file; expected a text file with one path per line")


def expand(spec: str, extensions: tuple[str, ...]) -> tuple[Iterator[str], str | None]:
    """One input's files, streamed, and the folder that labels them (``None`` unless ``spec`` is a folder):
    a folder walked for ``extensions``, a glob matched, anything else the one path it names."""
    if os.path.isdir(spec):
        return walk_files(spec, extensions), spec
    if glob.has_magic(spec) and not os.path.exists(spec):
        return glob_paths(spec), None
    return iter([spec]), None


def check_matches(inputs: Iterable[str], files_from: Path | None, extensions: tuple[str, ...]) -> None:
    """Refuse, before any output is written, a folder or glob that lists no file (a mistyped glob, an
    empty folder, a folder of the other kind of recording) and an empty ``--files-from`` list: a job
    that would silently do nothing. Each looks only as far as its first file."""
    for spec in inputs:
        if next(expand(spec, extensions)[0], None) is not None:
            continue
        if os.path.isdir(spec):
            raise UsageError(f"{spec}: a folder with no file ending in {' '.join(extensions)} (searched recursively)")
        raise UsageError(f"{spec}: the glob matches no file; expected a pattern that names recordings")
    if files_from is not None and next(list_file_lines(files_from), None) is None:
        raise UsageError(f"--files-from {files_from}: the list is empty; expected one path per line")


def iter_inputs(
    inputs: Iterable[str], files_from: Path | None, extensions: tuple[str, ...], labels: Iterable[str]
) -> Iterator[ListedInput]:
    """Every listed file with its position (the row index) and true label, streamed (see the module docstring)."""
    label_set = frozenset(labels)
    index = 0
    for spec in inputs:
        paths, root = expand(spec, extensions)
        for path in paths:
            yield ListedInput(index, path, label_from_name(path, root, label_set))
            index += 1
    if files_from is not None:
        for path in list_file_lines(files_from):
            yield ListedInput(index, path, label_from_name(path, None, label_set))
            index += 1
