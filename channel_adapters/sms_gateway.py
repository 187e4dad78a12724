"""SMS through an HTTP gateway (JSON, bearer key, Idempotency-Key), plus the HTTP error mapping
shared with the digital-mailbox adapter."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from channel_adapters.base import (ChannelAdapter, DispatchResult, OutboundMessage, PermanentError, ReceiptEvent,
                                   TransientError)
from config.settings import GatewaySettings

_RETRYABLE_4XX = (408, 429)


def http_client(settings: GatewaySettings) -> httpx.Client:
    """A client carrying the provider's bearer key and timeout."""
    return httpx.Client(timeout=settings.timeout_s,
                        headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"})


def result_for(message_id: str, response: httpx.Response) -> DispatchResult:
    """Map a provider's answer to one message: 2xx sent, 408/429/5xx transient, other 4xx permanent."""
    if response.is_success:
        return DispatchResult(message_id, "sent", provider_ref=str(_json(response).get("id") or "") or None)
    if response.status_code in (401, 403):
        # Our credentials, not this message, are wrong: stop the batch instead of failing every
        # message permanently (which would push them all down their fallback chains).
        raise PermanentError(f"provider refused our credentials: HTTP {response.status_code} {_reason(response)}")
    permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX
    return DispatchResult(message_id, "failed", error=f"HTTP {response.status_code} {_reason(response)}",
                          permanent=permanent)


def send_each(messages: Sequence[OutboundMessage],
              post: Callable[[OutboundMessage], httpx.Response | DispatchResult]) -> list[DispatchResult]:
    """POST message by message; no connection at all on the first one raises TransientError."""
    results: list[DispatchResult] = []
    for message in messages:
        try:
            answer = post(message)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if not results:
                raise TransientError(f"provider unreachable: {exc}") from exc
            # The provider went away mid-batch: don't hammer it, leave the rest for the retry.
            results.extend(DispatchResult(m.message_id, "failed", error=f"provider unreachable: {exc}")
                           for m in messages[len(results):])
            break
        except httpx.TransportError as exc:  # read timeout, dropped connection: may have arrived
            results.append(DispatchResult(message.message_id, "failed", error=f"{type(exc).__name__}: {exc}"))
            continue
        results.append(answer if isinstance(answer, DispatchResult) else result_for(message.message_id, answer))
    return results


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def fetch_pages(client: httpx.Client, url: str, cursor: str, key: str, who: str) -> tuple[list[dict], str]:
    """Every item after `cursor` of a provider's paged feed (`{key: [...], "next": cursor}`), and the new cursor."""
    items: list[dict] = []
    while True:
        try:
            response = client.get(url, params={"since": cursor})
        except httpx.TransportError as exc:
            raise TransientError(f"{who} unreachable for {key}: {exc}") from exc
        if not response.is_success:
            raise TransientError(f"{who} {key}: HTTP {response.status_code} {_reason(response)}")
        body = response.json()
        page, cursor = body.get(key, []), str(body.get("next", cursor))
        if not page:
            return items, cursor
        items.extend(page)


def _reason(response: httpx.Response) -> str:
    body = _json(response)
    return str(body.get("error") or body.get("detail") or response.text[:200] or response.reason_phrase)


class SmsGatewayAdapter(ChannelAdapter):
    """POSTs each SMS to `<sms_url>/v1/messages` with the message id as Idempotency-Key."""

    channel = "sms"
    max_batch = 500
    body_maxlen = 459  # three concatenated GSM-7 segments of 153 characters

    def __init__(self, settings: GatewaySettings, client: httpx.Client | None = None):
        self.settings = settings
        self.client = client or http_client(settings)
        self._reports_cursor = "0"

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Send each SMS; one result per message."""
        return send_each(messages, self._post)

    def _post(self, message: OutboundMessage) -> httpx.Response:
        return self.client.post(f"{self.settings.sms_url}/v1/messages",
                                json={"to": message.recipient, "text": message.body_text,
                                      "reference": message.message_id},
                                headers={"Idempotency-Key": message.message_id})

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Delivery reports since the last call, page by page (the gateway's cursor is kept here)."""
        reports, self._reports_cursor = fetch_pages(self.client, f"{self.settings.sms_url}/v1/reports",
                                                    self._reports_cursor, "reports", "SMS gateway")
        return [ReceiptEvent(r["reference"], r.get("status", "delivered"), r.get("at")) for r in reports]

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
