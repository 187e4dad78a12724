"""Kivra (Swedish digital mailbox) through Kivra's tenant API: usermatch, content v2, payment and read webhooks.

Sources (Kivra's published OpenAPI, github.com/kivra/developer.kivra.com: swagger.yml,
_partials/api-introduction.yml, _partials/path-v2-tenantkey-content.yml, March 2026):
- auth: OAuth2 client credentials, `POST /v1/auth` with Basic base64(client_id:client_secret) and
  `grant_type=client_credentials`; answer `{access_token, expires_in: 28800, token_type: bearer}`;
  an invalid token is 401.
- `POST /v2/tenant/{tenantKey}/usermatch/ssn` `{"list": [ssn]}` -> the eligible ones, same shape
  (SSN `YYYYMMDDnnnn`, <= 10 MB).
- `POST /v2/tenant/{tenantKey}/content`: ssn, subject, type, generated_at, parts (base64 PDF with an optional
  text/html `responsive_part`), `payment_multiple_options` (payable, method "1" Bankgiro / "2" Plusgiro, account,
  currency SEK, options: due_date, amount >= 1, type SE_OCR | TENANT_REF, reference <= 25 characters); 201 with the
  content key in header `kivra-objkey`. Duplicate control: an identical payload (`generated_at` aside) is delivered
  once, repeats are answered OK without a delivery. Errors: `{code, short_message, long_message}`, 5xx safe to retry.
- Payment webhooks follow Standard Webhooks (standardwebhooks.com): headers webhook-id / webhook-timestamp /
  webhook-signature `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`; body `{id, timestamp, type:
  payment_callback, data: {content_key, remittance_type, remittance_string, amount, currency, pay_date,
  payment_event}}`.
- Event webhooks: `X-KIVRA-TIMESTAMP`, `X-KIVRA-SIGNATURE: v1=<HMAC-SHA256(secret, t + ":" + body)>` (one header per
  secret in rotation); envelope `{id: event_…, event_created_at, event_type, data_version, data}`.
Decided here, the docs being silent: tenants get no documented read status, so a read is a `content.read` event in
that envelope with `data.content_key`, its HMAC hex-encoded; the polling fallback is `GET /v2/tenant/{tenantKey}/events`
(a 404 there, as from Kivra itself, means "webhooks only"); content v2 takes no sender reference, so the content key
maps back to our message id (kept for what this process sent, else asked of `message_for`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import httpx

from channel_adapters.base import (Callback, CallbackRejected, ChannelAdapter, CursorFeed, DispatchResult,
                                   OutboundMessage, PaymentEvent, PermanentError, ReceiptEvent, TransientError)
from channel_adapters.sending import SendPool, new_client
from config.providers import KivraSettings

log = logging.getLogger(__name__)

DOCUMENT_TYPES = {"invoice": "invoice", "reminder": "invoice.reminder", "credit_note": "letter.creditnotice",
                  "notice": "letter"}
# Kivra codes that refuse the recipient, not our credentials, even when the HTTP status is 401 (40105, 40113).
RECIPIENT_REFUSALS = {40009, 40024, 40032, 40105, 40113}
_TOKEN_MARGIN_S = 60.0
READ_WAITS = timedelta(days=2)  # a read of content not known as ours is looked at again this long (as the ledger waits)
_RETRYABLE_4XX = (408, 429)


class KivraAdapter(CursorFeed, ChannelAdapter):
    """Sends each document as Kivra content to the recipient's personal identity number, `connections` at once."""

    channel = "mailbox"
    provider = "kivra"
    max_batch = 200
    deduplicates = True  # Kivra's duplicate control: an identical payload is delivered once

    def __init__(self, settings: KivraSettings, public_url: str, client: httpx.Client | None = None,
                 message_for: Callable[[str], str | None] | None = None, connections: int = 1):
        self.settings = settings
        self.pool = SendPool(connections)
        self.webhook_url = f"{public_url.rstrip('/')}/webhooks/kivra"
        self.client = client or new_client(settings.timeout_s)
        self.message_for = message_for  # content key -> our message id (the ledger's provider_ref), for webhooks
        self._sent: dict[str, str] = {}
        self._held: str | None = None  # a position to read again from (see fetch_receipts)
        self._token: tuple[str, float] | None = None
        self._key = webhook_key(settings.webhook_secret.get_secret_value())

    def registered(self, national_ids: Iterable[str]) -> set[str]:
        """Which of these personal identity numbers can receive content from our tenant (bulk usermatch)."""
        by_ssn: dict[str, list[str]] = {}
        for national_id in national_ids:
            if ssn := kivra_ssn(national_id):
                by_ssn.setdefault(ssn, []).append(national_id)
        ssns, found, chunk = list(by_ssn), set(), max(1, self.settings.usermatch_chunk)
        for start in range(0, len(ssns), chunk):
            response = self._checked("POST", f"{self._tenant}/usermatch/ssn", "usermatch",
                                     json={"list": ssns[start:start + chunk]})
            for ssn in response.json().get("list", []):
                found.update(by_ssn.get(ssn, ()))
        return found

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """POST each message as content, `connections` at once; yield each result as soon as Kivra answered."""
        yield from self.pool.send(messages, self._deliver_one)

    def _deliver_one(self, message: OutboundMessage) -> DispatchResult:
        try:
            return self._deliver(message)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientError(f"Kivra unreachable: {exc}") from exc
        except httpx.TransportError as exc:  # read timeout, dropped connection: may have arrived (Kivra dedupes)
            return DispatchResult(message.message_id, "failed", error=f"{type(exc).__name__} talking to Kivra")

    def fetch_receipts(self) -> list[ReceiptEvent | PaymentEvent]:
        """Reads and payments since the last call, from the event feed (none when Kivra offers no feed).

        A recent read of content not yet known as ours (its send not recorded yet) holds the feed's position at
        its page: the next poll, in this process or another, reads that page again (events are taken once).
        """
        events: list[ReceiptEvent | PaymentEvent] = []
        if self._held is not None:
            self._cursor, self._held = self._held, None
        while True:
            response = self._checked("GET", f"{self._tenant}/events", "events", missing_ok=True,
                                     params={"since": self._cursor})
            if response.status_code == 404:
                return events  # Kivra itself publishes webhooks only
            body = response.json()
            if not body.get("events"):
                return events
            for item in body["events"]:
                try:
                    found = self._events(item)
                except (KeyError, TypeError, ValueError, InvalidOperation):
                    log.warning("Kivra event %s unreadable, skipped", str(item.get("id", "?"))[:64])
                    continue
                events.extend(found)
                if not found and self._held is None and _unmapped_recent_read(item):
                    self._held = self._cursor
            self._cursor = str(body.get("next", self._cursor))

    def feed_position(self) -> str | None:
        """The cursor after the last page read, or before a page with a read to look at again."""
        return self._held if self._held is not None else self._cursor

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent | PaymentEvent]:
        """The events of a Kivra webhook, once its signature (either of Kivra's two schemes) checks out."""
        headers = callback.headers
        if "webhook-signature" in headers:
            verify_standard_webhook(self._key, headers, callback.body, self.settings.webhook_tolerance_s)
        elif "x-kivra-signature" in headers:
            verify_kivra_webhook(self._key, headers, callback.body, self.settings.webhook_tolerance_s)
        else:
            raise CallbackRejected("Kivra webhook without a signature header")
        try:
            return self._events(json.loads(callback.body))
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise CallbackRejected(f"Kivra webhook body unreadable: {type(exc).__name__}") from exc

    def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        self.pool.close()
        self.client.close()

    @property
    def _tenant(self) -> str:
        return f"{self.settings.base_url}/v2/tenant/{self.settings.tenant_key}"

    def _deliver(self, message: OutboundMessage) -> DispatchResult:
        try:
            payload = content_payload(message)
        except ValueError as exc:
            return DispatchResult(message.message_id, "failed", error=str(exc), permanent=True)
        response = self._request("POST", f"{self._tenant}/content", json=payload)
        if response.status_code in (200, 201):
            key = response.headers.get("kivra-objkey") or None
            if key:
                self._sent[key] = message.message_id
            return DispatchResult(message.message_id, "sent", provider_ref=key)
        code, reason = _error(response)
        if response.status_code in (401, 403) and code not in RECIPIENT_REFUSALS:
            raise PermanentError(f"Kivra refused our credentials: HTTP {response.status_code} {code} {reason}")
        permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX
        return DispatchResult(message.message_id, "failed", error=f"HTTP {response.status_code} {code} {reason}",
                              permanent=permanent)

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One authorised call; a 401 on a cached token gets one fresh token and one retry."""
        for attempt in range(2):
            response = self.client.request(method, url, headers={"Authorization": f"Bearer {self._bearer()}"},
                                           **kwargs)
            if response.status_code != 401 or _error(response)[0] in RECIPIENT_REFUSALS or attempt:
                return response
            self._token = None
        return response

    def _checked(self, method: str, url: str, what: str, missing_ok: bool = False, **kwargs) -> httpx.Response:
        """A call whose failure fails the whole operation: unreachable/5xx transient, 4xx permanent."""
        try:
            response = self._request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"Kivra unreachable for {what}: {exc}") from exc
        if not (missing_ok and response.status_code == 404):
            _raise_for_call(response, what)
        return response

    def _bearer(self) -> str:
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        try:
            response = self.client.post(f"{self.settings.base_url}/v1/auth", data={"grant_type": "client_credentials"},
                                        auth=(self.settings.client_id, self.settings.client_secret.get_secret_value()))
        except httpx.TransportError as exc:
            raise TransientError(f"Kivra unreachable for a token: {exc}") from exc
        if response.status_code in (400, 401, 403):
            raise PermanentError(f"Kivra refused our client credentials: HTTP {response.status_code} "
                                 f"{' '.join(map(str, _error(response)))}")
        if not response.is_success:
            raise TransientError(f"Kivra token: HTTP {response.status_code}")
        body = response.json()
        ttl = float(body.get("expires_in", 28800))
        self._token = (body["access_token"], time.monotonic() + max(ttl - _TOKEN_MARGIN_S, ttl / 2))
        return self._token[0]

    def _events(self, body: Mapping) -> list[ReceiptEvent | PaymentEvent]:
        if body.get("type") in ("payment_callback", "payment_callback_retry"):
            return [event] if (event := self._payment(body)) else []
        if body.get("event_type") == "content.read":
            return [event] if (event := self._read(body)) else []
        return []  # invoice_declined, events of other products: nothing for the ledger

    def _payment(self, body: Mapping) -> PaymentEvent | None:
        data = body["data"]
        if data["payment_event"] != "settled":
            return None  # scheduled: not paid yet; failed: nothing paid
        paid_on = date.fromisoformat(data.get("pay_date") or str(data["event_time"])[:10])
        return PaymentEvent(reference=str(data["remittance_string"]), amount=Decimal(str(data["amount"])),
                            currency=str(data["currency"]), paid_on=paid_on, event_id=str(body["id"]), source="kivra",
                            message_id=self._message_id(data.get("content_key")))

    def _read(self, body: Mapping) -> ReceiptEvent | None:
        message_id = self._message_id(body["data"]["content_key"])
        if message_id is None:
            log.warning("Kivra read event %s for content we cannot map to a message; skipped", str(body["id"])[:64])
            return None
        at = datetime.fromtimestamp(int(body["event_created_at"]), timezone.utc)
        return ReceiptEvent(message_id, "read", detail="opened in Kivra", event_id=str(body["id"]), at=at)

    def _message_id(self, content_key: str | None) -> str | None:
        if not content_key:
            return None
        return self._sent.get(content_key) or (self.message_for(content_key) if self.message_for else None)


def _unmapped_recent_read(item: Mapping) -> bool:
    """A read event (that found no message) from the last two days: its send may not be recorded yet."""
    if item.get("event_type") != "content.read":
        return False
    try:
        created = datetime.fromtimestamp(int(item.get("event_created_at") or 0), timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return False
    return datetime.now(timezone.utc) - created < READ_WAITS


def content_payload(message: OutboundMessage) -> dict:
    """Kivra content v2 for one message: the PDF (with the HTML as its responsive part) and, for invoices, payment."""
    ssn = kivra_ssn(message.recipient)
    if not ssn:
        raise ValueError("recipient is not a Swedish personal identity number")
    pdf = next((a for a in message.attachments if a.content_type == "application/pdf"), None)
    if pdf is None:
        raise ValueError("message has no PDF attachment")
    part: dict = {"name": pdf.filename, "data": _b64(pdf.content), "content_type": "application/pdf"}
    if message.body_html:
        part["responsive_part"] = {"name": pdf.filename.rsplit(".", 1)[0] + ".html",
                                   "data": _b64(message.body_html.encode()), "content_type": "text/html"}
    meta = message.metadata
    kind = DOCUMENT_TYPES.get(meta.get("document_type") or "invoice", "letter")
    payment = payment_options(meta) if kind.startswith("invoice") else None
    if kind.startswith("invoice") and payment is None:
        kind = "letter"  # Kivra refuses an invoice type that is not payable; the PDF still carries the details
    # generated_at is outside Kivra's duplicate check; the document's own date keeps it stable anyway.
    payload = {"ssn": ssn, "subject": message.subject or "Faktura", "type": kind,
               "generated_at": meta.get("issue_date") or date.today().isoformat(), "parts": [part]}
    if payment:
        payload["payment_multiple_options"] = payment
    return payload


def payment_options(meta: Mapping[str, str]) -> dict | None:
    """Kivra's payment block from the message metadata, or None when the document cannot be paid in Kivra."""
    account, method = (meta.get("bankgiro"), "1") if meta.get("bankgiro") else (meta.get("plusgiro"), "2")
    reference, due = meta.get("payment_reference") or "", meta.get("due_date")
    try:
        amount = Decimal(meta.get("amount") or "0")
    except InvalidOperation:
        return None
    if not (account and due and 0 < len(reference) <= 25) or amount < 1 or (meta.get("currency") or "SEK") != "SEK":
        return None
    return {"payable": True, "currency": "SEK", "method": method, "account": account,
            "options": [{"due_date": due, "amount": f"{amount:.2f}", "reference": reference,
                         "type": "SE_OCR" if is_swedish_ocr(reference) else "TENANT_REF"}]}


