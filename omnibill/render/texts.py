"""Fixed texts through gettext catalogs (sv, fi, da, nb; English source), numbers and dates formatted by Babel."""

from __future__ import annotations

import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_decimal_symbol, get_group_symbol
from babel.support import NullTranslations, Translations

from omnibill.render.messages import MESSAGES

NBSP = "\u00a0"
FALLBACK = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "omnibill"
# The Babel locale per supported language, and the currency written with its local symbol there.
LOCALES = {"sv": "sv_SE", "fi": "fi_FI", "da": "da_DK", "nb": "nb_NO", "en": "en_IE"}
HOME_CURRENCY = {"sv": "SEK", "fi": "EUR", "da": "DKK", "nb": "NOK", "en": "EUR"}
_ALIASES = {"no": "nb", "nn": "nb"}
_DATE_FORMAT = {"en": "medium"}  # '1 Dec 2026': English numeric dates are read differently on each side of the Atlantic


def language_of(code: str | None) -> str:
    """The supported language for a customer's language code, falling back to English."""
    code = (code or "").lower().replace("_", "-").split("-")[0]
    code = _ALIASES.get(code, code)
    return code if code in LOCALES else FALLBACK


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    """The gettext translations of a language, compiled in memory from its .po catalog (English: identity)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


@lru_cache(maxsize=8)
def texts_for(language: str | None) -> dict[str, str]:
    """Every fixed text translated into a language (fallback English), by key."""
    gettext = translations(language_of(language)).gettext
    return {key: gettext(message) for key, message in MESSAGES.items()}


class _Texts(dict):
    """All languages' texts, loaded on first use."""

    def __missing__(self, language: str) -> dict[str, str]:
        if language not in LOCALES:
            raise KeyError(language)
        self[language] = texts_for(language)
        return self[language]

    def values(self):  # type: ignore[override]
        return [self[lang] for lang in LOCALES]


TEXTS: dict[str, dict[str, str]] = _Texts()


def _round(value: Decimal, places: int) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _spaced(text: str, space: str) -> str:
    return text.replace(NBSP, space).replace("\u202f", space) if space != NBSP else text.replace("\u202f", NBSP)


@lru_cache(maxsize=8)
def _separators(language: str) -> dict[int, str]:
    """str.translate table from Python's ',' and '.' to the language's group and decimal symbols (CLDR)."""
    return str.maketrans({",": get_group_symbol(LOCALES[language]), ".": get_decimal_symbol(LOCALES[language])})


def _digits(value: Decimal, language: str, min_dec: int, max_dec: int) -> str:
    """What Babel's '#,##0.00##' pattern writes, by Python's own formatting (Babel's apply is ~10x slower).

    Babel writes the sign with '-' and keeps the sign of a negative zero; so does Decimal's format.
    tests/unit/test_render_texts.py compares both over many values and every language.
    """
    text = format(_round(value, max_dec), f",.{max_dec}f")
    if max_dec > min_dec:
        whole, _, fraction = text.partition(".")
        fraction = fraction[:min_dec] + fraction[min_dec:].rstrip("0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text.translate(_separators(language))


def format_number(value: Decimal, language: str, min_dec: int = 2, max_dec: int = 2, space: str = NBSP) -> str:
    """A number with the language's separators (Babel/CLDR), between min_dec and max_dec decimals."""
    return _spaced(_digits(value, language_of(language), min_dec, max_dec), space)


@lru_cache(maxsize=32)
def _money_pattern(language: str, currency: str) -> str:
    pattern = Locale.parse(LOCALES[language]).currency_formats["standard"].pattern.split(";")[0]
    if currency in (HOME_CURRENCY[language], "EUR"):
        return pattern
    # Foreign currencies by ISO code ('1 234,50 NOK', 'SEK 1,234.50'): CLDR's narrow symbols are ambiguous here.
    return pattern.replace("¤", "¤¤" + NBSP) if pattern.startswith("¤") else pattern.replace("¤", "¤¤")


@lru_cache(maxsize=64)
def _money_affixes(language: str, currency: str) -> tuple[str, str]:
    """(before, after) the number in Babel's rendering of an amount in a currency, taken from Babel once."""
    one = format_currency(Decimal("1.00"), currency, format=_money_pattern(language, currency), locale=LOCALES[language],
                          currency_digits=False, decimal_quantization=False)
    before, after = one.split(_digits(Decimal(1), language, 2, 2), 1)
    return before, after


def format_money(amount: Decimal, currency: str, language: str, space: str = NBSP) -> str:
    """An amount with currency as people in that language write it: '1 234,50 kr', '€1,234.50'."""
    lang = language_of(language)
    before, after = _money_affixes(lang, currency)
    number = _digits(amount, lang, 2, 2)
    sign, number = ("-", number[1:]) if number.startswith("-") else ("", number)
    return _spaced(f"{sign}{before}{number}{after}", space)


@lru_cache(maxsize=1024)
def format_date(day: date, language: str) -> str:
    """A date in the language's CLDR short form (2026-12-01, 1.12.2026, 01.12.2026; English '1 Dec 2026')."""
    lang = language_of(language)
    return babel_date(day, _DATE_FORMAT.get(lang, "short"), locale=LOCALES[lang])


@lru_cache(maxsize=1024)
def month_label(month: str, language: str) -> str:
    """A short stand-alone month name for 'YYYY-MM' ('dec', 'joulu', 'Dec')."""
    if not (len(month) >= 7 and month[:4].isdigit() and month[5:7].isdigit() and 1 <= int(month[5:7]) <= 12):
        return month
    lang = language_of(language)
    return babel_date(date(int(month[:4]), int(month[5:7]), 1), "LLL", locale=LOCALES[lang]).rstrip(".")
