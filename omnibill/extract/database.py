"""Reading one extract table from a SQL database (a table or a view) in chunks, as the CSV reader would see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from omnibill.extract.readers import RawTable, check_required, normalise
from omnibill.extract.results import TABLES, ExtractError, TableSpec
from omnibill.ledger.db import make_engine
from omnibill.privacy import scrub

if TYPE_CHECKING:
    from omnibill.extract.chunks import ChunkedTable, TableChunk

CHUNK_ROWS = 50_000
# Each dialect's name for "text of any length": values are cast on the server, so every column arrives
# as the text the database itself prints (what `COPY ... TO ... CSV` would have written to a file).
_TEXT = {"postgresql": "TEXT", "mysql": "CHAR", "mariadb": "CHAR", "mssql": "NVARCHAR(MAX)"}
DIALECTS = (*_TEXT, "sqlite")
# Rows are read in a stable order, so a rerun numbers (and quarantines) every row as before.
_KEYS = {"customers": ("customer_id",), "invoices": ("invoice_id",), "invoice_lines": ("invoice_id", "line_no"),
         "preferences": ("customer_id", "category", "channel", "recorded_at"),
         "consumption": ("customer_id", "month"), "messages": ("message_id",)}


def is_database_url(source: str) -> bool:
    """Whether `--source` is an SQLAlchemy URL such as `postgresql+psycopg://host/erp?schema=billing`."""
    scheme = source.split("://", 1)[0] if "://" in source else ""
    return scheme.split("+", 1)[0].lower() in DIALECTS


def _split(source: str) -> tuple[str, str | None, str]:
    """(URL for the engine, schema, URL to show): `schema` is ours, not the driver's; no password allowed."""
    parts = urlsplit(source)
    if parts.password is not None or "password=" in parts.query.lower():
        raise ExtractError("the database password must not be part of --source (it would be stored with the run): "
                           "give it by the driver's own means, e.g. PGPASSWORD or ~/.pgpass")
    if parts.scheme.split("+", 1)[0].lower() == "sqlite":
        raise ExtractError(f"{source}: SQLite files are not an extract source; use a server database or files")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None) or None
    if parts.scheme.startswith("postgresql") and not any(k == "connect_timeout" for k, _ in query):
        query.append(("connect_timeout", "15"))  # an unreachable host fails the check instead of hanging it
    engine_url = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "schema"])))
    return engine_url, schema, urlunsplit(parts._replace(query=""))


def _connect(source: str):
    """An engine and one streaming connection (a server-side cursor per query), or a clear ExtractError."""
    engine_url, schema, shown = _split(source)
    try:
        engine = make_engine(engine_url)
        connection = engine.connect().execution_options(stream_results=True)
    except Exception as exc:  # bad driver, refused connection, unknown database, failed authentication
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ExtractError(f"{shown}: cannot connect to the database ({type(exc).__name__}: {detail})") from exc
    if schema and not connection.dialect.has_schema(connection, schema):
        connection.close()
        engine.dispose()
        raise ExtractError(f"{shown}: the database has no schema {schema!r}")
    return engine, connection, schema, shown


def _columns(connection, spec: TableSpec, schema: str | None) -> list[str] | None:
    """The table's or view's columns in their order; None when it does not exist."""
    if not connection.dialect.has_table(connection, spec.name, schema=schema):
        return None
    return [c["name"] for c in connection.dialect.get_columns(connection, spec.name, schema=schema)]


def _missing_table(spec: TableSpec, schema: str | None, shown: str) -> ExtractError:
    where = f"schema {schema!r}" if schema else "the default schema"
    return ExtractError(f"{shown}: required table {spec.name!r} is missing (looked for a table or view in {where})")


def _select(connection, spec: TableSpec, schema: str | None, columns: list[str]) -> str:
    """SELECT every column as text, ordered by the table's key, then by every column."""
    quote = connection.dialect.identifier_preparer
    text_type = _TEXT.get(connection.dialect.name, "TEXT")
    table = (quote.quote_schema(schema) + "." if schema else "") + quote.quote(spec.name)
    listed = ", ".join(f"CAST({quote.quote(c)} AS {text_type}) AS {quote.quote(c)}" for c in columns)
    position = {c: i for i, c in enumerate(columns, start=1)}
    order = [position[k] for k in _KEYS.get(spec.name, ()) if k in position]
    order += [p for p in position.values() if p not in order]
    return f"SELECT {listed} FROM {table} ORDER BY {', '.join(map(str, order))}"


