"""Payment references against published examples and their own validators."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso11649

from omnibill.payments import (fik_payment_line, kid_mod11_check_digit, make_reference, rf_reference,
                               validate_reference)


@pytest.mark.parametrize(("invoice_id", "expected"), [
    ("123", "1232"),        # Finanssiala's reference guide: base 123 -> 1232
    ("124", "1245"),
    ("123456", "1234561"),
    ("000123", "1232"),     # leading zeros are not part of a Finnish reference
])
def test_finnish_reference_uses_weights_7_3_1(invoice_id, expected):
    assert make_reference("EUR", invoice_id) == expected
    assert validate_reference("EUR", expected) is None


def test_rf_reference_matches_iso_11649_example():
    assert rf_reference("539007547034") == "RF18539007547034"
    assert iso11649.is_valid(rf_reference(make_reference("EUR", "INV-1")))


@pytest.mark.parametrize(("ref", "reason"), [
    ("RF18 5390 0754 7034", None),
    ("RF17539007547034", "bad check digit"),
    ("1233", "bad check digit"),
    ("12a2", "not digits"),
    ("123", "length"),
    ("1" * 21, "length"),
    ("", "empty"),
])
def test_eur_validation_reasons(ref, reason):
    assert validate_reference("EUR", ref) == reason


def test_swedish_ocr_has_length_and_luhn_digit():
    # base 12345 -> length digit 7 (seven digits in all), Luhn over 123457 -> 4
    assert make_reference("SEK", "12345") == "1234574"
    # Bankgirot's hard check with length digit: 12345682 (8 digits, length digit 8, check digit 2)
    assert validate_reference("SEK", "12345682", ocr_length_digit=True) is None
    assert validate_reference("SEK", "1234567897", ocr_length_digit=True) == "bad length digit"


@pytest.mark.parametrize(("ref", "reason"), [
    ("79927398713", None),  # the classic Luhn example
    ("79927398710", "bad check digit"),
    ("7992 7398 713", None),
    ("7992-7398713", "not digits"),
    ("1" * 26, "length"),
])
def test_sek_validation_reasons(ref, reason):
    assert validate_reference("SEK", ref) == reason


@pytest.mark.parametrize(("payment_id", "reference"), [
    ("1", "000000000000018"),  # FI-kort guide: betalings-id 1 is printed as 18, 2 as 26
    ("2", "000000000000026"),
])
def test_fik_payment_id_is_15_digits_with_mod10(payment_id, reference):
    assert make_reference("DKK", payment_id) == reference
    assert validate_reference("DKK", reference) is None


def test_fik_published_code_line_validates():
    assert validate_reference("DKK", "004040400000669") is None  # +71<004040400000669+12345678<
    assert validate_reference("DKK", "004040400000668") == "bad check digit"
    assert validate_reference("DKK", "18") == "length"


def test_fik_payment_line():
    assert fik_payment_line("000000000000026", "81234567") == "+71<000000000000026+81234567<"
    with pytest.raises(ValueError):
        fik_payment_line("000000000000027", "81234567")
    with pytest.raises(ValueError):
        fik_payment_line("000000000000026", "1234")


def test_kid_mod10_example_and_mod11_accepted():
    assert make_reference("NOK", "60224") == "602243"  # invoice 60224 -> KID 602243 (MOD10)
    assert validate_reference("NOK", "602243") is None
    assert validate_reference("NOK", "602244") == "bad check digit"
    # MOD11: 12345678 weighted 3,2,7,6,5,4,3,2 (2..7 from the right) = 138; 11 - 138 % 11 = 5
    assert kid_mod11_check_digit("12345678") == "5"
    assert validate_reference("NOK", "123456785") is None


def test_kid_mod11_remainder_ten_is_a_dash():
    base = next(str(n) for n in range(100, 1000) if kid_mod11_check_digit(str(n)) == "-")
    assert validate_reference("NOK", base + "-") is None


def test_unknown_currency():
    with pytest.raises(ValueError):
        make_reference("GBP", "1")
    assert validate_reference("GBP", "12") == "unsupported currency"


@pytest.mark.parametrize("currency", ["SEK", "EUR", "DKK", "NOK"])
def test_ids_that_are_not_plain_digits_are_hashed_stably(currency):
    first = make_reference(currency, "INV-202611-000001")
    assert first == make_reference(currency, "INV-202611-000001")
    assert first != make_reference(currency, "INV-202611-000002")
    assert validate_reference(currency, first) is None
    assert validate_reference(currency, make_reference(currency, "9" * 30)) is None


@given(currency=st.sampled_from(["SEK", "EUR", "DKK", "NOK"]), invoice_id=st.text(min_size=0, max_size=40))
def test_every_made_reference_validates(currency, invoice_id):
    reference = make_reference(currency, invoice_id)
    assert validate_reference(currency, reference) is None
    if currency == "SEK":
        assert validate_reference(currency, reference, ocr_length_digit=True) is None


@given(currency=st.sampled_from(["SEK", "EUR", "DKK"]), invoice_id=st.from_regex(r"[1-9][0-9]{3,12}", fullmatch=True),
       position=st.integers(0, 3))
def test_a_single_changed_digit_is_caught(currency, invoice_id, position):
    """(KID is left out: it accepts MOD10 or MOD11, so one change in eleven passes the other.)"""
    reference = make_reference(currency, invoice_id)
    digit = reference[position]
    changed = reference[:position] + str((int(digit) + 1) % 10) + reference[position + 1:]
    assert validate_reference(currency, changed) is not None
