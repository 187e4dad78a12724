"""The sandbox PEPPOL access point: picks up each e-invoice in the drop and answers with a Message Level Response.

It imitates what a PEPPOL access point (corner 2) reports back about a document it took from our drop:
a PEPPOL BIS Message Level Response 3.0 (UBL ApplicationResponse; see
`channel_adapters/peppol_responses.py` for the specification and its sources) written to the
responses location: ResponseCode AP when the file is a well-formed UBL Invoice or CreditNote for a
receiver it can reach, RE with LineResponse reasons otherwise (SV: not well-formed / not UBL;
BV: no buyer endpoint, or the buyer's endpoint id is in `Faults.reject_recipients`). The drop's file
name (our message id) is used as the envelope id the response's DocumentReference names.
A file is answered once: its response file is the access point's record.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from lxml import etree

from config.settings import Settings
from omnibill.sandbox.faults import Faults
from omnibill.sandbox.gateway import mask
from omnibill.store import ObjectStore, open_store

# Written from the specification, not imported from the adapter: the imitation stays independent of what it tests.
NS = {"ar": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
MLR_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:mlr:3"
MLR_PROFILE = "urn:fdc:peppol.eu:poacc:bis:mlr:3"
RESPONSES_PREFIX = "responses"  # DropSettings.einvoice_responses_url empty: responses inside the drop
UBL_ROOTS = {"{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice",
             "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"}
SANDBOX_AP_ENDPOINT = ("0088", "7300010000001")  # who answers when the invoice names no buyer endpoint
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_CBC, _CAC = f"{{{NS['cbc']}}}", f"{{{NS['cac']}}}"


class SandboxAccessPoint:
    """Polls the e-invoice drop in a background thread and writes one MLR per new invoice file."""

    def __init__(self, drop: ObjectStore, faults: Faults, responses: ObjectStore | None = None,
                 interval_s: float = 0.2):
        self.drop = drop
        self.faults = faults
        self.responses = responses or drop
        self.prefix = "" if responses is not None else RESPONSES_PREFIX
        self.interval_s = interval_s
        self._answered: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, faults: Faults, interval_s: float = 0.2) -> SandboxAccessPoint:
        """The access point on the configured drop and responses location."""
        drop = open_store(settings.resolved_einvoice_url(), settings.s3)
        url = settings.drops.einvoice_responses_url
        return cls(drop, faults, open_store(url, settings.s3) if url else None, interval_s)

    def start(self) -> SandboxAccessPoint:
        """Start polling in a daemon thread; returns self."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-access-point", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (after the current pass)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def poll_once(self) -> int:
        """Answer every invoice file not answered yet; returns how many responses were written."""
        written = 0
        for key in self._new_invoices():
            if self.faults.should_fail(key, "einvoice"):
                continue  # the access point is slow or down: answered on a later pass
            self.responses.put(self.response_key(key), self.answer(key, self.drop.get(key)), "application/xml")
            self._answered.add(key)
            written += 1
        return written

    def response_key(self, invoice_key: str) -> str:
        """`<prefix>/<drop path>/<message id>.mlr.xml` for `<drop path>/<message id>.xml`."""
        name = invoice_key.removesuffix(".xml") + ".mlr.xml"
        return f"{self.prefix}/{name}" if self.prefix else name

    def answer(self, invoice_key: str, xml: bytes) -> bytes:
        """The MLR for one dropped file."""
        envelope_id = invoice_key.rsplit("/", 1)[-1].removesuffix(".xml")
        try:
            root = etree.fromstring(xml, _PARSER)
        except etree.XMLSyntaxError:
            return build_mlr(envelope_id, SANDBOX_AP_ENDPOINT, None, [("SV", "The document is not well-formed XML")])
        if etree.QName(root).localname == "Finvoice":
            # A Finnish e-invoice goes on to the recipient's bank or operator: the access point (here, the
            # Finvoice operator) acknowledges it as it acknowledges a UBL invoice.
            return build_mlr(envelope_id, SANDBOX_AP_ENDPOINT, None, [])
        if root.tag not in UBL_ROOTS:
            kind = etree.QName(root).localname
            return build_mlr(envelope_id, SANDBOX_AP_ENDPOINT, None,
                             [("SV", f"Document type {kind} is not a UBL Invoice or CreditNote")])
        buyer, seller = _endpoint(root, "AccountingCustomerParty"), _endpoint(root, "AccountingSupplierParty")
        if buyer is None:
            return build_mlr(envelope_id, SANDBOX_AP_ENDPOINT, seller,
                             [("BV", "[PEPPOL-EN16931-R010]-Buyer electronic address MUST be provided")])
        if self.faults.rejects(buyer[1]) or self.faults.rejects(f"{buyer[0]}:{buyer[1]}"):
            return build_mlr(envelope_id, buyer, seller,
                             [("BV", f"Receiver {buyer[0]}:{mask(buyer[1])} is not registered in the PEPPOL network")])
        return build_mlr(envelope_id, buyer, seller, [])

    def _new_invoices(self) -> list[str]:
        # a response the adapter has read moved under read/: that invoice is answered too
        base = f"{self.prefix}/" if self.prefix else ""
        answered = {base + k.removeprefix(f"{base}read/") for k in self.responses.keys(self.prefix)}
        ours = self.prefix + "/" if self.responses is self.drop else None  # our own responses live in the drop
        return [k for k in self.drop.keys() if k.endswith(".xml") and not (ours and k.startswith(ours))
                and k not in self._answered and self.response_key(k) not in answered]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except (OSError, ValueError):  # a drop being written or a bad key: the next pass retries
                pass
            self._stopping.wait(self.interval_s)


