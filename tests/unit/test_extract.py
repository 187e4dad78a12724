"""Reading and validating an extract: formats, every validation rule, and what survives next to bad rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnibill.extract import ExtractError, read_extract
from omnibill.model import document_key

PERIOD = "2026-11"
CUSTOMERS = [
    {"customer_id": "C1", "customer_type": "person", "name": 'Åsa "Ace" <Berg> & Co', "national_id": "880320-0016",
     "country": "SE", "language": "", "email": "asa@example.com", "mobile": "+46701740605", "street": "Gatan 1",
     "postal_code": "11122", "city": "Stockholm", "loyalty_tier": "gold"},
    {"customer_id": "C2", "customer_type": "organisation", "name": "Oy Ab", "national_id": "2077474-0",
     "country": "FI", "language": "sv", "email": "not-an-email", "mobile": "", "street": "Katu 2",
     "postal_code": "00100", "city": "Helsinki", "loyalty_tier": ""},
]
INVOICES = [
    {"invoice_id": "I1", "customer_id": "C1", "document_type": "invoice", "issue_date": "2026-11-01",
     "due_date": "2026-12-01", "currency": "SEK", "total_excl_vat": "150.00", "vat_amount": "31.00",
     "total_incl_vat": "181.00", "payment_reference": "", "period": PERIOD},
    {"invoice_id": "I2", "customer_id": "C2", "document_type": "credit_note", "issue_date": "2026-11-01",
     "due_date": "2026-12-01", "currency": "EUR", "total_excl_vat": "-10.00", "vat_amount": "-2.55",
     "total_incl_vat": "-12.55", "payment_reference": "1232", "period": PERIOD},
]
LINES = [
    {"invoice_id": "I1", "line_no": "2", "description": "Elnät", "quantity": "100", "unit": "kWh",
     "unit_price": "0.5", "vat_rate": "12", "line_amount": "50.00"},
    {"invoice_id": "I1", "line_no": "1", "description": "Elenergi", "quantity": "200", "unit": "kWh",
     "unit_price": "0.5", "vat_rate": "25", "line_amount": "100.00"},
    {"invoice_id": "I2", "line_no": "1", "description": "Refund", "quantity": "-1", "unit": "",
     "unit_price": "10", "vat_rate": "25.5", "line_amount": "-10.00"},
]
PREFERENCES = [
    {"customer_id": "C1", "category": "invoice", "channel": "email", "status": "opt_out",
     "recorded_at": "2025-03-01T10:00:00Z", "source": "web"},
    {"customer_id": "C1", "category": "invoice", "channel": "email", "status": "opt_in",
     "recorded_at": "2024-03-01T10:00:00+02:00", "source": "app"},
    {"customer_id": "C1", "category": "marketing", "channel": "sms", "status": "opt_in",
     "recorded_at": "2025-01-01T00:00:00Z", "source": "web"},
    {"customer_id": "C1", "category": "marketing", "channel": "sms", "status": "opt_out",
     "recorded_at": "2025-01-01T00:00:00Z", "source": "call-centre"},
]
CONSUMPTION = [{"customer_id": "C1", "month": f"{y}-{m:02d}", "quantity": f"{m}.5", "unit": "kWh"}
               for y, months in ((2025, range(9, 13)), (2026, range(1, 13))) for m in months]
MESSAGES = [{"message_id": "M1", "customer_id": "C1", "category": "service", "subject": "Maintenance",
             "body_markdown": "**Heads up**"}]
TABLES = {"customers": CUSTOMERS, "invoices": INVOICES, "invoice_lines": LINES, "preferences": PREFERENCES,
          "consumption": CONSUMPTION, "messages": MESSAGES}


def write_tables(folder: Path, fmt: str = "csv", **changes: list[dict]) -> Path:
    """Write the sample extract (with some tables replaced) in one format."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in {**TABLES, **changes}.items():
        if rows is None:
            continue
        frame = pd.DataFrame(rows)
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_json(folder / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
    return folder


def with_row(rows: list[dict], index: int, **values: str) -> list[dict]:
    """A copy of a table with one row changed."""
    return [{**row, **values} if i == index else row for i, row in enumerate(rows)]


def by_table(result, table: str) -> list:
    """The quarantine entries of one table."""
    return [entry for entry in result.quarantine if entry.table == table]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_good_extract_reads_fully_in_every_format(tmp_path, fmt):
    result = read_extract(str(write_tables(tmp_path, fmt)), "demo", PERIOD)
    assert result.quarantine == []
    assert result.invoice_rows == 2
    assert [d.invoice_id for d in result.documents] == ["I1", "I2"]
    first, credit = result.documents
    assert first.document_id == document_key("demo", PERIOD, "I1")
    assert [line.line_no for line in first.lines] == [1, 2]
    assert first.lines[0].line_amount == Decimal("100.00") and first.total_incl_vat == Decimal("181.00")
    assert first.issue_date == dt.date(2026, 11, 1) and first.currency == "SEK"
    assert credit.total_excl_vat == Decimal("-10.00") and credit.payment_reference == "1232"
    assert result.extra_columns == {"customers": ["loyalty_tier"]}


def test_parties_keep_text_and_fill_language(tmp_path):
    result = read_extract(str(write_tables(tmp_path)), "demo", PERIOD)
    asa, org = result.customers["C1"], result.customers["C2"]
    assert asa.name == 'Åsa "Ace" <Berg> & Co' and asa.language == "sv" and asa.care_of is None
    assert org.language == "sv" and org.email == "not-an-email" and org.mobile is None


def test_missing_reference_is_created_for_the_currency(tmp_path):
    from omnibill.payments import make_reference, validate_reference

    document = read_extract(str(write_tables(tmp_path)), "demo", PERIOD).documents[0]
    assert document.payment_reference == make_reference("SEK", "I1")
    assert validate_reference("SEK", document.payment_reference) is None


def test_csv_with_bom_is_read(tmp_path):
    folder = write_tables(tmp_path)
    data = (folder / "customers.csv").read_bytes()
    (folder / "customers.csv").write_bytes(b"\xef\xbb\xbf" + data)
    assert set(read_extract(str(folder), "demo", PERIOD).customers) == {"C1", "C2"}


def test_latest_consent_wins_and_later_row_breaks_ties(tmp_path):
    consents = read_extract(str(write_tables(tmp_path)), "demo", PERIOD).consents["C1"]
    assert consents["invoice"]["email"] == {"status": "opt_out", "recorded_at": "2025-03-01T10:00:00+00:00",
                                            "source": "web"}
    assert consents["marketing"]["sms"]["status"] == "opt_out"


def test_consumption_keeps_twelve_months_up_to_the_period(tmp_path):
    points = read_extract(str(write_tables(tmp_path)), "demo", PERIOD).documents[0].consumption
    assert [p.month for p in points] == ["2025-12"] + [f"2026-{m:02d}" for m in range(1, 12)]
    assert points[0].quantity == Decimal("12.5") and points[0].unit == "kWh"


def test_service_messages_are_returned(tmp_path):
    result = read_extract(str(write_tables(tmp_path)), "demo", PERIOD)
    assert result.service_messages == [MESSAGES[0]]


def test_optional_tables_may_be_absent(tmp_path):
    folder = write_tables(tmp_path, preferences=None, consumption=None, messages=None)
    result = read_extract(str(folder), "demo", PERIOD)
    assert len(result.documents) == 2 and result.consents == {} and result.service_messages == []


@pytest.mark.parametrize("table", ["customers", "invoices", "invoice_lines"])
def test_missing_required_table_names_folder_and_table(tmp_path, table):
    folder = write_tables(tmp_path, **{table: None})
    with pytest.raises(ExtractError, match=rf"{tmp_path}.*{table}"):
        read_extract(str(folder), "demo", PERIOD)


def test_missing_required_columns_are_named(tmp_path):
    rows = [{k: v for k, v in row.items() if k not in ("currency", "period")} for row in INVOICES]
    with pytest.raises(ExtractError, match=r"invoices\.csv.*currency, period"):
        read_extract(str(write_tables(tmp_path, invoices=rows)), "demo", PERIOD)


def test_unreadable_file_is_an_extract_error(tmp_path):
    folder = write_tables(tmp_path)
    (folder / "invoices.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ExtractError, match="invoices.csv"):
        read_extract(str(folder), "demo", PERIOD)


def test_bad_period_argument_is_refused(tmp_path):
    with pytest.raises(ValueError):
        read_extract(str(write_tables(tmp_path)), "demo", "2026-13")


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"invoice_id": ""}, "invoice_id", "invoice_id missing"),
    ({"customer_id": "C9"}, "customer_id", "customer C9 not in customers"),
    ({"document_type": "bill"}, "document_type", "document_type is not one of"),
    ({"issue_date": "2026-02-30"}, "issue_date", "issue_date is not an ISO date"),
    ({"due_date": "01.12.2026"}, "due_date", "due_date is not an ISO date"),
    ({"currency": "GBP"}, "currency", "currency is not one of SEK, EUR, DKK, NOK"),
    ({"total_excl_vat": "150.001"}, "total_excl_vat", "total_excl_vat is not an amount"),
    ({"vat_amount": "abc"}, "vat_amount", "vat_amount is not an amount"),
    ({"total_incl_vat": "181.01"}, "total_incl_vat", "total_excl_vat + vat_amount does not equal total_incl_vat"),
    ({"total_excl_vat": "151.00", "total_incl_vat": "182.00"}, "total_excl_vat",
     "total_excl_vat does not equal the sum of line amounts"),
    ({"vat_amount": "31.05", "total_incl_vat": "181.05"}, "vat_amount", "vat_amount does not match the VAT"),
    ({"period": "2026-10"}, "period", "period 2026-10 does not match run period 2026-11"),
    ({"period": "Nov 2026"}, "period", "period is not a month"),
    ({"payment_reference": "1234575"}, "payment_reference", "payment_reference is not valid for the currency"),
])
def test_invoice_rules_quarantine_the_row_and_keep_the_rest(tmp_path, changes, field, reason):
    folder = write_tables(tmp_path, invoices=with_row(INVOICES, 0, **changes))
    result = read_extract(str(folder), "demo", PERIOD)
    [entry] = by_table(result, "invoices")  # (an invoice without id also orphans its lines)
    assert (entry.table, entry.file, entry.row_number) == ("invoices", f"{folder}/invoices.csv", 2)
    assert entry.field == field and reason in entry.reason
    assert entry.raw["document_type"] == INVOICES[0]["document_type"] or "document_type" in changes
    assert [d.invoice_id for d in result.documents] == ["I2"] and result.invoice_rows == 2


def test_vat_may_be_rounded_per_rate_group(tmp_path):
    lines = [{**LINES[2], "invoice_id": "I3", "line_no": str(n), "quantity": "1", "unit_price": "0.02",
              "vat_rate": "25", "line_amount": "0.02"} for n in range(1, 5)]
    # per line 4 x 0.005 -> 4 x 0.01 = 0.04; per rate 0.08 x 25 % = 0.02: both are accepted, 0.07 is not
    invoice = {**INVOICES[0], "invoice_id": "I3", "total_excl_vat": "0.08"}
    rows = [{**invoice, "vat_amount": vat, "total_incl_vat": f"{Decimal('0.08') + Decimal(vat)}",
             "invoice_id": f"I3{vat}"} for vat in ("0.04", "0.02", "0.07")]
    lines = [{**line, "invoice_id": row["invoice_id"]} for row in rows for line in lines]
    result = read_extract(str(write_tables(tmp_path, invoices=rows, invoice_lines=lines)), "demo", PERIOD)
    assert [d.invoice_id for d in result.documents] == ["I30.02", "I30.04"]
    assert [e.record_key for e in result.quarantine] == ["I30.07"]


def test_duplicate_invoice_keeps_the_first(tmp_path):
    folder = write_tables(tmp_path, invoices=INVOICES + [INVOICES[0]])
    result = read_extract(str(folder), "demo", PERIOD)
    assert [(e.row_number, e.field) for e in result.quarantine] == [(4, "invoice_id")]
    assert [d.invoice_id for d in result.documents] == ["I1", "I2"] and result.invoice_rows == 3


def test_invoice_without_lines(tmp_path):
    result = read_extract(str(write_tables(tmp_path, invoice_lines=LINES[:2])), "demo", PERIOD)
    assert [(e.record_key, e.reason) for e in result.quarantine] == [("I2", "invoice has no lines")]


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"vat_rate": "125"}, "vat_rate", "vat_rate is not between 0 and 100"),
    ({"vat_rate": "-1"}, "vat_rate", "vat_rate is not between 0 and 100"),
    ({"vat_rate": "25%"}, "vat_rate", "vat_rate is not a decimal number"),
    ({"line_no": "1.5"}, "line_no", "line_no is not a whole number"),
    ({"line_no": "1"}, "line_no", "duplicate line_no for this invoice"),
    ({"quantity": "1,5"}, "quantity", "quantity is not a decimal number"),
    ({"unit_price": ""}, "unit_price", "unit_price missing"),
    ({"line_amount": "x"}, "line_amount", "line_amount is not a decimal number"),
    ({"description": " "}, "description", "description missing"),
])
def test_a_bad_line_quarantines_the_line_and_its_invoice(tmp_path, changes, field, reason):
    result = read_extract(str(write_tables(tmp_path, invoice_lines=with_row(LINES, 0, **changes))), "demo", PERIOD)
    line = by_table(result, "invoice_lines")
    [invoice] = by_table(result, "invoices")
    assert len(line) == 1 and line[0].field == field and reason in line[0].reason
    assert line[0].row_number == (3 if "duplicate" in reason else 2) and line[0].customer_id == "C1"
    assert line[0].record_key.startswith("I1#")
    assert invoice.record_key == "I1" and invoice.field == "invoice_lines"
    assert invoice.reason.startswith("line ") and reason in invoice.reason
    assert [d.invoice_id for d in result.documents] == ["I2"]


def test_line_of_an_unknown_invoice_is_quarantined_alone(tmp_path):
    lines = LINES + [{**LINES[0], "invoice_id": "I9"}]
    result = read_extract(str(write_tables(tmp_path, invoice_lines=lines)), "demo", PERIOD)
    [entry] = result.quarantine
    assert (entry.table, entry.row_number, entry.reason) == ("invoice_lines", 5, "invoice I9 not in invoices")
    assert len(result.documents) == 2


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"customer_id": ""}, "customer_id", "customer_id missing"),
    ({"customer_type": ""}, "customer_type", "customer_type missing"),
    ({"customer_type": "company"}, "customer_type", "customer_type is not one of person, organisation"),
    ({"name": ""}, "name", "name missing"),
    ({"country": "Sweden"}, "country", "country is not two letters A-Z"),
    ({"language": "de"}, "language", "language is not one of sv, fi, da, nb, en"),
])
def test_customer_rules_quarantine_the_customer_and_its_documents(tmp_path, changes, field, reason):
    result = read_extract(str(write_tables(tmp_path, customers=with_row(CUSTOMERS, 0, **changes))), "demo", PERIOD)
    [customer] = by_table(result, "customers")
    assert customer.field == field and customer.reason == reason and customer.row_number == 2
    assert set(result.customers) == {"C2"} and [d.invoice_id for d in result.documents] == ["I2"]
    if changes.get("customer_id") != "":
        [invoice] = by_table(result, "invoices")
        assert invoice.reason == f"customer C1 was quarantined: {reason}"
        assert {e.table for e in result.quarantine} >= {"preferences", "consumption", "messages"}


def test_duplicate_customer_keeps_the_first(tmp_path):
    customers = CUSTOMERS + [{**CUSTOMERS[0], "name": "Someone else"}]
    result = read_extract(str(write_tables(tmp_path, customers=customers)), "demo", PERIOD)
    assert [(e.table, e.row_number, e.field) for e in result.quarantine] == [("customers", 4, "customer_id")]
    assert result.customers["C1"].name == CUSTOMERS[0]["name"] and len(result.documents) == 2


def test_reasons_never_repeat_personal_data(tmp_path):
    customers = with_row(CUSTOMERS, 0, customer_type="880320-0016", country="asa@example.com", language="+4670")
    result = read_extract(str(write_tables(tmp_path, customers=customers)), "demo", PERIOD)
    for entry in result.quarantine:
        assert not any(secret in entry.reason for secret in ("880320", "asa@", "+4670", "Gatan", "Åsa"))


@pytest.mark.parametrize(("changes", "field"), [
    ({"customer_id": "C9"}, "customer_id"),
    ({"category": "billing"}, "category"),
    ({"channel": "fax"}, "channel"),
    ({"status": "yes"}, "status"),
    ({"recorded_at": "yesterday"}, "recorded_at"),
    ({"recorded_at": ""}, "recorded_at"),
])
def test_preference_rules_quarantine_only_the_preference(tmp_path, changes, field):
    result = read_extract(str(write_tables(tmp_path, preferences=with_row(PREFERENCES, 0, **changes))), "demo",
                          PERIOD)
    [entry] = result.quarantine
    assert (entry.table, entry.field, entry.row_number) == ("preferences", field, 2)
    assert result.consents["C1"]["invoice"]["email"]["status"] == "opt_in"  # the older row is all that is left
    assert len(result.documents) == 2


@pytest.mark.parametrize(("changes", "field"), [
    ({"month": "2026-13"}, "month"), ({"quantity": "lots"}, "quantity"), ({"customer_id": "C9"}, "customer_id"),
    ({"month": "2025-09"}, "month"),
])
def test_consumption_rules(tmp_path, changes, field):
    result = read_extract(str(write_tables(tmp_path, consumption=with_row(CONSUMPTION, 1, **changes))), "demo",
                          PERIOD)
    [entry] = result.quarantine
    assert (entry.table, entry.field, entry.row_number) == ("consumption", field, 3)


@pytest.mark.parametrize(("changes", "field"), [
    ({"message_id": ""}, "message_id"), ({"category": "invoice"}, "category"), ({"subject": ""}, "subject"),
    ({"customer_id": "C9"}, "customer_id"),
])
def test_message_rules(tmp_path, changes, field):
    result = read_extract(str(write_tables(tmp_path, messages=with_row(MESSAGES, 0, **changes))), "demo", PERIOD)
    assert [(e.table, e.field) for e in result.quarantine] == [("messages", field)]
    assert result.service_messages == []


def test_csv_row_with_too_many_values_is_quarantined_and_numbering_holds(tmp_path):
    folder = write_tables(tmp_path)
    text = (folder / "invoices.csv").read_text().splitlines()
    text.insert(2, "I0,C1,invoice,2026-11-01,2026-12-01,SEK,1.00,0.25,1.25,,2026-11,surplus")
    (folder / "invoices.csv").write_text("\n".join(text) + "\n")
    result = read_extract(str(folder), "demo", PERIOD)
    [entry] = result.quarantine
    assert (entry.table, entry.row_number, entry.raw) == ("invoices", 3, {})
    assert result.invoice_rows == 3 and len(result.documents) == 2


def test_csv_quoted_newlines_count_as_one_record(tmp_path):
    customers = with_row(CUSTOMERS, 0, street="Gatan 1\nLgh 1102")
    invoices = with_row(INVOICES, 1, currency="XXX")
    result = read_extract(str(write_tables(tmp_path, customers=customers, invoices=invoices)), "demo", PERIOD)
    assert result.customers["C1"].street == "Gatan 1\nLgh 1102"
    assert [(e.table, e.row_number) for e in result.quarantine] == [("invoices", 3)]


def test_broken_jsonl_line_is_quarantined(tmp_path):
    folder = write_tables(tmp_path, fmt="jsonl")
    with (folder / "invoices.jsonl").open("a") as out:
        out.write('{"invoice_id": "I3", \n\n[1, 2]\n')
    result = read_extract(str(folder), "demo", PERIOD)
    assert [(e.row_number, e.reason) for e in result.quarantine] == [
        (3, "line is not valid JSON"), (5, "line is not a JSON object")]
    assert result.invoice_rows == 4 and len(result.documents) == 2


def test_jsonl_numbers_keep_their_digits(tmp_path):
    folder = write_tables(tmp_path, fmt="jsonl")
    rows = [{**row, "total_excl_vat": None} for row in INVOICES]
    lines = [json.dumps(row).replace('"total_excl_vat": null', f'"total_excl_vat": {INVOICES[i]["total_excl_vat"]}')
             for i, row in enumerate(rows)]
    (folder / "invoices.jsonl").write_text("\n".join(lines) + "\n")
    result = read_extract(str(folder), "demo", PERIOD)
    assert result.quarantine == [] and result.documents[0].total_excl_vat == Decimal("150.00")


def test_typed_parquet_columns_read_as_contract_text(tmp_path):
    folder = write_tables(tmp_path, fmt="parquet")
    frame = pd.DataFrame(INVOICES)
    table = pa.table({
        **{c: pa.array(frame[c]) for c in frame.columns},
        "issue_date": pa.array([dt.date(2026, 11, 1)] * 2),
        "due_date": pa.array([dt.datetime(2026, 12, 1)] * 2, type=pa.timestamp("us")),
        "total_excl_vat": pa.array([Decimal("150.00"), Decimal("-10.00")], type=pa.decimal128(12, 2)),
        "vat_amount": pa.array([31.0, -2.55]),
        "payment_reference": pa.array([None, "1232"]),
    })
    pq.write_table(table, folder / "invoices.parquet")
    lines = pd.DataFrame(LINES).assign(line_no=lambda f: f["line_no"].astype(int))
    lines.to_parquet(folder / "invoice_lines.parquet", index=False)
    result = read_extract(str(folder), "demo", PERIOD)
    assert result.quarantine == []
    assert result.documents[0].due_date == dt.date(2026, 12, 1) and result.documents[1].vat_amount == Decimal("-2.55")


def test_two_formats_of_one_table_are_refused(tmp_path):
    folder = write_tables(tmp_path)
    pd.DataFrame(CUSTOMERS).to_json(folder / "customers.jsonl", orient="records", lines=True)
    with pytest.raises(ExtractError, match="customers"):
        read_extract(str(folder), "demo", PERIOD)


def test_reads_from_s3(tmp_path):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from config.settings import S3Settings

    folder = write_tables(tmp_path)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-north-1")
        client.create_bucket(Bucket="erp", CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        for path in folder.iterdir():
            client.put_object(Bucket="erp", Key=f"demo/2026-11/{path.name}", Body=path.read_bytes())
        result = read_extract("s3://erp/demo/2026-11/", "demo", PERIOD, s3=S3Settings())
    assert len(result.documents) == 2 and result.quarantine == []


def test_nested_parquet_extra_column_is_kept_as_text(tmp_path):
    folder = write_tables(tmp_path, fmt="parquet")
    table = pa.Table.from_pandas(pd.DataFrame(CUSTOMERS), preserve_index=False)
    table = table.append_column("tags", pa.array([["a", "b"], None]))
    pq.write_table(table, folder / "customers.parquet")
    result = read_extract(str(folder), "demo", PERIOD)
    assert result.quarantine == [] and "tags" in result.extra_columns["customers"]
