"""Callbacks the sandbox providers make, as real ones do: in the background, retried until answered 2xx."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass
class _Call:
    url: str
    kwargs: dict[str, Any]
    attempt: int = 0
    due: float = field(default_factory=time.monotonic)


class CallbackSender:
    """Posts callbacks from one background thread; a non-2xx answer or no answer is retried with backoff.

    `delays` are the waits before each retry (a real provider retries for hours; the sandbox's
    are short so tests see the retries). After the last one the callback is dropped and counted.
    """

    def __init__(self, delays: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0), timeout_s: float = 5.0):
        self.delays = delays
        self._queue: queue.Queue[_Call | None] = queue.Queue()
        self._waiting: list[_Call] = []
        self._client = httpx.Client(timeout=timeout_s)
        self._thread = threading.Thread(target=self._loop, name="sandbox-callbacks", daemon=True)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed_attempts = 0
        self.dropped = 0
        self._outstanding = 0
        self._thread.start()

    def post(self, url: str, **kwargs: Any) -> None:
        """Queue a POST (httpx keyword arguments: data=, json=, content=, headers=)."""
        with self._lock:
            self._outstanding += 1
        self._queue.put(_Call(url, kwargs))

    def pending(self) -> int:
        """Callbacks not yet answered 2xx (queued or waiting for a retry)."""
        with self._lock:
            return self._outstanding

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every callback was answered or dropped; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Stop the thread (callbacks still waiting are dropped, as a provider shutting down would)."""
        self._queue.put(None)
        self._thread.join(5)
        self._client.close()

    def _loop(self) -> None:
        while True:
            wait = min((c.due for c in self._waiting), default=time.monotonic() + 0.5) - time.monotonic()
            try:
                call = self._queue.get(timeout=max(0.0, min(wait, 0.5)))
            except queue.Empty:
                call = _NOTHING
            if call is None:
                return
            now = time.monotonic()
            with self._lock:
                if call is not _NOTHING:
                    self._waiting.append(call)
                due = [c for c in self._waiting if c.due <= now]
            for c in due:
                ok = self._attempt(c)
                with self._lock:
                    if ok or c.attempt > len(self.delays):
                        self._waiting.remove(c)
                        self._outstanding -= 1
                        if not ok:
                            self.dropped += 1

    def _attempt(self, call: _Call) -> bool:
        try:
            ok = self._client.post(call.url, **call.kwargs).is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            self.delivered += 1
            return True
        self.failed_attempts += 1
        if call.attempt < len(self.delays):
            call.due = time.monotonic() + self.delays[call.attempt]
        call.attempt += 1
        return False


_NOTHING = _Call("", {})