def is_swedish_ocr(reference: str) -> bool:
    """2 to 25 digits whose last one is the modulus-10 (Luhn) check digit."""
    if not (reference.isdigit() and 2 <= len(reference) <= 25):
        return False
    total = sum(d if i % 2 == 0 else (2 * d if d < 5 else 2 * d - 9)
                for i, d in enumerate(int(c) for c in reversed(reference)))
    return total % 10 == 0


def kivra_ssn(national_id: str, today: date | None = None) -> str | None:
    """A personnummer as Kivra wants it (YYYYMMDDnnnn), or None.

    Ten digits take the century that makes the holder 0-99 years old, or 100+ with the '+' separator.
    """
    digits = re.sub(r"\D", "", national_id or "")
    if len(digits) == 12:
        return digits
    if len(digits) != 10:
        return None
    today = today or date.today()
    century = today.year // 100 * 100 - (100 if int(digits[:2]) > today.year % 100 else 0)
    return str(century - (100 if "+" in national_id else 0) + int(digits[:2])) + digits[2:]


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: Kivra hands out base64 (Standard Webhooks may prefix it whsec_)."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode()


def verify_standard_webhook(key: bytes, headers: Mapping[str, str], body: bytes, tolerance_s: int) -> None:
    """Raise CallbackRejected unless a `v1,` signature is HMAC-SHA256(key, id.timestamp.body) and the time is fresh."""
    webhook_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not webhook_id:
        raise CallbackRejected("Kivra payment webhook without webhook-id")
    _check_fresh(stamp, tolerance_s)
    expected = base64.b64encode(hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, s.encode()) for s in offered):
        raise CallbackRejected("Kivra payment webhook signature does not match")


