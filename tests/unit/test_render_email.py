"""The e-mail: subject in the customer's language, escaped HTML, a plain-text alternative."""

from __future__ import annotations

from lxml import html as lxml_html

from omnibill.render import render_email
from tests.unit.render_fixtures import demo_sender, doc_from, party, sample_invoice, utility_lines


def test_subject_names_document_sender_and_due_date() -> None:
    mail = render_email(sample_invoice(), demo_sender())
    assert mail.subject == "Faktura 1234567 från Nordvatten Energi AB – förfaller 2026-12-01"


def test_customer_text_is_escaped_in_html() -> None:
    mail = render_email(sample_invoice(customer=party(name="<script>alert('x')</script> & \"Co\"")), demo_sender())
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(" in mail.html
    body_text = lxml_html.fromstring(mail.html).text_content()
    assert "<script>alert('x')</script> & \"Co\"" in body_text


def test_text_alternative_carries_the_payment_facts() -> None:
    mail = render_email(sample_invoice(), demo_sender())
    for expected in ("Hej Åsa Öberg,", "2 116,66 kr", "2026-12-01", "1234567890123", "Bankgiro: 5050-1055"):
        assert expected in mail.text
    assert "<" not in mail.text


def test_finnish_customer_in_euro() -> None:
    mail = render_email(doc_from(utility_lines(), customer=party(language="fi", country="FI"), currency="EUR"), demo_sender())
    assert mail.subject == "Lasku 1234567 – Nordvatten Energi AB – eräpäivä 1.12.2026"
    assert "2 116,66 €" in mail.text and "IBAN: SE45 5000" in mail.text


def test_credit_note_has_no_due_date_and_a_positive_amount() -> None:
    mail = render_email(doc_from(utility_lines(), document_type="credit_note", sign=-1, customer=party(language="en")), demo_sender())
    assert mail.subject == "Credit note 1234567 from Nordvatten Energi AB"
    assert "Amount credited: SEK 2,116.66." in mail.text


def test_unknown_language_falls_back_to_english() -> None:
    assert render_email(sample_invoice(customer=party(language="de")), demo_sender()).subject.startswith("Invoice 1234567 from")


def test_css_is_inlined_and_media_queries_kept() -> None:
    mail = render_email(sample_invoice(), demo_sender())
    tree = lxml_html.fromstring(mail.html)
    (h1,) = tree.xpath("//h1")
    assert "font-size: 22px" in h1.get("style") and "color: #1f4e79" in h1.get("style")
    assert "@media (max-width: 480px)" in mail.html
    assert not tree.xpath("//link[@rel='stylesheet']") and "src=\"http" not in mail.html


def test_link_to_the_html_document_in_html_and_text() -> None:
    mail = render_email(sample_invoice(), demo_sender())
    (link,) = lxml_html.fromstring(mail.html).xpath("//a[contains(@class, 'button')]/@href")
    assert link.startswith("http://127.0.0.1:8030/d/") and link in mail.text
    assert link in render_email(sample_invoice(), demo_sender()).text  # stable across renders
    choices = lxml_html.fromstring(mail.html).xpath("//a[contains(@href, '/p/')]/@href")
    assert choices == [link.replace("/d/", "/p/")] and choices[0] in mail.text  # the preference center, in the footer


def test_list_unsubscribe_only_on_marketing() -> None:
    assert render_email(sample_invoice(), demo_sender()).headers == {}
    mail = render_email(sample_invoice(), demo_sender(), marketing=True)
    assert mail.headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8030/unsubscribe/")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Avsluta prenumerationen" in mail.html and "Avsluta prenumerationen" in mail.text
