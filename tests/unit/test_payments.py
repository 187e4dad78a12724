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


# --- Finnish virtual bank barcode (Finanssiala, "Pankkiviivakoodi-opas") ---------------------------------------
from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

from config.tenant import giro_problem  # noqa: E402
from omnibill.payments import fi_virtual_barcode, fik_payment_id  # noqa: E402


@pytest.mark.parametrize(("iban", "amount", "reference", "due", "expected"), [
    # the guide's version 4 example: FI79 4405 2020 0360 82, 4 883,15 €, ref 86851 62596 19897, due 12.6.2010
    ("FI79 4405 2020 0360 82", "4883.15", "868516259619897", date(2010, 6, 12),
     "479440520200360820048831500000000868516259619897100612"),
    # ... and version 5, the same payment with the RF reference RF09 8685 1625 9619 897
    ("FI79 4405 2020 0360 82", "4883.15", "RF09 8685 1625 9619 897", date(2010, 6, 12),
     "579440520200360820048831509000000868516259619897100612"),
    # the official Finvoice 3.0 example's VirtualBankBarcode (IBAN FI48 1950 3000 0000 10, 1 116,00 €)
    ("FI4819503000000010", "1116.00", "91901000011", date(2019, 1, 28),
     "448195030000000100011160000000000000091901000011190128"),
])
def test_fi_virtual_barcode_matches_published_examples(iban, amount, reference, due, expected):
    assert fi_virtual_barcode(iban, Decimal(amount), reference, due) == expected
    assert len(expected) == 54


def test_fi_virtual_barcode_without_amount_or_due_date_and_bad_input():
    code = fi_virtual_barcode("FI2112345600000785", None, "1232", None)
    assert code[17:25] == "00000000" and code.endswith("000000") and len(code) == 54
    with pytest.raises(ValueError):
        fi_virtual_barcode("SE4550000000058398257466", Decimal(1), "1232", None)
    with pytest.raises(ValueError):
        fi_virtual_barcode("FI2112345600000785", Decimal(1), "1233", None)


@pytest.mark.parametrize(("kind", "number", "reason"), [
    ("bankgiro", "5050-1055", None),        # Bankgirot's own example number
    ("bankgiro", "5050-1056", "bad check digit"),
    ("bankgiro", "123-456", "length"),
    ("plusgiro", "90 20 90-0", None),       # Radiohjälpen's 90-account
    ("plusgiro", "90 20 90-1", "bad check digit"),
    ("plusgiro", "4x", "not digits"),
])
def test_bankgiro_and_plusgiro_numbers(kind, number, reason):
    assert giro_problem(kind, number) == reason


def test_fik_card_types_71_73_75():
    assert fik_payment_line("", "81234567", "73") == "+73<+81234567<"
    pid16 = fik_payment_id("2", "75")
    assert len(pid16) == 16 and pid16.endswith("26")
    assert fik_payment_line(pid16, "81234567", "75") == f"+75<{pid16}+81234567<"
    assert fik_payment_id("1") == "000000000000018"
    with pytest.raises(ValueError):
        fik_payment_line("000000000000018", "81234567", "75")
    with pytest.raises(ValueError):
        fik_payment_line("1", "81234567", "72")


def test_kid_mode_is_chosen_per_tenant():
    assert make_reference("NOK", "12345678", kid_mode="mod11") == "123456785"
    assert make_reference("NOK", "60224", kid_mode="mod10") == "602243"
    assert validate_reference("NOK", "602243", kid_mode="mod11") == "bad check digit"
    assert validate_reference("NOK", "123456785", kid_mode="mod10") == "bad check digit"
    assert validate_reference("NOK", "123456785", kid_mode="mod11") is None


def test_rf_reference_generated_on_request():
    ref = make_reference("EUR", "123", rf=True)
    assert ref == rf_reference("1232") and iso11649.is_valid(ref)
    assert validate_reference("EUR", ref) is None


def test_tenant_file_rejects_a_bankgiro_with_a_bad_check_digit():
    from pydantic import ValidationError

    from config.tenant import Sender, load_tenant
    from tests.unit.render_fixtures import REPO

    sender = load_tenant("demo", REPO / "config" / "tenants").sender.model_dump()
    with pytest.raises(ValidationError, match="bankgiro"):
        Sender(**(sender | {"bankgiro": "5050-1056"}))
    with pytest.raises(ValidationError, match="plusgiro"):
        Sender(**(sender | {"plusgiro": "90 20 90-1"}))
    assert Sender(**(sender | {"plusgiro": "90 20 90-0"})).plusgiro == "90 20 90-0"
