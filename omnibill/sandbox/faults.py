"""Deterministic faults for the sandbox providers: outages, failing shares, slow answers, rejected recipients."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any


class Faults:
    """Answers "should this delivery attempt fail?" so outages can be rehearsed and tested.

    Hashing (rather than random) makes a run with a given `fail_rate` reproducible, and counting
    attempts per key lets a retry of the same message succeed where the first attempt failed.
    Every rule may be changed while the servers run (tests flip them, `POST /_sandbox/faults` too):
    `down_channels` answer 503 to everything, `fail_keys` fail those idempotency keys transiently,
    `reject_recipients` refuse those recipients permanently, `delay_s` makes every answer slow.
    """

    def __init__(self, fail_rate: float = 0.0, down_channels: set[str] | None = None,
                 fail_keys: set[str] | None = None, reject_recipients: set[str] | None = None,
                 delay_s: float = 0.0):
        self.fail_rate = fail_rate
        self.down_channels: set[str] = set(down_channels or ())
        self.fail_keys: set[str] = set(fail_keys or ())
        self.reject_recipients: set[str] = set(reject_recipients or ())
        self.delay_s = delay_s
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def should_fail(self, key: str, channel: str | None = None) -> bool:
        """Whether this attempt for `key` gets a transient error (451 / 503)."""
        if (channel and channel in self.down_channels) or key in self.fail_keys:
            return True
        if self.fail_rate <= 0:
            return False
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.fail_rate

    def rejects(self, recipient: str) -> bool:
        """Whether this recipient is refused permanently (a named recipient that never works)."""
        return recipient.strip().lower() in {r.lower() for r in self.reject_recipients}

    def describe(self) -> dict[str, Any]:
        """The current rules, for `GET /_sandbox/faults`."""
        return {"fail_rate": self.fail_rate, "down_channels": sorted(self.down_channels),
                "fail_keys": len(self.fail_keys), "reject_recipients": len(self.reject_recipients),
                "delay_s": self.delay_s}

    def update(self, rules: dict[str, Any]) -> None:
        """Change rules in place (only the ones given)."""
        for name in ("down_channels", "fail_keys", "reject_recipients"):
            if name in rules:
                setattr(self, name, set(rules[name] or ()))
        if "fail_rate" in rules:
            self.fail_rate = float(rules["fail_rate"])
        if "delay_s" in rules:
            self.delay_s = float(rules["delay_s"])
