"""Validation of the optional tables: preferences (consents), consumption and messages."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pandas as pd

from config.channels import CHANNELS
from omnibill.extract.checks import (DECIMAL, MONTH, Findings, check_choice, check_customer_refs, check_duplicates,
                                     check_pattern, check_present, lower)
from omnibill.extract.readers import RawTable
from omnibill.model import ConsumptionPoint

CATEGORIES = ("invoice", "reminder", "marketing", "service")
PREFERENCE_CHANNELS = CHANNELS
STATUSES = ("opt_in", "opt_out")
MESSAGE_CATEGORIES = ("marketing", "service")


def check_preferences(table: RawTable, customer_ids: pd.Series,
                      quarantined: dict[str, str]) -> tuple[pd.DataFrame, Findings]:
    """Normalised preference rows (with their parsed UTC time) and their problems."""
    frame = table.frame.copy(deep=False)
    lower(frame, "category", "channel", "status")
    findings = Findings(frame.index)
    check_present(findings, frame, ("customer_id", "category", "channel", "status", "recorded_at"))
    check_customer_refs(findings, frame, customer_ids, quarantined)
    check_choice(findings, frame, "category", CATEGORIES)
    check_choice(findings, frame, "channel", PREFERENCE_CHANNELS)
    check_choice(findings, frame, "status", STATUSES)
    frame["_at"] = pd.to_datetime(frame["recorded_at"].where(frame["recorded_at"] != ""), format="ISO8601",
                                  utc=True, errors="coerce")
    findings.add((frame["recorded_at"] != "") & frame["_at"].isna(), "recorded_at",
                 "recorded_at is not an ISO timestamp")
    return frame, findings


def latest_consents(frame: pd.DataFrame, good: pd.Series) -> dict[str, dict[str, dict[str, dict]]]:
    """customer -> category -> channel -> the latest choice; on equal times the later row wins."""
    rows = frame.loc[good].assign(_order=range(int(good.sum())))
    rows = rows.sort_values(["_at", "_order"], kind="stable")
    rows = rows.drop_duplicates(["customer_id", "category", "channel"], keep="last")
    at = rows["_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    consents: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for cid, category, channel, status, when, source in zip(
            *(rows[c].tolist() for c in ("customer_id", "category", "channel", "status")), at.tolist(),
            rows["source"].tolist()):
        consents[cid][category][channel] = {"status": status, "recorded_at": when, "source": source}
    return {cid: dict(by_category) for cid, by_category in consents.items()}


def check_consumption(table: RawTable, customer_ids: pd.Series,
                      quarantined: dict[str, str]) -> tuple[pd.DataFrame, Findings]:
    """Consumption rows and their problems; one row per customer, month and unit."""
    frame = table.frame.copy(deep=False)
    findings = Findings(frame.index)
    check_present(findings, frame, ("customer_id", "month", "quantity"))
    check_customer_refs(findings, frame, customer_ids, quarantined)
    check_pattern(findings, frame, "month", MONTH, "a month (YYYY-MM)")
    check_pattern(findings, frame, "quantity", DECIMAL, "a decimal number")
    keyed = frame.assign(unit=frame["unit"].where(frame["unit"] != "", "(none)"))
    check_duplicates(findings, keyed, ["customer_id", "unit", "month"], "month for this customer and unit")
    return frame, findings


def _first_month(period: str, months: int) -> str:
    """The month `months - 1` months before the period, as YYYY-MM."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def consumption_points(frame: pd.DataFrame, good: pd.Series, period: str,
                       months: int = 12) -> dict[str, tuple[ConsumptionPoint, ...]]:
    """Per customer, the valid points of the last `months` months up to the period, oldest first."""
    rows = frame.loc[good & (frame["month"] >= _first_month(period, months)) & (frame["month"] <= period)]
    rows = rows.sort_values(["customer_id", "month", "unit"], kind="stable")
    points: dict[str, list[ConsumptionPoint]] = defaultdict(list)
    for cid, month, quantity, unit in zip(
            *(rows[c].tolist() for c in ("customer_id", "month", "quantity", "unit"))):
        points[cid].append(ConsumptionPoint(month, Decimal(quantity), unit))
    return {cid: tuple(found) for cid, found in points.items()}


def check_messages(table: RawTable, customer_ids: pd.Series,
                   quarantined: dict[str, str]) -> tuple[pd.DataFrame, Findings]:
    """Non-billing message rows and their problems."""
    frame = table.frame.copy(deep=False)
    lower(frame, "category")
    findings = Findings(frame.index)
    check_present(findings, frame, ("message_id", "customer_id", "category", "subject", "body_markdown"))
    check_duplicates(findings, frame, ["message_id"], "message_id")
    check_customer_refs(findings, frame, customer_ids, quarantined)
    check_choice(findings, frame, "category", MESSAGE_CATEGORIES)
    return frame, findings


def valid_messages(frame: pd.DataFrame, good: pd.Series) -> list[dict]:
    """The valid messages as plain dicts of their contract columns."""
    columns = ["message_id", "customer_id", "category", "subject", "body_markdown"]
    return frame.loc[good, columns].to_dict("records")