def build_mlr(envelope_id: str, sender: tuple[str, str], receiver: tuple[str, str] | None,
              reasons: list[tuple[str, str]]) -> bytes:
    """A PEPPOL MLR 3.0: AP without reasons, RE with one LineResponse per (status reason code, description)."""
    now = datetime.now(timezone.utc)
    root = etree.Element(f"{{{NS['ar']}}}ApplicationResponse", nsmap={None: NS["ar"], "cac": NS["cac"],
                                                                      "cbc": NS["cbc"]})
    _add(root, "CustomizationID", MLR_CUSTOMIZATION)
    _add(root, "ProfileID", MLR_PROFILE)
    _add(root, "ID", f"MLR-{envelope_id}")
    _add(root, "IssueDate", now.date().isoformat())
    _add(root, "IssueTime", now.strftime("%H:%M:%SZ"))
    for tag, party in (("SenderParty", sender), ("ReceiverParty", receiver or SANDBOX_AP_ENDPOINT)):
        _add(etree.SubElement(root, _CAC + tag), "EndpointID", party[1], schemeID=party[0])
    document = etree.SubElement(root, _CAC + "DocumentResponse")
    response = etree.SubElement(document, _CAC + "Response")
    _add(response, "ResponseCode", "RE" if reasons else "AP")
    if reasons:
        _add(response, "Description", "Rejected due to validation errors")
    _add(etree.SubElement(document, _CAC + "DocumentReference"), "ID", envelope_id)
    for code, description in reasons:
        line = etree.SubElement(document, _CAC + "LineResponse")
        _add(etree.SubElement(line, _CAC + "LineReference"), "LineID", "NA")
        line_response = etree.SubElement(line, _CAC + "Response")
        _add(line_response, "Description", description)
        _add(etree.SubElement(line_response, _CAC + "Status"), "StatusReasonCode", code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _add(parent: etree._Element, tag: str, text: str, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, _CBC + tag, attributes)
    element.text = text
    return element


def _endpoint(root: etree._Element, role: str) -> tuple[str, str] | None:
    found = root.find(f"cac:{role}/cac:Party/cbc:EndpointID", NS)
    if found is None or not (found.text or "").strip():
        return None
    return found.get("schemeID", ""), found.text.strip()
