"""SMS through a generic HTTP gateway (JSON, bearer key, Idempotency-Key): the sandbox's own shape, kept for
tenants without a provider of their own (`sms-gateway`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx

from channel_adapters.base import ChannelAdapter, CursorFeed, DispatchResult, OutboundMessage, ReceiptEvent
from channel_adapters.sending import SendPool, fetch_pages, http_client, post_one
from config.settings import GatewaySettings


class SmsGatewayAdapter(CursorFeed, ChannelAdapter):
    """POSTs each SMS to `<sms_url>/v1/messages` with the message id as Idempotency-Key, `connections` at once."""

    channel = "sms"
    max_batch = 500
    body_maxlen = 459  # three concatenated GSM-7 segments of 153 characters

    def __init__(self, settings: GatewaySettings, client: httpx.Client | None = None, connections: int = 1):
        self.settings = settings
        self.client = client or http_client(settings)
        self.pool = SendPool(connections)

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Send each SMS, yielding its result as soon as the gateway answered."""
        yield from self.pool.send(messages, lambda m: post_one(m, self._post))

    def _post(self, message: OutboundMessage) -> httpx.Response:
        return self.client.post(f"{self.settings.sms_url}/v1/messages",
                                json={"to": message.recipient, "text": message.body_text,
                                      "reference": message.message_id},
                                headers={"Idempotency-Key": message.message_id})

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Delivery reports since the last call, page by page (the gateway's cursor is kept here)."""
        reports, self._cursor = fetch_pages(self.client, f"{self.settings.sms_url}/v1/reports", self._cursor,
                                            "reports", "SMS gateway")
        return [ReceiptEvent(r["reference"], r.get("status", "delivered"), r.get("at")) for r in reports]

    def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        self.pool.close()
        self.client.close()
