"""The paid share of each channel: documents paid among the documents that reached their recipient there.

A document counts as paid when a payment with its payment reference is in the ledger (a bank's camt.054
file, a provider's payment event), whatever the amount: partial payments count, and the amounts paid are
shown beside the amounts invoiced so that the difference can be read.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from omnibill.ledger.models import BillingRun
from omnibill.ledger.payments import PAID_DECISION, paid_tallies, reached_documents

if TYPE_CHECKING:
    from omnibill.reconcile.stage import ChannelLine

PAID = PAID_DECISION


def add_paid(session: Session, run: BillingRun, channels: MutableMapping[str, ChannelLine]) -> None:
    """Fill each primary channel line's reached documents, paid documents and amounts paid."""
    for channel, n in reached_documents(session, run.id).items():
        line = channels[channel]
        line.channel = line.channel or channel
        line.reached_documents = n
    for channel, currency, n, _invoiced, amount in paid_tallies(session, run):
        line = channels[channel]
        line.channel = line.channel or channel
        line.paid += n
        line.amounts_paid[currency] = line.amounts_paid.get(currency, Decimal("0")) + amount


def paid_table(channels: Sequence[ChannelLine]) -> list[str]:
    """Terminal lines: per channel, documents paid / reached and the amounts paid (none when nothing is paid)."""
    lines = [c for c in channels if c.kind == "primary" and c.reached_documents]
    if not any(c.paid for c in lines):
        return []
    out = ["", f"{'paid':<24}{'reached':>9}{'paid':>8}{'share':>8}  amounts paid"]
    for c in lines:
        out.append(f"{c.channel:<24}{c.reached_documents:>9}{c.paid:>8}{c.paid_share:>8.0%}  "
                   + ", ".join(f"{cur} {amt:,.2f}" for cur, amt in sorted(c.amounts_paid.items())))
    return out
