"""An extract split into partitions by customer validates to exactly what the whole extract validates to."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibill.extract import ExtractError, read_extract, validate_tables
from omnibill.extract.partitions import customer_ids, partition_count, split_extract
from omnibill.store import LocalStore
from tests.unit.test_extract import CUSTOMERS, INVOICES, LINES, MESSAGES, PERIOD, write_tables

# Good rows, and bad ones of every kind that reaches across rows or tables.
CUSTOMERS_PLUS = CUSTOMERS + [
    {**CUSTOMERS[0], "customer_id": "C3", "customer_type": "robot"},          # a quarantined customer
    {**CUSTOMERS[1], "customer_id": "C1", "name": "Repeat"},                  # a repeated customer id
    {**CUSTOMERS[1], "customer_id": "C4", "national_id": ""},
    *({**CUSTOMERS[1], "customer_id": f"K{n}", "national_id": ""} for n in range(12)),
]
INVOICES_PLUS = INVOICES + [
    {**INVOICES[1], "invoice_id": "I3", "customer_id": "C3"},                 # its customer was quarantined
    {**INVOICES[1], "invoice_id": "I1", "customer_id": "C4"},                 # a repeated id, another customer
    {**INVOICES[1], "invoice_id": "I2", "customer_id": "C3"},                 # ... a quarantined one
    {**INVOICES[1], "invoice_id": "I5", "customer_id": "C9"},                 # an unknown customer
    {**INVOICES[1], "invoice_id": "I6", "customer_id": "C4"},                 # no lines
    {**INVOICES[1], "invoice_id": "", "customer_id": "C4"},                   # no id
    *({**INVOICES[1], "invoice_id": f"J{n}", "customer_id": f"K{n}"} for n in range(12)),
]
LINES_PLUS = LINES + [
    {**LINES[2], "invoice_id": "I3"},
    {**LINES[2], "invoice_id": "I404"},                                       # an unknown invoice
    {**LINES[2], "invoice_id": "I2"},                                         # a repeated line number
    *({**LINES[2], "invoice_id": f"J{n}"} for n in range(12)),
]
MESSAGES_PLUS = MESSAGES + [
    {**MESSAGES[0], "customer_id": "C4"},                                     # a repeated message id
    {**MESSAGES[0], "customer_id": "C3"},                                     # ... naming a quarantined customer
    {**MESSAGES[0], "message_id": "M2", "customer_id": "K3"},
    {**MESSAGES[0], "message_id": "M3", "customer_id": "C3"},
]


def _extract(folder: Path, fmt: str) -> Path:
    write_tables(folder, fmt, customers=CUSTOMERS_PLUS, invoices=INVOICES_PLUS, invoice_lines=LINES_PLUS,
                 messages=MESSAGES_PLUS)
    if fmt == "csv":  # rows a parser cannot read: too many values, between good rows
        text = (folder / "invoice_lines.csv").read_text().splitlines()
        text.insert(3, "I2,7,x,1,kWh,1,25,1,extra,values")
        text.append("J1,8,x,1,kWh,1,25,1,extra")
        (folder / "invoice_lines.csv").write_text("\n".join(text) + "\n")
    if fmt == "jsonl":
        with open(folder / "messages.jsonl", "a") as out:
            out.write("{not json\n")
    return folder


def _partitioned(folder: Path, parts: int, rows: int):
    """The partitions' results joined, as the extract stage stores them one after the other."""
    store, spill = LocalStore(folder), folder / "spill"
    spill.mkdir()
    known = customer_ids(store, str(folder), spill, rows)
    split = split_extract(store, str(folder), spill, parts, rows)
    quarantined = split.quarantined_customers()
    return [validate_tables(split.partition(n), "demo", PERIOD, known_customers=known, quarantined=quarantined)
            for n in range(parts)]


def _same(whole, pieces) -> None:
    by_row = lambda entry: (entry.table, entry.row_number)  # noqa: E731
    assert sorted((q for p in pieces for q in p.quarantine), key=by_row) == sorted(whole.quarantine, key=by_row)
    assert sorted((d for p in pieces for d in p.documents), key=lambda d: d.invoice_id) == whole.documents
    assert {k: v for p in pieces for k, v in p.customers.items()} == whole.customers
    assert {k: v for p in pieces for k, v in p.consents.items()} == whole.consents
    assert sorted((m for p in pieces for m in p.service_messages), key=lambda m: m["message_id"]) == \
        sorted(whole.service_messages, key=lambda m: m["message_id"])
    assert sum(p.invoice_rows for p in pieces) == whole.invoice_rows
    assert {k: v for p in pieces for k, v in p.customer_extras.items()} == whole.customer_extras
    assert all(p.extra_columns == whole.extra_columns for p in pieces)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("parts,rows", [(2, 3), (5, 2), (3, 1000)])
