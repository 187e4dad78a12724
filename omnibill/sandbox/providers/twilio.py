"""Sandbox imitation of Twilio Programmable Messaging (https://api.twilio.com -> /twilio).

POST /2010-04-01/Accounts/{AccountSid}/Messages.json (form To, From, Body, StatusCallback; basic auth
AccountSid:AuthToken) answers 201 with the Message as JSON; GET .../Messages/{Sid}.json and the list
.../Messages.json (PageSize, Page). Errors use Twilio's body {code, message, more_info, status}.
Each accepted message is delivered at once and reported to StatusCallback twice ("sent", then
"delivered"), signed with X-Twilio-Signature under the configured auth token. Twilio does not dedupe:
a resend is delivered again and kept as a duplicate (keyed by our message id, the `m` of StatusCallback).
Faults: an outage answers 429 (Twilio error 20429); a rejected number is accepted, then reported
"undelivered" with ErrorCode 30005 (unknown destination handset), and nothing reaches the phone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from omnibill.sandbox.gateway import E164, mask

SETTINGS = "twilio"
router = APIRouter(prefix="/twilio")

API_VERSION = "2010-04-01"
ACCOUNT = f"/{API_VERSION}/Accounts/{{account_sid}}"
SANDBOX_PRICE = "-0.07900"  # per segment, in price_unit
_lock = threading.RLock()


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """An error in Twilio's documented shape."""
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status, headers=headers)


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio makes it: HMAC-SHA1 over the URL and each sorted name+value, base64."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def messages(request: Request) -> dict[str, dict]:
    """This sandbox account's Message resources by sid, in the order created."""
    with _lock:
        if not hasattr(request.app.state, "twilio_messages"):
            request.app.state.twilio_messages = {}
        return request.app.state.twilio_messages


def unauthorised(request: Request, account_sid: str) -> JSONResponse | None:
    """401 (error 20003) unless basic auth is the configured AccountSid:AuthToken and the path names that account."""
    settings = request.app.state.settings.twilio
    expected = f"{settings.account_sid}:{settings.auth_token.get_secret_value()}".encode()
    if account_sid == settings.account_sid and \
            request.headers.get("authorization") == "Basic " + base64.b64encode(expected).decode():
        return None
    return twilio_error(401, 20003, "Authenticate")


def segments(body: str) -> int:
    """Segments Twilio bills (GSM-7 assumed for ASCII and Nordic letters, else UCS-2)."""
    single, multi = (160, 153) if all(ord(c) < 256 for c in body) else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@router.post(ACCOUNT + "/Messages.json")
async def create_message(request: Request, account_sid: str):
    """Create (send) a message: 201 with the resource, then status callbacks."""
    if refused := unauthorised(request, account_sid):
        return refused
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {mask(to)} is not a valid phone number.")
    if not sender:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    callback = form.get("StatusCallback", "")
    key = (parse_qs(urlsplit(callback).query).get("m") or [""])[0]
    faults = request.app.state.faults
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    if faults.should_fail(key or secrets.token_hex(8), "sms"):
        return twilio_error(429, 20429, "Too Many Requests")
    now = format_datetime(datetime.now(timezone.utc), usegmt=True)
    sid = "SM" + secrets.token_hex(16)
    resource = {
        "account_sid": account_sid, "api_version": API_VERSION, "body": body, "date_created": now,
        "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
        "error_message": None, "from": sender, "messaging_service_sid": None, "num_media": "0",
        "num_segments": str(segments(body)), "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
        "to": mask(to), "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"}
    answer = dict(resource)
    with _lock:
        messages(request)[sid] = resource
    rejected = faults.rejects(to)
    if not rejected:
        request.app.state.ledger.record("sms", key or sid, mask(to), None,
                                        urlencode({**form, "To": mask(to)}).encode(), ".txt")
    deliver(request, resource, callback, to, rejected)
    return JSONResponse(answer, status_code=201)


def deliver(request: Request, resource: dict, callback: str, to: str, rejected: bool) -> None:
    """Sent, then delivered (or undelivered, 30005): update the resource and post signed status callbacks."""
    token = request.app.state.settings.twilio.auth_token.get_secret_value()
    final = "undelivered" if rejected else "delivered"
    with _lock:
        resource.update(status=final, date_sent=resource["date_created"], price=SANDBOX_PRICE,
                        date_updated=format_datetime(datetime.now(timezone.utc), usegmt=True),
                        error_code=30005 if rejected else None,
                        error_message="Unknown destination handset" if rejected else None)
    if not callback:
        return
    for status in ("sent", final):
        params = {"AccountSid": resource["account_sid"], "ApiVersion": API_VERSION, "From": resource["from"],
                  "MessageSid": resource["sid"], "MessageStatus": status, "SmsSid": resource["sid"],
                  "SmsStatus": status, "To": to}
        if status == "undelivered":
            params["ErrorCode"] = "30005"
        request.app.state.callbacks.post(callback, data=params, headers={
            "X-Twilio-Signature": sign(token, callback, params)})


@router.get(ACCOUNT + "/Messages/{sid}.json")
def fetch_message(request: Request, account_sid: str, sid: str):
    """One message by sid (404, error 20404, when there is none)."""
    if refused := unauthorised(request, account_sid):
        return refused
    with _lock:
        resource = messages(request).get(sid)
        if resource:
            return dict(resource)
    return twilio_error(404, 20404, f"The requested resource /{API_VERSION}/Accounts/{account_sid}/Messages/"
                                    f"{sid}.json was not found")


@router.get(ACCOUNT + "/Messages.json")
def list_messages(request: Request, account_sid: str, PageSize: int = 50, Page: int = 0):  # noqa: N803 (Twilio's names)
    """The account's messages, newest first, a page at a time (next_page_uri, with the filters, while more are
    left); filtered by From, To and DateSent / DateSent> / DateSent< (a day, YYYY-MM-DD: on, on or after, on or
    before it)."""
    if refused := unauthorised(request, account_sid):
        return refused
    size = max(1, min(PageSize, 1000))
    query = request.query_params
    filters = {k: query[k] for k in ("From", "To", "DateSent", "DateSent>", "DateSent<") if query.get(k)}
    with _lock:
        rows = [dict(r) for r in reversed(messages(request).values()) if _matches(r, filters)]
    page = rows[Page * size:(Page + 1) * size]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    link = lambda n: f"{uri}?{urlencode({**filters, 'PageSize': size, 'Page': n})}"  # noqa: E731
    more = len(rows) > (Page + 1) * size
    return {"messages": page, "page": Page, "page_size": size, "start": Page * size,
            "end": Page * size + max(len(page) - 1, 0), "uri": link(Page), "first_page_uri": link(0),
            "next_page_uri": link(Page + 1) if more else None,
            "previous_page_uri": link(Page - 1) if Page else None}


def _matches(resource: dict, filters: dict[str, str]) -> bool:
    """Does a message resource pass the list's filters? (A message not yet sent has no date_sent.)"""
    if "From" in filters and resource["from"] != filters["From"]:
        return False
    if "To" in filters and resource["to"][-4:] != filters["To"][-4:]:  # we keep the number masked
        return False
    dated = {k: v for k, v in filters.items() if k.startswith("DateSent")}
    if not dated:
        return True
    if not resource["date_sent"]:
        return False
    day = parsedate_to_datetime(resource["date_sent"]).date().isoformat()
    return all({"DateSent": day == v, "DateSent>": day >= v, "DateSent<": day <= v}[k] for k, v in dated.items())
