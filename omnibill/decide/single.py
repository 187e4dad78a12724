"""One document at a time: the engine's decision for a single customer, for tests, previews and explain."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from config.tenant import TenantRules
from omnibill.decide.engine import decide_frame
from omnibill.decide.frames import customers_frame, docs_frame, prefs_frame
from omnibill.model import Party


@dataclass(frozen=True)
class Decision:
    """The channel chosen for a document (None: nobody to send to), why, and the rules that fired."""

    channel: str | None
    reason: str
    rules: list[dict] = field(default_factory=list)
    state: str = ""
    companion: str | None = None


def choose_channel(party: Party, consents: dict[str, Any], tenant: TenantRules, category: str = "invoice", *,
                   exclude: Collection[str] = (), do_not_contact: bool = False,
                   mailbox_registered: bool | None = None, now: datetime | None = None,
                   suppressed: dict[str, str] | None = None, sent_recently: int = 0,
                   hash_key: bytes = b"") -> Decision:
    """Decide one document of a category for one customer with the tenant's rules.

    `hash_key` is the tenant's address key; it matters only for matching `suppressed` address hashes.
    """
    customer = asdict(party) | {"do_not_contact": "true" if do_not_contact else "",
                                "mailbox_registered": mailbox_registered}
    docs = pd.DataFrame({"doc_id": ["D"], "invoice_id": ["D"], "customer_id": [party.customer_id],
                         "category": [category], "tried": ["," + ",".join(exclude) + ","]})
    frame = docs_frame(docs, customers_frame([customer]), hash_key)
    history = pd.Series([sent_recently], index=pd.MultiIndex.from_tuples([(party.customer_id, category)]))
    out = decide_frame(frame, prefs_frame({party.customer_id: consents}), tenant,
                       now=now or datetime(2026, 1, 1, 12, tzinfo=timezone.utc), history=history,
                       suppressed=suppressed).iloc[0]
    return Decision(out["channel"] or None, out["reason"], json.loads(out["rules"]), out["state"],
                    out["companion"] or None)
