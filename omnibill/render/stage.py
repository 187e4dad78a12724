"""Render stage: turn a batch's planned messages into stored documents, using every core."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from typing import Any

from config.settings import S3Settings
from omnibill.ledger.codec import document_from_row, party_from_json
from omnibill.render.context import build_view
from omnibill.render.service import (MESSAGE_CATEGORIES, ServiceMessage, render_service_email, render_service_pdf,
                                     render_service_sms)
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.repository import channel_batches, documents_with_customers, messages_in, set_states
from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.links import LinkSigner
from omnibill.store import open_store
from omnibill.workers import each_chunk

CHUNK = 40


def render_outputs(doc: BillingDocument | ServiceMessage, sender: Sender,
                   channels: set[str]) -> dict[str, tuple[str, bytes, str]]:
    """The files a document needs for its channels: {name: (filename, bytes, content type)}."""
    from omnibill import render

    if isinstance(doc, ServiceMessage):
        return service_outputs(doc, sender, channels)
    files: dict[str, tuple[str, bytes, str]] = {}
    view = build_view(doc, sender)  # once per document, shared by the PDF, the e-mail and the HTML page
    if channels & {"print", "email", "mailbox"}:
        files["pdf"] = ("document.pdf", render.render_pdf(doc, sender, view=view), "application/pdf")
    if channels & {"email", "mailbox"}:
        mail = render.render_email(doc, sender, view=view)
        files["subject"] = ("subject.txt", mail.subject.encode(), "text/plain; charset=utf-8")
        if "email" in channels:
            files["html"] = ("email.html", mail.html.encode(), "text/html; charset=utf-8")
            files["text"] = ("email.txt", mail.text.encode(), "text/plain; charset=utf-8")
            files["headers"] = _headers(mail, sender)
    if channels & {"email", "sms"}:  # the page the e-mail's and the SMS's link opens
        files["document"] = ("document.html", render.render_html_document(doc, sender, view=view).encode(), "text/html; charset=utf-8")
    if "sms" in channels:
        files["sms"] = ("sms.txt", render.render_sms(doc, sender).encode(), "text/plain; charset=utf-8")
    if "einvoice" in channels:
        # "ubl" is the content key dispatch attaches as the e-invoice XML, whichever format it holds.
        if doc.customer.customer_type == "person" and doc.customer.einvoice_address:
            files["ubl"] = ("finvoice.xml", render.render_finvoice(doc, sender), "application/xml")
        else:
            files["ubl"] = ("einvoice.xml", render.render_ubl(doc, sender), "application/xml")
    return files


def service_outputs(msg: ServiceMessage, sender: Sender, channels: set[str]) -> dict[str, tuple[str, bytes, str]]:
    """The files of a service or marketing message: letter PDF, e-mail (with unsubscribe headers), SMS."""
    files: dict[str, tuple[str, bytes, str]] = {}
    if channels & {"print", "mailbox"}:
        files["pdf"] = ("message.pdf", render_service_pdf(msg, sender), "application/pdf")
    if channels & {"email", "mailbox"}:
        mail = render_service_email(msg, sender)
        files["subject"] = ("subject.txt", mail.subject.encode(), "text/plain; charset=utf-8")
        if "email" in channels:
            files["html"] = ("email.html", mail.html.encode(), "text/html; charset=utf-8")
            files["text"] = ("email.txt", mail.text.encode(), "text/plain; charset=utf-8")
            files["headers"] = _headers(mail, sender)
    if channels & {"sms", "push"}:
        files["sms"] = ("sms.txt", render_service_sms(msg, sender).encode(), "text/plain; charset=utf-8")
    return files


def _headers(mail, sender: Sender) -> tuple[str, bytes, str]:
    """Extra e-mail headers for the adapter: the sending company's name for From, List-Unsubscribe."""
    return ("headers.json", json.dumps({"from_name": sender.name, **mail.headers}).encode(), "application/json")


def render_chunk(items: list[tuple[BillingDocument, set[str]]], store_url: str, s3: S3Settings, prefix: str,
                 senders: dict[str, Sender]) -> dict[str, dict[str, str] | str]:
    """Render and store a chunk of documents; returns stored keys per document, or an error text."""
    store = open_store(store_url, s3)
    out: dict[str, dict[str, str] | str] = {}
    for doc, channels in items:
        try:
            files = render_outputs(doc, senders.get(doc.customer.country, senders[""]), channels)
        except Exception as exc:  # one broken document must not stop the batch
            out[doc.document_id] = f"render failed: {type(exc).__name__}: {exc}"
            continue
        out[doc.document_id] = {name: store.put(f"{prefix}/{doc.document_id}/{fname}", data, ctype)
                                for name, (fname, data, ctype) in files.items()}
    return out


def run_render(ledger: Ledger, run: BillingRun, batch_no: int, senders: dict[str, Sender], store_url: str,
               s3: S3Settings, workers: int = 0, links: LinkSigner | None = None) -> dict[str, int]:
    """The render stage for one batch: every planned message rendered into the store and marked rendered.

    No transaction is held while rendering; a message another renderer already moved on is left as it is.
    With `links`, every link in an e-mail or SMS carries the document's signed token.
    """
    with ledger.read() as session:
        planned = messages_in(session, run.id, states=("planned",), batch_no=batch_no)
        by_doc: dict[str, set[str]] = defaultdict(set)
        for m in planned:
            by_doc[m.document_id].add(m.channel)
        rows = documents_with_customers(session, by_doc) if planned else {}
    if not planned:
        return {"rendered": 0, "failed": 0}
    items = [(_domain_value(d, party_from_json(c.data), links.token(d.id, d.issue_date) if links else ""),
              by_doc[d.id]) for d, c in rows.values()]
    keys = _render_all(store_url, s3, f"{run.tenant}/{run.period}", senders, items, workers)
    changes = [_state_change(m, keys.get(m.document_id, "render failed: no output")) for m in planned]
    with ledger.transaction() as session:
        applied = set(set_states(session, changes))
    failed = sum(1 for c in changes if c["state"] == "failed" and c["id"] in applied)
    return {"rendered": sum(1 for c in changes if c["id"] in applied) - failed, "failed": failed}


def batches_to_render(ledger: Ledger, run: BillingRun, batch: int | None = None) -> list[int]:
    """Batches with planned messages (only `batch` when given)."""
    with ledger.read() as session:
        return sorted({b for _, b in channel_batches(session, run.id, ("planned",), batch_no=batch)})


def _domain_value(row, party, token: str = "") -> BillingDocument | ServiceMessage:
    if row.document_type in MESSAGE_CATEGORIES:
        return ServiceMessage(row.id, row.invoice_id, row.document_type, row.data.get("subject", ""),
                              row.data.get("body_markdown", ""), row.data.get("period", ""), party, token)
    return replace(document_from_row(row, party), token=token)


def _state_change(message, result: dict[str, str] | str) -> dict[str, Any]:
    if isinstance(result, str):
        return {"id": message.id, "from_state": message.state, "state": "failed", "permanent": True,
                "reason": result}
    return {"id": message.id, "from_state": message.state, "state": "rendered", "content": result,
            "reason": "rendered"}


def _render_all(store_url, s3, prefix, senders, items, workers) -> dict[str, Any]:
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    return {k: v for keys in each_chunk(render_chunk, chunks, store_url, s3, prefix, senders, workers=workers)
            for k, v in keys.items()}
