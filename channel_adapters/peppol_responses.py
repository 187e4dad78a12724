"""PEPPOL responses to our e-invoices: Message Level Response (MLR 3.0) and Invoice Response 3.x.

Both are UBL 2.1 `ApplicationResponse` documents. Sources: OpenPEPPOL, "PEPPOL BIS Message Level
Response 3.0" (docs.peppol.eu/poacc/upgrade-3/profiles/36-mlr/ and github.com/OpenPEPPOL/poacc-upgrade-3:
`guides/profiles/36-mlr/`, `rules/examples/MessageLevelResponse_Example.xml`, `rules/snippets/mlr/`,
`structure/codelist/StatusReason.xml`): CustomizationID `urn:fdc:peppol.eu:poacc:trns:mlr:3`, ProfileID
`urn:fdc:peppol.eu:poacc:bis:mlr:3`; DocumentResponse/Response/ResponseCode AB (acknowledged), AP
(accepted) or RE (rejected, with a Description); rejections list LineResponse/Response/Description with
Status/StatusReasonCode BV, BW or SV; DocumentResponse/DocumentReference/ID is the SBDH instance
identifier of the envelope of the original document. "PEPPOL BIS Invoice Response 3" (profiles/63-
invoiceresponse, `rules/examples/InvoiceResponse_Example.xml`): ResponseCode from UNCL 4343 (AB, IP, UQ,
CA, RE, AP, PD), reasons in Response/Status/StatusReason; DocumentReference/ID is the invoice number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from lxml import etree

from channel_adapters.base import ReceiptEvent

NS = {"ar": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
MLR_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:mlr:3"
MLR_PROFILE = "urn:fdc:peppol.eu:poacc:bis:mlr:3"
INVOICE_RESPONSE_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:invoice_response:3"
_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
# Invoice Response codes that tell nothing final yet (UQ: under query) give no receipt.
_INVOICE_RESPONSE_PENDING = {"UQ"}
# No DTDs, no entities, no network: a response file is data from outside.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class ApplicationResponse:
    """What we read from an MLR or Invoice Response."""

    kind: str  # "mlr" or "invoice_response"
    response_id: str
    response_code: str
    description: str
    reasons: tuple[str, ...]  # "BV: <description>" per line response / status reason
    document_reference: str
    issued_at: datetime | None


def parse_application_response(xml: bytes) -> ApplicationResponse:
    """Read a PEPPOL ApplicationResponse; ValueError when it is not well-formed or not one."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"response is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{NS['ar']}}}ApplicationResponse":
        raise ValueError(f"not a UBL ApplicationResponse: {etree.QName(root).localname}")
    customization = _text(root, "cbc:CustomizationID")
    kind = "invoice_response" if customization.startswith(INVOICE_RESPONSE_CUSTOMIZATION) else "mlr"
    doc = root.find("cac:DocumentResponse", NS)
    if doc is None:
        raise ValueError("ApplicationResponse without DocumentResponse")
    return ApplicationResponse(kind=kind, response_id=_text(root, "cbc:ID"),
                               response_code=_text(doc, "cac:Response/cbc:ResponseCode").upper(),
                               description=_text(doc, "cac:Response/cbc:Description"),
                               reasons=_reasons(doc), document_reference=_text(doc, "cac:DocumentReference/cbc:ID"),
                               issued_at=_issued(root))


def message_id_of(response: ApplicationResponse, key: str) -> str | None:
    """Our message id: the DocumentReference (our file name is the envelope id), else the file name."""
    if _MESSAGE_ID.fullmatch(response.document_reference.lower()):
        return response.document_reference.lower()
    found = _MESSAGE_ID.search(key.rsplit("/", 1)[-1].lower())
    return found.group(0) if found else None


def receipt_from_response(response: ApplicationResponse, message_id: str) -> ReceiptEvent | None:
    """Accepted/acknowledged -> delivered; rejected -> failed permanently with the reasons; else None."""
    event_id = f"peppol:{response.kind}:{response.response_id or '-'}:{message_id}:{response.response_code}"
    if response.response_code == "RE":
        detail = "; ".join(filter(None, [response.description, *response.reasons]))[:300] or "rejected"
        return ReceiptEvent(message_id, "failed", detail=f"PEPPOL {response.kind} RE: {detail}",
                            event_id=event_id, at=response.issued_at, permanent=True)
    if response.kind == "invoice_response" and response.response_code in _INVOICE_RESPONSE_PENDING:
        return None
    if not response.response_code:
        return None
    return ReceiptEvent(message_id, "delivered", detail=f"PEPPOL {response.kind} {response.response_code}",
                        event_id=event_id, at=response.issued_at, permanent=False)


def _text(node: etree._Element, path: str) -> str:
    found = node.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _reasons(doc: etree._Element) -> tuple[str, ...]:
    reasons = []
    for response in doc.iterfind("cac:LineResponse/cac:Response", NS):
        code = _text(response, "cac:Status/cbc:StatusReasonCode")
        reasons.append(f"{code}: {_text(response, 'cbc:Description')}" if code else _text(response, "cbc:Description"))
    for status in doc.iterfind("cac:Response/cac:Status", NS):
        code, reason = _text(status, "cbc:StatusReasonCode"), _text(status, "cbc:StatusReason")
        reasons.append(f"{code}: {reason}" if code and reason else code or reason)
    return tuple(r for r in reasons if r)


def _issued(root: etree._Element) -> datetime | None:
    try:
        day = date.fromisoformat(_text(root, "cbc:IssueDate"))
    except ValueError:
        return None
    try:
        at = time.fromisoformat(_text(root, "cbc:IssueTime") or "00:00:00")
    except ValueError:
        at = time()
    issued = datetime.combine(day, at)
    return issued if issued.tzinfo else issued.replace(tzinfo=timezone.utc)
