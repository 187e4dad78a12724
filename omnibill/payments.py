"""Structured payment references per currency: Swedish OCR, Finnish viitenumero/RF, Danish FIK, Norwegian KID."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from stdnum import iso11649, luhn
from stdnum.iso7064 import mod_97_10

# Longest base (digits before check digits) each scheme takes, and the digits a hashed id gets.
_MAX_BASE = {"SEK": 23, "EUR": 19, "DKK": 14, "NOK": 24}
_HASH_DIGITS = {"SEK": 15, "EUR": 15, "DKK": 14, "NOK": 15}
_FIK_LENGTHS = (15, 16)  # payment id incl. check digit: +71 cards 15 digits, +75 cards 16


def compact_reference(ref: str) -> str:
    """The reference without the spaces it is often printed with, upper-cased (RF)."""
    return re.sub(r"\s+", "", ref).upper()


def _hashed_digits(invoice_id: str, digits: int) -> str:
    """A stable number of `digits` digits without a leading zero, from any id."""
    value = int.from_bytes(hashlib.sha256(invoice_id.encode("utf-8")).digest(), "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


def _base_digits(currency: str, invoice_id: str) -> str:
    """The id itself when it is all digits and fits the scheme, else a hash of it."""
    if invoice_id.isascii() and invoice_id.isdigit():
        base = invoice_id.lstrip("0") if currency == "EUR" else invoice_id
        if (3 if currency == "EUR" else 1) <= len(base) <= _MAX_BASE[currency]:
            return base
    return _hashed_digits(invoice_id, _HASH_DIGITS[currency])


def fi_check_digit(base: str) -> str:
    """Check digit of a Finnish reference: weights 7, 3, 1 from the right, then up to the next ten."""
    total = sum(int(d) * (7, 3, 1)[i % 3] for i, d in enumerate(reversed(base)))
    return str((10 - total % 10) % 10)


def ocr_with_length_digit(base: str) -> str:
    """Swedish OCR: base + length digit (total length mod 10) + Luhn check digit over both."""
    with_length = base + str((len(base) + 2) % 10)
    return with_length + luhn.calc_check_digit(with_length)


_FIK_ID_LENGTH = {"71": 15, "73": 0, "75": 16}


def fik_payment_line(payment_id: str, creditor: str, card: str = "71") -> str:
    """The FIK code line: `+71<id>+<creditor><` (15-digit id), `+75<id>+<creditor><` (16), `+73<+<creditor><` (none)."""
    if card not in _FIK_ID_LENGTH:
        raise ValueError(f"unsupported FIK card type +{card}")
    length = _FIK_ID_LENGTH[card]
    if length and (len(payment_id) != length or not payment_id.isdigit() or not luhn.is_valid(payment_id)):
        raise ValueError(f"a +{card} payment id is {length} digits with a valid MOD10 check digit")
    if not (creditor.isascii() and creditor.isdigit() and len(creditor) == 8):
        raise ValueError("a FIK creditor number is 8 digits")
    return f"+{card}<{payment_id if length else ''}+{creditor}<"


def fik_payment_id(invoice_id: str, card: str = "71") -> str:
    """The FIK payment id for a +71 (15 digits) or +75 (16 digits) card, MOD10 check digit last."""
    length = _FIK_ID_LENGTH[card]
    base = _base_digits("DKK", invoice_id)[-(length - 1):].zfill(length - 1)
    return base + luhn.calc_check_digit(base)


def make_reference(currency: str, invoice_id: str, *, kid_mode: str = "mod10", rf: bool = False) -> str:
    """The currency's structured payment reference from the invoice id (NOK: KID MOD10/MOD11; EUR: RF opt.)."""
    if currency not in _MAX_BASE:
        raise ValueError(f"no payment reference scheme for currency {currency!r}")
    base = _base_digits(currency, invoice_id)
    if currency == "SEK":
        return ocr_with_length_digit(base)
    if currency == "EUR":
        return rf_reference(base + fi_check_digit(base)) if rf else base + fi_check_digit(base)
    if currency == "NOK" and kid_mode == "mod11":
        return base + kid_mod11_check_digit(base)
    if currency == "DKK":
        base = base.zfill(14)
    return base + luhn.calc_check_digit(base)


