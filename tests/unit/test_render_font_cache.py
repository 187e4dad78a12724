"""Work done once per worker gives the bytes ReportLab writes when it does the work for every PDF."""

from __future__ import annotations

from dataclasses import replace

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from omnibill.render import render_pdf
from omnibill.render.fonts import BOLD, FALLBACKS, FONT, register_fonts
from omnibill.render.pdf_parts import centred, show
from tests.unit.render_fixtures import demo_sender, doc_from, line, party, sample_invoice

CUSTOMERS = ["Åsa Öberg", "王小明 김민수", "محمد العلي", "Ελένη Παπαδοπούλου", "Öbergs Bygg & Rör AB"]


def _with_plain_reportlab_fonts(render):
    """Run render with ReportLab's own TTFont (subset built, deflated and formatted per PDF) under our names."""
    register_fonts()
    names = [FONT, BOLD, *(name for name, _ in FALLBACKS if name in pdfmetrics._fonts)]
    saved = {name: pdfmetrics._fonts[name] for name in names}
    try:
        for name in names:
            pdfmetrics._fonts[name] = TTFont(name, saved[name].face.filename)
        return render()
    finally:
        pdfmetrics._fonts.update(saved)


@pytest.mark.parametrize("name", CUSTOMERS)
def test_cached_subsets_write_the_same_bytes_as_reportlab(name: str) -> None:
    docs = [sample_invoice(customer=party(name=name)),
            doc_from([line(i, f"Mätpunkt {i:03d} – ½ år", "10", "m3", "1.25") for i in range(1, 61)],
                     customer=party(name=name, language="fi"), currency="EUR")]
    for doc in docs:
        expected = _with_plain_reportlab_fonts(lambda: render_pdf(doc, demo_sender()))
        assert render_pdf(doc, demo_sender()) == expected  # first use of this subset: built
        assert render_pdf(doc, demo_sender()) == expected  # second: taken from the cache
        other = replace(doc, invoice_id="7654321")
        assert render_pdf(other, demo_sender()) == _with_plain_reportlab_fonts(lambda: render_pdf(other, demo_sender()))


@pytest.mark.parametrize("value", ["Faktura 1234567", "1\u00a0234,50\u00a0kr", "(a) \\ b", "", "Ωμέγα…", "王"])
@pytest.mark.parametrize("font", [FONT, BOLD])
def test_show_writes_what_canvas_draw_string_writes(value: str, font: str) -> None:
    register_fonts()
    ours, theirs = Canvas(None, pagesize=A4), Canvas(None, pagesize=A4)
    for size in (8.5, 11):
        show(ours, 56.7, 700.25, value, font, size)
        theirs.setFont(font, size)
        theirs.drawString(56.7, 700.25, value)
        centred(ours, 100, 650, value, font, size)
        theirs.setFont(font, size)
        theirs.drawCentredString(100, 650, value)
    assert ours._code == theirs._code
    assert (ours._fontname, ours._fontsize, ours._leading) == (theirs._fontname, theirs._fontsize, theirs._leading)
