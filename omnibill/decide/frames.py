"""Frames the decide engine reads: customers with reachability, long-form preferences, documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import pandas as pd

from omnibill.decide.reachability import reach_frame
from omnibill.model import Party

PARTY_COLUMNS = [f.name for f in fields(Party)]
_TRUE = {"1", "true", "yes", "y", "ja", "x"}


def customers_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Customers (ledger JSON or Party fields) indexed by customer_id; missing values as ""."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(list(rows))
    for column in PARTY_COLUMNS + ["do_not_contact"]:
        if column not in frame:
            frame[column] = ""
    frame[PARTY_COLUMNS] = frame[PARTY_COLUMNS].fillna("").astype(str)
    frame["do_not_contact"] = frame["do_not_contact"].fillna("").astype(str).str.strip().str.lower().isin(_TRUE)
    if "mailbox_registered" not in frame:
        frame["mailbox_registered"] = None
    return frame.drop_duplicates("customer_id", keep="last").set_index("customer_id", drop=False)


def prefs_frame(consents: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]) -> pd.DataFrame:
    """The latest consents (customer -> category -> channel -> choice) as long rows."""
    rows = [(cid, category, channel, choice.get("status", ""), choice.get("recorded_at") or "",
             choice.get("source") or "")
            for cid, by_category in consents.items() for category, by_channel in (by_category or {}).items()
            for channel, choice in by_channel.items()]
    return pd.DataFrame(rows, columns=["customer_id", "category", "channel", "status", "recorded_at", "source"])


def docs_frame(documents: pd.DataFrame, customers: pd.DataFrame, hash_key: bytes) -> pd.DataFrame:
    """Documents (doc_id, invoice_id, customer_id, category) joined with their customer and reachability."""
    reach = reach_frame(customers, hash_key)
    keep = ["customer_type", "country", "language", "peppol_id", "einvoice_address", "digital_mailbox",
            "do_not_contact"]
    extra = customers[keep].join(reach)
    joined = documents.join(extra, on="customer_id")
    if "tried" not in joined:
        joined["tried"] = ","
    return joined
