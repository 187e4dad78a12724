"""The archive: every billing document sent, as PDF/A-3b with its e-invoice XML, kept for the tenant's years.

Idempotent: a document whose object is already in the archive store is recorded, never written again (with
S3 Object Lock it could not be overwritten anyway). A document that cannot be archived is logged by its
ledger id (no personal data) and tried again by the next run; the others go on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import quote

from config.tenant import TenantRules
from omnibill.archive.check import pdfa_problems
from omnibill.archive.pdfa import to_pdfa3
from omnibill.ledger.archive import documents_to_archive, record_archived
from omnibill.ledger.codec import document_from_row, party_from_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.model import BillingDocument
from omnibill.store import ObjectStore
from omnibill.workers import each_chunk

log = logging.getLogger(__name__)
CHUNK = 50  # documents per ledger write: a crash loses at most this many records (the objects are found again)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class NotArchivable(ValueError):
    """A document whose archival PDF cannot be made (what is missing or wrong, without personal data)."""


@dataclass(frozen=True)
class ArchivalCopy:
    """One document's archival PDF, with what the archive store and the ledger keep beside it."""

    key: str
    data: bytes
    metadata: dict[str, str]
    retain_until: datetime
    einvoice: bool
    message_id: str | None
    rendered: bool  # no PDF was sent (e-invoice, SMS): rendered for the archive


def retain_until(issue_date: date, years: int) -> datetime:
    """The end of the retention: `years` whole years after the end of the issue date's calendar year."""
    return datetime(issue_date.year + 1 + years, 1, 1, tzinfo=timezone.utc)


def file_name(invoice_id: str) -> str:
    """An invoice's archival PDF's file name: its id, with what a path or a shell would misread replaced."""
    return f"{_UNSAFE.sub('_', invoice_id).strip('.') or 'document'}.pdf"


def archive_key(run: BillingRun | RunPlace, document_id: str, invoice_id: str) -> str:
    """Where a document's archival PDF lives: `<tenant>/<period>/<document id>/<invoice id>.pdf`."""
    return f"{run.tenant}/{run.period}/{document_id}/{file_name(invoice_id)}"


class RunPlace(NamedTuple):
    """Which run a document belongs to, as far as the archive needs it (travels to worker processes)."""

    id: str
    tenant: str
    period: str


@dataclass(frozen=True)
class ToArchive:
    """One sent document, with the ids and contents of its sent messages (primary first)."""

    document: BillingDocument
    messages: tuple[tuple[str, dict[str, str]], ...]


def archive_run(ledger: Ledger, run: BillingRun, store: ObjectStore, archive_store: ObjectStore,
                rules: TenantRules, batch_no: int | None = None, workers: int = 1) -> Counter:
    """Archive every sent, not yet archived billing document of a run (one batch when given).

    With `workers` above 1 the copies are made in the process pool of the run's CPU-bound work, CHUNK
    documents per task, and recorded in the ledger chunk by chunk as they come back.
    Counts: `archived` (written), `found` (already in the archive store, now recorded), `rendered` (of the
    archived, those sent without a PDF), `failed`.
    """
    with ledger.read() as session:
        todo = [ToArchive(document_from_row(d, party_from_json(c.data)),
                          tuple((m.id, dict(m.content or {})) for m in sent))
                for d, c, sent in documents_to_archive(session, run.id, batch_no)]
    place = RunPlace(run.id, run.tenant, run.period)
    parts = [todo[start:start + CHUNK] for start in range(0, len(todo), CHUNK)]
    counts: Counter = Counter()
    for rows, chunk_counts in each_chunk(archive_chunk, parts, place, store, archive_store, rules, workers=workers):
        counts.update(chunk_counts)
        with ledger.transaction() as session:
            record_archived(session, rows)
    return counts


def archive_chunk(items: list[ToArchive], run: RunPlace, store: ObjectStore, archive_store: ObjectStore,
                  rules: TenantRules) -> tuple[list[dict[str, Any]], Counter]:
    """Archival copies of some documents put in the archive store: the ledger rows to record, and the counts."""
    counts: Counter = Counter()
    rows = [row for item in items if (row := _archive_one(run, item, store, archive_store, rules, counts))]
    return rows, counts


