"""Finvoice 3.0 for Finnish consumers: shaped like the official example, amounts and payment data right."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from omnibill.payments import make_reference, validate_reference
from omnibill.render import render_finvoice
from omnibill.render.stage import render_outputs
from tests.unit.render_fixtures import FI_SENDER, doc_from, line, org, party, utility_lines

VALIDATION = Path(os.environ.get("OMNIBILL_VALIDATION_DIR", Path(__file__).resolve().parents[3] / "shared" / "validation"))
EXAMPLE = VALIDATION / "examples" / "anon_finvoice_30_invoice_with_MessageTransmissionDetails.xml"


def fi_consumer(name: str = "Äijälä Öhman"):
    """A Finnish person who receives e-invoices in their online bank."""
    return party(country="FI", language="fi", name=name, street="Hämeenkatu 3", postal_code="33100",
                 city="Tampere", einvoice_address="FI7944052020036082", einvoice_operator="NDEAFIHH")


def fi_invoice(**kw: object):
    doc = doc_from(utility_lines(), customer=kw.pop("customer", fi_consumer()), currency="EUR", **kw)  # type: ignore[arg-type]
    return replace(doc, payment_reference=make_reference("EUR", doc.invoice_id))


def _child_orders(root: etree._Element) -> dict[str, set[tuple[str, str]]]:
    """For each element name, every (earlier, later) pair of distinct child names the example shows."""
    orders: dict[str, set[tuple[str, str]]] = {}
    for el in root.iter():
        pairs = orders.setdefault(el.tag, set())
        tags = [c.tag for c in el if isinstance(c.tag, str)]
        pairs.update((a, b) for i, a in enumerate(tags) for b in tags[i + 1:] if a != b)
        for tag in tags:
            orders.setdefault(tag, set())
    return orders


@pytest.fixture(scope="module")
def example_orders() -> dict[str, list[str]]:
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} missing: set OMNIBILL_VALIDATION_DIR to the shared/validation folder")
    return _child_orders(etree.parse(str(EXAMPLE)).getroot())


@pytest.mark.parametrize("document_type", ["invoice", "credit_note", "reminder"])
def test_every_element_is_known_and_in_the_example_order(example_orders, document_type):
    sign = -1 if document_type == "credit_note" else 1
    root = etree.fromstring(render_finvoice(fi_invoice(document_type=document_type, sign=sign), FI_SENDER))
    assert root.tag == "Finvoice" and root.get("Version") == "3.0"
    for el in root.iter():
        assert el.tag in example_orders, f"{el.tag} is not in the official example"
        tags = [c.tag for c in el]
        wrong = [(a, b) for i, a in enumerate(tags) for b in tags[i + 1:] if (b, a) in example_orders[el.tag]]
        assert not wrong, f"children of {el.tag} in another order than the example: {wrong}"


def test_amounts_dates_and_payment_data():
    doc = fi_invoice()
    root = etree.fromstring(render_finvoice(doc, FI_SENDER))
    assert root.findtext("InvoiceDetails/InvoiceTotalVatIncludedAmount") == f"{doc.total_incl_vat:.2f}".replace(".", ",")
    assert root.find("InvoiceDetails/InvoiceDate").get("Format") == "CCYYMMDD"
    assert root.findtext("InvoiceDetails/InvoiceDate") == "20261103"
    assert root.findtext("InvoiceDetails/PaymentTermsDetails/InvoiceDueDate") == "20261201"
    ref = root.findtext("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
    assert ref == doc.payment_reference and validate_reference("EUR", ref) is None
    barcode = root.findtext("VirtualBankBarcode")
    assert len(barcode) == 54 and barcode.startswith("4" + FI_SENDER.iban[2:]) and barcode.endswith("261201")
    assert root.findtext("MessageTransmissionDetails/MessageReceiverDetails/ToIdentifier") == "FI7944052020036082"
    assert root.findtext("MessageTransmissionDetails/MessageReceiverDetails/ToIntermediator") == "NDEAFIHH"
    assert root.findtext("MessageTransmissionDetails/MessageSenderDetails/FromIdentifier") == "003701120389"
    rows = root.findall("InvoiceRow")
    assert [r.findtext("RowPositionIdentifier") for r in rows] == ["1", "2", "3", "4"]
    vat = root.findall("InvoiceDetails/VatSpecificationDetails")
    assert [v.findtext("VatRatePercent") for v in vat] == ["25"]


def test_names_outside_latin_9_survive_as_character_references():
    doc = fi_invoice(customer=fi_consumer(name="محمد 王小明 Åkesson"))
    xml = render_finvoice(doc, FI_SENDER)
    assert xml.startswith(b"<?xml version='1.0' encoding='ISO-8859-15'?>")
    assert etree.fromstring(xml).findtext("BuyerPartyDetails/BuyerOrganisationName") == "محمد 王小明 Åkesson"


def test_several_vat_rates_and_a_credit_note():
    lines = [line(1, "Sähkö", "100", "kWh", "0.10", "25.5"), line(2, "Lehti", "1", "kpl", "10", "14")]
    credit = doc_from(lines, customer=fi_consumer(), currency="EUR", document_type="credit_note", sign=-1)
    root = etree.fromstring(render_finvoice(replace(credit, payment_reference="1232"), FI_SENDER))
    assert root.findtext("InvoiceDetails/InvoiceTypeCode") == "INV02"
    assert root.findtext("InvoiceDetails/InvoiceTypeCodeUN") == "381"
    assert [v.findtext("VatRatePercent") for v in root.findall("InvoiceDetails/VatSpecificationDetails")] == ["25,5", "14"]
    assert root.find("VirtualBankBarcode") is None


def test_rendering_stage_picks_finvoice_for_consumers_and_ubl_for_organisations():
    files = render_outputs(fi_invoice(), FI_SENDER, {"einvoice"})
    assert files["ubl"][0] == "finvoice.xml" and b"<Finvoice" in files["ubl"][1]
    company = fi_invoice(customer=org("FI", "0037:01120389", "fi"))
    files = render_outputs(company, FI_SENDER, {"einvoice"})
    assert files["ubl"][0] == "einvoice.xml" and b"urn:oasis:names:specification:ubl" in files["ubl"][1]


def test_a_consumer_without_an_einvoice_address_is_refused():
    with pytest.raises(ValueError):
        render_finvoice(fi_invoice(customer=party(country="FI", language="fi")), FI_SENDER)
