"""Pacing and a breaker around an adapter: the provider's rate, and a batch stopped early when a provider is down."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from channel_adapters.base import ChannelAdapter, DispatchResult, OutboundMessage, TransientError


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
        self.provider, self.deduplicates = inner.provider, inner.deduplicates
        self.asks_each_message = inner.asks_each_message

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Send slice by slice, pacing to the rate and stopping early when the provider fails every message."""
        if not self.step:
            yield from self.inner.send(messages)
            return
        sent_any = False
        for start in range(0, len(messages), self.step):
            began = self.clock()
            got: list[DispatchResult] = []
            try:
                for result in self.inner.send(messages[start:start + self.step]):
                    got.append(result)
                    sent_any = True
                    yield result
            except TransientError as exc:
                if not sent_any:
                    raise
                # Earlier messages were sent: report only the rest as failed, never the whole batch.
                done = {r.message_id for r in got}
                yield from _failed([m for m in messages[start:] if m.message_id not in done],
                                   f"provider unavailable: {exc}")
                return
            rest = messages[start + self.step:]
            if rest and got and all(r.status == "failed" and not r.permanent for r in got):
                yield from _failed(rest, f"not tried: the provider failed all {len(got)} messages before")
                return
            if rest and self.rate > 0:
                self.sleep(max(0.0, self.step / self.rate - (self.clock() - began)))

    def fetch_receipts(self):
        """Delivery reports of the wrapped adapter."""
        return self.inner.fetch_receipts()

    def awaiting(self, sent) -> None:
        """Messages sent earlier, for the wrapped adapter's next poll."""
        self.inner.awaiting(sent)

    def receipts_by_provider(self):
        """Reports of the wrapped adapter, by provider."""
        return self.inner.receipts_by_provider()

    @property
    def read_seconds(self) -> dict[str, float]:
        """How long the wrapped adapter took to read each provider's reports."""
        return getattr(self.inner, "read_seconds", {})

    def receipts_kept(self) -> None:
        """The wrapped adapter hears that its events are kept."""
        self.inner.receipts_kept()

    def feed_positions(self) -> dict[str, str]:
        """How far the wrapped adapter read its providers' feeds."""
        return self.inner.feed_positions()

    def resume_feeds(self, positions: dict[str, str]) -> None:
        """The wrapped adapter reads its feeds on from there."""
        self.inner.resume_feeds(positions)

    def parse_callback(self, callback):
        """Callbacks of the wrapped adapter."""
        return self.inner.parse_callback(callback)

    def close(self) -> None:
        """Close the wrapped adapter."""
        self.inner.close()


def _failed(messages: Sequence[OutboundMessage], reason: str) -> list[DispatchResult]:
    return [DispatchResult(m.message_id, "failed", error=reason) for m in messages]
