"""Sandbox imitation of e-Boks as channel_adapters/eboks.py describes it (addressing facts from e-Boks' public
pages; the wire format is our decision, since e-Boks publishes no REST reference for senders).

Under /eboks: `POST /oauth2/token`, `PUT /v1/dispatches/{id}`, `POST /v1/recipients/lookup`, `GET /v1/events`;
rehearsal `POST /_sandbox/read`. Events are pushed, HMAC-signed, to `{public_url}/webhooks/eboks`.
Subscribed users: every CPR not ending in 0000; a mandatory dispatch reaches everyone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

SETTINGS = "eboks"
router = APIRouter(prefix="/eboks")

_TOKEN_TTL_S = 3600
_lock = threading.Lock()


def error(status: int, code: str, message: str) -> JSONResponse:
    """The `{error, message}` body."""
    return JSONResponse({"error": code, "message": message}, status_code=status)


def mask(national_id: str) -> str:
    """Keep only the last 4 characters."""
    return "*" * max(len(national_id) - 4, 0) + national_id[-4:]


def _store(request: Request) -> dict:
    with _lock:
        if getattr(request.app.state, "eboks", None) is None:
            request.app.state.eboks = {"tokens": {}, "dispatches": {}, "events": []}
        return request.app.state.eboks


def _unauthorized(request: Request) -> JSONResponse | None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if _store(request)["tokens"].get(token, 0) < time.time():
        return error(401, "invalid_token", "missing, unknown or expired access token")
    return None


def _event(request: Request, dispatch_id: str, kind: str) -> None:
    """Log a status event and push it to the sender's webhook."""
    store = _store(request)
    with _lock:
        event = {"id": f"ev-{len(store['events']) + 1}", "dispatch_id": dispatch_id, "type": kind,
                 "occurred_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
        store["events"].append(event)
    body = json.dumps({"events": [event]}).encode()
    stamp = str(int(time.time()))
    secret = request.app.state.settings.eboks.webhook_secret.get_secret_value().encode()
    signature = "sha256=" + hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    request.app.state.callbacks.post(
        f"{request.app.state.settings.webhooks.public_url.rstrip('/')}/webhooks/eboks", content=body,
        headers={"Content-Type": "application/json", "X-Eboks-Timestamp": stamp, "X-Eboks-Signature": signature})


@router.post("/oauth2/token")
async def token(request: Request):
    """Client credentials (HTTP Basic) for a bearer token."""
    configured = request.app.state.settings.eboks
    expected = base64.b64encode(
        f"{configured.client_id}:{configured.client_secret.get_secret_value()}".encode()).decode()
    form = parse_qs((await request.body()).decode())  # x-www-form-urlencoded (no multipart parser needed)
    if form.get("grant_type") != ["client_credentials"]:
        return error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if not hmac.compare_digest(request.headers.get("authorization", ""), f"Basic {expected}"):
        return error(401, "invalid_client", "client authentication failed")
    access = secrets.token_urlsafe(24)
    _store(request)["tokens"][access] = time.time() + _TOKEN_TTL_S
    return {"access_token": access, "token_type": "Bearer", "expires_in": _TOKEN_TTL_S}


@router.put("/v1/dispatches/{dispatch_id}")
async def dispatch(request: Request, dispatch_id: str, body: dict):
    """Deliver a PDF (201); the same dispatch id again gets the first answer (200) and is not delivered again."""
    if refused := _unauthorized(request):
        return refused
    faults, ledger, store = request.app.state.faults, request.app.state.ledger, _store(request)
    recipient = body.get("recipient") or {}
    cpr = str(recipient.get("id", ""))
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    if faults.should_fail(dispatch_id, "mailbox"):
        return error(503, "service_unavailable", "service temporarily unavailable")
    if dispatch_id in store["dispatches"]:
        return JSONResponse(store["dispatches"][dispatch_id], status_code=200)
    if recipient.get("country", "DK") == "DK" and not (len(cpr) == 10 and cpr.isdigit()):
        return error(400, "invalid_recipient", "a Danish CPR number is ten digits, DDMMYYXXXX, without a dash")
    try:
        pdf = base64.b64decode((body.get("document") or {}).get("content_base64", ""), validate=True)
    except binascii.Error:
        return error(400, "invalid_document", "content_base64 is not base64")
    if not pdf.startswith(b"%PDF-"):
        return error(400, "invalid_document", "the document is not a PDF")
    if faults.rejects(cpr) or (cpr.endswith("0000") and not body.get("mandatory")):
        return error(404, "recipient_not_found", "the recipient does not receive this sender's post in e-Boks")
    ledger.record("mailbox", dispatch_id, f"eboks:{mask(cpr)}", body.get("title"), pdf, ".pdf")
    answer = {"dispatch_id": dispatch_id, "status": "DELIVERED"}
    store["dispatches"][dispatch_id] = answer
    _event(request, dispatch_id, "DELIVERED")
    return JSONResponse(answer, status_code=201)


@router.post("/v1/recipients/lookup")
async def lookup(request: Request, body: dict):
    """Which recipients are on the sender's subscription list."""
    if refused := _unauthorized(request):
        return refused
    ids = [str(r.get("id", "")) for r in body.get("recipients", [])]
    return {"registered": [i for i in ids if not i.endswith("0000")]}


@router.get("/v1/events")
async def events(request: Request, after: int = 0, limit: int = 500):
    """Events after the cursor; pass back `next`; an empty page means caught up."""
    if refused := _unauthorized(request):
        return refused
    page = _store(request)["events"][after:after + limit]
    return {"events": page, "next": after + len(page)}


@router.post("/_sandbox/read")
def read(request: Request, body: dict):
    """Rehearsal: recipients opened these dispatches (our message ids)."""
    store, opened = _store(request), 0
    for dispatch_id in body.get("message_ids", []):
        if dispatch_id in store["dispatches"] and request.app.state.ledger.mark_read("mailbox", [dispatch_id]):
            _event(request, dispatch_id, "READ")
            opened += 1
    return {"read": opened}
