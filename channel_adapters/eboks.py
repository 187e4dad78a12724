"""e-Boks (Denmark): a PDF to the recipient's e-Boks, addressed by CPR number and country.

What is from e-Boks' public material (Nets developer pages, "e-Boks channel", nets.eu/developer/Nets share):
documents are addressed by personal identification number plus country code (DK: DDMMYYXXXX, ten digits,
no dash — anything else is rejected); a document reaches only users on the sender's subscription list unless it
is sent as *mandatory*, which delivers it whether or not the user subscribed.
e-Boks publishes no REST reference for senders (its API is given to contracted senders and integrators), so the
wire format below is OUR DECISION, kept in the shape of the other providers here: OAuth2 client credentials at
`POST /oauth2/token`; `PUT /v1/dispatches/{message id}` (the id makes a resend idempotent: 200 with the first
answer, no second delivery); `POST /v1/recipients/lookup`; `GET /v1/events?after=`; status callbacks to
`{public_url}/webhooks/eboks` signed `X-Eboks-Signature: sha256=<hex HMAC-SHA256(webhook_secret,
"<X-Eboks-Timestamp>.<body>")>`. Errors are `{"error": code, "message": text}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import httpx

from channel_adapters.base import (Callback, CallbackRejected, ChannelAdapter, CursorFeed, DispatchResult,
                                   OutboundMessage, PermanentError, ReceiptEvent, TransientError)
from channel_adapters.sending import new_client
from config.providers import EboksSettings

EVENT_STATUS = {"DELIVERED": "delivered", "READ": "read", "FAILED": "failed"}
_CALLBACK_TOLERANCE_S = 3600  # callbacks are retried for a while with the same signed timestamp


class EboksAdapter(CursorFeed, ChannelAdapter):
    """PUTs each message's PDF as an e-Boks dispatch named by our message id."""

    channel = "mailbox"
    provider = "eboks"
    max_batch = 200
    deduplicates = True  # PUT to the same dispatch id is answered with the first result, not delivered again

    def __init__(self, settings: EboksSettings, client: httpx.Client | None = None):
        self.settings = settings
        self.client = client or new_client(settings.timeout_s)
        self._token: tuple[str, float] | None = None

    def _url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        """The bearer token, fetched (client credentials) when missing or about to expire."""
        if self._token is None or self._token[1] < time.monotonic() + 30:
            response = self.client.post(self._url("/oauth2/token"), data={"grant_type": "client_credentials"},
                                        auth=(self.settings.client_id, self.settings.client_secret.get_secret_value()))
            if response.status_code in (400, 401, 403):
                raise PermanentError(f"e-Boks refused our client credentials: HTTP {response.status_code} "
                                     f"{_reason(response)}")
            if not response.is_success:
                raise TransientError(f"e-Boks token: HTTP {response.status_code} {_reason(response)}")
            body = response.json()
            self._token = (body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))
        return {"Authorization": f"Bearer {self._token[0]}"}

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Deliver each message; an answer for a dispatch id already delivered counts as sent."""
        for index, message in enumerate(messages):
            try:
                answer = self._put(message)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if index == 0:
                    raise TransientError(f"e-Boks unreachable: {exc}") from exc
                yield from (DispatchResult(m.message_id, "failed", error=f"e-Boks unreachable: {exc}")
                            for m in messages[index:])
                return
            except httpx.TransportError as exc:
                answer = DispatchResult(message.message_id, "failed", error=f"{type(exc).__name__}: {exc}")
            yield answer if isinstance(answer, DispatchResult) else self._result(message, answer)

    def _put(self, message: OutboundMessage) -> httpx.Response | DispatchResult:
        pdf = next((a for a in message.attachments if a.content_type == "application/pdf"), None)
        if pdf is None or not message.recipient:
            missing = "a PDF attachment" if pdf is None else "a CPR number"
            return DispatchResult(message.message_id, "failed", error=f"message has no {missing}", permanent=True)
        return self.client.put(self._url(f"/v1/dispatches/{message.message_id}"), headers=self._headers(), json={
            "recipient": {"type": "CPR", "id": cpr(message.recipient), "country": self.settings.country},
            "mandatory": self.settings.mandatory, "title": message.subject[:50],
            "document": {"filename": pdf.filename, "content_type": pdf.content_type,
                         "content_base64": base64.b64encode(pdf.content).decode()}})

    def _result(self, message: OutboundMessage, response: httpx.Response) -> DispatchResult:
        if response.is_success:
            return DispatchResult(message.message_id, "sent", provider_ref=str(response.json().get("dispatch_id")))
        if response.status_code in (401, 403):
            self._token = None
            raise PermanentError(f"e-Boks refused our token: HTTP {response.status_code} {_reason(response)}")
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        return DispatchResult(message.message_id, "failed", error=f"HTTP {response.status_code} {_reason(response)}",
                              permanent=not transient)

    def registered(self, national_ids: Iterable[str]) -> set[str]:
        """Which of these CPR numbers receive this sender's post in e-Boks."""
        ids = list(national_ids)
        body = {"recipients": [{"type": "CPR", "id": cpr(i), "country": self.settings.country} for i in ids]}
        response = self._checked("POST", "/v1/recipients/lookup", json=body)
        found = set(response.json().get("registered", []))
        return {i for i in ids if cpr(i) in found}

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Status events (delivered, read) since the last call, page by page."""
        events: list[ReceiptEvent] = []
        while True:
            body = self._checked("GET", "/v1/events", params={"after": self._cursor}).json()
            page = body.get("events", [])
            if not page:
                return events
            events.extend(_events(page))
            self._cursor = str(body.get("next", self._cursor))

    def _checked(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.client.request(method, self._url(path), headers=self._headers(), **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"e-Boks unreachable: {exc}") from exc
        if not response.is_success:
            permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
            raise (PermanentError if permanent else TransientError)(
                f"e-Boks {path}: HTTP {response.status_code} {_reason(response)}")
        return response

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent]:
        """Events e-Boks pushed; the HMAC over timestamp and body must match."""
        stamp, given = callback.headers.get("x-eboks-timestamp", ""), callback.headers.get("x-eboks-signature", "")
        secret = self.settings.webhook_secret.get_secret_value().encode()
        expected = "sha256=" + hmac.new(secret, stamp.encode() + b"." + callback.body, hashlib.sha256).hexdigest()
        if not stamp or not hmac.compare_digest(given, expected):
            raise CallbackRejected("e-Boks callback signature missing or wrong")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > _CALLBACK_TOLERANCE_S:
            raise CallbackRejected("e-Boks callback timestamp too old")
        try:
            return _events(json.loads(callback.body)["events"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"unreadable e-Boks callback: {exc}") from exc

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _events(items: list[dict]) -> list[ReceiptEvent]:
    return [ReceiptEvent(e["dispatch_id"], EVENT_STATUS[e["type"]], e.get("reason"), f"eboks:{e['id']}",
                         datetime.fromisoformat(e["occurred_at"])) for e in items if e.get("type") in EVENT_STATUS]


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    return f"{body.get('error', '')}: {body.get('message', '')}"[:200] if isinstance(body, dict) else ""


def cpr(national_id: str) -> str:
    """A CPR number as e-Boks takes it: ten digits, without the dash it is often written with (DDMMYY-XXXX)."""
    return national_id.replace("-", "").replace(" ", "")
