"""Row validation of the core tables: customers, invoices and their lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from omnibill.extract.checks import (DECIMAL, INTEGER, MONEY, MONTH, Findings, check_choice, check_customer_refs,
                                     check_duplicates, check_iso_date, check_pattern, check_present, isin, lower,
                                     matches)
from omnibill.extract.readers import RawTable
from omnibill.model import LANGUAGES
from omnibill.payments import validate_reference

CUSTOMER_TYPES = ("person", "organisation")
DOCUMENT_TYPES = ("invoice", "credit_note", "reminder")
CURRENCIES = ("SEK", "EUR", "DKK", "NOK")
_REASONS_PER_INVOICE = 3  # line problems named in an invoice's reason; the rest are counted


def check_customers(table: RawTable) -> tuple[pd.DataFrame, Findings]:
    """Normalised customer rows and their problems (contact data is never judged here)."""
    frame = table.frame.copy(deep=False)
    lower(frame, "customer_type", "language")
    frame["country"] = frame["country"].str.upper()
    findings = Findings(frame.index)
    check_present(findings, frame, ("customer_id", "customer_type", "name", "country"))
    check_duplicates(findings, frame, ["customer_id"], "customer_id")
    check_choice(findings, frame, "customer_type", CUSTOMER_TYPES)
    check_pattern(findings, frame, "country", r"[A-Z]{2}", "two letters A-Z")
    check_choice(findings, frame, "language", LANGUAGES)
    return frame, findings


def quarantined_customers(frame: pd.DataFrame, findings: Findings) -> dict[str, str]:
    """Customer ids without a usable row, with the reason of their first row."""
    valid = set(frame.loc[~findings.bad, "customer_id"])
    rows = findings.bad & (frame["customer_id"] != "")
    bad = pd.DataFrame({"id": frame["customer_id"], "reason": findings.reason})[rows]
    bad = bad[~isin(bad["id"], valid)].drop_duplicates("id")
    return dict(zip(bad["id"], bad["reason"]))


def check_lines(table: RawTable, invoice_ids: pd.Series) -> tuple[pd.DataFrame, Findings]:
    """Normalised line rows with numeric helper columns, and their problems."""
    frame = table.frame.copy(deep=False)
    findings = Findings(frame.index)
    check_present(findings, frame, ("invoice_id", "line_no", "description", "quantity", "unit_price",
                                    "vat_rate", "line_amount"))
    findings.add((frame["invoice_id"] != "") & ~isin(frame["invoice_id"], invoice_ids), "invoice_id",
                 "invoice " + frame["invoice_id"] + " not in invoices")
    check_pattern(findings, frame, "line_no", INTEGER, "a whole number")
    for column in ("quantity", "unit_price", "line_amount", "vat_rate"):
        check_pattern(findings, frame, column, DECIMAL, "a decimal number")
    rate = pd.to_numeric(frame["vat_rate"].where(matches(frame["vat_rate"], DECIMAL)), errors="coerce")
    findings.add(rate.notna() & ((rate < 0) | (rate > 100)), "vat_rate", "vat_rate is not between 0 and 100")
    frame["_line_no"] = pd.to_numeric(frame["line_no"].where(matches(frame["line_no"], INTEGER)), errors="coerce")
    frame["_rate"] = rate
    frame["_amount"] = pd.to_numeric(frame["line_amount"].where(matches(frame["line_amount"], DECIMAL)),
                                     errors="coerce")
    keyed = frame[["invoice_id", "_line_no"]].astype(str).where(frame["_line_no"].notna(), "")
    check_duplicates(findings, keyed, ["invoice_id", "_line_no"], "line_no for this invoice")
    findings.field[findings.field == "_line_no"] = "line_no"
    return frame, findings


def _half_up_cents(value_in_cents: pd.Series) -> pd.Series:
    """Round a number of cents half away from zero, as invoices round VAT."""
    return np.sign(value_in_cents) * np.floor(np.abs(value_in_cents) + 0.5 + 1e-6)


def line_totals(lines: pd.DataFrame, good: pd.Series) -> pd.DataFrame:
    """Per invoice from its valid lines: amount sum, VAT cents rounded per line and per rate, rate count."""
    ok = lines.loc[good, ["invoice_id", "_amount", "_rate"]]
    cents = ok["_amount"] * ok["_rate"]
    per_line = _half_up_cents(cents).groupby(ok["invoice_id"]).sum()
    by_rate = ok.assign(_c=cents).groupby(["invoice_id", "_rate"])["_c"].sum()
    per_rate = _half_up_cents(by_rate).groupby(level=0).sum()
    return pd.DataFrame({"amount": ok.groupby("invoice_id")["_amount"].sum(), "vat_line": per_line,
                         "vat_rate": per_rate, "rates": ok.groupby("invoice_id")["_rate"].nunique()})


def line_problems(lines: pd.DataFrame, findings: Findings) -> pd.Series:
    """Per invoice id, its bad lines summarised as "line N: reason"."""
    bad = findings.bad & (lines["invoice_id"] != "")
    if not bad.any():
        return pd.Series(dtype=object)
    label = lines["line_no"].where(lines["line_no"] != "", "?")
    text = ("line " + label[bad] + ": " + findings.reason[bad]).groupby(lines.loc[bad, "invoice_id"])
    shown = text.apply(lambda s: "; ".join(s.iloc[:_REASONS_PER_INVOICE]))
    more = text.size() - _REASONS_PER_INVOICE
    return shown.where(more <= 0, shown + "; and " + more.astype(str) + " more bad line(s)")


def _check_invoice_fields(frame: pd.DataFrame, findings: Findings, period: str) -> None:
    """Presence, codes, dates, amounts and period of each invoice row."""
    check_present(findings, frame, ("invoice_id", "customer_id", "document_type", "issue_date", "due_date",
                                    "currency", "total_excl_vat", "vat_amount", "total_incl_vat", "period"))
    check_duplicates(findings, frame, ["invoice_id"], "invoice_id")
    check_choice(findings, frame, "document_type", DOCUMENT_TYPES)
    check_iso_date(findings, frame, "issue_date")
    check_iso_date(findings, frame, "due_date")
    check_choice(findings, frame, "currency", CURRENCIES)
    for column in ("total_excl_vat", "vat_amount", "total_incl_vat"):
        check_pattern(findings, frame, column, MONEY, "an amount with at most two decimals")
    check_pattern(findings, frame, "period", MONTH, "a month (YYYY-MM)")
    other = matches(frame["period"], MONTH) & (frame["period"] != period)
    findings.add(other, "period", "period " + frame["period"] + f" does not match run period {period}")


def _check_sums(frame: pd.DataFrame, findings: Findings, totals: pd.DataFrame) -> None:
    """Totals must add up to the cent, and match the lines (VAT within a cent per rate)."""
    amounts = {c: pd.to_numeric(frame[c].where(matches(frame[c], MONEY)), errors="coerce")
               for c in ("total_excl_vat", "vat_amount", "total_incl_vat")}
    gap = (amounts["total_excl_vat"] + amounts["vat_amount"] - amounts["total_incl_vat"]).abs()
    findings.add(gap > 0.005, "total_incl_vat", "total_excl_vat + vat_amount does not equal total_incl_vat")
    per = totals.reindex(frame["invoice_id"]).set_axis(frame.index)
    findings.add((amounts["total_excl_vat"] - per["amount"]).abs() > 0.005, "total_excl_vat",
                 "total_excl_vat does not equal the sum of line amounts")
    vat_cents = amounts["vat_amount"] * 100
    off = np.minimum((vat_cents - per["vat_line"]).abs(), (vat_cents - per["vat_rate"]).abs())
    findings.add(off > per["rates"] + 1e-6, "vat_amount", "vat_amount does not match the VAT of the lines")


def _check_references(frame: pd.DataFrame, findings: Findings) -> None:
    """A given payment reference must be valid for the invoice's currency."""
    given = (frame["payment_reference"] != "") & isin(frame["currency"], CURRENCIES)
    problems = pd.Series(
        [validate_reference(c, r) for c, r in zip(frame.loc[given, "currency"].tolist(),
                                                  frame.loc[given, "payment_reference"].tolist())],
        index=frame.index[given], dtype=object)
    bad = problems.notna()
    findings.add(bad.reindex(frame.index, fill_value=False), "payment_reference",
                 "payment_reference is not valid for the currency: " + problems[bad])


def check_invoices(table: RawTable, customer_ids: pd.Series, quarantined: dict[str, str],
                   lines: pd.DataFrame, line_findings: Findings, period: str) -> tuple[pd.DataFrame, Findings]:
    """Normalised invoice rows and their problems, the lines' problems included."""
    frame = table.frame.copy(deep=False)
    lower(frame, "document_type")
    frame["currency"] = frame["currency"].str.upper()
    frame["payment_reference"] = frame["payment_reference"].str.replace(r"\s+", "", regex=True).str.upper()
    findings = Findings(frame.index)
    _check_invoice_fields(frame, findings, period)
    check_customer_refs(findings, frame, customer_ids, quarantined)
    has_lines = isin(frame["invoice_id"], lines["invoice_id"])
    findings.add((frame["invoice_id"] != "") & ~has_lines, "invoice_lines", "invoice has no lines")
    problems = line_problems(lines, line_findings)
    findings.add(frame["invoice_id"].map(problems).notna(), "invoice_lines", frame["invoice_id"].map(problems))
    clean_lines = ~line_findings.bad & ~isin(lines["invoice_id"], problems.index.astype(str))
    _check_sums(frame, findings, line_totals(lines, clean_lines))
    _check_references(frame, findings)
    return frame, findings
