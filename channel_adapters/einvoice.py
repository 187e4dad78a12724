"""E-invoices to an access point's drop: one UBL (or Finvoice) file per message in a folder or bucket.

The access point answers each invoice with a PEPPOL Message Level Response (and may later pass on the
buyer's Invoice Response) as XML files in its responses location; `fetch_receipts` reads each new one
once (see `channel_adapters/peppol_responses.py` for the specifications). The drop's file name,
`<message_id>.xml`, is what the access point uses as the envelope id the response refers to. Once the
receipts stage has kept a response's event in the ledger, the file moves under `read/` in the responses location.
"""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from channel_adapters.base import (Attachment, ChannelAdapter, DispatchResult, OutboundMessage, ReceiptEvent,
                                   TransientError)
from channel_adapters.peppol_responses import message_id_of, parse_application_response, receipt_from_response
from omnibill.store import ObjectStore

RESPONSES_PREFIX = "responses"  # where responses live when they share the drop's store

# A drop that cannot be written (disk, network, bucket) is the provider being unavailable.
STORE_ERRORS = (OSError, BotoCoreError, ClientError)
READ = "read"  # where response files go, in the responses location, once their events are in the ledger


def drop_key(message: OutboundMessage, name: str) -> str:
    """`<metadata drop_prefix>/<name>`: the prefix groups a tenant's period in the drop."""
    prefix = message.metadata.get("drop_prefix", "").strip("/")
    return f"{prefix}/{name}" if prefix else name


def xml_attachment(message: OutboundMessage) -> Attachment | None:
    """The message's e-invoice XML, if it has one."""
    return next((a for a in message.attachments
                 if a.content_type in ("application/xml", "text/xml") or a.filename.endswith(".xml")), None)


class EInvoiceDropAdapter(ChannelAdapter):
    """Writes `<drop_prefix>/<message_id>.xml`; the same message always lands on the same name.

    `deduplicates`: a resend overwrites the same file, and the access point answers a file name once.
    Responses are read from `responses` (default: `responses/` in the drop itself).
    """

    channel = "einvoice"
    provider = "peppol-access-point"
    max_batch = 1000
    body_maxlen = None
    deduplicates = True

    def __init__(self, store: ObjectStore, responses: ObjectStore | None = None):
        self.store = store
        self.responses = responses or store
        self.responses_prefix = "" if responses is not None else RESPONSES_PREFIX
        self._read: set[str] = set()  # response files already turned into receipts (the cursor)
        self._unkept: list[str] = []  # ... whose events are not known to be in the ledger yet
        self.unreadable: list[str] = []  # response files that are no ApplicationResponse of ours
        self.read_prefix = f"{self.responses_prefix}/{READ}" if self.responses_prefix else READ

    def fetch_receipts(self) -> list[ReceiptEvent]:
        """Delivery (MLR AP/AB) and rejection (RE) reports from response files not read before."""
        try:
            keys = [k for k in self.responses.keys(self.responses_prefix)
                    if k.endswith(".xml") and k not in self._read and not k.startswith(self.read_prefix + "/")]
        except STORE_ERRORS:
            return []  # the responses location is unreachable: nothing new now, the next poll reads it
        events = []
        for key in keys:
            try:
                event = self._receipt(key)
            except STORE_ERRORS:
                break  # unread files stay for the next poll
            self._read.add(key)
            self._unkept.append(key)
            if event is not None:
                events.append(event)
        return events

    def receipts_kept(self) -> None:
        """Response files whose events are in the ledger move under `read/` in the responses location, where
        no poll, in this process or another, lists them again (one that fails to move is read again, taken once)."""
        for key in self._unkept:
            try:
                self.responses.move(key, f"{self.read_prefix}/{key.removeprefix(self.responses_prefix).lstrip('/')}")
            except STORE_ERRORS:
                break
        self._unkept = []

    def _receipt(self, key: str) -> ReceiptEvent | None:
        try:
            response = parse_application_response(self.responses.get(key))
        except ValueError:
            self.unreadable.append(key)
            return None
        message_id = message_id_of(response, key)
        if message_id is None:
            self.unreadable.append(key)
            return None
        return receipt_from_response(response, message_id)

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[DispatchResult]:
        """Drop each message's XML; a drop that cannot be written raises TransientError."""
        return [self._drop(message) for message in messages]

    def _drop(self, message: OutboundMessage) -> DispatchResult:
        xml = xml_attachment(message)
        if xml is None:
            return DispatchResult(message.message_id, "failed", error="message has no XML attachment", permanent=True)
        try:
            key = self.store.put(drop_key(message, f"{message.message_id}.xml"), xml.content, "application/xml")
        except ValueError as exc:  # the key escapes the drop: a bad prefix, not an outage
            return DispatchResult(message.message_id, "failed", error=str(exc), permanent=True)
        except STORE_ERRORS as exc:
            # Files already written stay (same names on the retry): rerunning the batch is safe.
            raise TransientError(f"e-invoice drop {self.store.url} unavailable: {exc}") from exc
        return DispatchResult(message.message_id, "sent", provider_ref=key)
