"""The archival PDF: the PDF as sent, rewritten as PDF/A-3b with the e-invoice XML as an associated file.

The sent PDF is converted rather than rendered again, so the archive holds exactly the pages the customer got
(a template changed since then cannot change the archived copy). What PDF/A-3b asks beyond what the renderer
already does (every font a TrueType subset embedded by ReportLab, no encryption, no JavaScript) is added here:
XMP identification agreeing with the document information dictionary, an sRGB output intent, a file ID, and
the e-invoice as an embedded file listed in the catalog's /AF.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (ArrayObject, ByteStringObject, DecodedStreamObject, DictionaryObject, NameObject,
                           NumberObject, TextStringObject)

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

# sRGB IEC61966-2.1 as an ICC v2 profile file: Debian's icc-profiles-free (/usr/share/color/icc/sRGB.icc).
# v2 is what every PDF/A reader and validator takes; without the package, LittleCMS (inside Pillow) builds one.
ICC_CANDIDATES = (Path("/usr/share/color/icc/sRGB.icc"),)


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile: the Debian file when installed, else one built by LittleCMS through Pillow."""
    for path in ICC_CANDIDATES:
        if path.is_file():
            return path.read_bytes()
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _stream(writer: PdfWriter, data: bytes, **entries: object):
    stream = DecodedStreamObject()  # unfiltered: PDF/A forbids a Filter on the XMP stream
    stream.set_data(data)
    stream.update({NameObject(k): v for k, v in entries.items()})
    return writer._add_object(stream)


def _attach(writer: PdfWriter, name: str, data: bytes, mime: str, when: str, relationship: str) -> None:
    params = DictionaryObject({NameObject("/Size"): NumberObject(len(data)),
                               NameObject("/ModDate"): TextStringObject(when)})
    file_ref = _stream(writer, data, **{"/Type": NameObject("/EmbeddedFile"),
                                        "/Subtype": NameObject("/" + mime), "/Params": params})
    spec = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
        NameObject("/UF"): TextStringObject(name), NameObject("/Desc"): TextStringObject("E-invoice"),
        NameObject("/AFRelationship"): NameObject("/" + relationship),
        NameObject("/EF"): DictionaryObject({NameObject("/F"): file_ref, NameObject("/UF"): file_ref})}))
    root = writer._root_object
    names = root.get("/Names")
    names = names.get_object() if names is not None else DictionaryObject()
    names[NameObject("/EmbeddedFiles")] = DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject(name), spec])})
    root[NameObject("/Names")] = names
    root[NameObject("/AF")] = ArrayObject([spec])


def _identify(writer: PdfWriter, title: str, author: str, moment: datetime) -> None:
    """XMP (pdfaid 3/B) and an information dictionary that says exactly what the XMP says."""
    stamp, pdf_date = moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("D:%Y%m%d%H%M%SZ")
    xmp = _XMP.format(title=escape(title), author=escape(author), stamp=stamp).encode("utf-8")
    root = writer._root_object
    root[NameObject("/Metadata")] = _stream(writer, xmp, **{"/Type": NameObject("/Metadata"),
                                                            "/Subtype": NameObject("/XML")})
    writer.metadata = None  # ReportLab's /Subject "unspecified", /Trapped… have no XMP counterpart here
    writer.add_metadata({"/Title": title, "/Author": author, "/Creator": "omnibill", "/Producer": "omnibill",
                         "/CreationDate": pdf_date, "/ModDate": pdf_date})


def _output_intent(writer: PdfWriter) -> None:
    icc = _stream(writer, srgb_profile(), **{"/N": NumberObject(3)})
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"), NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"), NameObject("/DestOutputProfile"): icc}))])


def to_pdfa3(pdf: bytes, title: str, author: str, day: date, attachment: tuple[str, bytes, str] | None = None,
             relationship: str = "Alternative") -> bytes:
    """The PDF rewritten as PDF/A-3b, with one associated file (name, bytes, MIME type) when given.

    Deterministic: the same input gives the same bytes (dates are the document's `day`, the file ID a hash).
    """
    reader = PdfReader(io.BytesIO(pdf))
    if reader.is_encrypted:
        raise ValueError("an encrypted PDF cannot become PDF/A")
    writer = PdfWriter(clone_from=reader)
    writer.pdf_header = b"%PDF-1.7"  # PDF/A-3 is based on PDF 1.7 (ISO 32000-1)
    moment = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
    _identify(writer, title, author, moment)
    _output_intent(writer)
    if attachment:
        _attach(writer, *attachment, when=moment.strftime("D:%Y%m%d%H%M%SZ"), relationship=relationship)
    digest = hashlib.sha256(pdf + (attachment[1] if attachment else b"")).digest()[:16]
    writer._ID = ArrayObject([ByteStringObject(digest), ByteStringObject(digest)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
