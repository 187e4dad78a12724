"""What the portal does in the ledger for a recipient: their document, its history, opens and choices.

Plain functions over the ledger and the tenant rules; the web app (app.py) only wires requests to them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from config.tenant import TenantRules
from omnibill.decide.choices import merge_choices
from omnibill.decide.frames import customers_frame
from omnibill.decide.reachability import reach_frame
from omnibill.ledger.codec import document_from_row, party_from_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun, Customer, Document, Message
from omnibill.ledger.portal import (SENT, add_preferences, customer_documents, document_behind_link,
                                    latest_preferences, mark_opened, messages_to_customer)
from omnibill.model import MESSAGE_CATEGORIES, BillingDocument

CATEGORIES = ("invoice", "reminder", "service", "marketing")  # what a recipient chooses for (credit notes go as invoices)
# Fetchers that open links to show a preview (mail, chat and social apps): not a person reading.
PREVIEW_AGENTS = ("facebookexternalhit", "facebot", "slackbot", "slack-imgproxy", "twitterbot", "whatsapp",
                  "telegrambot", "linkedinbot", "discordbot", "skypeuripreview", "googleimageproxy",
                  "microsoft office", "ms-office", "outlook", "bingpreview", "bingbot", "googlebot", "applebot",
                  "yahoo! slurp", "pinterest", "embedly", "iframely", "vkshare", "redditbot", "mattermost",
                  "python-requests", "python-httpx", "curl/", "wget/", "go-http-client", "okhttp")


@dataclass
class Opened:
    """A document behind a link, as the portal shows it."""

    document: BillingDocument
    row: Document
    customer: Customer
    run: BillingRun
    messages: list[Message] = field(default_factory=list)
    history: list[Document] = field(default_factory=list)


def is_person_reading(method: str, user_agent: str | None) -> bool:
    """A real open: a GET by a browser, not a HEAD and not a link-preview fetcher."""
    agent = (user_agent or "").lower()
    return method == "GET" and agent.startswith("mozilla/") and not any(p in agent for p in PREVIEW_AGENTS)


def client_hash(secret: bytes, address: str | None) -> str:
    """A client address as a keyed hash: kept with a choice, never the address itself."""
    return hmac.new(secret, f"client\x1f{address or ''}".encode(), hashlib.sha256).hexdigest()[:32]


def find(ledger: Ledger, document_id: str) -> Opened | None:
    """The document behind a link, with what was sent to its recipient and their earlier documents."""
    # A read session: on SQLite it takes no write lock, so a page never waits for a run that is writing.
    with ledger.read() as session:
        found = document_behind_link(session, document_id)
        if found is None:
            return None
        row, customer, run = found
        history = customer_documents(session, run.tenant, row.customer_id)
        messages = messages_to_customer(session, [d.id for d in history] + [row.id])
    party = party_from_json(customer.data)
    doc = None if row.document_type in MESSAGE_CATEGORIES else document_from_row(row, party)
    return Opened(doc, row, customer, run, messages, [d for d in history if d.id != row.id])


def unopened(opened: Opened) -> bool:
    """Whether a sent message of this document still waits for its first open (else there is nothing to write)."""
    return any(m.document_id == opened.row.id and m.kind == "primary" and m.state in SENT and m.opened_at is None
               for m in opened.messages)


def record_open(ledger: Ledger, document_id: str, at: datetime | None = None) -> int:
    """Mark the document's sent messages opened (the first open only)."""
    with ledger.transaction() as session:
        return mark_opened(session, document_id, at or datetime.now(timezone.utc))


