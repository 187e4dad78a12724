"""Reachability: e-mail (fast path = email-validator), E.164 mobiles, postal codes per country, PEPPOL ids."""

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from omnibill.decide.frames import customers_frame
from omnibill.decide.peppol import peppol_problem
from omnibill.decide.reachability import emails_normalised, mobiles_normalised, normalise_email, reach_frame

_LOCAL = st.text("abcXYZ019._+-!#", min_size=0, max_size=12)
_DOMAIN = st.text("abcz019.-_", min_size=0, max_size=14)
_TLD = st.sampled_from(["se", "fi", "com", "test", "local", "x", "c0m", "", "museum", "invalid"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.builds(lambda a, d, t, up: (f"{a}@{d}.{t}" if t else f"{a}@{d}").upper() if up
                          else (f"{a}@{d}.{t}" if t else f"{a}@{d}"), _LOCAL, _DOMAIN, _TLD, st.booleans()),
                max_size=20))
def test_vectorised_emails_agree_with_email_validator(addresses):
    got = emails_normalised(pd.Series(addresses, dtype=object)).tolist()
    assert got == [normalise_email(a) or "" for a in addresses]


@pytest.mark.parametrize("number, country, e164", [
    ("070-123 45 67", "SE", "+46701234567"), ("+46 70 123 45 67", "FI", "+46701234567"),
    ("040 123 4567", "FI", "+358401234567"), ("20 12 34 56", "DK", "+4520123456"),
    ("412 34 567", "NO", "+4741234567"), ("08-123 456 78", "SE", ""), ("12345", "SE", ""), ("", "SE", ""),
])
def test_mobiles_to_e164_for_the_customers_country(number, country, e164):
    assert mobiles_normalised(pd.Series([number]), pd.Series([country])).tolist() == [e164]


@pytest.mark.parametrize("country, code, problem", [
    ("SE", "111 22", ""), ("SE", "11122", ""), ("SE", "1112", "bad_postal_code"), ("FI", "00100", ""),
    ("FI", "0010", "bad_postal_code"), ("DK", "1620", ""), ("DK", "16200", "bad_postal_code"), ("NO", "0154", ""),
    ("NO", "NO-0154", "bad_postal_code"), ("DE", "10115", ""), ("SE", "", "address_missing:postal_code"),
])
def test_postal_address_complete_for_its_country(country, code, problem):
    customers = customers_frame([{"customer_id": "C", "customer_type": "person", "name": "N", "country": country,
                                  "language": "sv", "street": "Gatan 1", "postal_code": code, "city": "Stad"}])
    assert reach_frame(customers, b"t")["why_print"].tolist() == [problem]


@pytest.mark.parametrize("peppol, problem", [
    ("0007:5567321707", None), ("0007:5567321708", "bad_peppol"), ("0216:003701120389", None),
    ("0037:01120389", None), ("0184:13585628", None), ("0192:974760673", None), ("0192:974760674", "bad_peppol"),
    ("0088:7300010000001", None), ("9999:123", "unknown_peppol_scheme"), ("0007 5567321707", "bad_peppol"),
    ("", "no_peppol"), ("0208:0123456789", None),
])
def test_peppol_ids_per_scheme(peppol, problem):
    assert peppol_problem(peppol) == problem


_NUMBER = st.builds(lambda prefix, digits, sep: prefix + sep.join([digits[:3], digits[3:]]),
                    st.sampled_from(["", "0", "+46", "+358", "+45", "+47", "0046", "+4670", "07", "04", "050", "+3584",
                                     "9", "4", "2", "+1", "00"]),
                    st.text("0123456789", min_size=3, max_size=11), st.sampled_from(["", " ", "-"]))


@settings(max_examples=1500, deadline=None)
@given(_NUMBER, st.sampled_from(["SE", "FI", "DK", "NO", "DE", ""]))
def test_mobile_fast_path_agrees_with_phonenumbers(number, country):
    from omnibill.decide.reachability import _fast_mobile, normalise_mobile

    fast = _fast_mobile(number, country)
    if fast is not None:
        assert fast == (normalise_mobile(number, country) or ""), (number, country)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NUMBER, st.sampled_from(["SE", "FI", "DK", "NO", "DE", ""])), max_size=25))
def test_vectorised_mobiles_agree_with_phonenumbers(pairs):
    from omnibill.decide.reachability import normalise_mobile

    numbers, countries = pd.Series([n for n, _ in pairs], dtype=object), pd.Series([c for _, c in pairs], dtype=object)
    assert mobiles_normalised(numbers, countries).tolist() == [normalise_mobile(n, c) or "" for n, c in pairs]
