"""Digital mailboxes (Kivra, e-Boks, Digipost, OmaPosti style REST APIs): the PDF to a national id."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence

import httpx

from channel_adapters.base import (ChannelAdapter, CursorFeed, DispatchResult, OutboundMessage, PermanentError,
                                   ReceiptEvent, TransientError)
from channel_adapters.sending import SendPool, fetch_pages, http_client, post_one, result_for
from config.settings import GatewaySettings


class DigitalMailboxAdapter(CursorFeed, ChannelAdapter):
    """POSTs each message's PDF to `<mailbox_url>/v1/<provider>/documents`, `connections` at once.

    The provider comes from `metadata["mailbox_provider"]`; the recipient is the national id or
    organisation number the mailbox user registered with.
    """

    channel = "mailbox"
    max_batch = 200
    body_maxlen = None

    def __init__(self, settings: GatewaySettings, client: httpx.Client | None = None, connections: int = 1):
        self.settings = settings
        self.client = client or http_client(settings)
        self.pool = SendPool(connections)

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Deliver each document, yielding its result as soon as the provider answered."""
        yield from self.pool.send(messages, lambda m: post_one(m, self._post))

    def _post(self, message: OutboundMessage) -> httpx.Response | DispatchResult:
        provider = message.metadata.get("mailbox_provider", "")
        pdf = next((a for a in message.attachments if a.content_type == "application/pdf"), None)
        if not provider or pdf is None:
            missing = "mailbox_provider" if not provider else "a PDF attachment"
            return DispatchResult(message.message_id, "failed", error=f"message has no {missing}", permanent=True)
        return self.client.post(
            f"{self.settings.mailbox_url}/v1/{provider}/documents",
            json={"recipient": message.recipient, "subject": message.subject, "filename": pdf.filename,
                  "content_base64": base64.b64encode(pdf.content).decode("ascii"),
                  "reference": message.message_id},
            headers={"Idempotency-Key": message.message_id})

    def registered(self, provider: str, recipient_ids: Iterable[str]) -> set[str]:
        """Which of these national ids / org numbers have a mailbox at the provider."""
        try:
            response = self.client.post(f"{self.settings.mailbox_url}/v1/{provider}/usermatch",
                                        json={"recipients": list(recipient_ids)})
        except httpx.TransportError as exc:
            raise TransientError(f"mailbox provider {provider} unreachable: {exc}") from exc
        if not response.is_success:
            result = result_for("usermatch", response)  # raises PermanentError itself on 401/403
            raise (PermanentError if result.permanent else TransientError)(f"usermatch at {provider}: {result.error}")
        return set(response.json().get("registered", []))

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """The providers' read status since the last call ("read" events, with when), page by page."""
        events, self._cursor = fetch_pages(self.client, f"{self.settings.mailbox_url}/v1/events", self._cursor,
                                           "events", "mailbox provider")
        return [ReceiptEvent(e["reference"], "read", e.get("at")) for e in events if e.get("status") == "read"]

    def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        self.pool.close()
        self.client.close()