class OpenRecorder:
    """Writes first opens from one background thread, many per transaction: a page never waits for the write lock.

    While a run writes (on SQLite the ledger has one writer at a time) a page that waited to record its open
    would wait for the run's next commit; here the page only queues it. `flush` waits until all queued opens
    are stored (at shutdown, and in tests); when the queue is full an open is written on the spot.
    """

    def __init__(self, ledger: Callable[[], Ledger], *, batch: int = 500, pending: int = 10_000):
        self._ledger, self._batch = ledger, batch
        self._queue: queue.Queue[tuple[str, datetime]] = queue.Queue(maxsize=pending)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(self, document_id: str, at: datetime | None = None) -> None:
        """Queue the first open of a document (now, unless `at`)."""
        item = (document_id, at or datetime.now(timezone.utc))
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            record_open(self._ledger(), *item)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write, name="portal-opens", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Wait until every queued open is in the ledger."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()

    def _write(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self._ledger().transaction() as session:
                    for document_id, at in items:
                        mark_opened(session, document_id, at)
            except Exception:  # noqa: BLE001  (an open is not worth the thread: log it and go on)
                logging.getLogger("omnibill.portal").exception("could not record %d open(s)", len(items))
            finally:
                for _ in items:
                    self._queue.task_done()


def offered_channels(rules: TenantRules, customer_data: dict[str, Any]) -> dict[str, list[str]]:
    """Per category, the channels of the tenant's chain this recipient can be reached in."""
    reach = reach_frame(customers_frame([customer_data]), b"").iloc[0]
    kind = "organisation_chain" if customer_data.get("customer_type") == "organisation" else "person_chain"
    offered: dict[str, list[str]] = {}
    for category in CATEGORIES:
        wanted = rules.categories.get(category)
        if wanted is not None:
            offered[category] = [c for c in getattr(wanted, kind) if not reach[f"why_{c}"]]
    return offered


def current_choices(ledger: Ledger, tenant: str, customer: Customer, offered: dict[str, list[str]]) -> dict[str, str]:
    """Per category, the channel the recipient last opted in to among those offered ("" when none)."""
    with ledger.read() as session:
        portal = latest_preferences(session, tenant, [customer.customer_id]).get(customer.customer_id)
    merged = merge_choices(customer.consents, portal)
    chosen: dict[str, str] = {}
    for category, channels in offered.items():
        opted = [(str(v.get("recorded_at")), ch) for ch, v in (merged.get(category) or {}).items()
                 if v.get("status") == "opt_in" and ch in channels]
        chosen[category] = max(opted)[1] if opted else ""
    return chosen


def save_choices(ledger: Ledger, tenant: str, customer_id: str, picked: dict[str, str],
                 offered: dict[str, list[str]], who: str, *, source: str = "portal",
                 at: datetime | None = None) -> int:
    """Store the recipient's pick per category: opt in to the chosen channel, out of the others offered.

    An empty pick for marketing opts out of every channel. Returns how many choices were stored.
    """
    at = at or datetime.now(timezone.utc)
    rows = []
    for category, channel in picked.items():
        if category not in offered or (channel and channel not in offered[category]):
            continue
        if not channel and category != "marketing":  # only marketing can be declined in every channel
            continue
        for each in offered[category]:
            rows.append({"tenant": tenant, "customer_id": customer_id, "category": category, "channel": each,
                         "status": "opt_in" if each == channel else "opt_out", "source": source,
                         "recorded_at": at, "client_hash": who})
    with ledger.transaction() as session:
        add_preferences(session, rows)
    return len(rows)


def unsubscribe(ledger: Ledger, rules: TenantRules, tenant: str, customer_id: str, who: str,
                at: datetime | None = None) -> int:
    """One-click unsubscribe: opt out of marketing in every channel at once (repeating it changes nothing)."""
    marketing = rules.categories.get("marketing")
    channels = sorted(set(marketing.person_chain) | set(marketing.organisation_chain)) if marketing else []
    return save_choices(ledger, tenant, customer_id, {"marketing": ""}, {"marketing": channels}, who,
                        source="unsubscribe", at=at)


def link_day(today: date | None = None) -> date:
    """Today, for link expiry."""
    return today or datetime.now(timezone.utc).date()
