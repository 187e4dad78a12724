"""The stage builds a document's view once and hands it to every format: the files are those each renderer makes alone."""

from __future__ import annotations

from dataclasses import replace

from omnibill.render import render_email, render_html_document, render_pdf
from omnibill.render.qr import payment_qr_payload, qr_matrix
from omnibill.render.stage import render_outputs
from tests.unit.render_fixtures import demo_sender, party, sample_invoice


def test_files_from_one_view_equal_the_formats_rendered_on_their_own() -> None:
    doc, sender = sample_invoice(customer=party(language="fi")), demo_sender()
    files = render_outputs(doc, sender, {"email", "print", "sms"})
    mail = render_email(doc, sender)
    assert files["pdf"][1] == render_pdf(doc, sender)
    assert files["html"][1] == mail.html.encode() and files["text"][1] == mail.text.encode()
    assert files["subject"][1] == mail.subject.encode()
    assert files["document"][1] == render_html_document(doc, sender).encode()


def test_a_qr_symbol_is_encoded_once_for_the_pdf_and_the_page() -> None:
    doc, sender = replace(sample_invoice(), payment_reference="5550001000013"), demo_sender()
    payload = payment_qr_payload(doc, sender)
    before = qr_matrix.cache_info()
    render_outputs(doc, sender, {"email"})
    after = qr_matrix.cache_info()
    assert payload and after.misses - before.misses == 1 and after.hits - before.hits >= 1
