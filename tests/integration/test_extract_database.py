"""The extract read from PostgreSQL (tables and views, in chunks) is the extract read from its files."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer

from omnibill.cli.run import _check_run_arguments
from omnibill.demo_data import write_demo_extract
from omnibill.extract import read_extract
from omnibill.extract.database import check_database_source, read_chunks, read_database_table
from omnibill.extract.results import TABLES, ExtractError
from omnibill.extract.stage import run_extract
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import Customer, Document, QuarantinedRow
from tests.conftest import scratch_database, upgrade_database

PERIOD = "2026-11"
TABLE_NAMES = tuple(TABLES)


def _load_csv_tables(url: str, folder: Path, schema: str) -> None:
    """Every CSV of the extract as a table of text columns (an empty CSV field is NULL, as COPY reads it)."""
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE SCHEMA {schema}")
        for name in TABLE_NAMES:
            path = folder / f"{name}.csv"
            header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
            cursor.execute(f"CREATE TABLE {schema}.{name} (" + ", ".join(f'"{c}" text' for c in header) + ")")
            with cursor.copy(f"COPY {schema}.{name} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(path.read_bytes())
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def _sql(url: str, *statements: str, **params) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(sa.text(s), params) for s in statements]
            return [r.fetchall() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def erp(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A scratch ERP database: the demo extract as tables in `erp` and as views over them in `erp_views`."""
    folder = tmp_path_factory.mktemp("extract")
    write_demo_extract(folder, customers=150, period=PERIOD)
    with scratch_database(migrated=False) as url:
        _load_csv_tables(url, folder, "erp")
        _sql(url, "CREATE SCHEMA erp_views",
             *(f"CREATE VIEW erp_views.{n} AS SELECT * FROM erp.{n}" for n in TABLE_NAMES))
        yield url, folder


def _ledger(tmp_path: Path, name: str) -> Ledger:
    url = f"sqlite:///{tmp_path / name}.sqlite"
    upgrade_database(url)
    return Ledger(url)


def _stored(ledger: Ledger) -> dict[str, list]:
    """What the extract stage stored, without the quarantine's place (file, row), which differs by source."""
    with ledger.read() as session:
        return {
            "customers": sorted((c.id, c.customer_id, repr(c.data), repr(c.consents))
                                for c in session.scalars(sa.select(Customer))),
            "documents": sorted((d.id, d.invoice_id, d.customer_id, d.document_type, d.total_incl_vat, d.batch_no,
                                 repr(d.data)) for d in session.scalars(sa.select(Document))),
            "quarantine": sorted((q.table_name, q.record_key or "", q.customer_id or "", q.field or "", q.reason,
                                  repr(q.raw)) for q in session.scalars(sa.select(QuarantinedRow))),
        }


def _quarantine_files(ledger: Ledger) -> set[tuple[str, str]]:
    with ledger.read() as session:
        return {(q.table_name, q.file) for q in session.scalars(sa.select(QuarantinedRow))}


@pytest.mark.parametrize("schema", ["erp", "erp_views"])
def test_database_tables_and_views_store_what_the_files_store(erp, tmp_path, schema):
    url, folder = erp
    from_files, from_db = _ledger(tmp_path, "files"), _ledger(tmp_path, "db")
    source = f"{url}?schema={schema}"
    files_summary = run_extract(from_files, "demo", PERIOD, str(folder), batch_size=40)
    db_summary = run_extract(from_db, "demo", PERIOD, source, batch_size=40)

    assert db_summary == files_summary
    expected, got = _stored(from_files), _stored(from_db)
    assert len(got["documents"]) > 100 and len(got["customers"]) > 100
    assert {q[0] for q in got["quarantine"]} >= {"customers", "invoices", "invoice_lines"}  # the demo's bad rows
    assert got == expected
    # Each quarantined row names its table as the "file": the database (no password), the schema and the table.
    database = url.rsplit("/", 1)[1]
    assert {f for _, f in _quarantine_files(from_db)} <= {f"{url}/{schema}.{n}" for n in TABLE_NAMES}
    assert all(f.endswith(f"{database}/{schema}.{t}") for t, f in _quarantine_files(from_db))


def test_a_bad_row_in_the_database_is_quarantined_with_table_row_and_field(erp, tmp_path):
    url, folder = erp
    _sql(url, "CREATE SCHEMA erp_bad", *(f"CREATE TABLE erp_bad.{n} AS SELECT * FROM erp.{n}" for n in TABLE_NAMES))
    good = read_extract(f"{url}?schema=erp", "demo", PERIOD)
    victim = good.documents[7].invoice_id
    customer = good.documents[20].customer.customer_id
    _sql(url, "UPDATE erp_bad.invoices SET currency = 'XXX' WHERE invoice_id = :victim",
         "UPDATE erp_bad.customers SET name = NULL WHERE customer_id = :customer", victim=victim, customer=customer)
    [[(earlier,)], [(customer_row,)]] = _sql(
        url, "SELECT count(*) FROM erp_bad.invoices WHERE invoice_id < :victim",
        "SELECT count(*) FROM erp_bad.customers WHERE customer_id < :customer", victim=victim, customer=customer)

    ledger = _ledger(tmp_path, "bad")
    run_extract(ledger, "demo", PERIOD, f"{url}?schema=erp_bad", batch_size=40)

    with ledger.read() as session:
        rows = {(q.table_name, q.record_key): q for q in session.scalars(sa.select(QuarantinedRow))}
        documents = set(session.scalars(sa.select(Document.invoice_id)))
    bad_invoice = rows[("invoices", victim)]
    assert (bad_invoice.file, bad_invoice.row_number, bad_invoice.field) == (
        f"{url}/erp_bad.invoices", earlier + 1, "currency")
    assert "currency is not one of" in bad_invoice.reason and bad_invoice.raw["currency"] == "XXX"
    bad_customer = rows[("customers", customer)]
    assert (bad_customer.file, bad_customer.row_number, bad_customer.field, bad_customer.reason) == (
        f"{url}/erp_bad.customers", customer_row + 1, "name", "name missing")
    assert bad_customer.raw["name"] == ""  # NULL arrives as the empty text a CSV would hold
    assert victim not in documents and victim in {d.invoice_id for d in good.documents}
    assert not {d.invoice_id for d in good.documents if d.customer.customer_id == customer} & documents


