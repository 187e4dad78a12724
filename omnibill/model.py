"""Plain domain values shared by every stage: what a billing document is, independent of storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

DocumentType = Literal["invoice", "credit_note", "reminder"]
PERIOD_PATTERN = r"\d{4}-(?:0[1-9]|1[0-2])"  # a billing period, YYYY-MM
MESSAGE_CATEGORIES = ("marketing", "service")  # the extract's non-billing messages, stored as documents of these types
LANGUAGES = ("sv", "fi", "da", "nb", "en")
COUNTRY_LANGUAGE = {"SE": "sv", "FI": "fi", "DK": "da", "NO": "nb"}

_NAMESPACE = uuid.UUID("6f1c3d2e-9b7a-4c55-8e21-0d4f5a6b7c8d")


def stable_id(*facts: str) -> str:
    """A deterministic id from stable facts (never time or randomness): same facts, same id."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(facts)).hex


def document_key(tenant: str, period: str, invoice_id: str) -> str:
    """The ledger id of one ERP document in one tenant's period."""
    return stable_id("document", tenant, period, invoice_id)


def message_key(tenant: str, period: str, invoice_id: str, channel: str) -> str:
    """The ledger id of one document sent in one channel."""
    return stable_id("message", tenant, period, invoice_id, channel)


@dataclass(frozen=True)
class Party:
    """A customer as the ERP extract describes it (contact data is personal data)."""

    customer_id: str
    customer_type: Literal["person", "organisation"]
    name: str
    country: str
    language: str
    national_id: str | None = None
    email: str | None = None
    mobile: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    care_of: str | None = None
    peppol_id: str | None = None
    einvoice_address: str | None = None
    einvoice_operator: str | None = None
    digital_mailbox: str | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """One line of a document; amounts exclusive of VAT."""

    line_no: int
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal
    line_amount: Decimal


@dataclass(frozen=True)
class ConsumptionPoint:
    """One month of metered consumption, for the chart."""

    month: str
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class BillingDocument:
    """One ERP document (invoice, credit note, reminder) with its customer and lines."""

    document_id: str
    invoice_id: str
    document_type: DocumentType
    period: str
    issue_date: date
    due_date: date
    currency: str
    total_excl_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal
    payment_reference: str
    customer: Party
    lines: tuple[InvoiceLine, ...]
    consumption: tuple[ConsumptionPoint, ...] = ()
    token: str = ""  # the signed token of this document's links (omnibill.links), set by the render stage
