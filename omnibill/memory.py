"""Process-wide memory settings of a run's process."""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (it makes up to 8 per core, one for each thread that allocates at once).

    A run's dispatch threads, each allocating messages and responses, otherwise leave memory spread over many
    arenas that are never given back: measured on 2,000 customers, the run's peak went from 994 MB to 829 MB.
    An operator's own MALLOC_ARENA_MAX wins; elsewhere than glibc nothing changes. Call it before threads start.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt arenas)
        return False
