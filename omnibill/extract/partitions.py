"""A large extract split into partitions by customer, each validated and stored on its own.

The tables are read in chunks and every row is written to its partition's file on disk, so neither step holds more
than a chunk; a partition is then read back whole and validated with the same code as a whole extract. A customer's
rows of every table meet in one partition:

- customers, preferences and consumption go by the row's `customer_id`;
- invoices and messages go by the customer of the first row with their id, so a repeated id still meets its
  first row and is quarantined as a duplicate;
- invoice lines go with their invoice (a line of an unknown invoice goes by its `invoice_id`).

Rows keep the file's order and numbers within their partition; the rows a parser could not read at all go to the
first partition. Whether a customer exists, or was quarantined, is asked of the whole extract (`customer_ids`,
`SplitExtract.quarantined_customers`): a repeated invoice id whose row names another customer than its first row
sits in the first row's partition, and its reason still says what became of that other customer. So the
partitions validate to exactly what the whole extract validates to.
"""

from __future__ import annotations

import math
import pickle
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from omnibill.extract.chunks import CHUNK_ROWS, TableChunk, open_table
from omnibill.extract.readers import RawTable
from omnibill.extract.results import TABLES, TableSpec
from omnibill.extract.validate import check_customers, quarantined_customers
from omnibill.store import ObjectStore

_BY_CUSTOMER = ("customers", "preferences", "consumption")
_BY_FIRST_ROW = {"invoices": "invoice_id", "messages": "message_id"}
_ROW = "__row_number"


def partition_of(values: pd.Series, parts: int) -> np.ndarray:
    """Each value's partition: a stable hash (the same in every process and run), modulo the partition count."""
    return (pd.util.hash_pandas_object(values, index=False).to_numpy() % parts).astype(np.int64)


def customer_ids(store: ObjectStore, source: str, folder: Path, rows: int = CHUNK_ROWS) -> pd.Series:
    """Every customer id of the extract's customers table, as compact Arrow strings (read in chunks)."""
    table = open_table(store, source, TABLES["customers"], folder, rows)
    with closing(table.chunks):
        ids = [chunk.frame["customer_id"].astype("string[pyarrow]") for chunk in table.chunks]
    return pd.concat(ids, ignore_index=True) if ids else pd.Series([], dtype="string[pyarrow]")


@dataclass
class _Spilled:
    """What is known of one table once it has been split: where its rows went, and what applies to all of them."""

    spec: TableSpec
    file: str
    columns: list[str]
    extra_columns: list[str]
    unreadable: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SplitExtract:
    """An extract split into `parts` partitions in `folder`; `partition(p)` gives one as readable tables."""

    folder: Path
    parts: int
    tables: dict[str, _Spilled | None]

    def partition(self, number: int) -> dict[str, RawTable | None]:
        """The tables of one partition, as `readers.read_table` would have read them from files of their own;
        its files are removed (each partition is read once)."""
        tables = {name: None if spilled is None else self.table(name, number) for name, spilled in self.tables.items()}
        for name in self.tables:
            _spill_path(self.folder, name, number).unlink(missing_ok=True)
        return tables

    def quarantined_customers(self) -> dict[str, str]:
        """Customer ids of the whole extract without a usable row, with their reason (a partition at a time)."""
        found: dict[str, str] = {}
        for number in range(self.parts):
            found |= quarantined_customers(*check_customers(self.table("customers", number)))
        return found

    def table(self, name: str, number: int) -> RawTable:
        """One table of one partition."""
        spilled = self.tables[name]
        pieces = []
        path = _spill_path(self.folder, spilled.spec.name, number)
        if path.exists():
            with open(path, "rb") as spill:
                while True:
                    try:
                        pieces.append(pickle.load(spill))  # our own file, written by _spill below
                    except EOFError:
                        break
        columns = list(dict.fromkeys([*spilled.spec.known, *spilled.columns]))
        frame = (pd.concat(pieces, ignore_index=True) if pieces
                 else pd.DataFrame({c: pd.Series(dtype="str") for c in [*columns, _ROW]}))
        numbers = frame.pop(_ROW).to_numpy(dtype=np.int64)
        frame = frame.reindex(columns=columns).fillna("")
        return RawTable(spilled.spec.name, spilled.file, frame, numbers, spilled.columns, spilled.extra_columns,
                        spilled.unreadable if number == 0 else [])


def _spill_path(folder: Path, table: str, number: int) -> Path:
    return folder / f"{table}.{number}.pickle"


def _spill(folder: Path, table: str, chunk: TableChunk, parts: np.ndarray) -> None:
    """Append each partition's rows of a chunk to its file, with the rows' numbers in the file."""
    frame = chunk.frame.assign(**{_ROW: chunk.row_numbers})
    for number in np.unique(parts):
        with open(_spill_path(folder, table, int(number)), "ab") as spill:
            pickle.dump(frame[parts == number], spill, protocol=pickle.HIGHEST_PROTOCOL)


def _first_row_parts(ids: list[str], by_customer: np.ndarray, owners: dict[str, int]) -> np.ndarray:
    """Partitions of rows keyed by an id: the first row with an id decides; rows without one go by customer."""
    return np.fromiter((owners.setdefault(key, part) if key else part
                        for key, part in zip(ids, by_customer.tolist())), dtype=np.int64, count=len(ids))


def split_extract(store: ObjectStore, source: str, folder: Path, parts: int,
                  rows: int = CHUNK_ROWS) -> SplitExtract:
    """Read every table of the extract in chunks and write each row to its partition's file in `folder`."""
    owners: dict[str, dict[str, int]] = {name: {} for name in _BY_FIRST_ROW}
    spilled: dict[str, _Spilled | None] = {}
    for name, spec in TABLES.items():  # invoices before their lines: the lines follow their invoice
        table = open_table(store, source, spec, folder, rows)
        if table is None:
            spilled[name] = None
            continue
        unreadable = []
        with closing(table.chunks):  # a database cursor or a file is closed even when a chunk fails
            for chunk in table.chunks:
                unreadable += chunk.unreadable
                _spill(folder, name, chunk, _parts(name, chunk.frame, parts, owners))
        spilled[name] = _Spilled(spec, table.file, table.columns, table.extra_columns, sorted(unreadable))
    return SplitExtract(folder, parts, spilled)


def _parts(name: str, frame: pd.DataFrame, parts: int, owners: dict[str, dict[str, int]]) -> np.ndarray:
    if name in _BY_CUSTOMER:
        return partition_of(frame["customer_id"], parts)
    if name in _BY_FIRST_ROW:
        key = _BY_FIRST_ROW[name]
        return _first_row_parts(frame[key].tolist(), partition_of(frame["customer_id"], parts), owners[name])
    # invoice lines: the partition of their invoice
    own = partition_of(frame["invoice_id"], parts)
    found = frame["invoice_id"].map(owners["invoices"])
    return np.where(found.notna(), found.fillna(0).to_numpy(dtype=np.int64), own)


def partition_count(customers: int, per_partition: int) -> int:
    """How many partitions an extract of this many customers is split into (1: it is read whole)."""
    return max(1, math.ceil(customers / per_partition))