def read_chunks(connection, spec: TableSpec, schema: str | None, columns: list[str],
                chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The table in frames of at most `chunk_rows` rows of strings ("" for NULL), read through one cursor."""
    sql = _select(connection, spec, schema, columns)
    for chunk in pd.read_sql_query(sql, connection, chunksize=chunk_rows, coerce_float=False):
        yield chunk.astype(object).where(chunk.notna(), "").astype("str")


def read_database_table(source: str, spec: TableSpec, chunk_rows: int = CHUNK_ROWS) -> RawTable | None:
    """Read one table of the extract from the database at `source`; None when an optional table is absent."""
    engine, connection, schema, shown = _connect(source)
    try:
        columns = _columns(connection, spec, schema)
        if columns is None:
            if spec.mandatory:
                raise _missing_table(spec, schema, shown)
            return None
        file = f"{shown.rstrip('/')}/{schema + '.' if schema else ''}{spec.name}"
        try:
            # Validation needs whole tables (duplicates, references across tables): the chunks are joined,
            # but each holds only strings, and the driver never holds more than one chunk of raw rows.
            chunks = list(read_chunks(connection, spec, schema, columns, chunk_rows))
        except Exception as exc:  # e.g. a view whose own casts fail: the database's message, personal data masked
            raise _unreadable_table(file, exc) from exc
        frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=columns)
        frame, found, extra = normalise(frame, spec, file)
        return RawTable(spec.name, file, frame, np.arange(1, len(frame) + 1), found, extra)
    finally:
        connection.close()
        engine.dispose()


def database_table_chunks(source: str, spec: TableSpec, rows: int = CHUNK_ROWS) -> ChunkedTable | None:
    """One table of the extract in the database, to be read in chunks of `rows`; None when an optional one is absent."""
    from omnibill.extract.chunks import ChunkedTable

    engine, connection, schema, shown = _connect(source)
    try:
        columns = _columns(connection, spec, schema)
    except Exception:
        columns = None
        raise
    finally:
        if columns is None:  # no table (or no answer): nothing is read, the connection is done
            connection.close()
            engine.dispose()
    if columns is None:
        if spec.mandatory:
            raise _missing_table(spec, schema, shown)
        return None
    file = f"{shown.rstrip('/')}/{schema + '.' if schema else ''}{spec.name}"
    table = ChunkedTable(spec.name, file, spec, iter(()), [str(c).strip() for c in columns])
    table.chunks = _database_chunks(engine, connection, table, schema, columns, rows)
    return table


def _database_chunks(engine, connection, table: ChunkedTable, schema: str | None, columns: list[str],
                     rows: int) -> Iterator[TableChunk]:
    from omnibill.extract.chunks import TableChunk

    try:
        check_required(table.columns, table.spec, table.file)
        first = 1
        chunks = read_chunks(connection, table.spec, schema, columns, rows)
        while True:
            try:
                frame = next(chunks)
            except StopIteration:
                return
            except Exception as exc:  # e.g. a view whose own casts fail: the database's message, personal data masked
                raise _unreadable_table(table.file, exc) from exc
            yield TableChunk(normalise(frame, table.spec, table.file)[0], np.arange(first, first + len(frame)))
            first += len(frame)
    finally:
        connection.close()
        engine.dispose()


def _unreadable_table(file: str, exc: Exception) -> ExtractError:
    detail = scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
    return ExtractError(f"{file}: cannot read the table ({type(exc).__name__}: {detail})")


def check_database_source(source: str) -> None:
    """Connect and check that every required table is there with its required columns (ExtractError if not)."""
    engine, connection, schema, shown = _connect(source)
    try:
        for spec in TABLES.values():
            columns = _columns(connection, spec, schema)
            if columns is None:
                if spec.mandatory:
                    raise _missing_table(spec, schema, shown)
                continue
            if missing := [c for c in spec.required if c not in columns]:
                raise ExtractError(f"{shown}/{schema + '.' if schema else ''}{spec.name}: "
                                   f"missing required column(s): {', '.join(missing)}")
    finally:
        connection.close()
        engine.dispose()
