"""Batch jobs: every file of folders, files, globs or a list through the one stream path, resumable.

``spikestream batch INPUT… --model NAME --out results.jsonl`` maps the streaming front end,
network and decision over many files (:mod:`.runner`), in local worker processes or on Ray
(:mod:`.engines`). Inputs are listed lazily (:mod:`.listing`), computed in tasks of consecutive
files whose network inference is batched across files (:mod:`.worker`), and written in input order
by one writer whose journal is its own index of completed inputs (:mod:`.results`), so a run killed
at any point resumes exactly. The row schema is in :mod:`.rows`.
"""

from __future__ import annotations

from .runner import BatchOptions, run_batch

__all__ = ["BatchOptions", "run_batch"]
