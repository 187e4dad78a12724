"""PEPPOL BIS Billing 3.0 UBL (Invoice or CreditNote) for organisations with a PEPPOL id."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from config.tenant import Sender
from omnibill.model import BillingDocument, InvoiceLine, Party
from omnibill.render.context import cents, environment, one_line, vat_breakdown
from omnibill.render.texts import texts_for

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
UNIT_CODES = {
    "kwh": "KWH", "mwh": "MWH", "wh": "WHR", "kw": "KWT", "m3": "MTQ", "m³": "MTQ", "l": "LTR", "liter": "LTR",
    "kg": "KGM", "km": "KMT", "m": "MTR", "h": "HUR", "tim": "HUR", "hour": "HUR", "tunti": "HUR", "time": "HUR",
    "day": "DAY", "dag": "DAY", "dagar": "DAY", "pv": "DAY", "päivä": "DAY", "dage": "DAY", "døgn": "DAY",
    "month": "MON", "mon": "MON", "mån": "MON", "månad": "MON", "kk": "MON", "kuukausi": "MON", "md": "MON",
    "mdr": "MON", "måned": "MON", "mnd": "MON", "year": "ANN", "år": "ANN", "vuosi": "ANN",
}
# Legal-entity identifier schemes whose format the PEPPOL rules know (SE orgnr, FI Y-tunnus, DK CVR, NO orgnr).
LEGAL_SCHEMES = {"SE": "0007", "DK": "0184", "NO": "0192"}
BUYER_LEGAL_SCHEMES = {"0007", "0037", "0184", "0192"}
# Registration statements some countries require beside the VAT number (TaxScheme "TAX").
REGISTRATION_NOTES = {"SE": "Godkänd för F-skatt", "NO": "Foretaksregisteret"}
PRICE_SLACK = Decimal("0.02")  # PEPPOL-EN16931-R120: line amount = quantity * price within 0.02


@dataclass(frozen=True)
class UblLine:
    """One invoice line as UBL carries it (strings already formatted)."""

    id: str
    quantity: str
    unit_code: str
    amount: str
    name: str
    category: str
    percent: str
    price: str


def unit_code(unit: str) -> str:
    """The UN/ECE Rec 20 code for an ERP unit (kWh → KWH, m3 → MTQ, month → MON; pieces → C62)."""
    return UNIT_CODES.get(unit.strip().lower().rstrip("."), "C62")


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros ('12.5', '100')."""
    text = f"{Decimal(value).normalize():f}"
    return "0" if text in ("-0", "0") else text


def split_peppol_id(peppol_id: str) -> tuple[str, str]:
    """('0007', '5567321707') from '0007:5567321707' (an 'iso6523-actorid-upis::' prefix is ignored)."""
    scheme, _, ident = peppol_id.split("::")[-1].partition(":")
    if not (re.fullmatch(r"\d{4}", scheme) and ident):
        raise ValueError(f"not a PEPPOL participant id 'scheme:id': {peppol_id!r}")
    return scheme, ident


def endpoint(peppol_id: str) -> tuple[str, str]:
    """The PEPPOL address (EAS scheme, id); a Finnish Y-tunnus (0037) becomes its OVT code (0216:0037…)."""
    scheme, ident = split_peppol_id(peppol_id)
    if scheme == "0037":  # 0037 is an ICD but not in PEPPOL's address scheme list (PEPPOL-EN16931-CL008)
        return "0216", "0037" + re.sub(r"\D", "", ident)
    return scheme, ident


def legal_identifier(scheme: str, ident: str) -> tuple[str, str] | None:
    """The (ICD, id) of a party's registration number when its PEPPOL address is one (orgnr, CVR, Y-tunnus)."""
    if scheme == "0216" and ident.startswith("0037"):
        return "0037", ident[4:12]
    return (scheme, re.sub(r"\D", "", ident)) if scheme in BUYER_LEGAL_SCHEMES else None


def _category(rate: Decimal) -> str:
    return "S" if rate > 0 else "E"


def _line(line: InvoiceLine, sign: int) -> UblLine:
    amount = cents(line.line_amount * sign)
    price = abs(Decimal(line.unit_price))
    quantity = abs(Decimal(line.quantity)) * (-1 if amount < 0 else 1) if amount else Decimal(line.quantity) * sign
    if quantity == 0 and amount:
        quantity, price = Decimal(1 if amount > 0 else -1), abs(amount)
    elif abs(quantity * price - amount) > PRICE_SLACK:
        price = abs(amount / quantity).quantize(Decimal("0.00000001"))
    rate = Decimal(line.vat_rate)
    return UblLine(str(line.line_no), plain(quantity), unit_code(line.unit), f"{amount:.2f}",
                   one_line(line.description) or "-", _category(rate), f"{rate:.2f}", plain(price))


