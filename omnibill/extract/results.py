"""What reading an extract yields: the usable records, the quarantine, and the table contracts."""

from __future__ import annotations

from dataclasses import dataclass, field

from omnibill.model import BillingDocument, Party


class ExtractError(Exception):
    """The extract cannot be read at all: a required table or column is missing, or a file is unreadable."""


@dataclass
class QuarantineEntry:
    """One row the run cannot use, with a reason that never repeats personal data.

    `row_number` is 1-based: for CSV the record number counting the header as 1 (a quoted value
    spanning lines counts once); for JSONL the line number; for parquet the record number.
    """

    table: str
    file: str
    row_number: int
    record_key: str | None
    customer_id: str | None
    field: str | None
    reason: str
    raw: dict


@dataclass
class ValidatedExtract:
    """The valid customers and documents of one extract, next to everything quarantined."""

    customers: dict[str, Party]
    documents: list[BillingDocument]
    consents: dict[str, dict[str, dict[str, dict]]]
    quarantine: list[QuarantineEntry]
    invoice_rows: int
    extra_columns: dict[str, list[str]]
    service_messages: list[dict] = field(default_factory=list)
    customer_extras: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """A table of the contract: its required columns and the optional ones the run knows."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    mandatory: bool = False

    @property
    def known(self) -> tuple[str, ...]:
        """Every column the run reads, required first."""
        return self.required + self.optional


TABLES: dict[str, TableSpec] = {
    "customers": TableSpec(
        "customers", ("customer_id", "customer_type", "name", "country"),
        ("national_id", "language", "email", "mobile", "street", "postal_code", "city", "care_of",
         "peppol_id", "einvoice_address", "einvoice_operator", "digital_mailbox"), mandatory=True),
    "invoices": TableSpec(
        "invoices", ("invoice_id", "customer_id", "document_type", "issue_date", "due_date", "currency",
                     "total_excl_vat", "vat_amount", "total_incl_vat", "period"),
        ("payment_reference",), mandatory=True),
    "invoice_lines": TableSpec(
        "invoice_lines", ("invoice_id", "line_no", "description", "quantity", "unit_price", "vat_rate",
                          "line_amount"), ("unit",), mandatory=True),
    "preferences": TableSpec(
        "preferences", ("customer_id", "category", "channel", "status", "recorded_at"), ("source",)),
    "consumption": TableSpec("consumption", ("customer_id", "month", "quantity"), ("unit",)),
    "messages": TableSpec(
        "messages", ("message_id", "customer_id", "category", "subject", "body_markdown")),
}
