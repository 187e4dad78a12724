"""The one interface every channel adapter implements, and its typed errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ReceiptEvent:
    """A delivery report fetched from a provider."""

    message_id: str
    status: Literal["delivered", "bounced", "failed", "printed", "read"]
    detail: str | None = None  # for "read": when (ISO 8601)


class ChannelAdapter(ABC):
    """Sends batches of messages over one channel's real protocol.

    Per-message refusals come back as failed `DispatchResult`s (with `permanent` set for
    4xx / unknown recipient). An outage of the whole provider raises `TransientError`.
    """

    channel: ClassVar[str]
    max_batch: ClassVar[int] = 500
    body_maxlen: ClassVar[int | None] = None

    @abstractmethod
    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Hand a batch to the provider; one result per message, in order."""

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Delivery reports the provider has for us (none by default)."""
        return []

    def close(self) -> None:
        """Release connections."""
