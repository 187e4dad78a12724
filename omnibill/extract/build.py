"""Turning validated rows into domain values: parties, lines and billing documents."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal

import pandas as pd

from omnibill.model import COUNTRY_LANGUAGE, BillingDocument, ConsumptionPoint, InvoiceLine, Party, document_key
from omnibill.payments import make_reference

_PARTY_COLUMNS = [f.name for f in fields(Party)]
_REQUIRED_PARTY = ("customer_id", "customer_type", "name", "country", "language")


def build_parties(frame: pd.DataFrame, good: pd.Series) -> dict[str, Party]:
    """Valid customers by id; a missing language becomes the country's (English elsewhere)."""
    rows = frame.loc[good, _PARTY_COLUMNS].astype(object)
    fallback = rows["country"].map(COUNTRY_LANGUAGE).fillna("en")
    rows["language"] = rows["language"].where(rows["language"] != "", fallback)
    optional = [c for c in _PARTY_COLUMNS if c not in _REQUIRED_PARTY]
    rows[optional] = rows[optional].where(rows[optional] != "", None)
    parties = (Party(*values) for values in zip(*(rows[c].tolist() for c in _PARTY_COLUMNS)))
    return {party.customer_id: party for party in parties}


def build_lines(frame: pd.DataFrame, good: pd.Series) -> dict[str, tuple[InvoiceLine, ...]]:
    """Valid lines per invoice id, ordered by line number."""
    rows = frame.loc[good].sort_values(["invoice_id", "_line_no"], kind="stable")
    lines: dict[str, list[InvoiceLine]] = {}
    for invoice_id, no, text, quantity, unit, price, rate, amount in zip(
            *(rows[c].tolist() for c in ("invoice_id", "_line_no", "description", "quantity", "unit", "unit_price",
                                         "vat_rate", "line_amount"))):
        line = InvoiceLine(int(no), text, Decimal(quantity), unit, Decimal(price), Decimal(rate), Decimal(amount))
        lines.setdefault(invoice_id, []).append(line)
    return {invoice_id: tuple(found) for invoice_id, found in lines.items()}


def build_documents(frame: pd.DataFrame, good: pd.Series, parties: dict[str, Party],
                    lines: dict[str, tuple[InvoiceLine, ...]],
                    consumption: dict[str, tuple[ConsumptionPoint, ...]],
                    tenant: str, period: str) -> list[BillingDocument]:
    """Valid documents sorted by invoice id; a missing payment reference is created from the id."""
    rows = frame.loc[good].sort_values("invoice_id", kind="stable")
    columns = ("invoice_id", "customer_id", "document_type", "issue_date", "due_date", "currency",
               "total_excl_vat", "vat_amount", "total_incl_vat", "payment_reference")
    documents = []
    for invoice_id, cid, kind, issued, due, currency, excl, vat, incl, reference in zip(
            *(rows[c].tolist() for c in columns)):
        documents.append(BillingDocument(
            document_id=document_key(tenant, period, invoice_id), invoice_id=invoice_id, document_type=kind,
            period=period, issue_date=date.fromisoformat(issued), due_date=date.fromisoformat(due),
            currency=currency, total_excl_vat=Decimal(excl), vat_amount=Decimal(vat), total_incl_vat=Decimal(incl),
            payment_reference=reference or make_reference(currency, invoice_id), customer=parties[cid],
            lines=lines[invoice_id], consumption=consumption.get(cid, ())))
    return documents
