"""Vectorised row checks: collect, per row, the first failing field and every reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from omnibill.extract.readers import RawTable
from omnibill.extract.results import QuarantineEntry
from omnibill.model import PERIOD_PATTERN

MONEY = r"[+-]?\d+(?:\.\d{1,2})?"
DECIMAL = r"[+-]?\d+(?:\.\d+)?"
INTEGER = r"\d+"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
MONTH = PERIOD_PATTERN


class Findings:
    """Per-row problems of one table, gathered column by column without a Python loop per row."""

    def __init__(self, index: pd.Index):
        self.field = pd.Series(None, index=index, dtype=object)
        self.reason = pd.Series("", index=index, dtype=object)

    def add(self, mask: pd.Series, field: str, reason: str | pd.Series) -> None:
        """Record `reason` against every row where `mask` holds; the first field per row is kept."""
        mask = mask.reindex(self.reason.index, fill_value=False).fillna(False).astype(bool)
        if not mask.any():
            return
        self.field[mask & self.field.isna()] = field
        text = reason.reindex(mask.index)[mask].astype(object) if isinstance(reason, pd.Series) else reason
        current = self.reason[mask]
        self.reason[mask] = np.where(current == "", "", current + "; ") + text

    @property
    def bad(self) -> pd.Series:
        """Rows with at least one problem."""
        return self.reason != ""


def isin(values: pd.Series, allowed) -> pd.Series:
    """Whether each value is in `allowed`, through Arrow: pandas' own isin is slow on large string sets."""
    allowed_array = pa.array(list(allowed) if isinstance(allowed, (set, dict, tuple)) else allowed, type=pa.string())
    found = pc.is_in(pa.array(values, type=pa.string()), value_set=allowed_array)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index).fillna(False).astype(bool)


def matches(values: pd.Series, pattern: str) -> pd.Series:
    """Whether each value matches the whole pattern."""
    return values.str.fullmatch(pattern).fillna(False).astype(bool)


def check_present(findings: Findings, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Flag empty values of columns that must have one."""
    for column in columns:
        findings.add(frame[column] == "", column, f"{column} missing")


def check_pattern(findings: Findings, frame: pd.DataFrame, column: str, pattern: str, what: str) -> None:
    """Flag present values of a column that do not match the pattern."""
    values = frame[column]
    findings.add((values != "") & ~matches(values, pattern), column, f"{column} is not {what}")


def check_choice(findings: Findings, frame: pd.DataFrame, column: str, allowed: tuple[str, ...]) -> None:
    """Flag present values outside the allowed set (the value itself is never echoed)."""
    values = frame[column]
    findings.add((values != "") & ~isin(values, allowed), column, f"{column} is not one of {', '.join(allowed)}")


def check_iso_date(findings: Findings, frame: pd.DataFrame, column: str) -> None:
    """Flag present values that are not real calendar dates written YYYY-MM-DD."""
    values = frame[column]
    parsed = pd.to_datetime(values.where(matches(values, ISO_DATE)), format="%Y-%m-%d", errors="coerce")
    findings.add((values != "") & parsed.isna(), column, f"{column} is not an ISO date (YYYY-MM-DD)")


def check_duplicates(findings: Findings, frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Flag every repeat of a key after its first row."""
    present = (frame[columns] != "").all(axis=1)
    repeated = present & frame.duplicated(subset=columns, keep="first")
    findings.add(repeated, columns[-1], f"duplicate {what} (an earlier row has it)")


def check_customer_refs(findings: Findings, frame: pd.DataFrame, known: pd.Series,
                        quarantined: dict[str, str]) -> None:
    """The row's customer must be in the customers table, and not quarantined there."""
    cid = frame["customer_id"]
    findings.add((cid != "") & ~isin(cid, known), "customer_id", "customer " + cid + " not in customers")
    if quarantined:
        gone = isin(cid, quarantined)
        findings.add(gone, "customer_id", "customer " + cid[gone] + " was quarantined: " + cid[gone].map(quarantined))


def lower(frame: pd.DataFrame, *columns: str) -> None:
    """Compare codes case-insensitively by lower-casing them in place."""
    for column in columns:
        frame[column] = frame[column].str.lower()


def entries(table: RawTable, findings: Findings, key: pd.Series | None,
            customer: pd.Series | None) -> list[QuarantineEntry]:
    """Quarantine entries for the flagged rows of a table, plus its unreadable lines."""
    out = [QuarantineEntry(table.name, table.file, number, None, None, None, reason, {})
           for number, reason in table.unreadable]
    bad = findings.bad.to_numpy().nonzero()[0]
    raws = table.frame.iloc[bad][table.columns].to_dict("records")
    for position, raw in zip(bad, raws):
        index = findings.reason.index[position]
        out.append(QuarantineEntry(
            table=table.name, file=table.file, row_number=int(table.row_numbers[position]),
            record_key=(key[index] or None) if key is not None else None,
            customer_id=(customer[index] or None) if customer is not None else None,
            field=findings.field[index], reason=findings.reason[index], raw=raw))
    return sorted(out, key=lambda entry: entry.row_number)
