"""A structural check of PDF/A-3b: what the archive verifies before it stores a file.

Not a full validator (veraPDF is): it checks what a conversion can get wrong — the XMP identification, the
output intent with its ICC profile, embedded fonts, encryption, the file ID and the associated files.
"""

from __future__ import annotations

import io
import re

import pikepdf
from pikepdf import Name

_PART = re.compile(rb"<pdfaid:part>\s*3\s*</pdfaid:part>|pdfaid:part=[\"']3[\"']")
_CONFORMANCE = re.compile(rb"<pdfaid:conformance>\s*B\s*</pdfaid:conformance>|pdfaid:conformance=[\"']B[\"']")
_RELATIONSHIPS = ("/Source", "/Data", "/Alternative", "/Supplement", "/EncryptedPayload", "/FormData", "/Schema",
                  "/Unspecified")


def pdfa_problems(data: bytes) -> list[str]:
    """What keeps a file from being PDF/A-3b, structurally; empty when nothing was found."""
    try:
        doc = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        return ["encrypted"]
    except Exception as exc:  # noqa: BLE001 - any parse failure is the answer
        return [f"not a readable PDF: {type(exc).__name__}: {exc}"]
    with doc:
        if doc.is_encrypted:
            return ["encrypted"]
        root = doc.Root
        problems = [*_identification(doc, root), *_output_intents(root), *_fonts(doc), *_attachments(root)]
        file_id = doc.trailer.get("/ID")
        if file_id is None or len(file_id) != 2:
            problems.append("no file identifier (/ID) in the trailer")
    if not data.startswith(b"%PDF-1."):
        problems.append("no PDF header")
    return problems


def _identification(doc: pikepdf.Pdf, root: pikepdf.Dictionary) -> list[str]:
    meta = root.get("/Metadata")
    if meta is None:
        return ["no XMP metadata stream in the catalog"]
    if "/Filter" in meta:
        return ["the XMP metadata stream is filtered"]
    xmp = meta.read_bytes()
    problems = [] if _PART.search(xmp) else ["XMP has no pdfaid:part 3"]
    problems += [] if _CONFORMANCE.search(xmp) else ["XMP has no pdfaid:conformance B"]
    info = doc.trailer.get("/Info")
    title = info.get("/Title") if info is not None else None
    if title is not None and str(title).encode("utf-8") not in xmp.replace(b"&amp;", b"&"):
        problems.append("the information dictionary's /Title differs from the XMP dc:title")
    return problems


def _output_intents(root: pikepdf.Dictionary) -> list[str]:
    pdfa = [i for i in root.get("/OutputIntents", []) if i.get("/S") == Name.GTS_PDFA1]
    if not pdfa:
        return ["no /OutputIntents entry with /S /GTS_PDFA1"]
    profile = pdfa[0].get("/DestOutputProfile")
    if profile is None:
        return ["the PDF/A output intent has no embedded ICC profile (/DestOutputProfile)"]
    icc = profile.read_bytes()
    if len(icc) < 132 or icc[36:40] != b"acsp":
        return ["the output intent's /DestOutputProfile is not an ICC profile"]
    return []


def _fonts(doc: pikepdf.Pdf) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    for number, page in enumerate(doc.pages, 1):
        for name, font in _page_fonts(page.obj.get("/Resources"), seen):
            if not _embedded(font):
                problems.append(f"page {number}: font {font.get('/BaseFont', name)} is not embedded")
    return problems


def _page_fonts(resources, seen: set[tuple[int, int]]):
    """(resource name, font dictionary) of a resource dictionary and the form XObjects it uses."""
    if resources is None:
        return
    fonts = resources.get("/Font")
    for name, font in (fonts.items() if fonts is not None else ()):
        yield name, font
    xobjects = resources.get("/XObject")
    for xobject in (xobjects.values() if xobjects is not None else ()):
        if xobject.is_indirect:
            if xobject.objgen in seen:
                continue
            seen.add(xobject.objgen)
        if xobject.get("/Subtype") == Name.Form:
            yield from _page_fonts(xobject.get("/Resources"), seen)


def _embedded(font: pikepdf.Dictionary) -> bool:
    if font.get("/Subtype") == Name.Type3:
        return True  # glyphs are content streams of the font itself
    if font.get("/Subtype") == Name.Type0:
        return all(_embedded(d) for d in font.get("/DescendantFonts", []))
    descriptor = font.get("/FontDescriptor")
    if descriptor is None:
        return False
    return any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def _embedded_specs(root: pikepdf.Dictionary) -> list[tuple[str, pikepdf.Object]]:
    """(name, file specification) of the catalog's embedded files name tree (its flat /Names array)."""
    names = root.get("/Names")
    tree = names.get("/EmbeddedFiles") if names is not None else None
    flat = list(tree.get("/Names", [])) if tree is not None else []
    return [(str(name), spec) for name, spec in zip(flat[::2], flat[1::2])]


def _attachments(root: pikepdf.Dictionary) -> list[str]:
    listed = {spec.objgen for spec in root.get("/AF", []) if spec.is_indirect}
    problems = []
    for name, spec in _embedded_specs(root):
        if str(spec.get("/AFRelationship", "")) not in _RELATIONSHIPS:
            problems.append(f"embedded file {name}: no valid /AFRelationship")
        if not spec.is_indirect or spec.objgen not in listed:
            problems.append(f"embedded file {name}: not listed in the catalog's /AF")
        ef = spec.get("/EF")
        stream = ef.get("/F") if ef is not None else None
        if stream is None or "/Subtype" not in stream:
            problems.append(f"embedded file {name}: no embedded file stream with a MIME /Subtype")
        if "/UF" not in spec or "/F" not in spec:
            problems.append(f"embedded file {name}: the file specification lacks /F or /UF")
    return problems


def embedded_files(data: bytes) -> dict[str, tuple[str, bytes]]:
    """The associated files of a PDF: {name: (AFRelationship without slash, bytes)}."""
    with pikepdf.open(io.BytesIO(data)) as doc:
        return {name: (str(spec.get("/AFRelationship", "")).lstrip("/"), spec.EF.F.read_bytes())
                for name, spec in _embedded_specs(doc.Root)}
