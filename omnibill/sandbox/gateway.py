"""The sandbox HTTP gateway: an SMS API and digital-mailbox APIs, keeping what they accept."""

from __future__ import annotations

import base64
import binascii
import re
import time

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from omnibill.sandbox import providers
from omnibill.sandbox.callbacks import CallbackSender
from omnibill.sandbox.faults import Faults
from omnibill.sandbox.received import CHANNELS, SandboxLedger

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAILBOX_PROVIDERS = ("kivra", "eboks", "digipost", "omaposti")
REPORTS_PAGE = 1000
_AUTHENTICATED = ("/sms/", "/mailbox/")

router = APIRouter()


class SmsIn(BaseModel):
    """An SMS submission."""

    to: str
    text: str
    reference: str | None = None


class MailboxDocumentIn(BaseModel):
    """A document for a digital mailbox; the PDF travels base64-encoded."""

    recipient: str
    subject: str = ""
    filename: str = "document.pdf"
    content_base64: str
    reference: str | None = None


class UserMatchIn(BaseModel):
    """Recipient ids to look up."""

    recipients: list[str]


def error(status: int, message: str) -> JSONResponse:
    """A provider-style error body."""
    return JSONResponse({"error": message}, status_code=status)


def is_registered(recipient: str) -> bool:
    """The sandbox's mailbox users: everyone except ids ending in 0000."""
    return not recipient.strip().endswith("0000")


def mask(recipient: str) -> str:
    """Keep only the last 4 characters of a national id or org number."""
    return "*" * max(len(recipient) - 4, 0) + recipient[-4:]


