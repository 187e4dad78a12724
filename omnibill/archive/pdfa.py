"""The archival PDF: the PDF as sent, rewritten as PDF/A-3b with the e-invoice XML as an associated file.

The sent PDF is converted rather than rendered again, so the archive holds exactly the pages the customer got
(a template changed since then cannot change the archived copy). What PDF/A-3b asks beyond what the renderer
already does (every font a TrueType subset embedded by ReportLab, no encryption, no JavaScript) is added here:
XMP identification agreeing with the document information dictionary, an sRGB output intent, a file ID, and
the e-invoice as an embedded file listed in the catalog's /AF.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import pikepdf
from pikepdf import Array, Dictionary, Name, String

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


def _attach(doc: pikepdf.Pdf, name: str, data: bytes, mime: str, when: str, relationship: str) -> None:
    stream = doc.make_stream(data, Type=Name.EmbeddedFile, Subtype=Name("/" + mime),
                             Params=Dictionary(Size=len(data), ModDate=String(when)))
    spec = doc.make_indirect(Dictionary(Type=Name.Filespec, F=String(name), UF=String(name), Desc=String("E-invoice"),
                                        AFRelationship=Name("/" + relationship), EF=Dictionary(F=stream, UF=stream)))
    root = doc.Root
    if Name.Names not in root:
        root.Names = Dictionary()
    root.Names.EmbeddedFiles = Dictionary(Names=Array([String(name), spec]))
    root.AF = Array([spec])


def _identify(doc: pikepdf.Pdf, title: str, author: str, moment: datetime) -> None:
    """XMP (pdfaid 3/B) and an information dictionary that says exactly what the XMP says."""
    stamp, pdf_date = moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("D:%Y%m%d%H%M%SZ")
    xmp = _XMP.format(title=escape(title), author=escape(author), stamp=stamp).encode("utf-8")
    # unfiltered: PDF/A forbids a Filter on the XMP stream (the file is saved without compressing new streams)
    doc.Root.Metadata = doc.make_stream(xmp, Type=Name.Metadata, Subtype=Name.XML)
    # ReportLab's /Subject "unspecified", /Trapped… have no XMP counterpart here: the dictionary is replaced
    doc.trailer.Info = doc.make_indirect(Dictionary(
        Title=String(title), Author=String(author), Creator=String("omnibill"), Producer=String("omnibill"),
        CreationDate=String(pdf_date), ModDate=String(pdf_date)))


def _output_intent(doc: pikepdf.Pdf) -> None:
    icc = doc.make_stream(srgb_profile(), N=3)
    doc.Root.OutputIntents = Array([doc.make_indirect(Dictionary(
        Type=Name.OutputIntent, S=Name.GTS_PDFA1, OutputConditionIdentifier=String("sRGB IEC61966-2.1"),
        Info=String("sRGB IEC61966-2.1"), DestOutputProfile=icc))])


def to_pdfa3(pdf: bytes, title: str, author: str, day: date, attachment: tuple[str, bytes, str] | None = None,
             relationship: str = "Alternative") -> bytes:
    """The PDF rewritten as PDF/A-3b, with one associated file (name, bytes, MIME type) when given.

    Deterministic: the same input gives the same bytes (dates are the document's `day`, the file ID a hash of
    the content). qpdf (through pikepdf) copies the sent PDF's objects as they are, streams still compressed.
    """
    try:
        doc = pikepdf.open(io.BytesIO(pdf))
    except pikepdf.PasswordError as exc:
        raise ValueError("an encrypted PDF cannot become PDF/A") from exc
    with doc:
        if doc.is_encrypted:
            raise ValueError("an encrypted PDF cannot become PDF/A")
        moment = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
        _identify(doc, title, author, moment)
        _output_intent(doc)
        if attachment:
            _attach(doc, *attachment, when=moment.strftime("D:%Y%m%d%H%M%SZ"), relationship=relationship)
        out = io.BytesIO()
        # PDF/A-3 is based on PDF 1.7 (ISO 32000-1); new streams stay unfiltered, existing ones as they were
        doc.save(out, force_version="1.7", fix_metadata_version=False, compress_streams=False, deterministic_id=True,
                 stream_decode_level=pikepdf.StreamDecodeLevel.none)
        return out.getvalue()
