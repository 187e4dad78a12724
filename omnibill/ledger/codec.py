"""Turn domain values into ledger JSON and back (Decimals and dates as strings)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any

from omnibill.model import BillingDocument, ConsumptionPoint, InvoiceLine, Party


_PARTY_FIELDS = tuple(f.name for f in fields(Party))
_LINE_FIELDS = tuple(f.name for f in fields(InvoiceLine))


def party_to_json(party: Party) -> dict[str, Any]:
    """A customer as a JSON object (its fields are flat: no deep copy as `dataclasses.asdict` makes)."""
    return {name: getattr(party, name) for name in _PARTY_FIELDS}


def party_from_json(data: dict[str, Any]) -> Party:
    """A customer from its JSON object (unknown keys ignored)."""
    names = {f.name for f in fields(Party)}
    return Party(**{k: v for k, v in data.items() if k in names})


def document_payload(doc: BillingDocument) -> dict[str, Any]:
    """The parts of a document the ledger keeps as JSON: lines and consumption."""
    return {
        "lines": [_line_json(line) for line in doc.lines],
        "consumption": [{"month": c.month, "quantity": str(c.quantity), "unit": c.unit} for c in doc.consumption],
    }


def _line_json(line: InvoiceLine) -> dict[str, Any]:
    values = ((name, getattr(line, name)) for name in _LINE_FIELDS)
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in values}


def document_from_row(row: Any, customer: Party) -> BillingDocument:
    """Rebuild a BillingDocument from a ledger `Document` row and its customer."""
    lines = tuple(
        InvoiceLine(line_no=int(x["line_no"]), description=x["description"], quantity=Decimal(x["quantity"]),
                    unit=x["unit"], unit_price=Decimal(x["unit_price"]), vat_rate=Decimal(x["vat_rate"]),
                    line_amount=Decimal(x["line_amount"]))
        for x in row.data.get("lines", [])
    )
    consumption = tuple(ConsumptionPoint(month=c["month"], quantity=Decimal(c["quantity"]), unit=c["unit"])
                        for c in row.data.get("consumption", []))
    return BillingDocument(
        document_id=row.id, invoice_id=row.invoice_id, document_type=row.document_type,
        period=row.data.get("period", ""), issue_date=_as_date(row.issue_date), due_date=_as_date(row.due_date),
        currency=row.currency, total_excl_vat=Decimal(row.total_excl_vat), vat_amount=Decimal(row.vat_amount),
        total_incl_vat=Decimal(row.total_incl_vat), payment_reference=row.payment_reference,
        customer=customer, lines=lines, consumption=consumption,
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