def create_gateway_app(ledger: SandboxLedger, faults: Faults, api_key: str, settings=None,
                       callbacks: CallbackSender | None = None) -> FastAPI:
    """The FastAPI app serving /sms/v1, /mailbox/v1, /_sandbox and each imitated provider API
    (omnibill/sandbox/providers), which checks the credentials in `settings`."""
    from config.settings import get_settings

    app = FastAPI(title="omnibill sandbox gateway", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ledger, app.state.faults, app.state.api_key = ledger, faults, api_key
    app.state.settings = settings or get_settings()
    app.state.callbacks = callbacks or CallbackSender()
    app.middleware("http")(require_bearer)
    app.exception_handler(RequestValidationError)(invalid_body)
    app.include_router(router)
    for module in providers.modules():
        app.include_router(module.router)
    return app


async def require_bearer(request: Request, call_next):
    """401 for provider APIs called without the configured bearer key."""
    if request.url.path.startswith(_AUTHENTICATED) and \
            request.headers.get("authorization") != f"Bearer {request.app.state.api_key}":
        return error(401, "missing or wrong bearer token")
    return await call_next(request)


async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Validation errors in the providers' `{error}` shape."""
    return error(422, "invalid request body: " + "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))


def _refusal(request: Request, idempotency_key: str | None, channel: str, recipient: str) -> JSONResponse | None:
    """The checks every submission passes first: a key, then the fault rules (slow, outage, rejected)."""
    if not idempotency_key:
        return error(400, "Idempotency-Key header required")
    faults: Faults = request.app.state.faults
    if faults.delay_s:
        time.sleep(faults.delay_s)  # sync endpoint: runs in the threadpool, other requests go on
    if faults.should_fail(idempotency_key, channel):
        return error(503, "service temporarily unavailable")
    if faults.rejects(recipient):
        return error(422, "recipient refused (sandbox fault rule)")
    return None


@router.post("/sms/v1/messages")
def send_sms(request: Request, body: SmsIn, idempotency_key: str | None = Header(None)):
    """Accept an SMS (202); a repeated Idempotency-Key gets the first answer again."""
    if refused := _refusal(request, idempotency_key, "sms", body.to):
        return refused
    if not E164.match(body.to):
        return error(422, f"'to' is not an E.164 number: {body.to!r}")
    if not body.text:
        return error(422, "'text' is empty")
    got = request.app.state.ledger.record("sms", idempotency_key, body.to, None, body.model_dump_json().encode(),
                                          ".json")
    return JSONResponse({"id": f"sms-{got.original_id}", "status": "accepted"}, status_code=202)


@router.get("/sms/v1/reports")
def sms_reports(request: Request, since: int = 0, limit: int = Query(REPORTS_PAGE, ge=1, le=REPORTS_PAGE)):
    """Delivery reports after the `since` cursor; pass back `next`; an empty page means caught up."""
    rows = request.app.state.ledger.list("sms", since_id=since, unique=True, limit=limit)
    reports = [{"id": f"sms-{r.id}", "reference": r.idempotency_key, "status": "delivered", "at": r.received_at}
               for r in rows]
    return {"reports": reports, "next": rows[-1].id if rows else since}


@router.post("/mailbox/v1/{provider}/documents")
def send_document(request: Request, provider: str, body: MailboxDocumentIn,
                  idempotency_key: str | None = Header(None)):
    """Deliver a PDF to a registered user's mailbox (201); only a masked recipient is kept."""
    if provider not in MAILBOX_PROVIDERS:
        return error(404, f"unknown mailbox provider {provider!r}")
    if refused := _refusal(request, idempotency_key, "mailbox", body.recipient):
        return refused
    try:
        pdf = base64.b64decode(body.content_base64, validate=True)
    except binascii.Error:
        return error(422, "content_base64 is not base64")
    if not pdf.startswith(b"%PDF-"):
        return error(422, "content is not a PDF")
    if not is_registered(body.recipient):
        return error(404, "recipient not registered")
    got = request.app.state.ledger.record("mailbox", idempotency_key, f"{provider}:{mask(body.recipient)}",
                                          body.subject, pdf, ".pdf")
    return JSONResponse({"id": f"mbx-{got.original_id}", "status": "delivered"}, status_code=201)


@router.get("/mailbox/v1/events")
def mailbox_events(request: Request, since: int = 0, limit: int = Query(REPORTS_PAGE, ge=1, le=REPORTS_PAGE)):
    """Read status of delivered documents after the `since` cursor (as Kivra and Digipost report reads)."""
    rows = request.app.state.ledger.reads("mailbox", since_id=since, limit=limit)
    events = [{"id": f"read-{i}", "reference": key, "status": "read", "at": at} for i, key, at in rows]
    return {"events": events, "next": rows[-1][0] if rows else since}


@router.post("/_sandbox/mailbox/read")
def read_in_mailbox(request: Request, body: dict):
    """Rehearsal: the recipients opened these documents (idempotency keys) in their mailbox app."""
    return {"read": request.app.state.ledger.mark_read("mailbox", list(body.get("keys", [])))}


@router.post("/mailbox/v1/{provider}/usermatch")
def usermatch(provider: str, body: UserMatchIn):
    """Which of the given recipient ids have a mailbox at this provider."""
    if provider not in MAILBOX_PROVIDERS:
        return error(404, f"unknown mailbox provider {provider!r}")
    return {"registered": [r for r in body.recipients if is_registered(r)]}


@router.get("/_sandbox/faults")
def get_faults(request: Request):
    """The fault rules in force."""
    return request.app.state.faults.describe()


@router.post("/_sandbox/faults")
def set_faults(request: Request, rules: dict):
    """Change fault rules while the sandbox runs (rehearse an outage, then end it)."""
    request.app.state.faults.update(rules)
    return request.app.state.faults.describe()


@router.get("/_sandbox/received")
def received(request: Request, channel: str | None = None):
    """Counts of what was received (total and unique), per channel or for one."""
    ledger: SandboxLedger = request.app.state.ledger
    counts = {c: {"total": ledger.count(c, unique=False), "unique": ledger.count(c)}
              for c in ([channel] if channel else CHANNELS)}
    return counts[channel] if channel else counts
