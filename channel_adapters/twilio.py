"""SMS through Twilio Programmable Messaging (https://api.twilio.com/2010-04-01), shaped after its published API.

Sources (Twilio's own documentation and official examples):
- Message resource, https://www.twilio.com/docs/messaging/api/message-resource: POST
  /2010-04-01/Accounts/{AccountSid}/Messages.json (form To, From, Body, StatusCallback, MaxPrice), HTTP
  basic auth AccountSid:AuthToken, 201 with the message as JSON (sid, status "queued", price null until
  sent, price as a negative decimal string, error_code); GET .../Messages/{Sid}.json for one message; GET
  .../Messages.json lists them newest first, filtered by From, To and DateSent (a day; `DateSent>` on or after
  it), PageSize up to 1,000, next_page_uri to page on (as the official helper libraries' `list` calls it).
  We filter by From only: a message that failed before it was sent has no date_sent.
- Errors, https://www.twilio.com/docs/errors/20003 (401 Authenticate), /21211 (invalid To), /20429:
  the body is JSON {code, message, more_info, status}.
- Status callbacks, https://www.twilio.com/docs/messaging/guides/track-outbound-message-status: a form
  POST to StatusCallback with MessageSid, MessageStatus (sent, delivered, undelivered, failed, ...),
  ErrorCode, AccountSid, From, To, ApiVersion.
- Signatures, https://www.twilio.com/docs/usage/webhooks/webhooks-security: X-Twilio-Signature is
  base64(HMAC-SHA1(auth token, full URL + each POST parameter name and value, sorted by name)); checked
  against the example in TwilioDevEd/api-snippets security/signature_validation (token 12345).
- Delivery error codes 30001-30010 etc., https://www.twilio.com/docs/errors: which are soft is our reading.

Twilio offers no idempotency key on message create (as far as its documentation shows), so a resend
reaches the phone again: `deduplicates = False`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx

from channel_adapters.base import (Callback, CallbackRejected, ChannelAdapter, DispatchResult, OutboundMessage,
                                   PermanentError, ReceiptEvent, TransientError)
from channel_adapters.sending import SendPool, get_json, new_client, post_one, provider_text
from config.providers import TwilioSettings

API_VERSION = "2010-04-01"
# Delivery errors worth another try later (queue overflow, handset unreachable, unknown, missing
# segment, carrier congestion, rate limit); every other delivery error code is a hard failure.
SOFT_ERRORS = frozenset({"30001", "30003", "30008", "30009", "30017", "30022"})
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_SID = re.compile(r"^SM[0-9a-f]{32}$")
LIST_ABOVE = 50  # more messages awaiting a status than this: read the message list, not each message
LIST_PAGE = 1000  # the list's largest page
_IN_FLIGHT = frozenset({"accepted", "scheduled", "queued", "sending", "sent", "receiving"})


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a form POST: base64 HMAC-SHA1 over the URL and the sorted name+value pairs."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def receipt(message_id: str, sid: str, status: str, error_code: str | None, at: datetime) -> ReceiptEvent | None:
    """The ReceiptEvent for a Twilio message status, or None while it is still on its way."""
    if status in _IN_FLIGHT:
        return None
    if status in ("delivered", "read"):
        return ReceiptEvent(message_id, status, event_id=f"twilio:{sid}:{status}", at=at)
    code = str(error_code or "")
    return ReceiptEvent(message_id, "failed", detail=f"Twilio {status}" + (f", error {code}" if code else ""),
                        event_id=f"twilio:{sid}:{status}", at=at, permanent=code not in SOFT_ERRORS)


class TwilioAdapter(ChannelAdapter):
    """Creates one Twilio Message per SMS; status callbacks come to /webhooks/twilio, GET by sid is the fallback.

    `connections` requests at once; as Twilio does not deduplicate, the dispatcher records each result before
    asking for the next, so at most `connections` SMS are in flight.
    """

    channel = "sms"
    provider = "twilio"
    max_batch = 500
    body_maxlen = 459  # Twilio takes up to 1600 characters, billed per segment: we keep to 3 GSM-7 segments
    deduplicates = False  # no idempotency key on message create: a resend reaches the phone again
    asks_each_message = True  # statuses are fetched by sid (or found in the message list)

    def __init__(self, settings: TwilioSettings, public_url: str, client: httpx.Client | None = None,
                 connections: int = 1):
        self.settings = settings
        self.pool = SendPool(connections)
        self.public_url = public_url.rstrip("/")
        self.client = client or new_client(
            settings.timeout_s, auth=(settings.account_sid, settings.auth_token.get_secret_value()))
        # Twilio sid -> (our message id, when it was sent), until a final status is known
        self._pending: dict[str, tuple[str, datetime]] = {}

    @property
    def messages_url(self) -> str:
        """The account's Messages list resource."""
        return f"{self.settings.base_url}/{API_VERSION}/Accounts/{self.settings.account_sid}/Messages"

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Create each message, yielding its result as soon as Twilio answered."""
        yield from self.pool.send(messages, lambda m: post_one(m, self._post))

    def _post(self, message: OutboundMessage) -> DispatchResult:
        form = {"To": message.recipient, "From": self.settings.sender, "Body": message.body_text,
                "StatusCallback": f"{self.public_url}/webhooks/twilio?{urlencode({'m': message.message_id})}"}
        if self.settings.max_price:
            form["MaxPrice"] = self.settings.max_price
        return self._result(message.message_id, self.client.post(f"{self.messages_url}.json", data=form))

    def _result(self, message_id: str, response: httpx.Response) -> DispatchResult:
        status = response.status_code
        if status in (401, 403):
            raise PermanentError(f"Twilio refused our credentials: {_error(response)}")
        if not response.is_success:
            permanent = 400 <= status < 500 and status not in (408, 429)
            return DispatchResult(message_id, "failed", error=_error(response), permanent=permanent)
        body = response.json()
        sid = str(body.get("sid") or "")
        if sid:
            self._pending[sid] = (message_id, datetime.now(timezone.utc))
        return DispatchResult(message_id, "sent", provider_ref=sid or None, cost=_price(body.get("price")))

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent]:
        """A status callback; refused unless X-Twilio-Signature is Twilio's over this URL and body."""
        signature = callback.headers.get("x-twilio-signature", "")
        try:
            params = parse_qsl(callback.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CallbackRejected("Twilio callback body is not a form") from exc
        expected = twilio_signature(self.settings.auth_token.get_secret_value(), callback.url, params)
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise CallbackRejected("Twilio callback without a valid X-Twilio-Signature")
        form = dict(params)
        message_id = (parse_qs(urlsplit(callback.url).query).get("m") or [""])[0]
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if not _MESSAGE_ID.match(message_id) or not sid or not status:
            raise CallbackRejected("Twilio callback without our message id, a MessageSid or a MessageStatus")
        event = receipt(message_id, sid, status, form.get("ErrorCode"), _dlr_time(form.get("RawDlrDoneDate")))
        if event:
            self._pending.pop(sid, None)
        return [event] if event else []

    def awaiting(self, sent: Sequence[tuple[str, str, datetime]]) -> None:
        """Messages sent earlier (the ledger's), asked about by the next poll."""
        for message_id, sid, at in sent:
            if _SID.fullmatch(sid or ""):
                self._pending.setdefault(sid, (message_id, at if at.tzinfo else at.replace(tzinfo=timezone.utc)))

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Final statuses of the messages this adapter sent and has no report for yet.

        Up to `LIST_ABOVE` are fetched one by one (GET by sid); more are found in the account's message list,
        1,000 a page, from our sender, newest first: for 10,000 SMS, about 10 requests rather than 10,000."""
        events = self._from_the_list() if len(self._pending) > LIST_ABOVE else []
        if len(self._pending) <= LIST_ABOVE:
            for sid in list(self._pending):
                events.extend(self._found(self._get(f"{self.messages_url}/{sid}.json")))
        return events

    def _from_the_list(self) -> list[ReceiptEvent]:
        """Page the sender's messages, newest first, until every pending one was found or the pages reach a day
        before the oldest was sent (a day's margin: Twilio's clock and ours, a send across midnight). Not filtered
        by DateSent: a message that failed before it was sent has none."""
        now = datetime.now(timezone.utc)
        before = min(sent_at for _, sent_at in self._pending.values()) - timedelta(days=1)
        url, params = f"{self.messages_url}.json", {"From": self.settings.sender, "PageSize": LIST_PAGE}
        events: list[ReceiptEvent] = []
        while url and self._pending:
            page = self._get(url, params)
            for body in page.get("messages") or []:
                if body.get("sid") in self._pending:
                    events.extend(self._found(body))
            last = (page.get("messages") or [{}])[-1]
            if (_rfc2822(last.get("date_created")) or now) < before:
                break  # older than anything we wait for
            nxt = page.get("next_page_uri")
            url, params = (f"{self.settings.base_url}{nxt}" if nxt else ""), None  # the next page's URI has them
        return events

    def _get(self, url: str, params: dict | None = None) -> dict:
        return get_json(self.client, url, params, "Twilio", "message status", _error)

    def _found(self, body: dict) -> list[ReceiptEvent]:
        """The event of a message resource in its final status (and it is no longer pending), else nothing."""
        sid = str(body.get("sid", ""))
        at = _rfc2822(body.get("date_updated")) or datetime.now(timezone.utc)
        event = receipt(self._pending[sid][0], sid, str(body.get("status", "")), body.get("error_code"), at)
        if not event:
            return []
        del self._pending[sid]
        return [event]

    def close(self) -> None:
        """Stop the workers and close the HTTP client."""
        self.pool.close()
        self.client.close()


def _error(response: httpx.Response) -> str:
    """'HTTP 400 Twilio 21211: <message>' from Twilio's error body, phone numbers masked."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("code"):
        return f"HTTP {response.status_code} Twilio {body['code']}: {provider_text(str(body.get('message', '')))}"
    return f"HTTP {response.status_code} {provider_text(response.text)}"


def _price(value) -> Decimal | None:
    """Twilio states what it charged as a negative decimal string ("-0.00750"), null until known."""
    try:
        return abs(Decimal(str(value))) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _rfc2822(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _dlr_time(raw: str | None) -> datetime:
    """RawDlrDoneDate (YYMMDDhhmm, UTC) when the carrier gave one, else the time the callback came."""
    try:
        return datetime.strptime(raw or "", "%y%m%d%H%M").replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.now(timezone.utc)