def test_tables_are_read_in_bounded_chunks_through_a_server_side_cursor(erp):
    url, _ = erp
    from omnibill.extract.database import _connect

    engine, connection, schema, _ = _connect(f"{url}?schema=erp")
    try:
        columns = [c["name"] for c in connection.dialect.get_columns(connection, "invoices", schema=schema)]
        chunks = read_chunks(connection, TABLES["invoices"], schema, columns, chunk_rows=25)
        first = next(chunks)
        # While the first chunk is in our hands, the rest of the table waits on the server in a named cursor.
        open_cursors = connection.exec_driver_sql("SELECT statement FROM pg_cursors").scalars().all()
        sizes = [len(first)] + [len(c) for c in chunks]
    finally:
        connection.close()
        engine.dispose()
    total = read_database_table(f"{url}?schema=erp", TABLES["invoices"], chunk_rows=25)
    assert sum('FROM erp.invoices ORDER BY' in statement for statement in open_cursors) == 1
    assert max(sizes) == 25 and len(sizes) == math.ceil(len(total.frame) / 25) > 3
    assert sum(sizes) == len(total.frame)
    whole = read_database_table(f"{url}?schema=erp", TABLES["invoices"], chunk_rows=100_000)
    assert whole.frame.equals(total.frame) and list(total.row_numbers) == list(range(1, len(total.frame) + 1))


def test_typed_columns_arrive_as_the_text_the_database_prints(erp):
    url, _ = erp
    _sql(url, "CREATE SCHEMA typed",
         "CREATE TABLE typed.consumption (customer_id text, month text, quantity numeric(10,3), unit varchar(8),"
         " meter integer, read_on date, read_at timestamptz, estimated boolean)",
         "INSERT INTO typed.consumption VALUES ('C1', '2026-10', 12.5, ' kWh ', 7, '2026-10-31',"
         " '2026-10-31 23:00:00+00', true), ('C2', '2026-10', NULL, NULL, NULL, NULL, NULL, NULL)")
    table = read_database_table(f"{url}?schema=typed", TABLES["consumption"])
    rows = table.frame.to_dict("records")
    assert rows[0]["quantity"] == "12.500" and rows[0]["unit"] == "kWh"  # known columns are stripped like CSV's
    assert rows[0]["meter"] == "7" and rows[0]["read_on"] == "2026-10-31" and rows[0]["estimated"] == "true"
    assert rows[0]["read_at"].startswith("2026-1")
    assert {k: v for k, v in rows[1].items() if k not in ("customer_id", "month")} == dict.fromkeys(
        ["quantity", "unit", "meter", "read_on", "read_at", "estimated"], "")
    assert table.extra_columns == ["meter", "read_on", "read_at", "estimated"]


def test_the_run_command_says_what_is_wrong_with_a_database_source_before_starting(erp, omnibill_env):
    url, _ = erp
    _sql(url, "CREATE SCHEMA half", "CREATE VIEW half.customers AS SELECT * FROM erp.customers")
    host = url.split("@", 1)[1]
    cases = {
        "postgresql+psycopg://postgres@127.0.0.1:1/erp": "cannot connect to the database",
        f"{url}?schema=nowhere": "the database has no schema 'nowhere'",
        f"{url}?schema=half": "required table 'invoices' is missing (looked for a table or view in schema 'half')",
        f"postgresql+psycopg://postgres:hunter2@{host}?schema=erp": "password must not be part of --source",
    }
    for source, message in cases.items():
        with pytest.raises(typer.BadParameter) as caught:
            _check_run_arguments("demo", PERIOD, source)
        assert message in str(caught.value), source
        assert "hunter2" not in str(caught.value)
    _check_run_arguments("demo", PERIOD, f"{url}?schema=erp_views")  # reachable and complete: no error
    with pytest.raises(ExtractError, match="missing required column"):
        _sql(url, "CREATE SCHEMA thin", "CREATE VIEW thin.customers AS SELECT customer_id FROM erp.customers",
             *(f"CREATE VIEW thin.{n} AS SELECT * FROM erp.{n}" for n in TABLE_NAMES if n != "customers"))
        check_database_source(f"{url}?schema=thin")


def test_a_view_that_fails_on_the_server_is_named_with_the_database_message(erp):
    url, _ = erp
    _sql(url, "CREATE SCHEMA broken",
         "CREATE VIEW broken.invoices AS SELECT CAST(customer_id AS integer) AS customer_number, * FROM erp.invoices")
    with pytest.raises(ExtractError) as caught:
        read_database_table(f"{url}?schema=broken", TABLES["invoices"], chunk_rows=10)
    message = str(caught.value)
    assert message.startswith(f"{url}/broken.invoices: cannot read the table") and "invalid input syntax" in message
