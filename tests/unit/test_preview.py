"""The preview page: every channel of a customer's document side by side, in one self-contained file."""

from __future__ import annotations

from dataclasses import replace

from lxml import html as lxml_html
from typer.testing import CliRunner

from omnibill.cli.app import app
from omnibill.render.preview import build_preview, einvoice_for, pdf_page_images
from omnibill.render import render_pdf
from tests.unit.render_fixtures import FI_SENDER, demo_sender, doc_from, line, party, sample_invoice


def test_pdf_pages_become_png_images() -> None:
    lines = [line(i, f"Mätpunkt {i}", "1", "kWh", "1") for i in range(1, 70)]
    images = pdf_page_images(render_pdf(doc_from(lines), demo_sender()))
    assert len(images) >= 2 and all(src.startswith("data:image/png;base64,iVBOR") for src in images)


def test_page_has_all_five_channels_and_no_external_assets() -> None:
    page = build_preview([sample_invoice()], lambda d: demo_sender(), "demo", "C-1001")
    tree = lxml_html.fromstring(page)
    titles = [" ".join(h.text_content().split()) for h in tree.xpath("//section[@class='panel']/h2")]
    assert [t.split(" ·")[0] for t in titles] == ["PDF", "E-mail", "SMS", "Interactive document", "E-invoice"]
    assert all(src.startswith("data:") for src in tree.xpath("//img/@src"))
    assert not tree.xpath("//script | //link[@href]")
    assert len(tree.xpath("//iframe[@srcdoc]")) == 2  # the e-mail and the interactive page, sandboxed


def test_einvoice_format_follows_the_customer() -> None:
    fi_person = party(country="FI", language="fi", einvoice_address="FI7944052020036082", einvoice_operator="NDEAFIHH")
    doc = replace(doc_from([line(1, "Sähkö", "1", "kWh", "10")], customer=fi_person, currency="EUR"),
                  payment_reference="1232")
    assert einvoice_for(doc, FI_SENDER)[0] == "Finvoice 3.0"
    assert einvoice_for(sample_invoice(), demo_sender())[1] is None


def test_cli_writes_the_page_from_an_extract(tmp_path) -> None:
    from omnibill.demo_data import write_demo_extract
    from omnibill.extract import read_extract

    write_demo_extract(tmp_path / "x", customers=30, period="2026-11", seed=7, fmt="csv")
    customer = read_extract(str(tmp_path / "x"), "demo", "2026-11").documents[0].customer.customer_id
    out = tmp_path / "preview.html"
    result = CliRunner().invoke(app, ["preview", "--tenant", "demo", "--customer", customer, "--period", "2026-11",
                                      "--source", str(tmp_path / "x"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert customer in out.read_text(encoding="utf-8") and "data:image/png" in out.read_text(encoding="utf-8")
    missing = CliRunner().invoke(app, ["preview", "--customer", "nobody", "--period", "2026-11",
                                       "--source", str(tmp_path / "x"), "--out", str(out)])
    assert missing.exit_code == 2


def test_cli_reads_the_ledger_when_no_extract_is_given(tmp_path, omnibill_env) -> None:
    from omnibill import wiring
    from omnibill.demo_data import write_demo_extract
    from omnibill.extract import read_extract
    from omnibill.extract.stage import store_extract
    from omnibill.ledger.runs import open_run

    write_demo_extract(tmp_path / "x", customers=20, period="2026-11", seed=3, fmt="csv")
    extract = read_extract(str(tmp_path / "x"), "demo", "2026-11")
    with wiring.ledger().transaction() as session:
        run_ = open_run(session, "demo", "2026-11", str(tmp_path / "x"))
        store_extract(session, run_.id, extract, 10)
    customer = extract.documents[-1].customer.customer_id
    out = tmp_path / "ledger.html"
    result = CliRunner().invoke(app, ["preview", "--customer", customer, "--period", "2026-11", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert extract.documents[-1].invoice_id in out.read_text(encoding="utf-8")
    no_run = CliRunner().invoke(app, ["preview", "--customer", customer, "--period", "2026-01", "--out", str(out)])
    assert no_run.exit_code == 1
