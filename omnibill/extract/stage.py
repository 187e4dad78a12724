"""Extract stage: read and validate the ERP extract, store its customers, documents and quarantine in the ledger."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy.orm import Session

from config.settings import S3Settings
from omnibill.extract import check_period, read_extract, validate_tables
from omnibill.extract.partitions import customer_ids, partition_count, split_extract
from omnibill.extract.results import ValidatedExtract
from omnibill.ledger.codec import document_payload, party_to_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun, Customer, Document, QuarantinedRow
from omnibill.ledger.repository import batch_numbers, insert_ignore
from omnibill.ledger.runs import open_run, run_by_id
from omnibill.model import stable_id
from omnibill.privacy import scrub
from omnibill.store import open_store


ROWS_AT_ONCE = 5_000
PARTITION_CUSTOMERS = 5_000
_COUNTS = ("invoice_rows", "documents", "quarantined_rows", "quarantined_invoices")  # summed over partitions


@dataclass(frozen=True)
class IngestSummary:
    """What the extract stage stored."""

    invoice_rows: int
    documents: int
    quarantined_rows: int
    quarantined_invoices: int
    batches: list[int]


def run_extract(ledger: Ledger, tenant: str, period: str, source: str, *, batch_size: int,
                s3: S3Settings | None = None, partition_customers: int = PARTITION_CUSTOMERS) -> IngestSummary:
    """The extract stage: read and validate the extract, then store it in the run of the tenant's period.

    An extract of more than `partition_customers` customers is split by customer into partitions on disk, and each
    is validated and stored in a transaction of its own (`partitions.py`): memory holds one partition, however
    large the extract. A smaller one is read, validated and stored whole.
    """
    check_period(period)
    with ledger.transaction() as session:  # the run row on its own: its hold's heartbeat must not wait for the rows
        run = open_run(session, tenant, period, source)
    store = open_store(source, s3)
    with TemporaryDirectory(prefix="omnibill-extract-") as folder:
        known = customer_ids(store, source, Path(folder))
        parts = partition_count(len(known), partition_customers)
        if parts == 1:
            extract = read_extract(source, tenant, period, s3=s3)
            with ledger.transaction() as session:
                return store_extract(session, run, extract, batch_size)
        split = split_extract(store, source, Path(folder), parts)
        quarantined = split.quarantined_customers()
        stored, first = [], 0
        for number in range(parts):
            extract = validate_tables(split.partition(number), tenant, period, known_customers=known,
                                      quarantined=quarantined)
            with ledger.transaction() as session:
                stored.append(store_rows(session, run, extract, batch_size, first=first))
            first += len(extract.documents) + len(extract.service_messages)
            del extract
    with ledger.transaction() as session:
        batches = batch_numbers(session, run.id)
    return IngestSummary(*(sum(getattr(s, f) for s in stored) for f in _COUNTS), batches=batches)


def store_extract(session: Session, run: BillingRun | str, extract: ValidatedExtract,
                  batch_size: int) -> IngestSummary:
    """Store an extract in the ledger; rows already stored by an earlier execution are kept as they are."""
    stored = store_rows(session, run, extract, batch_size)
    return replace(stored, batches=batch_numbers(session, run if isinstance(run, str) else run.id))


def store_rows(session: Session, run: BillingRun | str, extract: ValidatedExtract, batch_size: int, *,
               first: int = 0) -> IngestSummary:
    """Store an extract's (or a partition's) rows, its batches left out of the summary: the run's batches are
    asked once, after its last partition, not after each.

    Documents, then service messages, fill batches of `batch_size` in order from position `first` in the run
    (the position after the previous partition's when an extract is stored a partition at a time).
    """
    run_id = run if isinstance(run, str) else run.id
    # Extra customer columns (e.g. `do_not_contact`) ride along in the customer's data for the decide
    # stage, once the extract hands their values over as `customer_extras` {customer_id: {column: value}}.
    extras = getattr(extract, "customer_extras", None) or {}
    # Rows are built ROWS_AT_ONCE at a time: the extract's values and all of their rows are never in memory together.
    customers = list(extract.customers.items())
    for start in range(0, len(customers), ROWS_AT_ONCE):
        insert_ignore(session, Customer, [
            {"id": stable_id("customer", run_id, cid), "run_id": run_id, "customer_id": cid,
             "data": extras.get(cid, {}) | party_to_json(party), "consents": extract.consents.get(cid, {})}
            for cid, party in customers[start:start + ROWS_AT_ONCE]])
    for start in range(0, len(extract.documents), ROWS_AT_ONCE):
        insert_ignore(session, Document, [
            _document_row(run_id, i // batch_size, doc)
            for i, doc in enumerate(extract.documents[start:start + ROWS_AT_ONCE], start=first + start)])
    # Service and marketing messages follow the documents in the same batches, as documents of their category.
    period = run.period if isinstance(run, BillingRun) else run_by_id(session, run_id).period
    first_day = date.fromisoformat(period + "-01")
    after = first + len(extract.documents)
    insert_ignore(session, Document, [_message_row(run_id, (after + j) // batch_size, m, first_day)
                                      for j, m in enumerate(extract.service_messages)])
    insert_ignore(session, QuarantinedRow, [
        {"id": stable_id("quarantine", run_id, q.table, q.file, str(q.row_number), q.field or ""),
         "run_id": run_id, "table_name": q.table, "file": q.file, "row_number": q.row_number,
         "record_key": q.record_key, "customer_id": q.customer_id, "field": q.field,
         "reason": scrub(q.reason), "raw": q.raw}
        for q in extract.quarantine])
    session.flush()
    return IngestSummary(
        invoice_rows=extract.invoice_rows, documents=len(extract.documents),
        quarantined_rows=len(extract.quarantine),
        quarantined_invoices=sum(1 for q in extract.quarantine if q.table == "invoices"), batches=[])


def _message_row(run_id: str, batch_no: int, message: dict, first_day: date) -> dict:
    return {
        "id": stable_id("message-document", run_id, message["message_id"]), "run_id": run_id,
        "invoice_id": message["message_id"], "customer_id": message["customer_id"],
        "document_type": message["category"], "currency": "", "total_excl_vat": 0, "vat_amount": 0,
        "total_incl_vat": 0, "issue_date": first_day, "due_date": first_day, "payment_reference": "",
        "batch_no": batch_no, "data": {"subject": message["subject"], "body_markdown": message["body_markdown"],
                                       "period": first_day.strftime("%Y-%m")},
    }


def _document_row(run_id: str, batch_no: int, doc) -> dict:
    return {
        "id": doc.document_id, "run_id": run_id, "invoice_id": doc.invoice_id, "customer_id": doc.customer.customer_id,
        "document_type": doc.document_type, "currency": doc.currency, "total_excl_vat": doc.total_excl_vat,
        "vat_amount": doc.vat_amount, "total_incl_vat": doc.total_incl_vat, "issue_date": doc.issue_date,
        "due_date": doc.due_date, "payment_reference": doc.payment_reference, "batch_no": batch_no,
        "data": document_payload(doc) | {"period": doc.period},
    }
