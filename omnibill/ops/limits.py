"""Provider limits: Prefect global concurrency limits per provider, and message pacing in the adapter path."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from channel_adapters.base import ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from config.settings import Settings

CHANNELS = ("email", "sms", "mailbox", "einvoice", "print")


def limit_name(channel: str) -> str:
    """The global concurrency limit that caps dispatch batches in flight to a channel's provider."""
    return f"provider-{channel}"


def tenant_limit_name(tenant: str) -> str:
    """The global concurrency limit (of 1) that keeps a tenant's monthly run and its reruns apart."""
    return f"tenant-{tenant}"


_known: dict[str, tuple[bool, float]] = {}
KNOWN_FOR_S = 10.0  # a limit made by `omnibill limits setup` is used within seconds


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit exists (cached briefly: asked once per batch otherwise)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    hit = _known.get(name)
    if hit and time.monotonic() - hit[1] < KNOWN_FOR_S:
        return hit[0]
    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
        found = True
    except ObjectNotFound:
        found = False
    _known[name] = (found, time.monotonic())
    return found


def slot(name: str) -> AbstractContextManager:
    """One slot of a limit while the block runs; nothing when the limit does not exist.

    Prefect 3.8's `concurrency(..., strict=False)` already skips a missing limit, but logs a
    warning every time: once per batch in the UI. The flow says it once instead.
    """
    from prefect.concurrency.sync import concurrency

    return concurrency(name, occupy=1, strict=False) if limit_exists(name) else nullcontext()


def missing_limits(tenant: str) -> list[str]:
    """The limits a run would use that are not set up."""
    return [n for n in [limit_name(c) for c in CHANNELS] + [tenant_limit_name(tenant)] if not limit_exists(n)]


def setup_limits(settings: Settings, tenants: list[str]) -> list[tuple[str, int]]:
    """Create or update `provider-<channel>` and `tenant-<tenant>` limits on the Prefect server; returns them."""
    from prefect.client.orchestration import get_client

    wanted = [(limit_name(c), settings.limits.of(c).concurrency) for c in CHANNELS]
    wanted += [(tenant_limit_name(t), 1) for t in tenants]
    with get_client(sync_client=True) as client:
        for name, limit in wanted:
            client.upsert_global_concurrency_limit_by_name(name, limit)
    return wanted


class PacedAdapter(ChannelAdapter):
    """Wraps an adapter: at most `rate_per_s` messages per second, and a breaker for a failing provider.

    Pacing lives here and not in a Prefect `rate_limit()` per message: that would cost a round
    trip to the server for every message. The global concurrency limit caps how many batches
    (and so how many paced senders) run at once, which bounds the provider's total rate.
    The breaker sends in slices of `probe` messages and stops when a whole slice failed
    transiently: a provider that answers 503 or times out on every message fails the batch in
    one slice's time instead of the batch's, and the task's retry (with backoff) tries later.
    """

    def __init__(self, inner: ChannelAdapter, rate_per_s: float = 0.0, probe: int = 0,
                 clock=time.monotonic, sleep=time.sleep):
        self.inner, self.rate, self.clock, self.sleep = inner, rate_per_s, clock, sleep
        self.step = max(1, int(rate_per_s)) if rate_per_s > 0 else (probe or 0)
        self.channel, self.max_batch, self.body_maxlen = inner.channel, inner.max_batch, inner.body_maxlen

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Send slice by slice, pacing to the rate and stopping early when the provider fails every message."""
        if not self.step:
            return self.inner.send_batch(messages)
        results: list[DispatchResult] = []
        for start in range(0, len(messages), self.step):
            began = self.clock()
            try:
                got = self.inner.send_batch(messages[start:start + self.step])
            except TransientError as exc:
                if not results:
                    raise
                # Earlier slices were sent: report only the rest as failed, never the whole batch.
                return results + _failed(messages[start:], f"provider unavailable: {exc}")
            results.extend(got)
            rest = messages[start + self.step:]
            if rest and all(r.status == "failed" and not r.permanent for r in got):
                return results + _failed(rest, f"not tried: the provider failed all {len(got)} messages before")
            if rest and self.rate > 0:
                self.sleep(max(0.0, self.step / self.rate - (self.clock() - began)))
        return results

    def fetch_receipts(self):
        """Delivery reports of the wrapped adapter."""
        return self.inner.fetch_receipts()

    def close(self) -> None:
        """Close the wrapped adapter."""
        self.inner.close()


def _failed(messages: Sequence[OutboundMessage], reason: str) -> list[DispatchResult]:
    return [DispatchResult(m.message_id, "failed", error=reason) for m in messages]
