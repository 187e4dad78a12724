"""One channel over several providers: each message to the provider its route names."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from channel_adapters.base import (ChannelAdapter, DispatchResult, OutboundMessage, PaymentEvent, ReceiptEvent,
                                   TransientError)
from channel_adapters.digital_mailbox import DigitalMailboxAdapter


class RoutedAdapter(ChannelAdapter):
    """A channel's adapter that hands each message to the provider `route(message)` names.

    Providers are built on first use (`make(name)`), so a tenant pays only for those it reaches.
    A provider that is down fails its own messages transiently; the others are still sent.
    """

    def __init__(self, channel: str, route: Callable[[OutboundMessage], str | None],
                 make: Callable[[str], ChannelAdapter], classes: dict[str, type[ChannelAdapter]]):
        self.channel = channel  # type: ignore[misc]  (an instance of a channel, not a ClassVar default)
        self.provider = ""  # type: ignore[misc]
        self.route, self.make = route, make
        self.names = tuple(classes)
        self._built: dict[str, ChannelAdapter] = {}
        self.read_seconds: dict[str, float] = {}
        # What every provider of the route can take: the smallest batch and text, and dedupe only if all do.
        classes = list(classes.values())
        self.max_batch = min((c.max_batch for c in classes), default=500)  # type: ignore[misc]
        self.body_maxlen = min((c.body_maxlen for c in classes if c.body_maxlen), default=None)  # type: ignore[misc]
        self.deduplicates = all(c.deduplicates for c in classes)  # type: ignore[misc]
        self.asks_each_message = any(c.asks_each_message for c in classes)  # type: ignore[misc]

    def adapter(self, name: str) -> ChannelAdapter:
        """The provider's adapter, built once."""
        if name not in self._built:
            self._built[name] = self.make(name)
        return self._built[name]

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Group by provider (keeping order within each) and send each group through its provider."""
        groups: dict[str | None, list[OutboundMessage]] = {}
        for message in messages:
            groups.setdefault(self.route(message), []).append(message)
        for name, group in groups.items():
            if name is None:
                yield from (DispatchResult(m.message_id, "failed", permanent=True,
                                           error=f"no {self.channel} provider configured for this recipient")
                            for m in group)
                continue
            answered: set[str] = set()
            try:
                for result in self.adapter(name).send(group):
                    answered.add(result.message_id)
                    yield result
            except TransientError as exc:
                yield from (DispatchResult(m.message_id, "failed", error=f"{name} unavailable: {exc}")
                            for m in group if m.message_id not in answered)

    def awaiting(self, sent) -> None:
        """Every provider of the route hears of the messages sent earlier (each keeps those of its own)."""
        for name in self.names:
            self.adapter(name).awaiting(sent)

    def feed_positions(self) -> dict[str, str]:
        """How far each provider's feed was read, under the provider's name in the route."""
        return {n: p for n in self.names if (p := self.adapter(n).feed_position()) is not None}

    def resume_feeds(self, positions: dict[str, str]) -> None:
        """Each provider reads its feed on from where `positions` says, under its name in the route."""
        for name in self.names:
            if name in positions:
                self.adapter(name).resume_feed(positions[name])

    def receipts_kept(self) -> None:
        """Each provider polled hears that its events are kept."""
        for built in self._built.values():
            built.receipts_kept()

    def receipts_by_provider(self) -> dict[str, list[ReceiptEvent | PaymentEvent]]:
        """Each provider's reports under its name (how long each took to read: `read_seconds`)."""
        found: dict[str, list[ReceiptEvent | PaymentEvent]] = {}
        for name in self.names:
            started = time.perf_counter()
            found[name] = self.adapter(name).fetch_receipts()
            self.read_seconds[name] = time.perf_counter() - started
        return found

    def fetch_receipts(self) -> list[ReceiptEvent | PaymentEvent]:
        """Every provider's reports."""
        return [e for events in self.receipts_by_provider().values() for e in events]

    def registered(self, provider: str, recipient_ids: Iterable[str]) -> set[str]:
        """Mailbox routes: which ids have a mailbox at the provider that serves `provider` (a mailbox name)."""
        name = self.route(OutboundMessage("", self.channel, "", "", "", metadata={"mailbox_provider": provider}))
        if name is None:
            raise LookupError(f"no provider configured for mailbox {provider!r}")
        adapter = self.adapter(name)
        if isinstance(adapter, DigitalMailboxAdapter):  # the generic gateway serves several mailboxes
            return adapter.registered(provider, recipient_ids)
        return adapter.registered(recipient_ids)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close every provider that was built."""
        for adapter in self._built.values():
            adapter.close()
