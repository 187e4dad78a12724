"""Reading one extract table a chunk of rows at a time, for extracts too large to hold whole.

Each chunk is what `readers.read_table` would have made of those rows: stripped strings, the file's own row
numbers, and the rows that could not be read at all. A table's columns are known from its header (CSV, parquet,
database); for JSON Lines they are the union of the objects' keys, complete once every chunk has been read.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from omnibill.extract.readers import (SKIPPED, arrow_column_as_text, check_required, jsonl_rows, midnight_only,
                                      normalise, table_key)
from omnibill.extract.results import ExtractError, TableSpec
from omnibill.store import ObjectStore

CHUNK_ROWS = 50_000


@dataclass
class TableChunk:
    """Some rows of a table, as `readers.read_table` would have read them."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    unreadable: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class ChunkedTable:
    """A table being read in chunks: iterate `chunks` once; `columns` is complete after that."""

    name: str
    file: str
    spec: TableSpec
    chunks: Iterator[TableChunk]
    columns: list[str] = field(default_factory=list)

    @property
    def extra_columns(self) -> list[str]:
        """Columns the contract does not know (kept with the rows)."""
        return [c for c in self.columns if c not in self.spec.known]


def open_table(store: ObjectStore, source: str, spec: TableSpec, folder: Path,
               rows: int = CHUNK_ROWS) -> ChunkedTable | None:
    """One table of the extract, to be read in chunks of at most `rows` rows; None when an optional one is absent.

    A file in S3 is downloaded into `folder` first (in parts, never whole in memory).
    """
    from omnibill.extract.database import database_table_chunks, is_database_url

    if is_database_url(source):
        return database_table_chunks(source, spec, rows)
    key = table_key(store, source, spec)
    if key is None:
        return None
    file = f"{source.rstrip('/')}/{key}"
    path = store.local_path(key, folder)
    table = ChunkedTable(spec.name, file, spec, iter(()))
    kind = key.rsplit(".", 1)[1]
    if kind == "csv":
        table.chunks = _csv_chunks(path, table, rows)
    elif kind == "parquet":
        table.chunks = _parquet_chunks(path, table, rows)
    else:
        table.chunks = _jsonl_chunks(path, table, rows)
    return table


def _unreadable_file(file: str, exc: Exception) -> ExtractError:
    return ExtractError(f"{file}: cannot read the file ({type(exc).__name__})")


def _csv_chunks(path: Path, table: ChunkedTable, rows: int) -> Iterator[TableChunk]:
    """CSV in chunks; rows with too many fields are set aside with their record number, as when read whole."""
    try:
        header = pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig")
    except Exception as exc:
        raise _unreadable_file(table.file, exc) from exc
    table.columns = [str(c).strip() for c in header.columns]
    check_required(table.columns, table.spec, table.file)
    skipped: set[int] = set()
    next_number = 2  # the header is record 1
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", on_bad_lines="warn",
                         chunksize=rows)
    with reader:
        while True:
            frame = None
            # pandas reports skipped rows only as warnings, with their record numbers in the whole file
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    frame = next(reader)
                except StopIteration:
                    pass
                except Exception as exc:
                    raise _unreadable_file(table.file, exc) from exc
            new = sorted(int(n) for w in caught for n in SKIPPED.findall(str(w.message)))
            skipped.update(new)
            unreadable = [(n, "row has more values than the header has columns") for n in new]
            if frame is None:
                if unreadable:
                    yield TableChunk(normalise(header.iloc[:0].copy(), table.spec, table.file)[0],
                                     np.empty(0, dtype=np.int64), unreadable)
                return
            candidates = np.arange(next_number, next_number + len(frame) + len(skipped) + 1)
            numbers = candidates[~np.isin(candidates, list(skipped))][:len(frame)]
            next_number = int(numbers[-1]) + 1 if len(numbers) else next_number
            yield TableChunk(normalise(frame, table.spec, table.file)[0], numbers, unreadable)


def _parquet_chunks(path: Path, table: ChunkedTable, rows: int) -> Iterator[TableChunk]:
    """Parquet in record batches, every column as text exactly as when the file is read whole."""
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise _unreadable_file(table.file, exc) from exc
    names = parquet.schema_arrow.names
    table.columns = [str(c).strip() for c in names]
    check_required(table.columns, table.spec, table.file)
    # a timestamp column is written as dates when all of it is midnight: decided over the file, not the chunk
    stamps = [n for n in names if pa.types.is_timestamp(parquet.schema_arrow.field(n).type)]
    midnight = {n: midnight_only(parquet.read(columns=[n])[n]) for n in stamps}
    first = 1
    for batch in parquet.iter_batches(batch_size=rows):
        part = pa.Table.from_batches([batch])
        text = {n: arrow_column_as_text(part[n], midnight.get(n)).to_pandas() for n in names}
        frame = pd.DataFrame(text, columns=names).fillna("")
        yield TableChunk(normalise(frame, table.spec, table.file)[0], np.arange(first, first + len(frame)))
        first += len(frame)


def _jsonl_chunks(path: Path, table: ChunkedTable, rows: int) -> Iterator[TableChunk]:
    """JSON Lines in chunks of lines; the required columns are checked once every object has been seen."""
    seen: dict[str, None] = {}

    def chunk(lines: list[tuple[int, str]]) -> TableChunk:
        frame, numbers, broken = jsonl_rows(lines)
        seen.update(dict.fromkeys(str(c).strip() for c in frame.columns))
        table.columns = list(seen)
        return TableChunk(normalise(frame, table.spec, table.file, require=False)[0], numbers, broken)

    lines: list[tuple[int, str]] = []
    try:
        with open(path, encoding="utf-8-sig") as text:
            for number, line in enumerate(text, start=1):
                lines.append((number, line))
                if len(lines) == rows:
                    yield chunk(lines)
                    lines = []
    except UnicodeDecodeError as exc:
        raise _unreadable_file(table.file, exc) from exc
    if lines:
        yield chunk(lines)
    if table.columns:  # a file without a single object is an empty table, as when read whole
        check_required(table.columns, table.spec, table.file)
