"""E-invoices to an access point's drop: one UBL (or Finvoice) file per message in a folder or bucket."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from channel_adapters.base import Attachment, ChannelAdapter, DispatchResult, OutboundMessage, TransientError
from omnibill.store import ObjectStore

# A drop that cannot be written (disk, network, bucket) is the provider being unavailable.
STORE_ERRORS = (OSError, BotoCoreError, ClientError)


def drop_key(message: OutboundMessage, name: str) -> str:
    """`<metadata drop_prefix>/<name>`: the prefix groups a tenant's period in the drop."""
    prefix = message.metadata.get("drop_prefix", "").strip("/")
    return f"{prefix}/{name}" if prefix else name


def xml_attachment(message: OutboundMessage) -> Attachment | None:
    """The message's e-invoice XML, if it has one."""
    return next((a for a in message.attachments
                 if a.content_type in ("application/xml", "text/xml") or a.filename.endswith(".xml")), None)


class EInvoiceDropAdapter(ChannelAdapter):
    """Writes `<drop_prefix>/<message_id>.xml`; the same message always lands on the same name."""

    channel = "einvoice"
    max_batch = 1000
    body_maxlen = None

    def __init__(self, store: ObjectStore):
        self.store = store

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
