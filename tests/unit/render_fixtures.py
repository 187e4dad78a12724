"""Small billing documents and senders for the render tests (built in code, no files)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from config.tenant import load_tenant
from config.tenant import Sender
from omnibill.model import BillingDocument, ConsumptionPoint, InvoiceLine, Party

REPO = Path(__file__).resolve().parents[2]
D = Decimal


def demo_sender() -> Sender:
    """The demo tenant (a Swedish utility) as sender."""
    return load_tenant("demo", REPO / "config" / "tenants").to_sender()


# Senders from the other Nordic countries, with identifiers that pass the national check digits.
FI_SENDER = Sender(name="Pohjolan Vesi Oy", org_number="0112038-9", vat_id="FI01120389", country="FI",
                   street="Mannerheimintie 1", postal_code="00100", city="Helsinki", email="asiakaspalvelu@pv.example",
                   phone="+358 9 123 4567", iban="FI2112345600000785", bic="NDEAFIHH", peppol_id="0216:003701120389")
DK_SENDER = Sender(name="Nordisk Forsyning A/S", org_number="13585628", vat_id="DK13585628", country="DK",
                   street="Vesterbrogade 2", postal_code="1620", city="København V", email="kunde@nf.example",
                   phone="+45 33 12 34 56", iban="DK5000400440116243", bic="DABADKKK", peppol_id="0184:13585628")
NO_SENDER = Sender(name="Fjordkraft Demo AS", org_number="974760673", vat_id="NO974760673MVA", country="NO",
                   street="Karl Johans gate 1", postal_code="0154", city="Oslo", email="kunde@fd.example",
                   phone="+47 22 12 34 56", iban="NO9386011117947", bic="DNBANOKK", peppol_id="0192:974760673")


def party(country: str = "SE", language: str = "sv", name: str = "Åsa Öberg", **extra: object) -> Party:
    """A customer; a person unless customer_type says otherwise."""
    fields: dict[str, object] = {
        "customer_id": "C-1001", "customer_type": "person", "name": name, "country": country,
        "language": language, "street": "Storgatan 5", "postal_code": "123 45", "city": "Sundbyberg",
        "email": "asa@example.org", "mobile": "+46701234567",
    }
    fields.update(extra)
    return Party(**fields)  # type: ignore[arg-type]


def org(country: str, peppol_id: str, language: str, name: str = "Byggbolaget AB") -> Party:
    """An organisation customer reachable over PEPPOL."""
    return party(country=country, language=language, name=name, customer_type="organisation",
                 peppol_id=peppol_id, customer_id=f"K-{country}-77")


def line(no: int, description: str, qty: str, unit: str, price: str, rate: str = "25") -> InvoiceLine:
    """An invoice line whose amount is quantity × price rounded to cents."""
    amount = (D(qty) * D(price)).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    return InvoiceLine(no, description, D(qty), unit, D(price), D(rate), amount)


def doc_from(lines: list[InvoiceLine], customer: Party | None = None, currency: str = "SEK",
             document_type: str = "invoice", invoice_id: str = "1234567", sign: int = 1,
             consumption: tuple[ConsumptionPoint, ...] = ()) -> BillingDocument:
    """A document whose totals agree with its lines (VAT rounded per rate); sign=-1 books it negative."""
    if sign == -1:
        lines = [replace(ln, quantity=-ln.quantity, line_amount=-ln.line_amount) for ln in lines]
    excl = sum((ln.line_amount for ln in lines), D(0))
    rates: dict[Decimal, Decimal] = {}
    for ln in lines:
        rates[ln.vat_rate] = rates.get(ln.vat_rate, D(0)) + ln.line_amount
    vat = sum(((b * r / 100).quantize(D("0.01"), rounding=ROUND_HALF_UP) for r, b in rates.items()), D(0))
    return BillingDocument(
        document_id=f"doc-{invoice_id}", invoice_id=invoice_id, document_type=document_type,  # type: ignore[arg-type]
        period="2026-10", issue_date=date(2026, 11, 3), due_date=date(2026, 12, 1), currency=currency,
        total_excl_vat=excl, vat_amount=vat, total_incl_vat=excl + vat, payment_reference="1234567890123",
        customer=customer or party(), lines=tuple(lines), consumption=consumption)


def utility_lines() -> list[InvoiceLine]:
    """A typical month of electricity: energy, grid fee, energy tax, a fixed fee."""
    return [line(1, "Elenergi oktober 2026", "843.250", "kWh", "1.2345"),
            line(2, "Elnät, överföring", "843.250", "kWh", "0.2875"),
            line(3, "Energiskatt", "843.250", "kWh", "0.4280"),
            line(4, "Fast avgift", "1", "month", "49.00")]


def consumption_year() -> tuple[ConsumptionPoint, ...]:
    """Twelve months of consumption for the chart."""
    values = [1210, 1100, 980, 760, 540, 410, 380, 395, 520, 690, 843, 1020]
    return tuple(ConsumptionPoint(f"{2025 + (m + 10) // 12}-{(m + 10) % 12 + 1:02d}", D(v), "kWh")
                 for m, v in enumerate(values))


def sample_invoice(**kw: object) -> BillingDocument:
    """A Swedish household invoice with the consumption chart."""
    return doc_from(utility_lines(), consumption=consumption_year(), **kw)  # type: ignore[arg-type]
