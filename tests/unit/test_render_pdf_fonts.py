"""Names in Nordic, Arabic and CJK scripts print with embedded fonts, falling back per glyph run."""

from __future__ import annotations

import io
import unicodedata

import pytest
from pypdf import PdfReader

from omnibill.render import render_pdf
from omnibill.render.fonts import FALLBACKS, FONT, coverage, glyph_runs, visual
from tests.unit.render_fixtures import demo_sender, doc_from, line, party

HAVE_CJK = FALLBACKS[0][1].is_file()
APT_HINT = "CJK fallback font missing: apt-get install fonts-droid-fallback fonts-nanum"


def _text_and_fonts(pdf: bytes) -> tuple[str, set[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    fonts = {str(f.get_object()["/BaseFont"]).split("+")[-1] for f in reader.pages[0]["/Resources"]["/Font"].values()}
    return unicodedata.normalize("NFKC", reader.pages[0].extract_text()), fonts


def test_nordic_letters_use_the_main_face_only() -> None:
    assert glyph_runs("Åsa Øberg-Ærø Söderström Þór Ðóra", FONT) == [(FONT, "Åsa Øberg-Ærø Söderström Þór Ðóra")]


def test_arabic_is_shaped_and_ordered_for_a_left_to_right_page() -> None:
    shaped = visual("محمد Åkesson")
    # joining forms (final dal ... initial meem), right-to-left inside the word, the Latin name after it
    assert shaped == "\ufeaa\ufee4\ufea4\ufee3 Åkesson"
    assert all(ord(ch) in coverage(FONT) for ch in shaped if not ch.isspace())


@pytest.mark.skipif(not HAVE_CJK, reason=APT_HINT)
def test_cjk_and_hangul_fall_back_per_run_and_are_embedded() -> None:
    runs = glyph_runs("王小明 / 김민준 / Åsa", FONT)
    assert [f for f, _ in runs] == ["OmniCJK", FONT, "OmniKorean", FONT]
    doc = doc_from([line(1, "電力 / Электроэнергия", "1", "kWh", "1")],
                   customer=party(name="王小明 محمد 김민준 Åsa"))
    text, fonts = _text_and_fonts(render_pdf(doc, demo_sender()))
    assert "王小明" in text and "김민준" in text and "電力" in text and "Электроэнергия" in text
    assert {"DroidSansFallback", "NanumGothic"} <= fonts
    reader = PdfReader(io.BytesIO(render_pdf(doc, demo_sender())))
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        assert "/FontFile2" in font.get_object()["/FontDescriptor"]  # embedded (subset) TrueType


def test_latin_only_documents_do_not_embed_the_fallbacks() -> None:
    _, fonts = _text_and_fonts(render_pdf(doc_from([line(1, "Elenergi", "1", "kWh", "1")]), demo_sender()))
    assert not {"DroidSansFallback", "NanumGothic"} & fonts