def test_partitions_validate_to_what_the_whole_extract_does(tmp_path, fmt, parts, rows):
    folder = _extract(tmp_path / "x", fmt)
    whole = read_extract(str(folder), "demo", PERIOD)
    pieces = _partitioned(folder, parts, rows)
    _same(whole, pieces)
    # the case is not trivial: every partition holds something, and the quarantine has every kind of row
    assert sum(1 for p in pieces if p.customers) >= 2
    reasons = " | ".join(q.reason for q in whole.quarantine)
    for expected in ("duplicate customer_id", "duplicate invoice_id", "was quarantined", "not in customers",
                     "invoice has no lines", "invoice I404 not in invoices", "duplicate message_id",
                     "duplicate line_no"):
        assert expected in reasons
    if fmt == "csv":
        assert {q.row_number for q in whole.quarantine if q.reason.startswith("row has more values")} == {4, 21}
    if fmt == "jsonl":
        assert any(q.reason == "line is not valid JSON" for q in whole.quarantine)


def test_a_repeated_invoice_follows_its_first_row_with_its_lines(tmp_path):
    folder = _extract(tmp_path / "x", "csv")
    pieces = _partitioned(folder, 7, 2)
    holding = [n for n, p in enumerate(pieces) if any(q.record_key == "I1" for q in p.quarantine)]
    first = [n for n, p in enumerate(pieces) if any(d.invoice_id == "I1" for d in p.documents)]
    assert holding == first and len(first) == 1
    assert [line.line_no for d in pieces[first[0]].documents if d.invoice_id == "I1" for line in d.lines] == [1, 2]


def test_missing_required_column_is_named_when_read_in_chunks(tmp_path):
    folder = write_tables(tmp_path / "x", "jsonl")
    text = (folder / "invoices.jsonl").read_text().replace('"currency"', '"money"')
    (folder / "invoices.jsonl").write_text(text)
    with pytest.raises(ExtractError, match=r"invoices\.jsonl: missing required column\(s\): currency"):
        _partitioned(folder, 2, 1)


def test_partition_count_follows_the_customers():
    assert partition_count(10, 5000) == 1
    assert partition_count(5000, 5000) == 1
    assert partition_count(5001, 5000) == 2
    assert partition_count(100_000, 5000) == 20


def test_quoted_line_breaks_empty_tables_late_keys_and_timestamps_read_alike(tmp_path):
    """What a reader of chunks could get wrong: a CSV value over two lines, a table of only a header, a JSON key
    first seen in a later chunk, parquet timestamps (dates when all are midnight, decided over the whole file)."""
    import pandas as pd

    csv = write_tables(tmp_path / "csv", customers=[{**CUSTOMERS[0], "street": "Gatan 1\nBox 7"}, *CUSTOMERS[1:]],
                       invoices=INVOICES + [{**INVOICES[0], "invoice_id": "I9", "total_excl_vat": "1,0"}])
    (csv / "preferences.csv").write_text("customer_id,category,channel,status,recorded_at,source\n")
    jsonl = write_tables(tmp_path / "jsonl", "jsonl",
                         customers=[*CUSTOMERS, {**CUSTOMERS[1], "customer_id": "C7", "late_key": "x"}])
    parquet = write_tables(tmp_path / "parquet", "parquet")
    invoices = pd.read_parquet(parquet / "invoices.parquet")
    invoices["issue_date"] = pd.to_datetime(invoices["issue_date"])  # midnight: read as dates
    invoices.to_parquet(parquet / "invoices.parquet", index=False)
    preferences = pd.read_parquet(parquet / "preferences.parquet")
    preferences["recorded_at"] = pd.to_datetime(preferences["recorded_at"], utc=True, format="ISO8601")
    preferences.to_parquet(parquet / "preferences.parquet", index=False)
    for folder in (csv, jsonl, parquet):
        whole = read_extract(str(folder), "demo", PERIOD)
        _same(whole, _partitioned(folder, 2, 1))
    assert "Box 7" in read_extract(str(csv), "demo", PERIOD).customers["C1"].street
    assert [q.row_number for q in read_extract(str(csv), "demo", PERIOD).quarantine] == [4]
    assert "late_key" in read_extract(str(jsonl), "demo", PERIOD).extra_columns["customers"]