def _archive_one(run: RunPlace, item: ToArchive, store: ObjectStore, archive_store: ObjectStore,
                 rules: TenantRules, counts: Counter) -> dict[str, Any] | None:
    document = item.document
    key = archive_key(run, document.document_id, document.invoice_id)
    try:
        if archive_store.exists(key):
            data, locked = archive_store.get(key), _locked(archive_store)
            copy = None
            counts["found"] += 1
        else:
            copy = archival_copy(run, item, store, rules)
            archive_store.put(key, copy.data, "application/pdf", metadata=copy.metadata,
                              retain_until=copy.retain_until)
            data, locked = copy.data, _locked(archive_store)
            counts["archived"] += 1
            counts["rendered"] += copy.rendered
    except Exception as exc:  # noqa: BLE001 - one document must not stop the archive of the others
        log.warning("archive: document %s not archived: %s: %s", document.document_id, type(exc).__name__, exc)
        counts["failed"] += 1
        return None
    sent = [message_id for message_id, _ in item.messages]
    return {"document_id": document.document_id, "run_id": run.id, "tenant": run.tenant,
            "invoice_id": document.invoice_id,
            "message_id": copy.message_id if copy else (sent[0] if sent else None), "key": key,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "einvoice": copy.einvoice if copy else any("ubl" in content for _, content in item.messages),
            "retain_until": retain_until(document.issue_date, rules.archive_years), "object_lock": locked,
            "archived_at": datetime.now(timezone.utc)}


def archival_copy(run: RunPlace, item: ToArchive, store: ObjectStore, rules: TenantRules) -> ArchivalCopy:
    """The PDF/A-3b of a sent document: its sent PDF (or one rendered now) with its e-invoice XML embedded."""
    from omnibill.render import render_pdf
    from omnibill.render.texts import texts_for

    document, party = item.document, item.document.customer
    sender = rules.to_sender(party.country)
    pdf_message = next(((i, c) for i, c in item.messages if "pdf" in c), None)
    xml_message = next(((i, c) for i, c in item.messages if "ubl" in c), None)
    pdf = store.get(pdf_message[1]["pdf"]) if pdf_message is not None else render_pdf(document, sender)
    attachment = None
    if xml_message is not None:
        xml_key = xml_message[1]["ubl"]
        attachment = (xml_key.rsplit("/", 1)[-1], store.get(xml_key), "application/xml")
    title = f"{texts_for(party.language).get(document.document_type, document.document_type)} {document.invoice_id}"
    data = to_pdfa3(pdf, title, sender.name, document.issue_date, attachment)
    if problems := pdfa_problems(data):
        raise NotArchivable("not PDF/A-3b: " + "; ".join(problems))
    until = retain_until(document.issue_date, rules.archive_years)
    meta = {"tenant": quote(run.tenant), "period": run.period, "document-id": document.document_id,
            "invoice-id": quote(document.invoice_id), "document-type": document.document_type,
            "issue-date": document.issue_date.isoformat(), "retention-years": str(rules.archive_years),
            "sha256": hashlib.sha256(data).hexdigest(), "einvoice": "yes" if attachment else "no"}
    return ArchivalCopy(archive_key(run, document.document_id, document.invoice_id), data, meta, until,
                        attachment is not None, (pdf_message or xml_message or item.messages[0])[0],
                        pdf_message is None)


def _locked(archive_store: ObjectStore) -> bool:
    """Whether the store locks what it keeps (S3 with Object Lock); a folder does not."""
    return bool(getattr(archive_store, "object_lock", False))


class AmbiguousInvoice(LookupError):
    """An invoice id archived in more than one period: the period must be given."""


def fetch_archived(ledger: Ledger, archive_store: ObjectStore, tenant: str, invoice_id: str,
                   period: str | None = None) -> tuple[Any, str, bytes]:
    """An archived document (ledger record, period, PDF bytes), checked against the hash recorded when stored."""
    from omnibill.ledger.archive import archived_copies

    with ledger.read() as session:
        found = archived_copies(session, tenant, invoice_id, period)
    if not found:
        where = f" in {period}" if period else ""
        raise LookupError(f"invoice {invoice_id!r} of tenant {tenant!r} is not in the archive{where}")
    if len(found) > 1:
        raise AmbiguousInvoice(f"invoice {invoice_id!r} of tenant {tenant!r} is archived in periods "
                               f"{', '.join(p for _, p in found)}: give one with --period")
    record, at = found[0]
    data = archive_store.get(record.key)
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise NotArchivable(f"the archived object {record.key} differs from what was stored (sha256 mismatch)")
    return record, at, data
