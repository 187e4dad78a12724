"""Print streams: a batch of documents in one PDF (fonts and logo embedded once) with a manifest of page ranges."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from omnibill.model import BillingDocument, Sender
from omnibill.render.pdf import draw_document, new_canvas


@dataclass(frozen=True)
class StreamEntry:
    """Where one document sits in a print stream: its first and last page (1-based, inclusive)."""

    document_id: str
    invoice_id: str
    first_page: int
    last_page: int


def render_print_stream(docs: Iterable[BillingDocument], sender_for: Callable[[BillingDocument], Sender],
                        title: str = "print stream") -> tuple[bytes, list[StreamEntry]]:
    """One PDF with every document of a batch, and the page range of each for the print house's manifest."""
    buf = io.BytesIO()
    c = new_canvas(buf, title, "omnibill", "en")
    manifest, page = [], 1
    for doc in docs:
        pages = draw_document(c, doc, sender_for(doc))
        manifest.append(StreamEntry(doc.document_id, doc.invoice_id, page, page + pages - 1))
        page += pages
    c.save()
    return buf.getvalue(), manifest
