"""Every generated UBL document passes the UBL 2.1 schema, the EN 16931 rules and the PEPPOL BIS 3 rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
from lxml import etree

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.render import render_ubl
from tests.ubl_validator import VALIDATION_DIR, Validator, load_validator
from tests.unit.render_fixtures import (
    DK_SENDER, FI_SENDER, NO_SENDER, demo_sender, doc_from, line, org, party, utility_lines,
)

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
TRICKY_NAME = "Bygg & Rör <Nord> \"AB\" 'Öst'"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return load_validator()


def _examples() -> list[Path]:
    # OpenPEPPOL's own examples. The Visma example predates rule UBL-SR-46 (payment means text at most once)
    # and fails it under release 2026.5, so it is no sanity check for the harness.
    return sorted((VALIDATION_DIR / "examples").glob("peppol-*.xml"))


@pytest.mark.parametrize("example", _examples(), ids=lambda p: p.name)
def test_official_examples_pass_the_harness(validator: Validator, example: Path) -> None:
    assert validator.problems(example.read_bytes()) == []


SE = org("SE", "0007:5560125790", "sv", name=TRICKY_NAME)
FI = org("FI", "0037:01120389", "fi", name="Pohjolan Rakennus Oy")
DK = org("DK", "0184:35954716", "da", name="Dansk Byg ApS")
NO = org("NO", "0192:923609016", "nb", name="Norsk Bygg AS")


def _rounded_to_krona() -> BillingDocument:
    doc = doc_from(utility_lines(), customer=SE)
    return replace(doc, total_incl_vat=doc.total_incl_vat.quantize(Decimal(1)))


def _erp_rounded_line() -> BillingDocument:
    odd = replace(line(1, "Elenergi", "843.257", "kWh", "1.23456"), line_amount=Decimal("1041.05"))
    return doc_from([odd, line(2, "Fast avgift", "1", "mån", "49")], customer=SE)


CASES: dict[str, tuple[Callable[[], BillingDocument], Sender]] = {
    "se-one-rate-tricky-name": (lambda: doc_from(utility_lines(), customer=SE), demo_sender()),
    "se-rates-25-12-6": (lambda: doc_from([line(1, "Elenergi", "100", "kWh", "1.5", "25"), line(2, "Livsmedel", "2", "st", "89.90", "12"),
                                           line(3, "Tidning", "1", "st", "59", "6")], customer=SE), demo_sender()),
    "se-zero-rate-line": (lambda: doc_from([line(1, "Vatten", "12.5", "m3", "31.25"), line(2, "Avgift utanför momsen", "1", "st", "150", "0")],
                                           customer=SE), demo_sender()),
    "se-credit-note-negative-erp": (lambda: doc_from(utility_lines(), customer=SE, document_type="credit_note", sign=-1), demo_sender()),
    "se-credit-note-positive-erp": (lambda: doc_from(utility_lines(), customer=SE, document_type="credit_note"), demo_sender()),
    "se-reminder": (lambda: doc_from([line(1, "Påminnelseavgift", "1", "st", "60", "0")], customer=SE, document_type="reminder"), demo_sender()),
    "se-discount-line": (lambda: doc_from(utility_lines() + [line(5, "Rabatt", "-1", "st", "100")], customer=SE), demo_sender()),
    "se-rounded-to-krona": (_rounded_to_krona, demo_sender()),
    "se-erp-rounded-line": (_erp_rounded_line, demo_sender()),
    "fi-buyer-eur": (lambda: doc_from(utility_lines(), customer=FI, currency="EUR"), demo_sender()),
    "fi-buyer-ovt-0216": (lambda: doc_from(utility_lines(), customer=org("FI", "0216:003701120389", "fi"), currency="EUR"),
                          demo_sender()),
    "dk-buyer-dkk": (lambda: doc_from(utility_lines(), customer=DK, currency="DKK"), demo_sender()),
    "no-buyer-nok": (lambda: doc_from(utility_lines(), customer=NO, currency="NOK"), demo_sender()),
    "fi-seller-eur-25.5-14-0": (lambda: doc_from([line(1, "Sähkö", "500", "kWh", "0.12", "25.5"), line(2, "Ruoka", "1", "kpl", "10", "14"),
                                                  line(3, "Vapautettu", "1", "kpl", "5", "0")], customer=FI, currency="EUR"), FI_SENDER),
    "dk-seller-dkk": (lambda: doc_from(utility_lines(), customer=DK, currency="DKK"), DK_SENDER),
    "dk-seller-credit-note": (lambda: doc_from(utility_lines(), customer=DK, currency="DKK", document_type="credit_note", sign=-1), DK_SENDER),
    "no-seller-nok-25-15": (lambda: doc_from([line(1, "Strøm", "700", "kWh", "0.95", "25"), line(2, "Mat", "3", "stk", "45", "15")],
                                             customer=NO, currency="NOK"), NO_SENDER),
}


@pytest.mark.parametrize("case", list(CASES))
def test_generated_ubl_is_valid(validator: Validator, case: str) -> None:
    build, sender = CASES[case]
    problems = validator.problems(render_ubl(build(), sender))
    assert not problems, "\n".join(problems)


def _parse(doc: BillingDocument, sender: Sender | None = None) -> etree._Element:
    return etree.fromstring(render_ubl(doc, sender or demo_sender()))


def test_finnish_y_tunnus_is_addressed_by_its_ovt_code() -> None:
    party_el = _parse(doc_from(utility_lines(), customer=FI, currency="EUR")).find("cac:AccountingCustomerParty/cac:Party", NS)
    endpoint = party_el.find("cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0216", "003701120389")
    legal = party_el.find("cac:PartyLegalEntity/cbc:CompanyID", NS)
    assert (legal.get("schemeID"), legal.text) == ("0037", "01120389")


def test_credit_note_from_negative_erp_amounts_carries_positive_amounts() -> None:
    root = _parse(doc_from(utility_lines(), customer=SE, document_type="credit_note", sign=-1))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert Decimal(root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS)) > 0
    assert all(Decimal(q.text) > 0 for q in root.iterfind("cac:CreditNoteLine/cbc:CreditedQuantity", NS))


def test_reminder_is_an_invoice_380_and_names_survive_escaping() -> None:
    root = _parse(doc_from(utility_lines(), customer=SE, document_type="reminder"))
    assert root.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "380"
    assert root.findtext("cac:AccountingCustomerParty/cac:Party/cac:PartyName/cbc:Name", namespaces=NS) == TRICKY_NAME
    endpoint = root.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0007", "5560125790")
    assert root.findtext("cbc:BuyerReference", namespaces=NS) == SE.customer_id


def test_seller_is_approved_for_f_tax_and_bankgiro_is_offered_for_sek() -> None:
    root = _parse(doc_from(utility_lines(), customer=SE))
    schemes = {s.findtext("cac:TaxScheme/cbc:ID", namespaces=NS): s.findtext("cbc:CompanyID", namespaces=NS)
               for s in root.iterfind("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", NS)}
    assert schemes == {"VAT": "SE556732170701", "TAX": "Godkänd för F-skatt"}
    branches = [m.findtext("cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID", namespaces=NS)
                for m in root.iterfind("cac:PaymentMeans", NS)]
    assert branches == ["ESSESESS", "SE:BANKGIRO"]
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == "1234567890123"


@pytest.mark.parametrize("customer", [party(), party(customer_type="organisation")], ids=["person", "no-peppol-id"])
def test_ubl_needs_an_organisation_with_a_peppol_id(customer: object) -> None:
    with pytest.raises(ValueError, match="PEPPOL"):
        render_ubl(doc_from(utility_lines(), customer=customer), demo_sender())  # type: ignore[arg-type]


def test_totals_that_disagree_with_the_lines_are_refused() -> None:
    doc = doc_from(utility_lines(), customer=SE)
    with pytest.raises(ValueError, match="lines add up"):
        render_ubl(replace(doc, total_excl_vat=doc.total_excl_vat + 10), demo_sender())
