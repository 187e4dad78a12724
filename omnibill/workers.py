"""The process pool for a run's CPU-bound work (rendering, archiving): one per process, sized to its cores.

Spawned once and reused by every batch: starting a process and importing ReportLab costs about a second.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None


def worker_count(workers: int) -> int:
    """Processes for `workers` (0: one per core)."""
    return workers or os.cpu_count() or 1


def cpu_pool(workers: int) -> ProcessPoolExecutor:
    """This process's pool of `worker_count(workers)` processes (the size asked first is kept)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=worker_count(workers), mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool
