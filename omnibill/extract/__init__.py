"""Reading and validating one ERP extract (the contract in erp-extract.md): usable records plus a quarantine."""

from __future__ import annotations

import re

import pandas as pd

from config.settings import S3Settings
from omnibill.extract.build import build_documents, build_lines, build_parties
from omnibill.extract.checks import MONTH, entries, isin
from omnibill.extract.readers import RawTable, read_table
from omnibill.extract.results import TABLES, ExtractError, QuarantineEntry, ValidatedExtract
from omnibill.extract.side_tables import (check_consumption, check_messages, check_preferences, consumption_points,
                                          latest_consents, valid_messages)
from omnibill.extract.validate import check_customers, check_invoices, check_lines, quarantined_customers
from omnibill.store import open_store

__all__ = ["ExtractError", "QuarantineEntry", "ValidatedExtract", "check_period", "read_extract", "validate_tables"]


def _keyed(frame: pd.DataFrame, *columns: str) -> pd.Series:
    """A record key such as `invoice_id#line_no` from the row's own values."""
    key = frame[columns[0]]
    for column in columns[1:]:
        key = key + "#" + frame[column]
    return key


def _side_tables(tables: dict[str, RawTable | None], customer_ids: pd.Series, quarantined: dict[str, str],
                 period: str) -> tuple[dict, dict, list[dict], list[QuarantineEntry]]:
    """Consents, consumption points and messages from the optional tables, and their quarantine."""
    consents, points, messages, held = {}, {}, [], []
    if (table := tables["preferences"]) is not None:
        frame, found = check_preferences(table, customer_ids, quarantined)
        consents = latest_consents(frame, ~found.bad)
        held += entries(table, found, _keyed(frame, "customer_id", "category", "channel"), frame["customer_id"])
    if (table := tables["consumption"]) is not None:
        frame, found = check_consumption(table, customer_ids, quarantined)
        points = consumption_points(frame, ~found.bad, period)
        held += entries(table, found, _keyed(frame, "customer_id", "month"), frame["customer_id"])
    if (table := tables["messages"]) is not None:
        frame, found = check_messages(table, customer_ids, quarantined)
        messages = valid_messages(frame, ~found.bad)
        held += entries(table, found, frame["message_id"], frame["customer_id"])
    return consents, points, messages, held


def _line_customers(lines: pd.DataFrame, invoices: pd.DataFrame) -> pd.Series:
    """Each line's customer, through its invoice."""
    owner = invoices.drop_duplicates("invoice_id").set_index("invoice_id")["customer_id"]
    return lines["invoice_id"].map(owner).fillna("")


def check_period(period: str) -> None:
    """A run's period is a month, YYYY-MM."""
    if not re.fullmatch(MONTH, period):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")


def read_extract(source: str, tenant: str, period: str, *, s3: S3Settings | None = None) -> ValidatedExtract:
    """Read and validate a tenant's extract for one period from a folder or s3:// prefix."""
    check_period(period)
    store = open_store(source, s3)
    return validate_tables({name: read_table(store, source, spec) for name, spec in TABLES.items()}, tenant, period)


def validate_tables(tables: dict[str, RawTable | None], tenant: str, period: str, *,
                    known_customers: pd.Series | None = None,
                    quarantined: dict[str, str] | None = None) -> ValidatedExtract:
    """Validate the tables of an extract (or of one partition of it) into usable records and a quarantine.

    When `tables` hold only a part of the extract: `known_customers` are every customer id of the whole extract
    (a row whose customer is not among them is "not in customers"), and `quarantined` every customer id of it
    without a usable row, with the reason. By default both come from `tables["customers"]`.
    """
    customers, customer_found = check_customers(tables["customers"])
    if quarantined is None:
        quarantined = quarantined_customers(customers, customer_found)
    known = customers["customer_id"] if known_customers is None else known_customers
    lines, line_found = check_lines(tables["invoice_lines"], tables["invoices"].frame["invoice_id"])
    invoices, invoice_found = check_invoices(tables["invoices"], known, quarantined, lines, line_found, period)
    consents, points, messages, held = _side_tables(tables, known, quarantined, period)
    parties = build_parties(customers, ~customer_found.bad)
    good_lines = ~line_found.bad & isin(lines["invoice_id"], invoices.loc[~invoice_found.bad, "invoice_id"])
    documents = build_documents(invoices, ~invoice_found.bad, parties, build_lines(lines, good_lines), points,
                                tenant, period)
    quarantine = (entries(tables["customers"], customer_found, customers["customer_id"], customers["customer_id"])
                  + entries(tables["invoices"], invoice_found, invoices["invoice_id"], invoices["customer_id"])
                  + entries(tables["invoice_lines"], line_found, _keyed(lines, "invoice_id", "line_no"),
                            _line_customers(lines, invoices))
                  + held)
    return ValidatedExtract(
        customers=parties, documents=documents, consents=consents, quarantine=quarantine,
        invoice_rows=tables["invoices"].total_rows,
        extra_columns={name: t.extra_columns for name, t in tables.items() if t is not None and t.extra_columns},
        service_messages=messages,
        customer_extras=_customer_extras(customers, ~customer_found.bad, tables["customers"].extra_columns))


def _customer_extras(customers: pd.DataFrame, good: pd.Series, extra: list[str]) -> dict[str, dict[str, str]]:
    """Extra customer columns (kept per the contract, e.g. `do_not_contact`) of valid customers, non-empty only."""
    present = [c for c in extra if c in customers.columns]
    if not present:
        return {}
    rows = customers.loc[good, ["customer_id", *present]].drop_duplicates("customer_id")
    return {r.pop("customer_id"): {k: v for k, v in r.items() if v} for r in rows.to_dict("records")}
