"""Amounts, dates and fixed texts per language."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from omnibill.render.messages import MESSAGES
from omnibill.render.texts import LOCALE_DIR, TEXTS, format_date, format_money, language_of, month_label, translations

NBSP = "\u00a0"


@pytest.mark.parametrize(("amount", "currency", "language", "expected"), [
    ("1234.5", "SEK", "sv", "1 234,50 kr"),
    ("1234.5", "EUR", "fi", "1 234,50 €"),
    ("1234.5", "DKK", "da", "1.234,50 kr."),
    ("1234.5", "NOK", "nb", "1 234,50 kr"),
    ("1234.5", "EUR", "en", "€1,234.50"),
    ("1234.5", "SEK", "en", "SEK 1,234.50"),
    ("1234.5", "NOK", "sv", "1 234,50 NOK"),
    ("-1234567.005", "SEK", "sv", "-1 234 567,01 kr"),
    ("0", "EUR", "fi", "0,00 €"),
    ("-12.5", "SEK", "en", "-SEK 12.50"),
])
def test_money(amount: str, currency: str, language: str, expected: str) -> None:
    assert format_money(Decimal(amount), currency, language).replace(NBSP, " ") == expected


@pytest.mark.parametrize(("language", "expected"), [("sv", "2026-12-01"), ("fi", "1.12.2026"), ("da", "01.12.2026"),
                                                    ("nb", "01.12.2026"), ("en", "1 Dec 2026")])
def test_dates(language: str, expected: str) -> None:
    assert format_date(date(2026, 12, 1), language) == expected


@pytest.mark.parametrize(("code", "expected"), [("sv", "sv"), ("sv-SE", "sv"), ("no", "nb"), ("nn", "nb"),
                                                ("FI", "fi"), ("de", "en"), (None, "en"), ("", "en")])
def test_language_fallback(code: str | None, expected: str) -> None:
    assert language_of(code) == expected


def test_every_language_has_every_text() -> None:
    keys = set(MESSAGES)
    assert all(set(TEXTS[lang]) == keys for lang in ("sv", "fi", "da", "nb", "en"))


@pytest.mark.parametrize("language", ["sv", "fi", "da", "nb"])
def test_catalogs_translate_every_message_with_the_same_placeholders(language: str) -> None:
    assert (LOCALE_DIR / language / "LC_MESSAGES" / "omnibill.po").is_file()
    gettext = translations(language).gettext
    for key, source in MESSAGES.items():
        translated = gettext(source)
        assert translated, key
        assert sorted(re.findall(r"{\w+}", translated)) == sorted(re.findall(r"{\w+}", source)), key
    assert gettext("Invoice") != "Invoice" or language in ("da", "nb", "sv")  # Faktura is Faktura
    assert TEXTS[language]["due_date"] != MESSAGES["due_date"]


@pytest.mark.parametrize(("language", "expected"), [("sv", "dec"), ("fi", "joulu"), ("da", "dec"), ("nb", "des"),
                                                    ("en", "Dec")])
def test_month_names_come_from_cldr(language: str, expected: str) -> None:
    assert month_label("2026-12", language) == expected
