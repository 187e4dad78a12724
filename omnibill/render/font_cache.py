"""TrueType fonts whose embedded subsets are built once per worker process, not once per PDF.

ReportLab subsets, deflates and formats every font again for every document: about a third of a PDF's
render time. Invoices share their subsets (all of ASCII plus the same few Nordic letters, in the same
order), so the finished objects are kept per subset and only wrapped for each new document. The bytes
written are exactly those ReportLab writes itself (tests/unit/test_render_font_cache.py compares them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, SUBSETN, TTFont, makeToUnicodeCMap

KEEP = 512  # subsets kept per font (one or two per document type and alphabet in practice; ~25 KB each)


class Formatted(pdfdoc.PDFObject):
    """A PDF object whose bytes were formatted once (they name no other object)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: object) -> bytes:
        """The stored bytes."""
        return self.data


@dataclass(frozen=True)
class SubsetParts:
    """One subset's document-independent pieces: deflated font program and ToUnicode map, formatted widths."""

    base_font: str
    widths: Formatted
    cmap: bytes
    font_file: bytes
    length1: int


def _deflated_stream(content: bytes, **entries: object) -> pdfdoc.PDFStream:
    """A stream whose content is already deflated (the Filter entry tells ReportLab not to encode it again)."""
    flate = pdfdoc.PDFArray([pdfdoc.PDFName(pdfdoc.PDFZCompress.pdfname)])
    return pdfdoc.PDFStream(pdfdoc.PDFDictionary({**entries, "Filter": flate}), content)


class CachedSubsetTTFont(TTFont):
    """A TTFont that keeps the embedded objects of each subset it has written (ReportLab 4-5 addObjects, cached)."""

    def __init__(self, name: str, filename: str) -> None:
        super().__init__(name, filename)
        self._parts: OrderedDict[tuple[int, tuple[int, ...]], SubsetParts] = OrderedDict()

    def parts(self, n: int, subset: list[int]) -> SubsetParts:
        """The pieces of subset number n, built on first use."""
        key = (n, tuple(subset))
        found = self._parts.get(key)
        if found is not None:
            self._parts.move_to_end(key)
            return found
        face, deflate = self.face, pdfdoc.PDFZCompress.encode
        base_font = b"".join((SUBSETN(n), b"+", face.name, face.subfontNameX)).decode("pdfdoc")
        program = face.makeSubset(subset)
        widths = Formatted(pdfdoc.PDFArray(list(map(face.getCharWidth, subset))).format(pdfdoc.DummyDoc()))
        made = SubsetParts(base_font, widths, deflate(makeToUnicodeCMap(base_font, subset)), deflate(program),
                           len(program))
        self._parts[key] = made
        if len(self._parts) > KEEP:
            self._parts.popitem(last=False)
        return made

    def addObjects(self, doc: pdfdoc.PDFDocument) -> None:  # noqa: N802 - ReportLab's name
        """Add the Font, FontDescriptor, font program and ToUnicode objects of every subset used in doc."""
        if not doc.compression:
            super().addObjects(doc)
            return
        state = self._assignState(doc)
        state.frozen = 1
        for n, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(n, doc)[1:]
            parts = self.parts(n, subset)
            font = pdfdoc.PDFTrueTypeFont()
            font.__Comment__ = f"Font {self.fontName} subset {n}"
            font.Name, font.BaseFont = internal_name, parts.base_font
            font.FirstChar, font.LastChar, font.Widths = 0, len(subset) - 1, parts.widths
            font.ToUnicode = doc.Reference(_deflated_stream(parts.cmap), "toUnicodeCMap:" + parts.base_font)
            font.FontDescriptor = self._descriptor(doc, parts)
            doc.Reference(font, internal_name)
            doc.idToObject["BasicFonts"].dict[internal_name] = font
        del self.state[doc]

    def _descriptor(self, doc: pdfdoc.PDFDocument, parts: SubsetParts) -> pdfdoc.PDFObjectReference:
        face = self.face
        program = _deflated_stream(parts.font_file, Length1=parts.length1)
        program_ref = doc.Reference(program, f"fontFile:{face.filename}({parts.base_font})")
        descriptor = pdfdoc.PDFDictionary({
            "Type": "/FontDescriptor", "Ascent": face.ascent, "CapHeight": face.capHeight, "Descent": face.descent,
            "Flags": (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC, "FontBBox": pdfdoc.PDFArray(face.bbox),
            "FontName": pdfdoc.PDFName(parts.base_font), "ItalicAngle": face.italicAngle, "StemV": face.stemV,
            "FontFile2": program_ref, "MissingWidth": face.defaultWidth,
        })
        return doc.Reference(descriptor, "fontDescriptor:" + parts.base_font)
