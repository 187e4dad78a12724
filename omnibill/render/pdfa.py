"""The archival PDF: PDF/A-3b (XMP identification, sRGB output intent, all fonts embedded), e-invoice XML attached."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, timezone
from functools import lru_cache
from xml.sax.saxutils import escape

from PIL import ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (ArrayObject, ByteStringObject, DecodedStreamObject, DictionaryObject, NameObject,
                           NumberObject, TextStringObject)

from omnibill.model import BillingDocument, Sender
from omnibill.render.pdf import render_pdf
from omnibill.render.texts import texts_for

_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdfaid:part>3</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
<xmp:CreateDate>{stamp}</xmp:CreateDate><xmp:ModifyDate>{stamp}</xmp:ModifyDate>
<xmp:CreatorTool>omnibill</xmp:CreatorTool><pdf:Producer>omnibill</pdf:Producer>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile (built by LittleCMS through Pillow, so no profile file has to ship)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _stream(writer: PdfWriter, data: bytes, **entries: object) -> object:
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream.update({NameObject(k): v for k, v in entries.items()})
    return writer._add_object(stream)


def _attach(writer: PdfWriter, name: str, data: bytes, mime: str, when: str) -> None:
    params = DictionaryObject({NameObject("/Size"): NumberObject(len(data)),
                               NameObject("/ModDate"): TextStringObject(when)})
    file_ref = _stream(writer, data, **{"/Type": NameObject("/EmbeddedFile"),
                                        "/Subtype": NameObject("/" + mime), "/Params": params})
    spec = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
        NameObject("/UF"): TextStringObject(name), NameObject("/Desc"): TextStringObject("E-invoice"),
        NameObject("/AFRelationship"): NameObject("/Alternative"),
        NameObject("/EF"): DictionaryObject({NameObject("/F"): file_ref, NameObject("/UF"): file_ref})}))
    names = DictionaryObject({NameObject("/EmbeddedFiles"): DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject(name), spec])})})
    writer._root_object[NameObject("/Names")] = names
    writer._root_object[NameObject("/AF")] = ArrayObject([spec])


def to_pdfa3(pdf: bytes, title: str, author: str, day: date, attachment: tuple[str, bytes, str] | None = None) -> bytes:
    """The PDF re-written as PDF/A-3b, optionally with one associated file (e.g. the e-invoice XML)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.pdf_header = b"%PDF-1.7"  # PDF/A-3 is based on PDF 1.7 (ISO 32000-1)
    moment = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)  # stable: the issue date, never "now"
    stamp, pdf_date = moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("D:%Y%m%d%H%M%SZ")
    xmp = _XMP.format(title=escape(title), author=escape(author), stamp=stamp).encode("utf-8")
    root = writer._root_object
    root[NameObject("/Metadata")] = _stream(writer, xmp, **{"/Type": NameObject("/Metadata"),
                                                            "/Subtype": NameObject("/XML")})
    icc = _stream(writer, srgb_profile(), **{"/N": NumberObject(3)})
    root[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"), NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/DestOutputProfile"): icc}))])
    if attachment:
        _attach(writer, *attachment, when=pdf_date)
    # The document information dictionary must agree with the XMP: keep exactly what both say.
    writer._info = writer._add_object(DictionaryObject({
        NameObject("/Title"): TextStringObject(title), NameObject("/Author"): TextStringObject(author),
        NameObject("/Creator"): TextStringObject("omnibill"), NameObject("/Producer"): TextStringObject("omnibill"),
        NameObject("/CreationDate"): TextStringObject(pdf_date), NameObject("/ModDate"): TextStringObject(pdf_date)}))
    file_id = ByteStringObject(hashlib.md5(pdf).digest())  # noqa: S324 - a file identifier, not security
    writer._ID = ArrayObject([file_id, file_id])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def render_archival_pdf(doc: BillingDocument, sender: Sender, einvoice: tuple[str, bytes] | None = None) -> bytes:
    """The document as PDF/A-3b for the archive; `einvoice` (file name, XML) is embedded as its alternative."""
    title = f"{texts_for(doc.customer.language)[doc.document_type]} {doc.invoice_id}"
    attachment = (einvoice[0], einvoice[1], "text/xml") if einvoice else None
    return to_pdfa3(render_pdf(doc, sender), title, sender.name, doc.issue_date, attachment)
