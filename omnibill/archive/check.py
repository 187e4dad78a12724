"""A structural check of PDF/A-3b: what the archive verifies before it stores a file.

Not a full validator (veraPDF is): it checks what a conversion can get wrong — the XMP identification, the
output intent with its ICC profile, embedded fonts, encryption, the file ID and the associated files.
"""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.generic import DictionaryObject

_PART = re.compile(rb"<pdfaid:part>\s*3\s*</pdfaid:part>|pdfaid:part=[\"']3[\"']")
_CONFORMANCE = re.compile(rb"<pdfaid:conformance>\s*B\s*</pdfaid:conformance>|pdfaid:conformance=[\"']B[\"']")
_RELATIONSHIPS = ("/Source", "/Data", "/Alternative", "/Supplement", "/EncryptedPayload", "/FormData", "/Schema",
                  "/Unspecified")


def pdfa_problems(data: bytes) -> list[str]:
    """What keeps a file from being PDF/A-3b, structurally; empty when nothing was found."""
    try:
        reader = PdfReader(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the answer
        return [f"not a readable PDF: {type(exc).__name__}: {exc}"]
    if reader.is_encrypted:
        return ["encrypted"]
    root = reader.trailer["/Root"]
    problems = [*_identification(reader, root), *_output_intents(root), *_fonts(reader), *_attachments(root)]
    file_id = reader.trailer.get("/ID")
    if not file_id or len(file_id) != 2:
        problems.append("no file identifier (/ID) in the trailer")
    if not data.startswith(b"%PDF-1."):
        problems.append("no PDF header")
    return problems


def _identification(reader: PdfReader, root: DictionaryObject) -> list[str]:
    meta = root.get("/Metadata")
    if meta is None:
        return ["no XMP metadata stream in the catalog"]
    meta = meta.get_object()
    if "/Filter" in meta:
        return ["the XMP metadata stream is filtered"]
    xmp = meta.get_data()
    problems = [] if _PART.search(xmp) else ["XMP has no pdfaid:part 3"]
    problems += [] if _CONFORMANCE.search(xmp) else ["XMP has no pdfaid:conformance B"]
    info = reader.metadata or {}
    title = info.get("/Title")
    if title and title.encode("utf-8") not in xmp.replace(b"&amp;", b"&"):
        problems.append("the information dictionary's /Title differs from the XMP dc:title")
    return problems


def _output_intents(root: DictionaryObject) -> list[str]:
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if not pdfa:
        return ["no /OutputIntents entry with /S /GTS_PDFA1"]
    profile = pdfa[0].get("/DestOutputProfile")
    if profile is None:
        return ["the PDF/A output intent has no embedded ICC profile (/DestOutputProfile)"]
    icc = profile.get_object().get_data()
    if len(icc) < 132 or icc[36:40] != b"acsp":
        return ["the output intent's /DestOutputProfile is not an ICC profile"]
    return []


def _fonts(reader: PdfReader) -> list[str]:
    problems: list[str] = []
    seen: set[int] = set()
    for number, page in enumerate(reader.pages, 1):
        for name, font in _page_fonts(page.get("/Resources"), seen):
            if not _embedded(font):
                problems.append(f"page {number}: font {font.get('/BaseFont', name)} is not embedded")
    return problems


def _page_fonts(resources, seen: set[int]):
    """(resource name, font dictionary) of a resource dictionary and the form XObjects it uses."""
    if resources is None:
        return
    resources = resources.get_object()
    for name, ref in (resources.get("/Font") or {}).items():
        yield name, ref.get_object()
    for ref in (resources.get("/XObject") or {}).values():
        key = getattr(ref, "idnum", None)
        if key in seen:
            continue
        if key is not None:
            seen.add(key)
        xobject = ref.get_object()
        if xobject.get("/Subtype") == "/Form":
            yield from _page_fonts(xobject.get("/Resources"), seen)


def _embedded(font: DictionaryObject) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs are content streams of the font itself
    if font.get("/Subtype") == "/Type0":
        return all(_embedded(d.get_object()) for d in font.get("/DescendantFonts", []))
    descriptor = font.get("/FontDescriptor")
    if descriptor is None:
        return False
    return any(k in descriptor.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def _attachments(root: DictionaryObject) -> list[str]:
    listed = {id(s.get_object()) for s in root.get("/AF", [])}
    listed_ids = {getattr(s, "idnum", None) for s in root.get("/AF", [])}
    problems = []
    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    flat = tree.get_object().get("/Names", []) if tree is not None else []
    for name, spec_ref in zip(flat[::2], flat[1::2]):
        spec = spec_ref.get_object()
        if spec.get("/AFRelationship") not in _RELATIONSHIPS:
            problems.append(f"embedded file {name}: no valid /AFRelationship")
        if getattr(spec_ref, "idnum", None) not in listed_ids and id(spec) not in listed:
            problems.append(f"embedded file {name}: not listed in the catalog's /AF")
        stream = (spec.get("/EF") or {}).get("/F")
        if stream is None or "/Subtype" not in stream.get_object():
            problems.append(f"embedded file {name}: no embedded file stream with a MIME /Subtype")
        if "/UF" not in spec or "/F" not in spec:
            problems.append(f"embedded file {name}: the file specification lacks /F or /UF")
    return problems


def embedded_files(data: bytes) -> dict[str, tuple[str, bytes]]:
    """The associated files of a PDF: {name: (AFRelationship without slash, bytes)}."""
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    flat = tree.get_object().get("/Names", []) if tree is not None else []
    return {str(name): (str(spec.get_object().get("/AFRelationship", "")).lstrip("/"),
                        spec.get_object()["/EF"]["/F"].get_object().get_data())
            for name, spec in zip(flat[::2], flat[1::2])}
