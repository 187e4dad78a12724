"""Deterministic transient faults for the sandbox providers."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter


class Faults:
    """Answers "should this delivery attempt fail transiently?" from a hash of key and attempt number.

    Hashing (rather than random) makes a run with a given `fail_rate` reproducible, and counting
    attempts per key lets a retry of the same message succeed where the first attempt failed.
    `fail_rate` may be changed while the servers run (tests flip it to 1.0 and back).
    """

    def __init__(self, fail_rate: float = 0.0):
        self.fail_rate = fail_rate
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def should_fail(self, key: str) -> bool:
        """Whether this attempt for `key` gets a transient error (451 / 503)."""
        if self.fail_rate <= 0:
            return False
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.fail_rate
