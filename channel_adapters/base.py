"""The one interface every channel adapter implements, and its typed errors."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal


class DispatchError(Exception):
    """A provider refused or could not take a message or a batch."""


class TransientError(DispatchError):
    """Timeout, connection refused, 5xx, 429: worth retrying later with backoff."""


class PermanentError(DispatchError):
    """4xx, hard bounce, unknown recipient: retrying will not help; use the fallback channel."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutboundMessage:
    """What an adapter hands to its provider for one message.

    `message_id` is the ledger's stable id: adapters pass it to the provider as the
    idempotency key (HTTP `Idempotency-Key`, SMTP `Message-ID`, file name in a drop) so a
    resend after a crash is recognised by the provider.
    """

    message_id: str
    channel: str
    document_id: str
    invoice_id: str
    recipient: str
    subject: str = ""
    body_text: str = ""
    body_html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DispatchResult:
    """The provider's answer for one message."""

    message_id: str
    status: Literal["sent", "failed"]
    provider_ref: str | None = None
    error: str | None = None
    permanent: bool = False
    cost: Decimal | None = None  # what the provider says it charged, when it says
    # Another answer is ready and comes next, before any further message is handed to the provider (set by
    # SendPool): a dispatcher that writes each answer before the next send may write these together.
    more_ready: bool = False


class CallbackRejected(Exception):
    """A callback that is not the provider's: bad or missing signature, or a body we cannot read."""


@dataclass(frozen=True)
class ReceiptEvent:
    """A delivery report from a provider, polled or pushed (a callback).

    `event_id` is the provider's id for this event (or one made from what identifies it): the same
    event received twice is applied once. `permanent` tells a hard failure/bounce from a soft one.
    """

    message_id: str
    status: Literal["delivered", "bounced", "failed", "printed", "read"]
    detail: str | None = None
    event_id: str | None = None
    at: datetime | None = None
    permanent: bool = True


@dataclass(frozen=True)
class PaymentEvent:
    """A payment for a document, matched by its payment reference (OCR, KID, RF or the tenant's reference)."""

    reference: str
    amount: Decimal
    currency: str
    paid_on: date
    event_id: str
    source: str  # "kivra", "camt054", ...
    message_id: str | None = None


@dataclass(frozen=True)
class Callback:
    """An HTTP callback as it reached us: the full URL (with query), headers (lower-case names), raw body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class ChannelAdapter(ABC):
    """Sends messages over one channel's real protocol, to one provider.

    Override `send` (a generator: each result as soon as the provider answered that message) or,
    for providers that take a batch in one go, `send_batch`. Per-message refusals come back as
    failed `DispatchResult`s (with `permanent` set for 4xx / unknown recipient). An outage of the
    whole provider raises `TransientError` before the first result.

    `deduplicates` says whether the provider recognises a resend (an idempotency key, a message id
    it answers "already delivered" to, a file name that is overwritten): when it does not (SMTP),
    the dispatch stage records each result before it asks for the next message, so a crash can
    repeat at most the one message in flight.
    """

    channel: ClassVar[str]
    provider: ClassVar[str] = ""
    max_batch: ClassVar[int] = 500
    body_maxlen: ClassVar[int | None] = None
    deduplicates: ClassVar[bool] = True
    # Whether the provider is asked about each message sent (by its reference) for its final status, rather than
    # reporting through a feed or callbacks: only then does the receipts stage read the ledger's sent messages.
    asks_each_message: ClassVar[bool] = False

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Hand messages to the provider, yielding each one's result as soon as it is known."""
        yield from self.send_batch(messages)

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Hand a batch to the provider; one result per message, in order."""
        if type(self).send is ChannelAdapter.send:
            raise NotImplementedError(f"{type(self).__name__} overrides neither send nor send_batch")
        return list(self.send(messages))

    def fetch_receipts(self) -> list[ReceiptEvent | PaymentEvent]:
        """Delivery reports (and payments) the provider has for us since the last call (none by default)."""
        return []

    def awaiting(self, sent: Sequence[tuple[str, str, datetime]]) -> None:
        """Messages sent earlier, perhaps by another process, still without a final report: (our message id,
        the provider's reference, when sent). Adapters that poll per message (`asks_each_message`) ask the
        provider about them; the others are never handed them."""

    def feed_position(self) -> str | None:
        """How far this adapter has read its provider's event feed (None: the provider has no feed to resume)."""
        return None

    def resume_feed(self, position: str) -> None:
        """Read the event feed on from `position`, an earlier adapter's `feed_position` (what came before was taken)."""

    def feed_positions(self) -> dict[str, str]:
        """`feed_position` by the provider names `receipts_by_provider` uses."""
        position = self.feed_position()
        return {} if position is None else {self.provider or self.channel: position}

    def resume_feeds(self, positions: dict[str, str]) -> None:
        """`resume_feed` for each provider of this adapter that `positions` names."""
        if (position := positions.get(self.provider or self.channel)) is not None:
            self.resume_feed(position)

    def receipts_kept(self) -> None:
        """The events of the last fetch are kept in the ledger: a provider that leaves its reports as files may
        now set those files aside, so no later poll reads them again."""

    def receipts_by_provider(self) -> dict[str, list[ReceiptEvent | PaymentEvent]]:
        """`fetch_receipts` under the name of the provider they came from (an adapter routing to several
        providers answers for each)."""
        return {self.provider or self.channel: self.fetch_receipts()}

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent | PaymentEvent]:
        """The events in a callback the provider pushed to us; raises CallbackRejected when it is not genuine."""
        raise CallbackRejected(f"{self.provider or self.channel} sends no callbacks")

    def close(self) -> None:
        """Release connections."""


class CursorFeed:
    """For an adapter that reads its provider's event feed by the cursor the provider hands out (in `_cursor`)."""

    _cursor = "0"

    def feed_position(self) -> str | None:
        """The cursor after the last page read."""
        return self._cursor

    def resume_feed(self, position: str) -> None:
        """Go on from an earlier adapter's cursor."""
        self._cursor = position
