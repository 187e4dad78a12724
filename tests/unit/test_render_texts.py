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


def _babel_number(value: Decimal, language: str, min_dec: int, max_dec: int) -> str:
    """The reference: Babel's own pattern formatting, as format_number did it before it was sped up."""
    from babel import Locale
    from babel.numbers import parse_pattern

    from omnibill.render.texts import LOCALES, _round

    pattern = parse_pattern("#,##0" + ("." + "0" * min_dec + "#" * (max_dec - min_dec) if max_dec else ""))
    return pattern.apply(_round(value, max_dec), Locale.parse(LOCALES[language]), decimal_quantization=False)


def _babel_money(amount: Decimal, currency: str, language: str) -> str:
    from babel.numbers import format_currency

    from omnibill.render.texts import LOCALES, _money_pattern, _round

    return format_currency(_round(amount, 2), currency, format=_money_pattern(language, currency),
                           locale=LOCALES[language], currency_digits=False, decimal_quantization=False)


def _values() -> list[Decimal]:
    import random

    rng = random.Random(13)
    edges = ["0", "-0", "0.004", "-0.004", "0.005", "-0.005", "0.0049", "999.995", "-999.995", "1000", "-1000000",
             "12345678901.23456", "1E+3", "-1E-7", "0.10", "25", "843.250", "1.2345", "-1234567.891"]
    randoms = [Decimal(rng.randint(-10**9, 10**9)).scaleb(-rng.randint(0, 6)) for _ in range(400)]
    return [Decimal(v) for v in edges] + randoms


@pytest.mark.parametrize("language", ["sv", "fi", "da", "nb", "en"])
def test_numbers_are_written_as_babel_writes_them(language: str) -> None:
    from omnibill.render.texts import format_number

    for value in _values():
        for min_dec, max_dec in ((2, 2), (0, 3), (2, 4), (0, 2), (0, 0)):
            expected = _babel_number(value, language, min_dec, max_dec)
            assert format_number(value, language, min_dec, max_dec) == expected, (value, min_dec, max_dec)
            assert format_number(value, language, min_dec, max_dec, space=" ") == expected.replace(NBSP, " ")


@pytest.mark.parametrize("language", ["sv", "fi", "da", "nb", "en"])
def test_amounts_are_written_as_babel_writes_them(language: str) -> None:
    for amount in _values():
        for currency in ("SEK", "EUR", "DKK", "NOK", "USD", "ISK"):
            assert format_money(amount, currency, language) == _babel_money(amount, currency, language), (amount, currency)
