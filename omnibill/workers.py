"""The process pool for a run's CPU-bound work (rendering, archiving): one per process, sized to its cores.

Spawned once and reused by every batch: starting a process and importing ReportLab costs about a second.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from omnibill.memory import keep_trimmed

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None


def worker_count(workers: int) -> int:
    """Processes for `workers` (0: one per core)."""
    return workers or os.cpu_count() or 1


def cpu_pool(workers: int) -> ProcessPoolExecutor:
    """This process's pool of `worker_count(workers)` processes (the size asked first is kept)."""
    global _pool
    if _pool is None:
        # Each process gives freed memory back to the system as the main process does: its churn of PDFs and
        # archival copies otherwise stays resident and grows with the run.
        _pool = ProcessPoolExecutor(max_workers=worker_count(workers), mp_context=multiprocessing.get_context("spawn"),
                                    initializer=keep_trimmed)
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def each_chunk(work: Callable[..., T], chunks: list, *args, workers: int) -> Iterator[T]:
    """`work(chunk, *args)` for each chunk, results in order: in this process's pool when there are several
    chunks and workers (all submitted at once), otherwise here, one after the other."""
    if len(chunks) <= 1 or worker_count(workers) <= 1:
        return (work(chunk, *args) for chunk in chunks)
    pool = cpu_pool(workers)
    return (f.result() for f in [pool.submit(work, chunk, *args) for chunk in chunks])