def verify_kivra_webhook(key: bytes, headers: Mapping[str, str], body: bytes, tolerance_s: int) -> None:
    """Raise CallbackRejected unless a `v1=` signature is HMAC-SHA256(key, timestamp:body) and the time is fresh."""
    stamp = headers.get("x-kivra-timestamp", "")
    _check_fresh(stamp, tolerance_s)
    expected = hmac.new(key, stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    # Several X-KIVRA-SIGNATURE headers (secret rotation) reach us joined by commas.
    offered = [s[3:] for s in re.split(r"[,\s]+", headers["x-kivra-signature"]) if s.startswith("v1=")]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise CallbackRejected("Kivra webhook signature does not match")


def _check_fresh(stamp: str, tolerance_s: int) -> None:
    if not stamp.isdigit():
        raise CallbackRejected("Kivra webhook without a valid timestamp")
    if abs(time.time() - int(stamp)) > tolerance_s:
        raise CallbackRejected("Kivra webhook timestamp outside the tolerance (replay?)")


def _raise_for_call(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    code, reason = _error(response)
    if response.status_code in (401, 403) or (400 <= response.status_code < 500
                                             and response.status_code not in _RETRYABLE_4XX):
        raise PermanentError(f"Kivra {what}: HTTP {response.status_code} {code} {reason}")
    raise TransientError(f"Kivra {what}: HTTP {response.status_code} {code} {reason}")


def _error(response: httpx.Response) -> tuple[int | None, str]:
    """Kivra's 5-digit error code and short message (never the long one: it may quote personal data)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code") or response.headers.get("x-error-code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    return code, str(body.get("short_message") or response.reason_phrase)[:120]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
