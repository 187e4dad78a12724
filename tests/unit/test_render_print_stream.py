"""Print streams: many documents in one PDF, each document's page range in the manifest."""

from __future__ import annotations

import io

from pypdf import PdfReader

from omnibill.render import render_pdf
from omnibill.render.print_stream import render_print_stream
from tests.unit.render_fixtures import demo_sender, doc_from, line, sample_invoice


def test_manifest_page_ranges_match_the_documents() -> None:
    long = doc_from([line(i, f"Mätpunkt {i:03d}", "1", "kWh", "1") for i in range(1, 70)], invoice_id="2000001")
    docs = [sample_invoice(invoice_id="1000001"), long, sample_invoice(invoice_id="1000003")]
    pdf, manifest = render_print_stream(docs, lambda d: demo_sender())
    reader = PdfReader(io.BytesIO(pdf))
    long_pages = len(PdfReader(io.BytesIO(render_pdf(long, demo_sender()))).pages)
    assert [(m.invoice_id, m.first_page, m.last_page) for m in manifest] == [
        ("1000001", 1, 1), ("2000001", 2, 1 + long_pages), ("1000003", 2 + long_pages, 2 + long_pages)]
    assert len(reader.pages) == 2 + long_pages
    for entry in manifest:
        first = reader.pages[entry.first_page - 1].extract_text()
        assert entry.invoice_id in first and "Sida 1 av" in first


def test_fonts_are_embedded_once_for_the_whole_stream() -> None:
    docs = [sample_invoice(invoice_id=str(1000000 + i)) for i in range(20)]
    pdf, _ = render_print_stream(docs, lambda d: demo_sender())
    single = len(render_pdf(docs[0], demo_sender()))
    assert len(pdf) < 0.3 * single * len(docs)
    assert pdf.count(b"/FontFile2") == 2  # regular and bold, once each
