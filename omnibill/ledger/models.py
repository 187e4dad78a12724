"""SQLAlchemy 2 typed models of the ledger."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(18, 2)


def utcnow() -> datetime:
    """Timezone-aware now, for audit columns."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class BillingRun(Base):
    """One tenant's billing of one period; reruns of the same period reuse it."""

    __tablename__ = "billing_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running")
    executions: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who runs this period now: one run (or rerun, or release) of a tenant's period at a time, whatever
    # Prefect's limits say. A holder that died loses the run when `held_until` passes.
    holder: Mapped[str | None] = mapped_column(String(128))
    held_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Proof and release (tenant rule `release = "manual"`): awaiting, approved or rejected; by whom, why, when;
    # the paused flow run and the Prefect API it waits on (so `omnibill release` can resume it).
    release_state: Mapped[str | None] = mapped_column(String(16))
    release_by: Mapped[str | None] = mapped_column(String(128))
    release_comment: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    release_flow_run: Mapped[str | None] = mapped_column(String(64))
    release_api_url: Mapped[str | None] = mapped_column(String(256))
    __table_args__ = (Index("ux_billing_runs_tenant_period", "tenant", "period", unique=True),)


class Customer(Base):
    """A customer as extracted for a run, with contact data and latest consents."""

    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    consents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Documents join their customer on (run, ERP id) in every stage: without this, a quadratic scan.
    __table_args__ = (Index("ux_customers_run_customer", "run_id", "customer_id", unique=True),)


class Document(Base):
    """One ERP document to deliver; its decision says which channel and why."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(String(128))
    document_type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal] = mapped_column(Money)
    vat_amount: Mapped[Decimal] = mapped_column(Money)
    total_incl_vat: Mapped[Decimal] = mapped_column(Money)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    payment_reference: Mapped[str] = mapped_column(String(64))
    batch_no: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The rules that fired, as JSON text written by the vectorised decide stage (see omnibill/explain.py).
    decision_rules: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_documents_run_batch", "run_id", "batch_no"),
                      Index("ix_documents_customer_run", "customer_id", "run_id"))  # a recipient's history


class Message(Base):
    """One document in one channel: the unit that is rendered, sent and tracked."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"))
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    batch_no: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    reason: Mapped[str | None] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    fallback_of: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    provider_ref: Mapped[str | None] = mapped_column(String(256))
    cost: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("0"))
    kind: Mapped[str] = mapped_column(String(16), default="primary", server_default="primary")
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    address_hash: Mapped[str | None] = mapped_column(String(64))
    # A dispatch claim: who took the message for sending and until when; past the lease another may resend it.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first time the recipient opened the document this message links to (portal, or mailbox read status).
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_messages_run_channel_batch_state", "run_id", "channel", "batch_no", "state"),
                      Index("ix_messages_state_not_before", "state", "not_before"),
                      Index("ix_messages_provider_ref", "provider_ref"))


class Suppression(Base):
    """A contact address that bounced or was unknown, kept only as a keyed hash (HMAC), per tenant and channel."""

    __tablename__ = "suppressions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_suppressions_tenant_hash", "tenant", "address_hash"),)


class Preference(Base):
    """A recipient's choice made outside the ERP (the portal, one-click unsubscribe); the latest row wins.

    Kept per tenant and customer across runs: the next run's decide stage reads it beside the extract's
    preferences, whichever is newer. The client address is kept only as a keyed hash.
    """

    __tablename__ = "preferences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    client_hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_preferences_tenant_customer", "tenant", "customer_id"),)


class MessageEvent(Base):
    """A state transition of a message, with its time and cause."""

    __tablename__ = "message_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DispatchAttempt(Base):
    """One try at handing a message to its provider."""

    __tablename__ = "dispatch_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), default="sending")
    error: Mapped[str | None] = mapped_column(Text)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)


class Receipt(Base):
    """A delivery report from a provider (delivered, bounced, printed)."""

    __tablename__ = "receipts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedPosition(Base):
    """How far a tenant's receipts stage has read a provider's event feed: the next poll goes on from there.

    Saved in the transaction that keeps the events read up to it, so no event is skipped and none is read again.
    """

    __tablename__ = "feed_positions"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ProviderEvent(Base):
    """A delivery report or read status a provider pushed or we polled, kept once per provider event id.

    Applied to its message when the message is in a state it applies to; an event that arrives
    before the dispatcher recorded the send (`sending`) waits here (applied_at empty) and is applied
    by the next receipts stage or callback.
    """

    __tablename__ = "provider_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(160))
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (Index("ux_provider_events_provider_event", "provider", "event_id", unique=True),
                      Index("ix_provider_events_pending", "applied_at"))


class QuarantinedRow(Base):
    """An extract row that could not be used, with where it was and why."""

    __tablename__ = "quarantined_rows"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(32))
    file: Mapped[str] = mapped_column(Text)
    row_number: Mapped[int] = mapped_column(Integer)
    record_key: Mapped[str | None] = mapped_column(String(256))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    field: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Payment(Base):
    """A payment a bank or provider reported for a tenant, kept once per (source, event id).

    Matched to the document with its payment reference among the tenant's runs (`document_id`), or kept
    unmatched with the reason (`status` "unmatched") so that nothing a bank reported is lost.
    """

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(160))
    reference: Mapped[str] = mapped_column(String(64))  # compacted: no spaces, upper case
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # matched, unmatched
    reason: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ux_payments_source_event", "source", "event_id", unique=True),
                      Index("ix_payments_tenant_reference", "tenant", "reference"))


class ArchivedDocument(Base):
    """A sent document's PDF/A-3b in the archive store: where, its hash, and until when it is kept."""

    __tablename__ = "archived_documents"
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    invoice_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(32))  # the sent message whose PDF was archived
    key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    einvoice: Mapped[bool] = mapped_column(Boolean, default=False)  # the e-invoice XML is embedded
    retain_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    object_lock: Mapped[bool] = mapped_column(Boolean, default=False)  # S3 Object Lock (compliance) holds it
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_archived_documents_tenant_invoice", "tenant", "invoice_id"),)