def rf_reference(national_ref: str) -> str:
    """The ISO 11649 RF creditor reference wrapping a national reference."""
    body = compact_reference(national_ref)
    reference = "RF" + mod_97_10.calc_check_digits(body + "RF") + body
    return iso11649.validate(reference)


def kid_mod11_check_digit(base: str) -> str:
    """KID MOD11 check digit: weights 2..7 from the right; remainder 10 gives '-'."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(base)))
    check = (11 - total % 11) % 11
    return "-" if check == 10 else str(check)


def _check_sek(ref: str, ocr_length_digit: bool) -> str | None:
    if not 2 <= len(ref) <= 25:
        return "length"
    if not luhn.is_valid(ref):
        return "bad check digit"
    if ocr_length_digit and ref[-2] != str(len(ref) % 10):
        return "bad length digit"
    return None


def _check_eur(ref: str) -> str | None:
    if ref.startswith("RF"):
        return None if iso11649.is_valid(ref) else "bad check digit"
    if not ref.isdigit():
        return "not digits"
    if not 4 <= len(ref) <= 20:
        return "length"
    return None if fi_check_digit(ref[:-1]) == ref[-1] else "bad check digit"


def _check_nok(ref: str, kid_mode: str | None) -> str | None:
    if not 2 <= len(ref) <= 25:
        return "length"
    mod11 = kid_mod11_check_digit(ref[:-1]) == ref[-1]
    mod10 = ref[-1] != "-" and luhn.is_valid(ref)
    ok = {"mod10": mod10, "mod11": mod11}.get(kid_mode or "", mod10 or mod11)
    return None if ok else "bad check digit"


def validate_reference(currency: str, ref: str, *, ocr_length_digit: bool = False,
                       kid_mode: str | None = None) -> str | None:
    """None when `ref` is a valid reference for the currency, else a short reason (kid_mode None: either)."""
    ref = compact_reference(ref or "")
    if not ref:
        return "empty"
    if currency == "EUR":
        return _check_eur(ref)
    digits = ref[:-1] if currency == "NOK" and ref.endswith("-") else ref
    if not (digits.isascii() and digits.isdigit()):
        return "not digits"
    if currency == "SEK":
        return _check_sek(ref, ocr_length_digit)
    if currency == "NOK":
        return _check_nok(ref, kid_mode)
    if currency == "DKK":
        if len(ref) not in _FIK_LENGTHS:
            return "length"
        return None if luhn.is_valid(ref) else "bad check digit"
    return "unsupported currency"


def fi_virtual_barcode(iban: str, amount: Decimal | None, reference: str, due: date | None) -> str:
    """The 54-digit Finnish virtual bank barcode: version 4 (national reference) or 5 (RF reference)."""
    account = compact_reference(iban)
    if not (account.startswith("FI") and len(account) == 18 and account[2:].isdigit()):
        raise ValueError("the bank barcode needs a Finnish IBAN")
    cents = int((amount or Decimal(0)) * 100) if amount and 0 < amount <= Decimal("999999.99") else 0
    money = f"{cents // 100:06d}{cents % 100:02d}"
    ref = compact_reference(reference)
    if validate_reference("EUR", ref):
        raise ValueError(f"not a valid Finnish or RF reference: {reference!r}")
    day = due.strftime("%y%m%d") if due else "000000"
    if ref.startswith("RF"):
        body = ref[4:]
        if len(body) > 21 or not body.isdigit():
            raise ValueError("a version 5 barcode takes a numeric RF reference of up to 21 digits")
        return f"5{account[2:]}{money}{ref[2:4]}{body.zfill(21)}{day}"
    return f"4{account[2:]}{money}000{ref.zfill(20)}{day}"
