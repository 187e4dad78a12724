"""Sandbox imitation of Kivra's tenant API (sender.api.kivra.com) under /kivra: token, usermatch, content v2,
signed payment and read webhooks, and the event feed the adapter polls.

As Kivra documents it (github.com/kivra/developer.kivra.com, see channel_adapters/kivra.py): OAuth2 client
credentials at /v1/auth (8-hour bearer tokens, 401 otherwise), the tenant key in the path (403 for another one),
errors as `{code, short_message, long_message}` with `x-error-code`, content validated (SSN format, a real PDF,
subject and type, a payable payment block for invoice types, Luhn-valid SE_OCR), 1 MB per content (413).
Duplicate control as in Kivra production (Kivra's own sandbox skips it): an identical payload, `generated_at` aside,
is recorded once, keyed by its SHA-256; a repeat gets the same 201 and content key. Sandbox-only rehearsals:
`POST /kivra/_sandbox/read {"content_keys": [...]}` and `POST /kivra/_sandbox/pay {"content_key": ...}` push the
webhooks to `{webhooks.public_url}/webhooks/kivra` and add them to `GET /kivra/v2/tenant/{key}/events` (ours).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from omnibill.sandbox.gateway import is_registered, mask

SETTINGS = "kivra"
router = APIRouter(prefix="/kivra")

TOKEN_TTL_S = 28800
CONTENT_MAX_BYTES = 1_000_000
CONTENT_TYPES = {"letter", "letter.salary", "salaryslip", "letter.creditnotice", "letter.form", "letter.signed",
                 "invite.research", "invite.gift", "invite.sign", "invite.voucher", "invite.kyc", "invoice",
                 "invoice.reminder", "invoice.debtcampaign", "invoice.renewal", "invoice.debtcollection", "booking",
                 "registered.letter", "invoice.donation", "invoice.paymentnotice"}
RETAINABLE = {"letter.creditnotice", "letter.salary", "letter.signed", "salaryslip", "invite.sign"}
SSN = re.compile(r"^(19|20)\d{10}$")
_state_lock = threading.Lock()


class KivraState:
    """What the imitation keeps in memory: issued tokens and the event feed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.feed: list[dict] = []


def _state(request: Request) -> KivraState:
    with _state_lock:
        if not hasattr(request.app.state, "kivra"):
            request.app.state.kivra = KivraState()
        return request.app.state.kivra


def kivra_error(status: int, code: int, short: str, long: str = "") -> JSONResponse:
    """An error in Kivra's shape, its code also in `x-error-code`."""
    return JSONResponse({"code": code, "short_message": short, "long_message": long or short},
                        status_code=status, headers={"x-error-code": str(code)})


