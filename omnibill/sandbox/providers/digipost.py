"""Sandbox imitation of the Digipost REST API v8 (https://api.digipost.no), as channel_adapters/digipost.py
describes it: XML bodies, requests signed SHA256withRSA over Digipost's canonical string, `<error>` bodies.

Paths under /digipost: `GET /` (entry point with Digipost's certificate), `POST /messages` (multipart),
`POST /identification`, `GET /documents/events`, `GET /documents/{sender}/{uuid}/status`. Rehearsals:
`POST /_sandbox/certificate` (what uploading the certificate in Digipost's business portal does) and
`POST /_sandbox/read` (recipients opened documents). Document events are also pushed, signed, to
`{public_url}/webhooks/digipost` (our decision: Digipost itself only offers polling).
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Request
from fastapi.responses import Response

SETTINGS = "digipost"
router = APIRouter(prefix="/digipost")

MEDIA_TYPE = "application/vnd.digipost-v8+xml"
NS = "http://api.digipost.no/schema/v8"
_SIGNED = ("content-md5", "date", "x-content-sha256", "x-digipost-userid")
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class Document:
    """One delivered document as the sandbox Digipost keeps it."""

    uuid: str
    channel: str  # DIGIPOST or PRINT
    created: datetime
    read: bool = False


@dataclass
class DigipostState:
    """Digipost's own key and certificate, the senders' public keys, documents and the event log."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    sender_keys: dict[str, list] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    events: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)  # uuid, type, at, doc created
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state(request: Request) -> DigipostState:
    app = request.app
    if getattr(app.state, "digipost", None) is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.api.digipost.no")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
        app.state.digipost = DigipostState(key, cert)
        configured = app.state.settings.digipost.private_key_path
        if configured:  # a real key configured for the run: Digipost "has its certificate"
            private = serialization.load_pem_private_key(open(configured, "rb").read(), password=None)
            app.state.digipost.sender_keys[app.state.settings.digipost.broker_id] = [private.public_key()]
    return app.state.digipost


def _xml(root: ET.Element, status: int = 200) -> Response:
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), status, media_type=MEDIA_TYPE)


