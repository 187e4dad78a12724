"""Finvoice 3.0 consumer e-invoices (Finnish e-lasku), shaped like the official Finvoice 3.0 example."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal

from lxml import etree

from config.tenant import Sender
from omnibill.model import BillingDocument, Party
from omnibill.payments import compact_reference
from omnibill.render.barcode import fi_bank_barcode
from omnibill.render.context import cents, one_line, vat_breakdown
from omnibill.render.ubl import unit_code

XSI = "http://www.w3.org/2001/XMLSchema-instance"
TYPES = {"invoice": ("INV01", "380", "LASKU"), "reminder": ("INV01", "380", "MAKSUMUISTUTUS"),
         "credit_note": ("INV02", "381", "HYVITYSLASKU")}


def amount(value: Decimal) -> str:
    """A Finvoice amount: two decimals with a decimal comma ('1116,00')."""
    return f"{cents(value):.2f}".replace(".", ",")


def ovt_code(org_number: str) -> str:
    """The OVT (e-invoice) identifier of a Finnish company: 0037 + the Y-tunnus digits."""
    return "0037" + re.sub(r"\D", "", org_number)


def _sub(parent: etree._Element, tag: str, value: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if value is not None:
        el.text = value
    return el


def _day(parent: etree._Element, tag: str, day: date) -> None:
    _sub(parent, tag, day.strftime("%Y%m%d"), Format="CCYYMMDD")


def _money(parent: etree._Element, tag: str, value: Decimal, currency: str) -> None:
    _sub(parent, tag, amount(value), AmountCurrencyIdentifier=currency)


def _transmission(root: etree._Element, doc: BillingDocument, sender: Sender) -> None:
    customer = doc.customer
    details = _sub(root, "MessageTransmissionDetails")
    frm = _sub(details, "MessageSenderDetails")
    _sub(frm, "FromIdentifier", ovt_code(sender.org_number), SchemeID="0037")
    _sub(frm, "FromIntermediator", sender.bic)
    to = _sub(details, "MessageReceiverDetails")
    _sub(to, "ToIdentifier", compact_reference(customer.einvoice_address or ""))
    _sub(to, "ToIntermediator", (customer.einvoice_operator or "").strip())
    msg = _sub(details, "MessageDetails")
    _sub(msg, "MessageIdentifier", f"{sender.org_number}-{doc.invoice_id}")
    stamp = datetime.combine(doc.issue_date, time(8, 0), tzinfo=timezone.utc)  # stable: derived, never "now"
    _sub(msg, "MessageTimeStamp", stamp.isoformat())


def _seller(root: etree._Element, sender: Sender) -> None:
    party = _sub(root, "SellerPartyDetails")
    _sub(party, "SellerPartyIdentifier", sender.org_number)
    _sub(party, "SellerOrganisationName", sender.name)
    _sub(party, "SellerOrganisationTaxCode", sender.vat_id.replace(" ", ""))
    address = _sub(party, "SellerPostalAddressDetails")
    _sub(address, "SellerStreetName", sender.street)
    _sub(address, "SellerTownName", sender.city)
    _sub(address, "SellerPostCodeIdentifier", sender.postal_code)
    _sub(address, "CountryCode", sender.country.upper())
    comm = _sub(root, "SellerCommunicationDetails")
    _sub(comm, "SellerPhoneNumberIdentifier", sender.phone)
    _sub(comm, "SellerEmailaddressIdentifier", sender.email)
    info = _sub(root, "SellerInformationDetails")
    _sub(info, "SellerHomeTownName", sender.city)
    if sender.website:
        _sub(info, "SellerWebaddressIdentifier", sender.website)
    account = _sub(info, "SellerAccountDetails")
    _sub(account, "SellerAccountID", sender.iban.replace(" ", ""), IdentificationSchemeName="IBAN")
    _sub(account, "SellerBic", sender.bic, IdentificationSchemeName="BIC")


def _buyer(root: etree._Element, customer: Party) -> None:
    party = _sub(root, "BuyerPartyDetails")
    _sub(party, "BuyerOrganisationName", one_line(customer.name))
    address = _sub(party, "BuyerPostalAddressDetails")
    _sub(address, "BuyerStreetName", customer.street or "-")
    _sub(address, "BuyerTownName", customer.city or "-")
    _sub(address, "BuyerPostCodeIdentifier", customer.postal_code or "-")
    _sub(address, "CountryCode", customer.country.upper())
    if customer.email:
        _sub(_sub(root, "BuyerCommunicationDetails"), "BuyerEmailaddressIdentifier", customer.email)


def _details(root: etree._Element, doc: BillingDocument) -> None:
    code, code_un, title = TYPES[doc.document_type]
    cur = doc.currency
    details = _sub(root, "InvoiceDetails")
    _sub(details, "InvoiceTypeCode", code, CodeListAgencyIdentifier="SPY")
    _sub(details, "InvoiceTypeCodeUN", code_un)
    _sub(details, "InvoiceTypeText", title)
    _sub(details, "OriginCode", "Original")
    _sub(details, "InvoiceNumber", doc.invoice_id)
    _day(details, "InvoiceDate", doc.issue_date)
    _money(details, "RowsTotalVatExcludedAmount", sum((ln.line_amount for ln in doc.lines), Decimal(0)), cur)
    _money(details, "InvoiceTotalVatExcludedAmount", doc.total_excl_vat, cur)
    _money(details, "InvoiceTotalVatAmount", doc.vat_amount, cur)
    _money(details, "InvoiceTotalVatIncludedAmount", doc.total_incl_vat, cur)
    for group in vat_breakdown(doc.lines, doc.vat_amount):
        vat = _sub(details, "VatSpecificationDetails")
        _money(vat, "VatBaseAmount", group.basis, cur)
        _sub(vat, "VatRatePercent", f"{group.rate.normalize():f}".replace(".", ","))
        _sub(vat, "VatCode", "S" if group.rate > 0 else "E")
        _money(vat, "VatRateAmount", group.vat, cur)
    terms = _sub(details, "PaymentTermsDetails")
    _sub(terms, "PaymentTermsFreeText", f"Eräpäivä {doc.due_date:%d.%m.%Y}")
    _day(terms, "InvoiceDueDate", doc.due_date)


def _rows(root: etree._Element, doc: BillingDocument) -> None:
    cur = doc.currency
    for line in doc.lines:
        row = _sub(root, "InvoiceRow")
        _sub(row, "ArticleName", one_line(line.description)[:100] or "-")
        _sub(row, "InvoicedQuantity", f"{Decimal(line.quantity).normalize():f}".replace(".", ","),
             QuantityUnitCode=line.unit, QuantityUnitCodeUN=unit_code(line.unit))
        _sub(row, "UnitPriceAmount", f"{Decimal(line.unit_price):f}".replace(".", ","), AmountCurrencyIdentifier=cur)
        _sub(row, "RowPositionIdentifier", str(line.line_no))
        vat = cents(line.line_amount * line.vat_rate / 100)
        _sub(row, "RowVatRatePercent", f"{Decimal(line.vat_rate).normalize():f}".replace(".", ","))
        _sub(row, "RowVatCode", "S" if line.vat_rate > 0 else "E")
        _money(row, "RowVatAmount", vat, cur)
        _money(row, "RowVatExcludedAmount", line.line_amount, cur)
        _money(row, "RowAmount", line.line_amount + vat, cur)


def _epi(root: etree._Element, doc: BillingDocument, sender: Sender) -> None:
    epi = _sub(root, "EpiDetails")
    ident = _sub(epi, "EpiIdentificationDetails")
    _day(ident, "EpiDate", doc.issue_date)
    _sub(ident, "EpiReference", doc.invoice_id)
    parties = _sub(epi, "EpiPartyDetails")
    _sub(_sub(parties, "EpiBfiPartyDetails"), "EpiBfiIdentifier", sender.bic, IdentificationSchemeName="BIC")
    beneficiary = _sub(parties, "EpiBeneficiaryPartyDetails")
    _sub(beneficiary, "EpiNameAddressDetails", sender.name[:35])
    _sub(beneficiary, "EpiBei", sender.org_number)
    _sub(beneficiary, "EpiAccountID", sender.iban.replace(" ", ""), IdentificationSchemeName="IBAN")
    instruction = _sub(epi, "EpiPaymentInstructionDetails")
    ref = compact_reference(doc.payment_reference)
    _sub(instruction, "EpiRemittanceInfoIdentifier", ref, IdentificationSchemeName="ISO" if ref.startswith("RF") else "SPY")
    payable = doc.total_incl_vat if doc.document_type != "credit_note" else Decimal(0)
    _money(instruction, "EpiInstructedAmount", max(payable, Decimal(0)), doc.currency)
    _sub(instruction, "EpiCharge", "SHA", ChargeOption="SHA")
    _day(instruction, "EpiDateOptionDate", doc.due_date)


def render_finvoice(doc: BillingDocument, sender: Sender) -> bytes:
    """The Finvoice 3.0 message (ISO-8859-15 bytes) for a consumer with an e-invoice address."""
    if not doc.customer.einvoice_address or not doc.customer.einvoice_operator:
        raise ValueError(f"customer {doc.customer.customer_id} has no e-invoice address and operator")
    root = etree.Element("Finvoice", {"Version": "3.0", f"{{{XSI}}}noNamespaceSchemaLocation": "Finvoice3.0.xsd"},
                         nsmap={"xsi": XSI})
    _transmission(root, doc, sender)
    _seller(root, sender)
    _buyer(root, doc.customer)
    _details(root, doc)
    barcode = fi_bank_barcode(doc, sender)
    if barcode:
        _sub(root, "VirtualBankBarcode", barcode)
    _rows(root, doc)
    _epi(root, doc, sender)
    return etree.tostring(root, xml_declaration=True, encoding="ISO-8859-15", pretty_print=True)
