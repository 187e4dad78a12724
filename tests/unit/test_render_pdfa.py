"""The archival PDF/A-3b: identification, output intent, embedded fonts, the e-invoice XML as associated file."""

from __future__ import annotations

import io
from dataclasses import replace

from pypdf import PdfReader

from omnibill.render import render_finvoice
from omnibill.render.pdfa import render_archival_pdf
from tests.unit.render_fixtures import FI_SENDER, demo_sender, doc_from, party, sample_invoice, utility_lines


def _fonts(reader: PdfReader) -> list[dict]:
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts += [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
    return fonts


def test_pdfa3b_identification_and_output_intent() -> None:
    pdf = render_archival_pdf(sample_invoice(), demo_sender())
    assert pdf.startswith(b"%PDF-1.7\n%")
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and intent["/DestOutputProfile"].get_object()["/N"] == 3
    assert reader.metadata.title == "Faktura 1234567" and "Faktura 1234567" in xmp
    assert len(reader.trailer["/ID"]) == 2
    assert all("/FontFile2" in f["/FontDescriptor"] for f in _fonts(reader))  # every font embedded
    assert pdf == render_archival_pdf(sample_invoice(), demo_sender())  # deterministic


def test_einvoice_xml_is_the_associated_file() -> None:
    customer = party(country="FI", language="fi", einvoice_address="FI7944052020036082", einvoice_operator="NDEAFIHH")
    doc = replace(doc_from(utility_lines(), customer=customer, currency="EUR"), payment_reference="1232")
    xml = render_finvoice(doc, FI_SENDER)
    reader = PdfReader(io.BytesIO(render_archival_pdf(doc, FI_SENDER, ("finvoice.xml", xml))))
    assert reader.attachments == {"finvoice.xml": [xml]}
    (spec,) = reader.trailer["/Root"]["/AF"]
    assert spec.get_object()["/AFRelationship"] == "/Alternative"
    assert spec.get_object()["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
