"""Digipost (Norway): digital mail with print fallback, over Digipost's REST API v8 (XML, RSA-signed requests).

Sources (facts only, no code copied):
- digipost/digipost-api-client-java (GitHub, main, 2026-02): media types `application/vnd.digipost-v8+xml` and
  `multipart/vnd.digipost-v8+xml` (MediaTypes.java); the multipart send (a part named "message" with
  `filename="message"`, then one part per document with `filename="<document uuid>"`, MessageDeliverer.java);
  the signed string — METHOD, lower-cased path, the headers date / x-content-sha256 / x-digipost-userid
  sorted by name as `name: value`, the lower-cased query, each ending in a newline — signed SHA256withRSA and
  sent base64 in X-Digipost-Signature (RequestMessageSignatureUtil.java, CryptoUtil.java); X-Content-SHA256 =
  base64 SHA-256 of the body (RequestContentHashFilter.java); responses signed alike with Digipost's
  certificate from the entry point (ResponseSignatureInterceptor.java); error codes such as DUPLICATE_MESSAGE,
  UNKNOWN_RECIPIENT, INVALID_SIGNATURE (ErrorCode.java); the XML of message, recipient, print-details,
  print-if-unread, identification, message-delivery, document-status, document-events and error
  (src/main/resources/xsd/api_v8.xsd); `GET /documents/events?sender&from&to&offset&maxResults` and
  `GET /documents/{sender}/{uuid}/status` (ApiServiceImpl.java).
- digipost.github.io/digipost-technical-docs (api-spec/header.html, response-codes.html): Date in RFC 1123,
  at most 5 minutes off; 400 when the message-id was used before; 403 bad signature or no certificate; 404
  when the recipient is not a Digipost user; `POST https://api.digipost.no/messages` (digipost.no v6 reference).
Digipost documents no push of document events (senders poll them); our webhook (`POST
{public_url}/webhooks/digipost` with a `document-events` body, signed like a Digipost response) is our decision.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from channel_adapters.base import (Callback, CallbackRejected, ChannelAdapter, DispatchResult, OutboundMessage,
                                   PermanentError, ReceiptEvent, TransientError)
from channel_adapters.sending import new_client
from config.providers import DigipostSettings

MEDIA_TYPE = "application/vnd.digipost-v8+xml"
MULTIPART_SUBTYPE = "vnd.digipost-v8+xml"
NS = "http://api.digipost.no/schema/v8"
SIGNED_HEADERS = ("content-md5", "date", "x-content-sha256", "x-digipost-userid")
EVENT_STATUS = {"OPENED": "read", "POSTMARKED": "printed", "PRINT_FAILED": "failed"}
_PAGE = 100
_FEED_OVERLAP = timedelta(minutes=5)  # how far before the last poll's end the next one starts


def canonical_string(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The string Digipost signs: method, path, the signed headers sorted by name, query (one per line)."""
    lines = [f"{k.lower()}: {v}\n" for k, v in sorted(headers.items()) if k.lower() in SIGNED_HEADERS]
    return f"{method.upper()}\n{path.lower()}\n{''.join(lines)}{query.lower()}\n"


def digipost_uuid(message_id: str) -> str:
    """Our 32-hex message id as the UUID Digipost takes for message-id and primary document uuid."""
    return str(uuid.UUID(hex=message_id))


def load_signing_key(settings: DigipostSettings, data_dir: Path) -> tuple[rsa.RSAPrivateKey, bool]:
    """The RSA key that signs requests, and whether it is the sandbox key made once under `data_dir`."""
    if settings.private_key_path:
        path = Path(settings.private_key_path)
        return _pem_key(str(path), path.stat().st_mtime_ns), False
    path = Path(data_dir) / "digipost" / "sandbox-signing-key.pem"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.touch(mode=0o600)
        path.write_bytes(pem)
    return _pem_key(str(path), path.stat().st_mtime_ns), True


@lru_cache(maxsize=8)
def _pem_key(path: str, _mtime_ns: int) -> rsa.RSAPrivateKey:
    # Parsed once per process (every dispatch task builds its adapter); the mtime in the key picks up a new file.
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)  # type: ignore[return-value]


