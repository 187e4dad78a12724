"""The interactive HTML document: self-contained, escaped, with a hoverable 12-month chart."""

from __future__ import annotations

from lxml import html as lxml_html

from omnibill.render import render_html_document
from omnibill.render.stage import render_outputs
from tests.unit.render_fixtures import demo_sender, party, sample_invoice


def test_one_file_with_no_external_assets() -> None:
    page = render_html_document(sample_invoice(), demo_sender())
    tree = lxml_html.fromstring(page)
    assert not tree.xpath("//script[@src] | //link[@href] | //iframe")
    assert all(src.startswith("data:") for src in tree.xpath("//img/@src"))
    assert tree.xpath("//img/@src")  # the tenant logo, embedded
    assert "url(http" not in page and "@import" not in page


def test_chart_has_twelve_bars_with_hover_values() -> None:
    tree = lxml_html.fromstring(render_html_document(sample_invoice(), demo_sender()))
    months = tree.xpath("//svg//g[@class='m']")
    assert len(months) == 12
    assert [g.xpath("string(title)") for g in months][-1] == "okt: 1\u00a0020 kWh"
    assert all(g.xpath("text[@class='v']") for g in months)  # the value shown on :hover / :focus
    assert "g.m:hover text.v" in tree.xpath("string(//style)")


def test_payment_facts_qr_and_escaping() -> None:
    page = render_html_document(sample_invoice(customer=party(name="<img src=x onerror=alert(1)>")), demo_sender())
    tree = lxml_html.fromstring(page)
    assert not tree.xpath("//img[@onerror]")
    text = " ".join(tree.text_content().split()).replace("\u00a0", " ")
    for expected in ("Faktura", "2 116,66 kr", "1234567890123", "5050-1055", "Skanna och betala"):
        assert expected in text
    assert tree.xpath("//svg[@class='qr']/path/@d")


def test_rendered_for_email_and_sms_channels() -> None:
    files = render_outputs(sample_invoice(), demo_sender(), {"sms"})
    assert files["document"][0] == "document.html" and b"<svg" in files["document"][1]
    assert "document" not in render_outputs(sample_invoice(), demo_sender(), {"print"})
