"""Reading one extract table (CSV, parquet or JSONL, local or S3) into a frame of stripped strings."""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnibill.extract.results import ExtractError, TableSpec
from omnibill.store import ObjectStore

FORMATS = ("csv", "parquet", "jsonl")
SKIPPED = re.compile(r"Skipping line (\d+)")


@dataclass
class RawTable:
    """A table as read: every value a stripped string ("" when missing), with each row's number."""

    name: str
    file: str
    frame: pd.DataFrame
    row_numbers: np.ndarray
    columns: list[str]
    extra_columns: list[str]
    unreadable: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        """Rows in the file, the unreadable ones included."""
        return len(self.frame) + len(self.unreadable)


def _locate(store: ObjectStore, source: str, spec: TableSpec) -> str | None:
    """The key of the table's file, or None; two formats of one table are refused as ambiguous."""
    found = [f"{spec.name}.{ext}" for ext in FORMATS if store.exists(f"{spec.name}.{ext}")]
    if len(found) > 1:
        raise ExtractError(f"{source}: table {spec.name!r} is given twice ({', '.join(found)}); keep one")
    return found[0] if found else None


def _read_csv(data: bytes) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]]]:
    """CSV as strings; rows with too many fields are set aside instead of failing the table."""
    # pandas reports skipped rows only as warnings; catching them is the C parser's fast way to number them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            on_bad_lines="warn")
    skipped = sorted(int(n) for w in caught for n in SKIPPED.findall(str(w.message)))
    numbers = np.arange(2, 2 + len(frame) + len(skipped))
    numbers = numbers[~np.isin(numbers, skipped)]
    return frame, numbers, [(n, "row has more values than the header has columns") for n in skipped]


def midnight_only(column: pa.ChunkedArray | pa.Array) -> bool:
    """Whether every timestamp of a column falls on midnight (then the column holds dates)."""
    values = column.drop_null()
    return len(values) == 0 or pc.all(pc.equal(pc.cast(pc.floor_temporal(values, unit="day"), column.type),
                                               values)).as_py()


def arrow_column_as_text(column: pa.ChunkedArray, midnight: bool | None = None) -> pa.ChunkedArray:
    """A parquet column as text: midnight-only timestamps become dates, the rest ISO text.

    `midnight` is decided from the column itself unless given (a chunk of a file gives its whole file's answer).
    """
    if pa.types.is_timestamp(column.type):
        midnight = midnight_only(column) if midnight is None else midnight
        return pc.strftime(column, format="%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%S")
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # nested or binary extra columns: kept as JSON text
        return pa.chunked_array([pa.array([None if v is None else json.dumps(v, default=str, ensure_ascii=False)
                                           for v in column.to_pylist()], type=pa.string())])


def _read_parquet(data: bytes) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]]]:
    """Parquet with every column cast to text, so validation sees the same strings as for CSV."""
    table = pq.read_table(io.BytesIO(data))
    text = {name: arrow_column_as_text(table[name]).to_pandas() for name in table.column_names}
    frame = pd.DataFrame(text, columns=table.column_names).fillna("")
    return frame, np.arange(1, len(frame) + 1), []


def _json_text(value) -> str:
    """A JSON value as the text a CSV would hold (numbers keep their exact digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def jsonl_rows(lines) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]]]:
    """JSON Lines given as (line number, text): one object per line; blank lines skipped, broken ones set aside."""
    records, numbers, broken = [], [], []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=str, parse_int=str)
        except json.JSONDecodeError:
            broken.append((number, "line is not valid JSON"))
            continue
        if not isinstance(record, dict):
            broken.append((number, "line is not a JSON object"))
            continue
        records.append({k: _json_text(v) for k, v in record.items()})
        numbers.append(number)
    frame = pd.DataFrame.from_records(records).fillna("") if records else pd.DataFrame()
    return frame, np.asarray(numbers, dtype=np.int64), broken


def _read_jsonl(data: bytes) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str]]]:
    """JSON Lines: one object per line; blank lines are skipped, broken lines set aside."""
    # lines end at \n, \r\n or \r only, as when the file is read line by line (a JSON string may hold U+2028)
    return jsonl_rows(enumerate(io.StringIO(data.decode("utf-8-sig"), newline=None), start=1))


def table_key(store: ObjectStore, source: str, spec: TableSpec) -> str | None:
    """The key of a table's file; None for an absent optional table, ExtractError for an absent required one."""
    key = _locate(store, source, spec)
    if key is None and spec.mandatory:
        raise ExtractError(f"{source}: required table {spec.name!r} is missing "
                           f"(looked for {', '.join(f'{spec.name}.{e}' for e in FORMATS)})")
    return key


_READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


def check_required(columns: list[str], spec: TableSpec, file: str) -> None:
    """A table without one of its required columns cannot be read at all."""
    missing = [c for c in spec.required if c not in columns]
    if missing:
        raise ExtractError(f"{file}: missing required column(s): {', '.join(missing)}")


def normalise(frame: pd.DataFrame, spec: TableSpec, file: str,
               require: bool = True) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Strip the known columns, check the required ones, add absent optional ones as empty."""
    if frame.shape == (0, 0):  # a JSONL file without records: an empty table, not a broken one
        frame = pd.DataFrame({c: pd.Series(dtype="str") for c in spec.known})
    frame.columns = [str(c).strip() for c in frame.columns]
    if require:
        check_required(list(frame.columns), spec, file)
    columns = list(frame.columns)
    out = frame.reset_index(drop=True).astype("str")
    for column in spec.known:
        out[column] = out[column].str.strip() if column in columns else ""
    return out, columns, [c for c in columns if c not in spec.known]


def read_table(store: ObjectStore, source: str, spec: TableSpec) -> RawTable | None:
    """Read one table of the extract; None when an optional table is absent."""
    from omnibill.extract.database import is_database_url, read_database_table  # it imports this module

    if is_database_url(source):  # an SQLAlchemy URL: the store (a folder by that name) is not used
        return read_database_table(source, spec)
    key = table_key(store, source, spec)
    if key is None:
        return None
    file = f"{source.rstrip('/')}/{key}"
    try:
        frame, numbers, unreadable = _READERS[key.rsplit(".", 1)[1]](store.get(key))
    except ExtractError:
        raise
    except Exception as exc:  # any parser failure means the file as a whole cannot be used
        raise ExtractError(f"{file}: cannot read the file ({type(exc).__name__})") from exc
    frame, columns, extra = normalise(frame, spec, file)
    return RawTable(spec.name, file, frame, numbers, columns, extra, unreadable)