def _taxes_and_totals(doc: BillingDocument, sign: int, reason: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    groups = [(g.rate, g.basis * sign, g.vat * sign) for g in vat_breakdown(doc.lines)]
    line_total, excl = sum((b for _, b, _ in groups), Decimal(0)), cents(doc.total_excl_vat * sign)
    if line_total != excl:
        raise ValueError(f"{doc.invoice_id}: lines add up to {line_total}, total_excl_vat is {excl}")
    gap = cents(doc.vat_amount * sign) - sum((v for _, _, v in groups), Decimal(0))
    if gap:  # the ERP rounded VAT differently: carry its total, within EN 16931's ±1 tolerance per rate
        taxed = [i for i, (rate, _, _) in enumerate(groups) if rate > 0]
        if not taxed or abs(gap) >= 1:
            raise ValueError(f"{doc.invoice_id}: vat_amount differs from the lines' VAT by {gap}")
        rate, basis, vat = groups[taxed[0]]
        groups[taxed[0]] = (rate, basis, vat + gap)
    vat = cents(doc.vat_amount * sign)
    payable = cents(doc.total_incl_vat * sign)
    rounding = payable - (excl + vat)
    if abs(rounding) >= 1:
        raise ValueError(f"{doc.invoice_id}: total_incl_vat differs from excl + VAT by {rounding}")
    taxes = [{"category": _category(rate), "percent": f"{rate:.2f}", "basis": f"{basis:.2f}", "vat": f"{v:.2f}",
              "exemption_reason": "" if rate > 0 else reason} for rate, basis, v in groups]
    totals = {"lines": f"{excl:.2f}", "excl": f"{excl:.2f}", "vat": f"{vat:.2f}", "incl": f"{excl + vat:.2f}",
              "rounding": f"{rounding:.2f}" if rounding else "", "payable": f"{payable:.2f}"}
    return taxes, totals


def _seller(sender: Sender) -> dict[str, Any]:
    scheme, ident = endpoint(sender.peppol_id)
    country = sender.country.upper()
    legal_scheme = LEGAL_SCHEMES.get(country)
    legal_id = re.sub(r"\D", "", sender.org_number) if legal_scheme else sender.org_number
    tax_schemes = [(sender.vat_id.replace(" ", ""), "VAT")]
    if country in REGISTRATION_NOTES:
        tax_schemes.append((REGISTRATION_NOTES[country], "TAX"))
    return {"endpoint_scheme": scheme, "endpoint_id": ident, "name": sender.name, "street": sender.street,
            "additional_street": "", "city": sender.city, "postal_code": sender.postal_code, "country": country,
            "tax_schemes": tax_schemes, "legal_id": legal_id, "legal_scheme": legal_scheme,
            "phone": sender.phone, "email": sender.email}


def _buyer(customer: Party) -> dict[str, Any]:
    if customer.customer_type != "organisation" or not customer.peppol_id:
        raise ValueError(f"customer {customer.customer_id} is not an organisation with a PEPPOL id")
    scheme, ident = endpoint(customer.peppol_id)
    legal_scheme, legal_id = legal_identifier(scheme, ident) or ("", "")
    return {"endpoint_scheme": scheme, "endpoint_id": ident, "name": one_line(customer.name),
            "street": customer.street, "additional_street": customer.care_of, "city": customer.city,
            "postal_code": customer.postal_code, "country": customer.country.upper(), "tax_schemes": [],
            "legal_id": legal_id, "legal_scheme": legal_scheme, "phone": "", "email": ""}


def _payment_means(doc: BillingDocument, sender: Sender) -> list[dict[str, str]]:
    # Danish suppliers may not use code 30 (DK-R-005); 58 is SEPA credit transfer.
    code, name = ("58", "SEPA credit transfer") if sender.country.upper() == "DK" else ("30", "Credit transfer")
    means = [{"code": code, "name": name, "account": sender.iban.replace(" ", ""), "branch": sender.bic}]
    if doc.currency == "SEK" and sender.bankgiro and sender.country.upper() == "SE":
        means.append({"code": "30", "name": "", "branch": "SE:BANKGIRO",
                      "account": re.sub(r"\D", "", sender.bankgiro)})
    return means


def _period(period: str) -> tuple[str, str] | None:
    if not re.fullmatch(r"\d{4}-\d{2}", period or ""):
        return None
    year, month = int(period[:4]), int(period[5:])
    return f"{period}-01", f"{period}-{calendar.monthrange(year, month)[1]:02d}"


def render_ubl(doc: BillingDocument, sender: Sender) -> bytes:
    """The PEPPOL BIS 3 UBL document (UTF-8 bytes); ValueError for customers without a PEPPOL id."""
    buyer = _buyer(doc.customer)
    credit = doc.document_type == "credit_note"
    # A CreditNote carries positive amounts; ERPs often book credit notes as negative invoices.
    sign = -1 if credit and doc.total_incl_vat < 0 else 1
    t = texts_for(doc.customer.language)
    taxes, totals = _taxes_and_totals(doc, sign, t["vat_exempt"])
    xml = environment().get_template("ubl.xml.j2").render(
        root="CreditNote" if credit else "Invoice", credit=credit,
        line_element="CreditNoteLine" if credit else "InvoiceLine",
        quantity_element="CreditedQuantity" if credit else "InvoicedQuantity",
        customization_id=CUSTOMIZATION_ID, profile_id=PROFILE_ID, number=doc.invoice_id,
        issue_date=doc.issue_date.isoformat(), due_date=doc.due_date.isoformat(), currency=doc.currency,
        note=t["intro_reminder"].format(number=doc.invoice_id) if doc.document_type == "reminder" else "",
        buyer_reference=doc.customer.customer_id, period=_period(doc.period), seller=_seller(sender), buyer=buyer,
        payment_means=_payment_means(doc, sender), payment_id=doc.payment_reference,
        taxes=taxes, totals=totals, lines=[_line(line, sign) for line in doc.lines],
    )
    return xml.encode("utf-8")