def _el(parent: ET.Element | None, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.Element(f"{{{NS}}}{tag}", attrs) if parent is None else ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        child.text = text
    return child


def error(status: int, code: str, message: str, kind: str = "CLIENT_DATA") -> Response:
    """Digipost's `<error>` body."""
    root = _el(None, "error")
    _el(root, "error-code", code)
    _el(root, "error-message", message)
    _el(root, "error-type", kind)
    return _xml(root, status)


def canonical(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """Digipost's string to sign (see the adapter's docstring for the source)."""
    lines = "".join(f"{k}: {v}\n" for k, v in sorted((k.lower(), v) for k, v in headers.items()) if k in _SIGNED)
    return f"{method.upper()}\n{path.lower()}\n{lines}{query.lower()}\n"


def _refusal(request: Request, body: bytes) -> Response | None:
    """What Digipost answers a request whose user id, date, content hash or signature is not right."""
    h = request.headers
    keys = _state(request).sender_keys.get(h.get("x-digipost-userid", ""))
    if not h.get("x-digipost-userid"):
        return error(400, "INVALID_USER_ID_HEADER", "X-Digipost-UserId missing", "CLIENT_TECHNICAL")
    if not h.get("date"):
        return error(400, "MISSING_DATE_HEADER", "Date header missing", "CLIENT_TECHNICAL")
    try:
        skew = abs(datetime.now(timezone.utc) - parsedate_to_datetime(h["date"]))
    except (TypeError, ValueError):
        return error(400, "INVALID_DATE_HEADER", "Date is not RFC 1123", "CLIENT_TECHNICAL")
    if skew > _CLOCK_SKEW:
        return error(400, "DATE_HEADER_OUTSIDE_ACCEPTED_INTERVAL", "Date is more than 5 minutes off",
                     "CLIENT_TECHNICAL")
    if body and h.get("x-content-sha256") != base64.b64encode(hashlib.sha256(body).digest()).decode():
        return error(400, "INVALID_SHA256", "X-Content-SHA256 does not match the body", "CLIENT_TECHNICAL")
    if not h.get("x-digipost-signature"):
        return error(403, "MISSING_SIGNATURE", "X-Digipost-Signature missing", "CLIENT_TECHNICAL")
    if not keys:
        return error(403, "MISSING_CERTIFICATE", "no certificate uploaded for this sender", "CONFIGURATION")
    signed = canonical(request.method, request.url.path, request.url.query, dict(h)).encode()
    for key in keys:
        try:
            key.verify(base64.b64decode(h["x-digipost-signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
            return None
        except (InvalidSignature, ValueError):
            continue
    return error(403, "INVALID_SIGNATURE", "the request signature does not verify", "CLIENT_TECHNICAL")


def mask(national_id: str) -> str:
    """Keep only the last 4 characters (as the generic gateway does)."""
    return "*" * max(len(national_id) - 4, 0) + national_id[-4:]


def _event(request: Request, document: Document, kind: str) -> None:
    """Log a document event and push it to the sender's webhook, signed with Digipost's key."""
    state, at = _state(request), datetime.now(timezone.utc)
    with state.lock:
        state.events.append((document.uuid, kind, at, document.created))
    root = _el(None, "document-events")
    _el(root, "event", uuid=document.uuid, type=kind, created=at.isoformat(timespec="milliseconds"),
        **{"document-created": document.created.isoformat(timespec="milliseconds")})
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    url = f"{request.app.state.settings.webhooks.public_url.rstrip('/')}/webhooks/digipost"
    headers = {"Content-Type": MEDIA_TYPE, "Date": format_datetime(at, usegmt=True),
               "X-Digipost-UserId": request.app.state.settings.digipost.broker_id,
               "X-Content-SHA256": base64.b64encode(hashlib.sha256(body).digest()).decode()}
    split = urlsplit(url)
    signature = state.key.sign(canonical("POST", split.path, split.query, headers).encode(), padding.PKCS1v15(),
                               hashes.SHA256())
    headers["X-Digipost-Signature"] = base64.b64encode(signature).decode()
    request.app.state.callbacks.post(url, content=body, headers=headers)


@router.get("/")
async def entry_point(request: Request):
    """The entry point: Digipost's certificate and the links to each resource."""
    if refused := _refusal(request, b""):
        return refused
    root = _el(None, "entrypoint")
    _el(root, "certificate", _state(request).certificate.public_bytes(serialization.Encoding.PEM).decode())
    base = str(request.base_url).rstrip("/") + router.prefix
    for rel, path in (("create_message", "/messages"), ("identify_recipient", "/identification"),
                      ("document_events", "/documents/events")):
        _el(root, "link", rel=f"https://api.digipost.no/relations/{rel}", uri=base + path, **{"media-type": MEDIA_TYPE})
    return _xml(root)


@router.post("/messages")
async def send_message(request: Request):
    """A multipart message: the `message` XML part, then the documents named by their uuid."""
    body = await request.body()
    if refused := _refusal(request, body):
        return refused
    parts = email.message_from_bytes(b"Content-Type: " + request.headers.get("content-type", "").encode()
                                     + b"\r\n\r\n" + body)
    if not parts.is_multipart():
        return error(400, "PROBLEM_WITH_REQUEST", "expected multipart/vnd.digipost-v8+xml", "CLIENT_TECHNICAL")
    files = {p.get_filename(): p.get_payload(decode=True) for p in parts.get_payload()}
    try:
        message = ET.fromstring(files.get("message") or b"")
    except ET.ParseError:
        return error(400, "SCHEMA_VALIDATION_ERROR", "the message part is not valid XML", "CLIENT_TECHNICAL")
    return await _deliver(request, message, files)


async def _deliver(request: Request, message: ET.Element, files: dict) -> Response:
    message_id = message.findtext(f"{{{NS}}}message-id") or ""
    document_uuid = message.findtext(f"{{{NS}}}primary-document/{{{NS}}}uuid") or ""
    pin = message.findtext(f"{{{NS}}}recipient/{{{NS}}}personal-identification-number") or ""
    has_print = message.find(f".//{{{NS}}}print-details") is not None
    if not message_id or not document_uuid or not (message.findtext(f".//{{{NS}}}subject") or "").strip():
        return error(400, "VALIDATION_FAILED", "message-id, primary-document uuid and subject are required")
    pdf = files.get(document_uuid) or b""
    if not pdf.startswith(b"%PDF-"):
        return error(400, "INVALID_PDF_CONTENT", "the primary document is not a PDF")
    faults, ledger = request.app.state.faults, request.app.state.ledger
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    # Fault rules name our message ids; Digipost's message id is that id as a UUID.
    if faults.should_fail(message_id.replace("-", ""), "mailbox"):
        return error(503, "API_UNAVAILABLE", "service temporarily unavailable", "SERVER")
    if ledger.first("mailbox", message_id) is not None:
        return error(400, "DUPLICATE_MESSAGE", "a message with this message-id was already delivered")
    if faults.rejects(pin) or not (has_print or (pin and not pin.endswith("0000"))):
        return error(404, "UNKNOWN_RECIPIENT", "the recipient is not a Digipost user")
    channel = "DIGIPOST" if pin and not pin.endswith("0000") else "PRINT"
    subject = message.findtext(f".//{{{NS}}}subject")
    ledger.record("mailbox", message_id, f"digipost:{mask(pin) if pin else 'print'}", subject, pdf, ".pdf")
    document = Document(document_uuid, channel, datetime.now(timezone.utc))
    with _state(request).lock:
        _state(request).documents[document_uuid] = document
    if channel == "PRINT":
        _event(request, document, "POSTMARKED")
    return _delivery(message_id, document, request.app.state.settings.digipost.broker_id)


def _delivery(message_id: str, document: Document, sender_id: str) -> Response:
    root = _el(None, "message-delivery")
    _el(root, "message-id", message_id)
    _el(root, "delivery-method", document.channel)
    _el(root, "sender-id", sender_id)
    _el(root, "status", "DELIVERED" if document.channel == "DIGIPOST" else "DELIVERED_TO_PRINT")
    _el(root, "delivery-time", document.created.isoformat(timespec="milliseconds"))
    primary = _el(root, "primary-document")
    _el(primary, "uuid", document.uuid)
    _el(primary, "file-type", "pdf")
    return _xml(root)


@router.post("/identification")
async def identify(request: Request):
    """Is this personal identification number a Digipost user? (everyone not ending in 0000)."""
    body = await request.body()
    if refused := _refusal(request, body):
        return refused
    pin = ET.fromstring(body).findtext(f"{{{NS}}}personal-identification-number") or ""
    root = _el(None, "identification-result")
    if len(pin) != 11 or not pin.isdigit():
        _el(root, "result", "INVALID")
        _el(root, "invalid-reason", "INVALID_PERSONAL_IDENTIFICATION_NUMBER")
    elif pin.endswith("0000"):
        _el(root, "result", "UNIDENTIFIED")
        _el(root, "unidentified-reason", "NOT_FOUND")
    else:
        _el(root, "result", "DIGIPOST")
        _el(root, "digipost-address", f"sandbox#{pin[-4:]}")
    return _xml(root)


@router.get("/documents/events")
async def document_events(request: Request, sender: str, offset: int = 0, maxResults: int = 100):  # noqa: N803
    """Events with `from` <= created < `to`, paged by offset and maxResults."""
    if refused := _refusal(request, b""):
        return refused
    try:
        since = datetime.fromisoformat(request.query_params["from"])
        until = datetime.fromisoformat(request.query_params["to"])
    except (KeyError, ValueError):
        return error(400, "INVALID_DATE_RANGE", "from and to are required ISO date-times", "CLIENT_TECHNICAL")
    with _state(request).lock:
        chosen = [e for e in _state(request).events if since <= e[2] < until][offset:offset + maxResults]
    root = _el(None, "document-events")
    for doc, kind, at, created in chosen:
        _el(root, "event", uuid=doc, type=kind, created=at.isoformat(timespec="milliseconds"),
            **{"document-created": created.isoformat(timespec="milliseconds")})
    return _xml(root)


@router.get("/documents/{sender}/{document_uuid}/status")
async def document_status(request: Request, sender: str, document_uuid: str):
    """A document's delivery status, channel and whether it was read."""
    if refused := _refusal(request, b""):
        return refused
    document = _state(request).documents.get(document_uuid)
    if document is None:
        return error(404, "DOCUMENT_NOT_FOUND", "no such document", "CLIENT_TECHNICAL")
    stamp = document.created.isoformat(timespec="milliseconds")
    return _xml(_el(None, "document-status", uuid=document.uuid, status="DELIVERED", created=stamp, delivered=stamp,
                    read="Y" if document.read else "N", channel=document.channel))


@router.post("/_sandbox/certificate")
def upload_certificate(request: Request, body: dict):
    """Rehearsal: the sender uploads its public key (Digipost's business portal does this for real)."""
    key = serialization.load_pem_public_key(str(body["public_key_pem"]).encode())
    state = _state(request)
    with state.lock:
        state.sender_keys.setdefault(str(body["broker_id"]), []).append(key)
    return {"broker_id": str(body["broker_id"]), "keys": len(state.sender_keys[str(body["broker_id"])])}


@router.post("/_sandbox/read")
def read_documents(request: Request, body: dict):
    """Rehearsal: recipients opened these documents (uuids, or our 32-hex message ids): OPENED events."""
    state, opened = _state(request), 0
    for given in body.get("uuids", []):
        document = state.documents.get(str(uuid.UUID(str(given))))
        if document is None or document.read or document.channel != "DIGIPOST":
            continue
        document.read, opened = True, opened + 1
        request.app.state.ledger.mark_read("mailbox", [document.uuid])
        _event(request, document, "OPENED")
    return {"read": opened}
