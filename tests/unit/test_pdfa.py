"""The archival PDF is PDF/A-3b, checked structurally: XMP identification, output intent, embedded fonts,
no encryption, the e-invoice as an associated file, a file ID. veraPDF runs too where it is installed."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from omnibill.archive.archive import file_name, retain_until
from omnibill.archive.check import embedded_files, pdfa_problems
from omnibill.archive.pdfa import srgb_profile, to_pdfa3
from omnibill.render import render_pdf
from tests.unit.render_fixtures import demo_sender, sample_invoice

UBL = b'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
DAY = date(2026, 11, 1)
XML = ("einvoice.xml", UBL, "application/xml")


@pytest.fixture(scope="module")
def sent_pdf() -> bytes:
    return render_pdf(sample_invoice(), demo_sender())


@pytest.fixture(scope="module")
def archived(sent_pdf) -> bytes:
    return to_pdfa3(sent_pdf, "Faktura 1234567", "Nordvatten <Energi> AB", DAY, XML)


def _fonts(reader: PdfReader) -> list[dict]:
    return [f.get_object() for page in reader.pages for f in page["/Resources"].get("/Font", {}).values()]


def test_xmp_identifies_pdfa_3b_and_agrees_with_the_information_dictionary(archived):
    reader = PdfReader(io.BytesIO(archived))
    meta = reader.trailer["/Root"]["/Metadata"].get_object()
    xmp = meta.get_data().decode("utf-8")
    assert "/Filter" not in meta
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "Faktura 1234567" in xmp and "Nordvatten &lt;Energi&gt; AB" in xmp
    assert reader.metadata["/Title"] == "Faktura 1234567" and reader.metadata["/Author"] == "Nordvatten <Energi> AB"
    assert reader.metadata["/CreationDate"] == "D:20261101000000Z" and "<xmp:CreateDate>2026-11-01T00:00:00Z" in xmp
    assert "/Trapped" not in reader.metadata and "/Subject" not in reader.metadata  # nothing the XMP does not say
    assert archived.startswith(b"%PDF-1.7\n%")


def test_output_intent_embeds_an_srgb_icc_profile(archived):
    intents = PdfReader(io.BytesIO(archived)).trailer["/Root"]["/OutputIntents"]
    intent = intents[0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    icc = intent["/DestOutputProfile"].get_object()
    assert icc["/N"] == 3 and icc.get_data() == srgb_profile()
    assert icc.get_data()[36:40] == b"acsp" and icc.get_data()[16:20] == b"RGB "


def test_every_font_is_embedded_and_nothing_is_encrypted(archived):
    reader = PdfReader(io.BytesIO(archived))
    fonts = _fonts(reader)
    assert fonts and not reader.is_encrypted
    assert all("/FontFile2" in f["/FontDescriptor"] or "/FontFile3" in f["/FontDescriptor"] for f in fonts)


def test_the_einvoice_is_an_associated_file_listed_in_the_catalog(archived):
    root = PdfReader(io.BytesIO(archived)).trailer["/Root"]
    spec = root["/AF"][0].get_object()
    assert spec["/AFRelationship"] == "/Alternative" and spec["/F"] == spec["/UF"] == "einvoice.xml"
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/application/xml" and stream["/Params"]["/Size"] == len(UBL)
    assert re.search(rb"/Subtype /application#2[Ff]xml", archived)  # the MIME type's slash escaped in the name
    assert embedded_files(archived) == {"einvoice.xml": ("Alternative", UBL)}


def test_pages_and_text_are_those_sent_and_the_file_has_an_id(sent_pdf, archived):
    before, after = PdfReader(io.BytesIO(sent_pdf)), PdfReader(io.BytesIO(archived))
    assert len(after.pages) == len(before.pages)
    assert [p.extract_text() for p in after.pages] == [p.extract_text() for p in before.pages]
    file_id = after.trailer["/ID"]
    assert len(file_id) == 2 and len(bytes(file_id[0].original_bytes)) == 16


def test_conversion_is_deterministic_and_passes_the_check(sent_pdf, archived):
    again = to_pdfa3(sent_pdf, "Faktura 1234567", "Nordvatten <Energi> AB", DAY, XML)
    assert again == archived and pdfa_problems(archived) == []
    without = to_pdfa3(sent_pdf, "Faktura 1234567", "X", DAY)
    assert pdfa_problems(without) == [] and embedded_files(without) == {} and "/AF" not in PdfReader(
        io.BytesIO(without)).trailer["/Root"]


def _helvetica_pdf() -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("Helvetica", 12)  # one of the standard 14: referenced by name, never embedded
    page.drawString(72, 720, "Faktura")
    page.save()
    return out.getvalue()


def test_the_check_finds_what_is_not_pdfa(sent_pdf, archived):
    assert set(pdfa_problems(sent_pdf)) == {"no XMP metadata stream in the catalog",
                                            "no /OutputIntents entry with /S /GTS_PDFA1"}
    assert pdfa_problems(to_pdfa3(_helvetica_pdf(), "T", "A", DAY)) == ["page 1: font /Helvetica is not embedded"]
    assert pdfa_problems(b"not a pdf")[0].startswith("not a readable PDF")
    # an attachment the catalog's /AF does not list
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(archived)))
    del writer._root_object["/AF"]
    out = io.BytesIO()
    writer.write(out)
    assert pdfa_problems(out.getvalue()) == ["embedded file einvoice.xml: not listed in the catalog's /AF"]


def test_an_encrypted_pdf_is_refused(sent_pdf):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(sent_pdf)))
    writer.encrypt("secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert pdfa_problems(out.getvalue()) == ["encrypted"]
    with pytest.raises(ValueError, match="encrypted"):
        to_pdfa3(out.getvalue(), "T", "A", DAY)


@pytest.mark.parametrize(("issued", "years", "until"), [
    (date(2026, 11, 1), 10, "2037-01-01"), (date(2026, 1, 1), 7, "2034-01-01"), (date(2026, 12, 31), 1, "2028-01-01")])
def test_retention_runs_whole_years_after_the_calendar_year_of_issue(issued, years, until):
    assert retain_until(issued, years).isoformat() == f"{until}T00:00:00+00:00"


def test_file_names_keep_invoice_ids_readable_and_harmless():
    assert file_name("INV-2026/11 #7") == "INV-2026_11_7.pdf"
    assert file_name("../..") == "_.pdf" and file_name("") == "document.pdf"


@pytest.mark.skipif(not shutil.which("verapdf"), reason="veraPDF is not installed (it ships only from Maven "
                                                        "Central and verapdf.org, neither reachable here)")
def test_verapdf_finds_the_archival_pdf_compliant(archived, tmp_path):
    path = tmp_path / "archived.pdf"
    path.write_bytes(archived)
    report = subprocess.run(["verapdf", "--flavour", "3b", str(path)], capture_output=True, text=True, timeout=300)
    assert 'isCompliant="true"' in report.stdout, report.stdout[-3000:]