def _el(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        child.text = text
    return child


def _print_recipient(parent: ET.Element, tag: str, name: str, street: str, postal_code: str, city: str,
                     country: str = "NO") -> None:
    recipient = _el(parent, tag)
    _el(recipient, "name", name)
    if country.upper() in ("", "NO"):
        address = _el(recipient, "norwegian-address")
        _el(address, "addressline1", street)
        _el(address, "zip-code", postal_code)
        _el(address, "city", city)
    else:
        address = _el(recipient, "foreign-address")
        _el(address, "addressline1", street)
        _el(address, "addressline2", f"{postal_code} {city}".strip())
        _el(address, "country-code", country.upper())


class DigipostAdapter(ChannelAdapter):
    """Sends each message's PDF to a Digipost mailbox (printed when the recipient has none), signed with our key."""

    channel = "mailbox"
    provider = "digipost"
    max_batch = 200
    deduplicates = True  # a reused message-id is refused as DUPLICATE_MESSAGE: never delivered twice

    def __init__(self, settings: DigipostSettings, data_dir: Path, client: httpx.Client | None = None):
        self.settings = settings
        self.client = client or new_client(settings.timeout_s)
        self._key, self._sandbox_key = load_signing_key(settings, data_dir)
        self._key_registered = False
        self._certificate: x509.Certificate | None = None
        self._since = datetime.now(timezone.utc) - timedelta(hours=settings.events_lookback_h)

    # -- requests -------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                 params: dict[str, str] | None = None) -> httpx.Response:
        """One signed request (X-Digipost-UserId, Date, X-Content-SHA256 for a body, X-Digipost-Signature)."""
        self._register_sandbox_key()
        request = self.client.build_request(method, self.settings.base_url.rstrip("/") + path, params=params,
                                            content=body)
        headers = {"X-Digipost-UserId": self.settings.broker_id, "Date": format_datetime(
            datetime.now(timezone.utc), usegmt=True), "Accept": MEDIA_TYPE}
        if body is not None:
            headers["X-Content-SHA256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
            headers["Content-Type"] = content_type or MEDIA_TYPE
        signed = canonical_string(method, request.url.path, request.url.query.decode(), headers)
        signature = self._key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        request.headers.update({**headers, "X-Digipost-Signature": base64.b64encode(signature).decode()})
        return self.client.send(request)

    def _register_sandbox_key(self) -> None:
        # Real Digipost knows our certificate from its business portal; the sandbox learns our made-once key here.
        if self._sandbox_key and not self._key_registered:
            public = self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
            self.client.post(self.settings.base_url.rstrip("/") + "/_sandbox/certificate",
                             json={"broker_id": self.settings.broker_id, "public_key_pem": public.decode()})
            self._key_registered = True

    # -- send -----------------------------------------------------------------------------------------------

    def send(self, messages: Sequence[OutboundMessage]) -> Iterator[DispatchResult]:
        """Deliver each message; DUPLICATE_MESSAGE (sent before) counts as sent."""
        for index, message in enumerate(messages):
            try:
                answer = self._post_message(message)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if index == 0:
                    raise TransientError(f"Digipost unreachable: {exc}") from exc
                yield from (DispatchResult(m.message_id, "failed", error=f"Digipost unreachable: {exc}")
                            for m in messages[index:])
                return
            except httpx.TransportError as exc:
                answer = DispatchResult(message.message_id, "failed", error=f"{type(exc).__name__}: {exc}")
            yield answer if isinstance(answer, DispatchResult) else self._result(message, answer)

    def _post_message(self, message: OutboundMessage) -> httpx.Response | DispatchResult:
        pdf = next((a for a in message.attachments if a.content_type == "application/pdf"), None)
        meta = message.metadata
        if pdf is None or not (message.recipient or (meta.get("name") and meta.get("street"))):
            missing = "a PDF attachment" if pdf is None else "a national id or a name and address"
            return DispatchResult(message.message_id, "failed", error=f"message has no {missing}", permanent=True)
        boundary = uuid.uuid4().hex
        body = b"".join([
            self._part(boundary, MEDIA_TYPE, "message", self.message_xml(message)),
            self._part(boundary, "application/pdf", digipost_uuid(message.message_id), pdf.content),
            f"--{boundary}--\r\n".encode()])
        return self._request("POST", "/messages", body, f"multipart/{MULTIPART_SUBTYPE}; boundary={boundary}")

    @staticmethod
    def _part(boundary: str, content_type: str, filename: str, content: bytes) -> bytes:
        head = (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n")
        return head.encode() + content + b"\r\n"

    def message_xml(self, message: OutboundMessage) -> bytes:
        """The `message` part: recipient (id, or name and address), print fallback, primary document."""
        meta, message_uuid = message.metadata, digipost_uuid(message.message_id)
        root = ET.Element(f"{{{NS}}}message")
        _el(root, "message-id", message_uuid)
        recipient = _el(root, "recipient")
        if message.recipient:
            _el(recipient, "personal-identification-number", message.recipient)
        else:
            named = _el(recipient, "name-and-address")
            for tag, key in (("fullname", "name"), ("addressline1", "street"), ("postalcode", "postal_code"),
                             ("city", "city")):
                _el(named, tag, meta.get(key, ""))
        has_address = all(meta.get(k) for k in ("name", "street", "postal_code", "city"))
        if has_address and not meta.get("print_if_unread_days"):
            self._print_details(recipient, meta)
        if meta.get("payment_reference"):
            _el(root, "invoice-reference", meta["payment_reference"][:100])
        document = _el(root, "primary-document")
        _el(document, "uuid", message_uuid)
        _el(document, "subject", (message.subject or meta.get("document_type") or "Dokument")[:255])
        _el(document, "file-type", "pdf")
        if has_address and meta.get("print_if_unread_days"):
            unread = _el(root, "print-if-unread")
            after = datetime.now(timezone.utc) + timedelta(days=int(meta["print_if_unread_days"]))
            _el(unread, "print-if-unread-after", after.isoformat(timespec="seconds"))
            self._print_details(unread, meta)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _print_details(self, parent: ET.Element, meta: dict[str, str]) -> None:
        details = _el(parent, "print-details")
        street = ", ".join(p for p in (meta.get("care_of") and f"c/o {meta['care_of']}", meta["street"]) if p)
        _print_recipient(details, "recipient", meta["name"], street, meta["postal_code"], meta["city"],
                         meta.get("country", "NO"))
        s = self.settings
        _print_recipient(details, "return-address", s.return_name or meta.get("sender_name") or "Avsender",
                         s.return_address, s.return_postal_code, s.return_city)

    def _result(self, message: OutboundMessage, response: httpx.Response) -> DispatchResult:
        message_uuid = digipost_uuid(message.message_id)
        if response.is_success:
            return DispatchResult(message.message_id, "sent", provider_ref=message_uuid)
        code, text = self._error(response)
        if code in ("DUPLICATE_MESSAGE", "DIGIPOST_MESSAGE_ALREADY_DELIVERED", "PRINT_MESSAGE_ALREADY_DELIVERED"):
            return DispatchResult(message.message_id, "sent", provider_ref=message_uuid)
        if response.status_code in (401, 403):
            raise PermanentError(f"Digipost refused our credentials: HTTP {response.status_code} {code}: {text}")
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        return DispatchResult(message.message_id, "failed", error=f"HTTP {response.status_code} {code}: {text}",
                              permanent=not transient)

    @staticmethod
    def _error(response: httpx.Response) -> tuple[str, str]:
        """(error-code, error-message) of Digipost's `<error>` body, or a stand-in."""
        try:
            root = ET.fromstring(response.content)
            return root.findtext(f"{{{NS}}}error-code") or "", (root.findtext(f"{{{NS}}}error-message") or "")[:200]
        except ET.ParseError:
            return "GENERAL_ERROR", response.text[:200] or response.reason_phrase

    # -- identification, status, events -------------------------------------------------------------------

    def registered(self, national_ids: Iterable[str]) -> set[str]:
        """Which of these personal identification numbers have a Digipost mailbox (POST /identification)."""
        found = set()
        for pin in national_ids:
            root = ET.Element(f"{{{NS}}}identification")
            _el(root, "personal-identification-number", pin)
            response = self._checked("POST", "/identification", ET.tostring(root, encoding="utf-8"))
            if ET.fromstring(response.content).findtext(f"{{{NS}}}result") == "DIGIPOST":
                found.add(pin)
        return found

    def document_status(self, message_id: str) -> list[ReceiptEvent]:
        """Delivered / printed / read, as Digipost's document status says now."""
        message_uuid = digipost_uuid(message_id)
        status = ET.fromstring(self._checked(
            "GET", f"/documents/{self.settings.broker_id}/{message_uuid}/status").content)
        if status.get("status") != "DELIVERED":
            return []
        at = datetime.fromisoformat(status.get("delivered") or status.get("created") or "")
        kind = "printed" if status.get("channel") == "PRINT" else "delivered"
        events = [ReceiptEvent(message_id, kind, None, f"digipost:{message_uuid}:{kind}", at)]
        if status.get("read") == "Y":
            events.append(ReceiptEvent(message_id, "read", None, f"digipost:{message_uuid}:read", at))
        return events

    def feed_position(self) -> str | None:
        """The end of the last window of document events read."""
        return self._since.isoformat()

    def resume_feed(self, position: str) -> None:
        """Read events from where an earlier poll stopped, a little before it: an event Digipost stamped just
        before that poll's end may have been listed only after it (events read twice are taken once)."""
        self._since = datetime.fromisoformat(position) - _FEED_OVERLAP

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Document events (opened, postmarked, print failed) from the last poll until now, page by page."""
        until, events, offset = datetime.now(timezone.utc), [], 0
        while True:
            params = {"sender": self.settings.broker_id, "from": _stamp(self._since), "to": _stamp(until),
                      "offset": str(offset), "maxResults": str(_PAGE)}
            page = parse_document_events(self._checked("GET", "/documents/events", params=params).content)
            events.extend(page)
            if len(page) < _PAGE:
                break
            offset += _PAGE
        self._since = until
        return events

    def _checked(self, method: str, path: str, body: bytes | None = None,
                 params: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = self._request(method, path, body, params=params)
        except httpx.TransportError as exc:
            raise TransientError(f"Digipost unreachable: {exc}") from exc
        if not response.is_success:
            code, text = self._error(response)
            permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
            raise (PermanentError if permanent else TransientError)(
                f"Digipost {path}: HTTP {response.status_code} {code}: {text}")
        return response

    # -- callbacks ------------------------------------------------------------------------------------------

    def parse_callback(self, callback: Callback) -> list[ReceiptEvent]:
        """Document events Digipost pushed; the signature must verify with Digipost's certificate."""
        signature, sha = callback.headers.get("x-digipost-signature"), callback.headers.get("x-content-sha256")
        if not signature or not sha:
            raise CallbackRejected("Digipost callback without X-Digipost-Signature / X-Content-SHA256")
        if base64.b64encode(hashlib.sha256(callback.body).digest()).decode() != sha:
            raise CallbackRejected("Digipost callback body does not match its X-Content-SHA256")
        url = urlsplit(callback.url)
        signed = canonical_string(callback.method, url.path, url.query, dict(callback.headers))
        public_key: rsa.RSAPublicKey = self.certificate().public_key()  # type: ignore[assignment]
        try:
            public_key.verify(base64.b64decode(signature), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError) as exc:
            raise CallbackRejected("Digipost callback signature does not verify") from exc
        try:
            return parse_document_events(callback.body)
        except (ET.ParseError, ValueError) as exc:
            raise CallbackRejected(f"unreadable Digipost callback: {exc}") from exc

    def certificate(self) -> x509.Certificate:
        """Digipost's certificate, from the API's entry point (fetched once)."""
        if self._certificate is None:
            entry = ET.fromstring(self._checked("GET", "/").content)
            self._certificate = x509.load_pem_x509_certificate((entry.findtext(f"{{{NS}}}certificate") or "").encode())
        return self._certificate

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_document_events(xml: bytes) -> list[ReceiptEvent]:
    """ReceiptEvents from a `<document-events>` body (document uuid = our message id)."""
    events = []
    for event in ET.fromstring(xml).iter(f"{{{NS}}}event"):
        status = EVENT_STATUS.get(event.get("type", ""))
        if status is None:
            continue  # notification failures and the like say nothing about the document's delivery
        document, created = uuid.UUID(event.get("uuid", "")), event.get("created", "")
        failure = event.find(f"{{{NS}}}metadata")
        detail = failure.get("error-code") if failure is not None else None
        events.append(ReceiptEvent(document.hex, status, detail, f"digipost:{document}:{event.get('type')}:{created}",
                                   datetime.fromisoformat(created)))
    return events