def payload_key(body: dict) -> str:
    """What Kivra's duplicate control compares: the whole payload except `generated_at`."""
    rest = {k: v for k, v in body.items() if k != "generated_at"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@router.post("/v1/auth")
async def token(request: Request):
    """OAuth2 client credentials: Basic base64(client_id:client_secret), grant_type=client_credentials."""
    kivra = request.app.state.settings.kivra
    pair = f"{kivra.client_id}:{kivra.client_secret.get_secret_value()}".encode()
    if request.headers.get("authorization") != "Basic " + base64.b64encode(pair).decode():
        return kivra_error(401, 40104, "Invalid Client", "Client authentication failed")
    if parse_qs((await request.body()).decode()).get("grant_type") != ["client_credentials"]:
        return kivra_error(400, 40001, "Invalid Request", "grant_type must be client_credentials")
    state, access = _state(request), secrets.token_urlsafe(24)
    with state.lock:
        state.tokens[access] = time.monotonic() + TOKEN_TTL_S
    return {"state": "", "access_token": access, "expires_in": TOKEN_TTL_S,
            "scope": f"kivra.v1.tenant.{kivra.tenant_key}.*", "token_type": "bearer"}


@router.post("/v2/tenant/{tenant_key}/usermatch/ssn")
async def usermatch(request: Request, tenant_key: str):
    """The given SSNs that can receive content from this tenant (the sandbox's users: not ending in 0000)."""
    body = await _authorised_json(request, tenant_key)
    if isinstance(body, JSONResponse):
        return body
    ssns = body.get("list")
    if not isinstance(ssns, list) or not all(isinstance(s, str) for s in ssns):
        return kivra_error(400, 40000, "Request validation failed", "'list' must be a list of SSNs")
    return {"list": [s for s in ssns if SSN.match(s) and is_registered(s)]}


@router.post("/v2/tenant/{tenant_key}/content")
async def send_content(request: Request, tenant_key: str):
    """Deliver content once per distinct payload (201 with `kivra-objkey`); faults apply first."""
    body = await _authorised_json(request, tenant_key, CONTENT_MAX_BYTES)
    if isinstance(body, JSONResponse):
        return body
    if refused := invalid_content(body):
        return refused
    key, faults = payload_key(body), request.app.state.faults
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    if faults.should_fail(key, "mailbox"):
        return kivra_error(503, 50300, "Service Unavailable", "Try again later")
    if faults.rejects(body["ssn"]):
        return kivra_error(400, 40105, "Invalid Sendrequest", "The recipient does not accept content from you")
    if not is_registered(body["ssn"]):
        return kivra_error(400, 40032, "User doesn't exist", "No user exists with provided SSN")
    ledger, state = request.app.state.ledger, _state(request)
    with state.lock:  # one delivery per payload even when two identical requests race
        first = ledger.first("mailbox", key) or ledger.record(
            "mailbox", key, f"kivra:{mask(body['ssn'])}", body["subject"],
            json.dumps({**body, "ssn": mask(body["ssn"])}).encode(), ".json")
    content_key = f"{first.id:010d}{key[:32]}"
    return JSONResponse({k: body.get(k) for k in ("subject", "generated_at", "type")}, status_code=201,
                        headers={"kivra-objkey": content_key, "location": f"{request.url}/{content_key}"})


def invalid_content(body: dict) -> JSONResponse | None:
    """Kivra's checks on a content payload, or None when it passes."""
    if "ssn" not in body:
        return kivra_error(400, 40024, "No Receiver Specified", "Neither 'ssn' nor 'vat_number' has been specified")
    if not isinstance(body["ssn"], str) or not SSN.match(body["ssn"]):
        return kivra_error(400, 40009, "Error in SSN", "SSN must be YYYYMMDDnnnn")
    if not isinstance(body.get("subject"), str) or not body["subject"] or not isinstance(body.get("type"), str):
        return kivra_error(400, 40000, "Request validation failed", "subject and type are required")
    if body["type"] not in CONTENT_TYPES:
        return kivra_error(400, 40012, "Error in type", f"unknown type {body['type'][:40]!r}")
    if body.get("retain") and body["type"] not in RETAINABLE:
        return kivra_error(422, 42221, "Request to retain content with unsupported content type")
    return _invalid_parts(body.get("parts")) or _invalid_payment(body)


def _invalid_parts(parts) -> JSONResponse | None:
    if not isinstance(parts, list) or not parts:
        return kivra_error(400, 40019, "Invalid Files", "at least one part is required")
    for part in parts:
        if part.get("content_type") != "application/pdf":
            return kivra_error(400, 40028, "UnsupportedFileType", "parts must be application/pdf")
        if not isinstance(part.get("name"), str) or not _decodes(part.get("data"), b"%PDF-"):
            return kivra_error(400, 40019, "Invalid Files", "part data is not a base64-encoded PDF")
        html = part.get("responsive_part")
        if html is not None and (html.get("content_type") != "text/html" or not _decodes(html.get("data"), b"")):
            return kivra_error(400, 40019, "Invalid Files", "responsive_part must be base64-encoded text/html")
    return None


def _invalid_payment(body: dict) -> JSONResponse | None:
    payment = body.get("payment_multiple_options")
    if payment is None and not body["type"].startswith("invoice"):
        return None
    if not isinstance(payment, dict) or payment.get("payable") is not True or payment.get("method") not in ("1", "2") \
            or not payment.get("account") or payment.get("currency") != "SEK" or not payment.get("options"):
        return kivra_error(400, 40000, "Request validation failed",
                           "invoice types need payment_multiple_options: payable true, method, account, SEK, options")
    for option in payment["options"]:
        try:
            date.fromisoformat(option["due_date"])
            amount = Decimal(option["amount"])
        except (KeyError, TypeError, ValueError, InvalidOperation):
            return kivra_error(400, 40000, "Request validation failed", "options need due_date and amount")
        reference = option.get("reference")
        if amount < 1:
            return kivra_error(400, 40042, "Invalid amount", "The amount is out of range")
        if option.get("type") not in ("SE_OCR", "TENANT_REF") or not isinstance(reference, str) \
                or not 0 < len(reference) <= 25:
            return kivra_error(400, 40000, "Request validation failed", "option type or reference invalid")
        if option["type"] == "SE_OCR" and not _luhn(reference):
            return kivra_error(400, 40044, "Invalid OCR", "The OCR did not pass validation")
    return None


@router.get("/v2/tenant/{tenant_key}/events")
async def events(request: Request, tenant_key: str, since: int = 0, limit: int = 1000):
    """Our polling fallback (not a Kivra endpoint): the webhook bodies after `since`; pass back `next`."""
    if refused := _authorised(request, tenant_key):
        return refused
    state = _state(request)
    with state.lock:
        page = state.feed[since:since + max(1, min(limit, 1000))]
    return {"events": page, "next": str(since + len(page))}


@router.post("/_sandbox/read")
async def rehearse_read(request: Request, body: dict):
    """Rehearsal: the recipients opened these contents; the first read of each is pushed (X-KIVRA-SIGNATURE)."""
    ledger, read = request.app.state.ledger, 0
    for content_key in body.get("content_keys", []):
        record = _record(ledger, content_key)
        if record and ledger.mark_read("mailbox", [record.idempotency_key]):
            read += 1
            _publish(request, {"id": "event_" + hashlib.sha256(f"read:{content_key}".encode()).hexdigest()[:32],
                               "event_created_at": int(time.time()), "event_type": "content.read",
                               "data_version": 1, "data": {"content_key": content_key}})
    return {"read": read}


@router.post("/_sandbox/pay")
async def rehearse_payment(request: Request, body: dict):
    """Rehearsal: the recipient paid this invoice in Kivra (settled); pushed as a Standard Webhooks payment_callback."""
    content_key = str(body.get("content_key", ""))
    record = _record(request.app.state.ledger, content_key)
    if record is None:
        return kivra_error(404, 40400, "Not found", "no content with that key")
    payment = json.loads((request.app.state.ledger.directory / record.path).read_bytes()).get(
        "payment_multiple_options")
    if not payment:
        return kivra_error(400, 40000, "Request validation failed", "that content is not payable")
    option, now = payment["options"][0], datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {"content_key": content_key, "due_date": option["due_date"], "pay_date": body.get("pay_date", now[:10]),
            "destination_account_type": "bankgiro" if payment["method"] == "1" else "plusgiro",
            "destination_account": payment["account"], "remittance_type": option["type"],
            "remittance_string": option["reference"], "payment_type": body.get("payment_type", "bank"),
            "payment_event": "settled", "event_time": now, "amount": str(body.get("amount", option["amount"])),
            "currency": payment["currency"]}
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kivra-payment:{content_key}:{data['amount']}:{data['pay_date']}"))
    _publish(request, {"id": event_id, "timestamp": now, "type": "payment_callback", "data": data})
    return {"id": event_id}


def _publish(request: Request, event: dict) -> None:
    """Sign and push one webhook to our endpoint, and add it to the feed."""
    settings, state = request.app.state.settings, _state(request)
    key, raw, stamp = _webhook_key(settings.kivra.webhook_secret.get_secret_value()), json.dumps(event).encode(), \
        str(int(time.time()))
    if "type" in event:  # payments: Standard Webhooks
        signature = base64.b64encode(hmac.new(key, f"{event['id']}.{stamp}.".encode() + raw, hashlib.sha256).digest())
        headers = {"webhook-id": event["id"], "webhook-timestamp": stamp,
                   "webhook-signature": f"v1,{signature.decode()}"}
    else:
        headers = {"X-KIVRA-TIMESTAMP": stamp,
                   "X-KIVRA-SIGNATURE": "v1=" + hmac.new(key, stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()}
    with state.lock:
        state.feed.append(event)
    request.app.state.callbacks.post(f"{settings.webhooks.public_url.rstrip('/')}/webhooks/kivra", content=raw,
                                     headers={"Content-Type": "application/json", **headers})


def _record(ledger, content_key: str):
    """The delivery a content key names (its first 10 digits are the row id, the rest the payload hash's start)."""
    if not re.fullmatch(r"\d{10}[0-9a-f]{32}", content_key or ""):
        return None
    rows = ledger.list("mailbox", since_id=int(content_key[:10]) - 1, limit=1)
    ok = rows and rows[0].id == int(content_key[:10]) and rows[0].idempotency_key.startswith(content_key[10:])
    return rows[0] if ok else None


def _authorised(request: Request, tenant_key: str) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    access = header[7:] if header[:7].lower() == "bearer " else ""
    state = _state(request)
    with state.lock:
        valid = state.tokens.get(access, 0) > time.monotonic()
    if not valid:
        return kivra_error(401, 40100, "Unauthorized", "Supplied credentials was invalid")
    if tenant_key != request.app.state.settings.kivra.tenant_key:
        return kivra_error(403, 40300, "Forbidden", "Access was denied to the given resource")
    return None


async def _authorised_json(request: Request, tenant_key: str, max_bytes: int = 10_000_000) -> dict | JSONResponse:
    if refused := _authorised(request, tenant_key):
        return refused
    raw = await request.body()
    if len(raw) > max_bytes:
        return kivra_error(413, 41300, "Request Entity Too Large")
    try:
        body = json.loads(raw)
    except ValueError:
        return kivra_error(400, 40000, "Invalid JSON", "Could not parse posted body as JSON")
    return body if isinstance(body, dict) else kivra_error(400, 40026, "JSON payload was not an object")


def _decodes(data, prefix: bytes) -> bool:
    try:
        return isinstance(data, str) and base64.b64decode(data, validate=True).startswith(prefix)
    except (binascii.Error, ValueError):
        return False


def _luhn(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = sum(d if i % 2 == 0 else (2 * d if d < 5 else 2 * d - 9)
                for i, d in enumerate(int(c) for c in reversed(digits)))
    return total % 10 == 0


def _webhook_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode()
