"""The demo extract: deterministic, valid by the contract, with exactly the planted bad rows."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from stdnum.dk import cpr, cvr
from stdnum.fi import hetu, ytunnus
from stdnum.no import fodselsnummer
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr
from stdnum.se import personnummer

from omnibill.demo_data import write_demo_extract
from omnibill.extract import read_extract
from omnibill.extract.results import TABLES
from omnibill.payments import validate_reference

PERIOD = "2026-11"
VALID_ID = {("SE", "person"): personnummer.is_valid, ("SE", "organisation"): se_orgnr.is_valid,
            ("FI", "person"): hetu.is_valid, ("FI", "organisation"): ytunnus.is_valid,
            ("DK", "person"): cpr.is_valid, ("DK", "organisation"): cvr.is_valid,
            ("NO", "person"): fodselsnummer.is_valid, ("NO", "organisation"): no_orgnr.is_valid}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """One demo extract shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("demo")
    return folder, write_demo_extract(folder, 1500, PERIOD, seed=7)


def table(folder: Path, name: str) -> pd.DataFrame:
    """A CSV table of the demo extract as strings."""
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_same_seed_same_bytes(tmp_path, fmt):
    first = write_demo_extract(tmp_path / "a", 300, PERIOD, seed=3, fmt=fmt)
    second = write_demo_extract(tmp_path / "b", 300, PERIOD, seed=3, fmt=fmt)
    assert first == second
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    assert write_demo_extract(tmp_path / "c", 300, PERIOD, seed=4, fmt=fmt) != first


def test_counts_match_the_files(demo):
    folder, counts = demo
    for name in TABLES:
        assert len(table(folder, name)) == counts[name], name
    assert counts["customers"] == 1500
    assert 1.03 * 1500 < counts["invoices"] < 1.1 * 1500
    assert counts["bad_rows"] == 15


def test_columns_are_the_contract(demo):
    folder, _ = demo
    for name, spec in TABLES.items():
        assert set(table(folder, name).columns) == set(spec.known), name


def test_customers_look_like_the_nordics(demo):
    customers = table(demo[0], "customers")
    assert set(customers["language"]) == {"sv", "fi", "da", "nb", "en"}
    assert set(customers["country"]) == {"SE", "FI", "DK", "NO"}
    assert 0.15 < (customers["customer_type"] == "organisation").mean() < 0.25
    assert customers["name"].str.contains("<").any() and customers["name"].str.contains("&").any()
    assert customers["name"].str.contains('"').any()
    assert 0.6 < (customers["email"] != "").mean() < 0.8 and 0.5 < (customers["mobile"] != "").mean() < 0.7
    typed = customers[customers["customer_type"] != ""]
    assert all(VALID_ID[(c, t)](n) for c, t, n in zip(typed["country"], typed["customer_type"], typed["national_id"]))


def test_channel_addresses(demo):
    customers = table(demo[0], "customers")
    peppol = customers[customers["peppol_id"] != ""]
    assert (peppol["customer_type"] == "organisation").all()
    scheme = {"SE": {"0007"}, "FI": {"0037", "0216"}, "DK": {"0184"}, "NO": {"0192"}}
    assert all(p.split(":")[0] in scheme[c] for p, c in zip(peppol["peppol_id"], peppol["country"]))
    mailbox = customers[customers["digital_mailbox"] != ""]
    box = {"SE": "kivra", "FI": "omaposti", "DK": "eboks", "NO": "digipost"}
    assert (mailbox["digital_mailbox"] == mailbox["country"].map(box)).all()
    einvoice = customers[customers["einvoice_address"] != ""]
    assert len(einvoice) > 0 and (einvoice["country"] == "FI").all() and (einvoice["einvoice_operator"] != "").all()


def test_references_and_rates(demo):
    folder, _ = demo
    invoices = table(folder, "invoices")
    given = invoices[(invoices["payment_reference"] != "") & invoices["currency"].isin(["SEK", "EUR", "DKK", "NOK"])]
    assert 0.4 < len(given) / len(invoices) < 0.6
    assert all(validate_reference(c, r) is None for c, r in zip(given["currency"], given["payment_reference"]))
    lines = table(folder, "invoice_lines").merge(invoices.drop_duplicates("invoice_id"), on="invoice_id")
    rates = {"SEK": {"25", "12", "6"}, "EUR": {"25.5", "14", "10"}, "DKK": {"25"}, "NOK": {"25", "15"}}
    ok = lines[lines["vat_rate"] != "125"]
    assert all(r in rates.get(c, rates["SEK"] | rates["EUR"] | rates["NOK"]) for r, c in zip(ok["vat_rate"],
                                                                                               ok["currency"]))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_only_the_planted_rows_are_quarantined(tmp_path, fmt):
    counts = write_demo_extract(tmp_path, 800, PERIOD, seed=11, fmt=fmt)
    result = read_extract(str(tmp_path), "demo", PERIOD)
    invoices = [e for e in result.quarantine if e.table == "invoices"]
    customers = [e for e in result.quarantine if e.table == "customers"]
    assert len(invoices) == counts["bad_invoice_rows"]
    assert len(result.documents) == counts["invoices"] - counts["bad_invoice_rows"]
    assert result.invoice_rows == counts["invoices"]
    assert [e.reason for e in customers] == ["customer_type missing"] * len(customers)
    lines = [e for e in result.quarantine if e.table == "invoice_lines"]
    assert all(e.reason == "vat_rate is not between 0 and 100" for e in lines)
    dropped = {e.customer_id for e in customers}
    side = [e for e in result.quarantine if e.table in ("preferences", "consumption", "messages")]
    assert all(e.customer_id in dropped for e in side)
    assert result.consents and any(d.consumption for d in result.documents) and result.service_messages


def test_ten_thousand_customers_are_quick(tmp_path):
    start = time.perf_counter()
    counts = write_demo_extract(tmp_path, 10_000, PERIOD)
    assert time.perf_counter() - start < 20
    assert counts["customers"] == 10_000
