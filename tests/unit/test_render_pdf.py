"""The PDF: a valid document whose text says what was billed, over several pages when needed."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from omnibill.render import render_pdf
from omnibill.render.pdf import paginate
from tests.unit.render_fixtures import demo_sender, doc_from, line, party, sample_invoice, utility_lines


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_pdf_names_invoice_reference_and_unicode_customer() -> None:
    pdf = render_pdf(sample_invoice(customer=party(name="Åsa Öberg-Ærø Søndergård")), demo_sender())
    assert pdf.startswith(b"%PDF")
    (text,) = _pages(pdf)
    for expected in ("Faktura", "1234567", "1234567890123", "Åsa Öberg-Ærø Søndergård", "2 116,66 kr", "Bankgiro"):
        assert expected in text.replace("\u00a0", " ")


def test_sixty_lines_flow_over_pages_with_the_header_repeated() -> None:
    lines = [line(i, f"Mätpunkt {i:03d}", "10", "kWh", "1.25") for i in range(1, 61)]
    pages = _pages(render_pdf(doc_from(lines), demo_sender()))
    assert len(pages) >= 2
    assert all("Beskrivning" in page and "Belopp" in page for page in pages if "Mätpunkt" in page)
    assert all(f"Sida {n} av {len(pages)}" in page for n, page in enumerate(pages, start=1))
    found = [i for i in range(1, 61) if any(f"Mätpunkt {i:03d}" in page for page in pages)]
    assert found == list(range(1, 61))
    assert "Att betala" in pages[-1]


def test_markup_in_customer_text_is_printed_literally() -> None:
    doc = doc_from([line(1, "<b>fet</b> & <i>kursiv</i>", "1", "st", "10")], customer=party(name="<script>x</script> & Co"))
    (text,) = _pages(render_pdf(doc, demo_sender()))
    assert "<script>x</script> & Co" in text and "<b>fet</b> & <i>kursiv</i>" in text


@pytest.mark.parametrize(("language", "title"), [("sv", "Faktura"), ("fi", "Lasku"), ("da", "Faktura"), ("nb", "Faktura"),
                                                ("en", "Invoice"), ("de", "Invoice")])
def test_titles_follow_the_customer_language(language: str, title: str) -> None:
    (text,) = _pages(render_pdf(doc_from(utility_lines(), customer=party(language=language)), demo_sender()))
    assert title in text


@pytest.mark.parametrize(("document_type", "title"), [("credit_note", "Kreditnota"), ("reminder", "Påminnelse")])
def test_credit_notes_and_reminders_have_their_own_title(document_type: str, title: str) -> None:
    sign = -1 if document_type == "credit_note" else 1
    (text,) = _pages(render_pdf(doc_from(utility_lines(), document_type=document_type, sign=sign), demo_sender()))
    assert title in text


def test_rendering_is_deterministic() -> None:
    doc = sample_invoice(currency="EUR", customer=party(country="FI", language="fi"))
    assert render_pdf(doc, demo_sender()) == render_pdf(doc, demo_sender())


_RENDER_IN_A_NEW_PROCESS = """
import sys, time
from omnibill.render import render_pdf
from tests.unit.render_fixtures import demo_sender, party, sample_invoice
time.sleep(float(sys.argv[1]))  # another moment: no creation time may end up in the bytes
doc = sample_invoice(currency="SEK", customer=party(country="SE", language="sv"))
sys.stdout.buffer.write(render_pdf(doc, demo_sender()))
"""


def test_a_rerun_in_another_process_renders_the_same_bytes() -> None:
    # A resend of an identical payload is delivered once by Kivra; different bytes would be a second letter.
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    runs = [subprocess.run([sys.executable, "-c", _RENDER_IN_A_NEW_PROCESS, wait], cwd=root, check=True,
                           capture_output=True, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
            for wait, seed in (("0", "1"), ("1.1", "2"))]
    assert runs[0].startswith(b"%PDF-") and runs[0] == runs[1]


def test_totals_get_a_page_of_their_own_only_when_the_last_page_is_full() -> None:
    pages, alone = paginate(4, 100.0, 70.0)
    assert [len(p) for p in pages] == [4] and not alone
    pages, alone = paginate(60, 100.0, 70.0)
    assert sum(len(p) for p in pages) == 60 and len(pages) == 2
