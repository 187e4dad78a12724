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
    return {record["customer_id"]: Party(**record) for record in rows.to_dict("records")}


def build_lines(frame: pd.DataFrame, good: pd.Series) -> dict[str, tuple[InvoiceLine, ...]]:
    """Valid lines per invoice id, ordered by line number."""
    rows = frame.loc[good].sort_values(["invoice_id", "_line_no"], kind="stable")
    lines: dict[str, list[InvoiceLine]] = {}
    for invoice_id, no, text, quantity, unit, price, rate, amount in zip(
            rows["invoice_id"], rows["_line_no"], rows["description"], rows["quantity"], rows["unit"],
            rows["unit_price"], rows["vat_rate"], rows["line_amount"]):
        line = InvoiceLine(int(no), text, Decimal(quantity), unit, Decimal(price), Decimal(rate), Decimal(amount))
        lines.setdefault(invoice_id, []).append(line)
    return {invoice_id: tuple(found) for invoice_id, found in lines.items()}


def build_documents(frame: pd.DataFrame, good: pd.Series, parties: dict[str, Party],
                    lines: dict[str, tuple[InvoiceLine, ...]],
                    consumption: dict[str, tuple[ConsumptionPoint, ...]],
                    tenant: str, period: str) -> list[BillingDocument]:
    """Valid documents sorted by invoice id; a missing payment reference is created from the id."""
    rows = frame.loc[good].sort_values("invoice_id", kind="stable")
    documents = []
    for row in rows[["invoice_id", "customer_id", "document_type", "issue_date", "due_date", "currency",
                     "total_excl_vat", "vat_amount", "total_incl_vat", "payment_reference"]].itertuples(index=False):
        reference = row.payment_reference or make_reference(row.currency, row.invoice_id)
        documents.append(BillingDocument(
            document_id=document_key(tenant, period, row.invoice_id), invoice_id=row.invoice_id,
            document_type=row.document_type, period=period, issue_date=date.fromisoformat(row.issue_date),
            due_date=date.fromisoformat(row.due_date), currency=row.currency,
            total_excl_vat=Decimal(row.total_excl_vat), vat_amount=Decimal(row.vat_amount),
            total_incl_vat=Decimal(row.total_incl_vat), payment_reference=reference,
            customer=parties[row.customer_id], lines=lines[row.invoice_id],
            consumption=consumption.get(row.customer_id, ())))
    return documents
