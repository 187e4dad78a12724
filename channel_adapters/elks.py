"""SMS through 46elks (https://api.46elks.com/a1), shaped after its published API.

Sources (46elks' own documentation):
- Send SMS, https://46elks.se/docs (POST /a1/sms, form fields from, to, message, whendelivered;
  HTTP basic auth with the API username and password).
- Get SMS by id, https://www.46elks.se/docs/show-sms-id (id, status created/sent/delivered/failed,
  created/delivered in UTC, cost in 10000ths of the account currency: 3500 = 0.35 SEK).
- Delivery reports, https://www.46elks.se/docs/sms-delivery-reports (a form POST to whendelivered
  with id, status delivered/failed, delivered; extra query parameters on the URL are kept; retried
  for at least 6 hours until answered 200-204).
- SMS history, https://www.46elks.se/docs/sms-history (GET /a1/sms: start = before, end = after,
  limit, at most 100 per page, `next` to page on).

46elks signs nothing, so the whendelivered URL carries our message id and an HMAC-SHA256 of it under
`callback_key`; a callback whose `sig` does not match is refused. 46elks has no idempotency key: a
resend reaches the phone again, hence `deduplicates = False`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from channel_adapters.base import (Callback, CallbackRejected, ChannelAdapter, DispatchResult, OutboundMessage,
                                   PermanentError, ReceiptEvent, TransientError)
from channel_adapters.sending import SendPool, get_json, new_client, post_one, provider_text
from config.providers import ElksSettings

COST_UNIT = Decimal(10000)  # 46elks states costs in 10000ths of the account currency
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_ELKS_ID = re.compile(r"^s[0-9a-f]{32}$")
_FINAL = {"delivered", "failed"}
BY_ID_UP_TO = 50  # SMS awaiting a status asked for one by one; more are looked up in the history, 100 a page
log = logging.getLogger(__name__)


def callback_signature(callback_key: bytes, message_id: str) -> str:
    """Our HMAC-SHA256 over a message id, as carried in the whendelivered URL (hex, 32 characters)."""
    return hmac.new(callback_key, message_id.encode(), hashlib.sha256).hexdigest()[:32]


def elks_time(value: str | None) -> datetime | None:
    """46elks' UTC timestamps ("2017-03-14T09:52:10Z" or "2018-02-14T09:52:07.302000") as aware datetimes."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class ElksAdapter(ChannelAdapter):
    """POSTs each SMS to 46elks' /sms; delivery reports come to /webhooks/46elks; polling is the fallback
    (GET /sms/{id} for up to 50 awaiting a status, else GET /sms, the history).

    `connections` requests at once, over the client's kept-alive connections; as 46elks does not deduplicate,
    the dispatcher records each result before asking for the next, so at most `connections` SMS are in flight.
    """

    channel = "sms"
    provider = "46elks"
    max_batch = 500
    body_maxlen = 459  # 46elks splits long texts itself and bills per part: we keep to 3 GSM-7 parts
    deduplicates = False  # no idempotency key: a resend reaches the phone again
    asks_each_message = True  # statuses are fetched by id (or found in the history)

    def __init__(self, settings: ElksSettings, public_url: str, callback_key: bytes,
                 client: httpx.Client | None = None, connections: int = 1):
        self.settings = settings
        self.pool = SendPool(connections)
        self.public_url = public_url.rstrip("/")
        self.callback_key = callback_key
        self.client = client or new_client(settings.timeout_s,
                                           auth=(settings.username, settings.password.get_secret_value()))
        self._pending: dict[str, tuple[str, datetime]] = {}  # 46elks id -> (our message id, created)

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Send each SMS, yielding its result as soon as 46elks answered."""
        yield from self.pool.send(messages, lambda m: post_one(m, self._post))

    def callback_url(self, message_id: str) -> str:
        """The whendelivered URL for one message: our endpoint, the message id and its signature."""
        query = urlencode({"m": message_id, "sig": callback_signature(self.callback_key, message_id)})
        return f"{self.public_url}/webhooks/46elks?{query}"

    def _post(self, message: OutboundMessage) -> DispatchResult:
        response = self.client.post(f"{self.settings.base_url}/sms", data={
            "from": self.settings.sender, "to": message.recipient, "message": message.body_text,
            "whendelivered": self.callback_url(message.message_id)})
        return self._result(message.message_id, response)

    def _result(self, message_id: str, response: httpx.Response) -> DispatchResult:
        status = response.status_code
        if status in (401, 403):  # wrong credentials, or the account may not send (e.g. no credit)
            raise PermanentError(f"46elks refused our account: HTTP {status} {provider_text(response.text)}")
        if response.is_success:
            body = response.json()
            elks_id = str(body.get("id") or "")
            if elks_id:
                created = elks_time(body.get("created")) or datetime.now(timezone.utc)
                self._pending[elks_id] = (message_id, created)
            cost = Decimal(body["cost"]) / COST_UNIT if body.get("cost") is not None else None
            return DispatchResult(message_id, "sent", provider_ref=elks_id or None, cost=cost)
        permanent = 400 <= status < 500 and status not in (408, 429)
        return DispatchResult(message_id, "failed", error=f"HTTP {status} {provider_text(response.text)}",
                              permanent=permanent)

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent]:
        """The delivery report 46elks posted to our whendelivered URL; refused unless our signature matches."""
        query = parse_qs(urlsplit(callback.url).query)
        message_id, sig = (query.get("m") or [""])[0], (query.get("sig") or [""])[0]
        if not _MESSAGE_ID.match(message_id) or not hmac.compare_digest(
                sig.encode(), callback_signature(self.callback_key, message_id).encode()):
            raise CallbackRejected("46elks callback without a valid signature")
        try:
            form = {k: v[0] for k, v in parse_qs(callback.body.decode("utf-8"), strict_parsing=True).items()}
        except (UnicodeDecodeError, ValueError) as exc:
            raise CallbackRejected("46elks callback body is not a form") from exc
        elks_id, status = form.get("id", ""), form.get("status", "")
        if not _ELKS_ID.match(elks_id) or status not in ("sent", "delivered", "failed"):
            raise CallbackRejected("46elks callback without an SMS id or a known status")
        known = self._pending.get(elks_id)
        if known and known[0] != message_id:  # the URL was signed for another message than this SMS
            raise CallbackRejected("46elks callback for another message")
        event = self._event(message_id, elks_id, status, form.get("delivered"))
        if event:
            self._pending.pop(elks_id, None)
        return [event] if event else []

    def awaiting(self, sent: Sequence[tuple[str, str, datetime]]) -> None:
        """SMS sent earlier (the ledger's), asked about by the next poll."""
        for message_id, elks_id, at in sent:
            if _ELKS_ID.fullmatch(elks_id or ""):
                self._pending.setdefault(elks_id, (message_id, at if at.tzinfo else at.replace(tzinfo=timezone.utc)))

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Final statuses of the SMS sent (by this adapter, or named by `awaiting`) without a report yet.

        Up to `BY_ID_UP_TO` are asked for one by one (GET /sms/{id}); more are found in the history (GET /sms,
        paged back to the oldest of them): an SMS that never gets a final status then costs one request a poll,
        not a walk through the history back to it."""
        if not self._pending:
            return []
        if len(self._pending) <= BY_ID_UP_TO:
            return self._one_by_one()
        return self._from_history()

    def _one_by_one(self) -> list[ReceiptEvent]:
        events: list[ReceiptEvent] = []
        for elks_id, (message_id, _) in list(self._pending.items()):
            sms = get_json(self.client, f"{self.settings.base_url}/sms/{elks_id}", None, "46elks", "an SMS status",
                           _error, absent_ok=True)
            if sms is None:  # 46elks knows no such SMS: no status will ever come for it
                log.warning("46elks has no SMS %s (message %s): its status is no longer asked for", elks_id, message_id)
                del self._pending[elks_id]
            elif event := self._event(message_id, elks_id, sms.get("status", ""), sms.get("delivered")):
                events.append(event)
                del self._pending[elks_id]
        return events

    def _from_history(self) -> list[ReceiptEvent]:
        oldest = min(created for _, created in self._pending.values()) - timedelta(seconds=1)
        params = {"end": oldest.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds"),
                  "limit": self.settings.history_page_size}
        events: list[ReceiptEvent] = []
        while True:
            page = self._history_page(params)
            for sms in page.get("data", []):
                pending = self._pending.get(str(sms.get("id")))
                event = pending and self._event(pending[0], sms["id"], sms.get("status", ""), sms.get("delivered"))
                if event:
                    events.append(event)
                    del self._pending[sms["id"]]
            if not page.get("next") or not self._pending:
                return events
            params = {**params, "start": page["next"]}

    def _history_page(self, params: dict) -> dict:
        return get_json(self.client, f"{self.settings.base_url}/sms", params, "46elks", "SMS history", _error)

    @staticmethod
    def _event(message_id: str, elks_id: str, status: str, delivered: str | None) -> ReceiptEvent | None:
        if status not in _FINAL:
            return None  # created / sent: nothing to record yet
        at = elks_time(delivered) or datetime.now(timezone.utc)
        if status == "delivered":
            return ReceiptEvent(message_id, "delivered", event_id=f"46elks:{elks_id}:delivered", at=at)
        # 46elks retries with the carriers itself; a "failed" report is its final word.
        return ReceiptEvent(message_id, "failed", detail="46elks: not delivered", event_id=f"46elks:{elks_id}:failed",
                            at=at, permanent=True)

    def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        self.pool.close()
        self.client.close()


def _error(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {provider_text(response.text)}"
