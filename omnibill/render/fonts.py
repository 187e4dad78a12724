"""PDF fonts: a Latin/Nordic main face, Arabic shaped into presentation forms, CJK from a fallback face per glyph run."""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab import rl_config
from reportlab.pdfbase import pdfdoc, pdfmetrics

from omnibill.render.font_cache import CachedSubsetTTFont

FONT, BOLD = "OmniSans", "OmniSans-Bold"
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
# DejaVu Sans (Latin, Nordic, Greek, Cyrillic, Arabic presentation forms; Debian fonts-dejavu-core) where the system
# has it; otherwise Bitstream Vera from inside the reportlab wheel (same Latin metrics, so the same layout).
_MAIN_CANDIDATES = (
    (_DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"),
    (Path(reportlab.__file__).parent / "fonts" / "Vera.ttf", Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf"),
)
# Fallback faces, tried in order for characters the main face lacks. TrueType outlines only: ReportLab subsets and
# embeds those, not the CFF-based Noto CJK. Chinese/Japanese: Droid Sans Fallback (Debian fonts-droid-fallback);
# Korean: Nanum Gothic (Debian fonts-nanum), since Droid Sans Fallback lacks most Hangul syllables.
FALLBACKS = (
    ("OmniCJK", Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
    ("OmniKorean", Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")),
)
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_HEBREW_ARABIC = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


class FastFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate at level 1: PDFs about 5% larger than at zlib's default level 6, rendered about 15% faster."""

    def encode(self, text: str | bytes) -> bytes:
        """Deflate a stream's content (text as UTF-8)."""
        return zlib.compress(text.encode("utf-8") if isinstance(text, str) else text, 1)


@lru_cache(maxsize=1)
def register_fonts() -> str:
    """Set ReportLab up once per process (fonts: main, bold, fallbacks; stream compression); returns the regular file."""
    rl_config.useA85 = 0  # binary (Flate only) streams: a quarter smaller and faster than ASCII85 wrapping
    pdfdoc.PDFZCompress = FastFlate()
    regular, bold = next((r, b) for r, b in _MAIN_CANDIDATES if r.is_file() and b.is_file())
    # Each embedded subset is built once per process and reused by every PDF that needs the same one.
    pdfmetrics.registerFont(CachedSubsetTTFont(FONT, str(regular)))
    pdfmetrics.registerFont(CachedSubsetTTFont(BOLD, str(bold)))
    for name, path in FALLBACKS:
        if path.is_file():
            pdfmetrics.registerFont(CachedSubsetTTFont(name, str(path)))
    return str(regular)


@lru_cache(maxsize=4)
def coverage(font: str) -> frozenset[int]:
    """The code points a registered font has glyphs for."""
    register_fonts()
    return frozenset(pdfmetrics.getFont(font).face.charToGlyph)


@lru_cache(maxsize=4)
def _characters(font: str) -> frozenset[str]:
    return frozenset(map(chr, coverage(font)))


def fallback_chain(font: str) -> tuple[str, ...]:
    """The fonts to try, in order, for a text set in `font`."""
    register_fonts()
    registered = set(pdfmetrics.getRegisteredFontNames())
    return (font, *(name for name, _ in FALLBACKS if name in registered))


def visual(text: str) -> str:
    """Right-to-left text shaped (Arabic joining forms) and put in visual order for a left-to-right canvas."""
    if not _HEBREW_ARABIC.search(text):
        return text
    from arabic_reshaper import reshape
    from bidi.algorithm import get_display

    # Base direction left-to-right: a name in Arabic script sits in a Nordic, left-to-right document.
    return get_display(reshape(text) if _ARABIC.search(text) else text, base_dir="L")


def glyph_runs(text: str, font: str) -> list[tuple[str, str]]:
    """(font, substring) runs: each character in the first font of the chain that has it (else the main one)."""
    if text.isascii() or _characters(font).issuperset(text):  # the common case, decided in C
        return [(font, text)]
    chain = fallback_chain(font)
    runs: list[tuple[str, str]] = []
    for ch in text:
        pick = next((f for f in chain if ord(ch) in coverage(f)), font) if not ch.isspace() else (runs[-1][0] if runs else font)
        if runs and runs[-1][0] == pick:
            runs[-1] = (pick, runs[-1][1] + ch)
        else:
            runs.append((pick, ch))
    return runs


def string_width(text: str, font: str, size: float) -> float:
    """The width of a text set with glyph-run fallback, in points."""
    return sum(pdfmetrics.stringWidth(part, f, size) for f, part in glyph_runs(visual(text), font))
