"""Sandbox imitation of the 46elks SMS API (https://api.46elks.com/a1 -> /46elks/a1).

POST /sms (form: from, to, message, whendelivered; basic auth), GET /sms (history, newest first,
start/end/limit, `next`), GET /sms/{id}. Every accepted SMS is delivered at once and reported to its
whendelivered URL (an unsigned form POST, as 46elks does). 46elks does not dedupe: a resend is
delivered again and kept as a duplicate of the first (keyed by our message id, the `m` of
whendelivered). Faults: an outage answers 503; a rejected number is accepted and then reported
"failed" (what an unreachable phone gets from 46elks), and nothing reaches the phone.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from omnibill.sandbox.gateway import E164, mask

SETTINGS = "elks"
router = APIRouter(prefix="/46elks")

SANDBOX_PART_COST = 5200  # 0.52 SEK per part, in 46elks' 10000ths
HISTORY_MAX = 100
_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_lock = threading.RLock()


@dataclass
class ElksSms:
    """One outgoing SMS as 46elks keeps it (the number masked: the sandbox keeps no phone numbers)."""

    id: str
    created: str
    direction: str
    to: str
    message: str
    status: str
    cost: int
    parts: int
    delivered: str | None = None
    from_: str = ""

    def public(self) -> dict:
        """The JSON 46elks answers for this SMS."""
        body = {k: v for k, v in asdict(self).items() if v is not None and k != "from_"}
        return {**body, "from": self.from_}


class ElksStore:
    """The sandbox account's SMS, in the order created; created times are unique (history pages by them)."""

    def __init__(self) -> None:
        self.sms: dict[str, ElksSms] = {}
        self._last = datetime.min

    def created_now(self) -> str:
        """A UTC timestamp in 46elks' format, later than every earlier one."""
        now = max(datetime.now(timezone.utc).replace(tzinfo=None), self._last + timedelta(microseconds=1))
        self._last = now
        return now.isoformat(timespec="microseconds")


def store(request: Request) -> ElksStore:
    """This sandbox's 46elks account (one per app)."""
    with _lock:
        if not hasattr(request.app.state, "elks_store"):
            request.app.state.elks_store = ElksStore()
        return request.app.state.elks_store


def authorised(request: Request) -> bool:
    """Whether basic auth carries the configured API username and password."""
    settings = request.app.state.settings.elks
    expected = f"{settings.username}:{settings.password.get_secret_value()}".encode()
    header = request.headers.get("authorization", "")
    return header == "Basic " + base64.b64encode(expected).decode()


def refused(status: int, text: str) -> PlainTextResponse:
    """46elks answers errors as a short plain-text sentence."""
    headers = {"WWW-Authenticate": 'Basic realm="46elks"'} if status == 401 else None
    return PlainTextResponse(text, status_code=status, headers=headers)


def parts(message: str) -> int:
    """How many SMS parts 46elks bills for this text (GSM-7: 160, then 153 each; else 70, then 67)."""
    single, multi = (160, 153) if set(message) <= _GSM7 else (70, 67)
    return 1 if len(message) <= single else -(-len(message) // multi)


@router.post("/a1/sms")
async def send_sms(request: Request):
    """Accept an SMS (200 with the SMS as JSON), deliver it, report to whendelivered."""
    if not authorised(request):
        return refused(401, "Authorization required.")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    sender, to, text = form.get("from", ""), form.get("to", ""), form.get("message", "")
    if not sender:
        return refused(400, "Missing key from")
    if not E164.match(to):
        return refused(400, "Invalid to number")
    if not text:
        return refused(400, "Missing key message")
    whendelivered = form.get("whendelivered", "")
    key = (parse_qs(urlsplit(whendelivered).query).get("m") or [""])[0]
    faults = request.app.state.faults
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    if faults.should_fail(key or secrets.token_hex(8), "sms"):
        return refused(503, "Service temporarily unavailable, please try again.")
    account = store(request)
    with _lock:
        sms = ElksSms(id="s" + secrets.token_hex(16), created=account.created_now(), direction="outgoing",
                      to=mask(to), message=text, status="created", cost=parts(text) * SANDBOX_PART_COST,
                      parts=parts(text), from_=sender)
        account.sms[sms.id] = sms
    answer = sms.public()
    rejected = faults.rejects(to)
    if not rejected:
        payload = {**form, "to": mask(to)}
        request.app.state.ledger.record("sms", key or sms.id, mask(to), None,
                                        urlencode(payload).encode(), ".txt")
    deliver(request, sms, whendelivered, failed=rejected)
    return JSONResponse(answer)


def deliver(request: Request, sms: ElksSms, whendelivered: str, failed: bool) -> None:
    """The phone got it (or not): update the SMS and post the delivery report, unsigned, as 46elks does."""
    with _lock:
        if failed:
            sms.status = "failed"
        else:
            sms.status = "delivered"
            sms.delivered = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if whendelivered:
        report = {"id": sms.id, "status": sms.status}
        if sms.delivered:
            report["delivered"] = sms.delivered
        request.app.state.callbacks.post(whendelivered, data=report)


@router.get("/a1/sms")
def history(request: Request, start: str | None = None, end: str | None = None, limit: int = HISTORY_MAX,
            to: str | None = None):
    """SMS newest first: created before `start` and after `end`; `next` when more are left."""
    if not authorised(request):
        return refused(401, "Authorization required.")
    limit = max(1, min(limit, HISTORY_MAX))
    with _lock:
        rows = [s for s in reversed(store(request).sms.values())
                if (not start or s.created < start) and (not end or s.created > end)
                and (not to or s.to[-4:] == to[-4:])]
        page = [s.public() for s in rows[:limit]]
    body: dict = {"data": page}
    if len(rows) > limit:
        body["next"] = page[-1]["created"]
    return body


@router.get("/a1/sms/{sms_id}")
def one_sms(request: Request, sms_id: str):
    """One SMS by its 46elks id."""
    if not authorised(request):
        return refused(401, "Authorization required.")
    with _lock:
        sms = store(request).sms.get(sms_id)
        return sms.public() if sms else refused(404, "No such SMS")
