"""The proof's sample: a few documents of every cell (channel × language × document type × country) that
exists in the run, plus the largest, the longest, a credit note and a reminder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def cell_of(channel: str, document: Any, customer: Any) -> tuple[str, str, str, str]:
    """The stratum of one document: where it goes, its language, its type, the customer's country."""
    data = customer.data or {}
    return channel, data.get("language", ""), document.document_type, data.get("country", "")


def stratified(candidates: Sequence[tuple[Any, Any, Any]], per_cell: int, limit: int) -> list[tuple[str, Any]]:
    """(why it was picked, candidate) pairs: the extremes first, then `per_cell` of each cell, at most `limit`.

    `candidates` are (document, customer, message) triples in a stable order (the ledger's by invoice id),
    so the same run gives the same proof.
    """
    picked: dict[str, tuple[str, Any]] = {}

    def take(why: str, item: tuple[Any, Any, Any]) -> None:
        if item[0].id not in picked and len(picked) < limit:
            picked[item[0].id] = (why, item)

    if candidates:
        take("the largest amount", max(candidates, key=lambda c: (abs(c[0].total_incl_vat), c[0].invoice_id)))
        take("the most lines", max(candidates, key=lambda c: (c[0].line_count, c[0].invoice_id)))
        for kind in ("credit_note", "reminder"):
            found = next((c for c in candidates if c[0].document_type == kind), None)
            if found:
                take(f"a {kind.replace('_', ' ')}", found)
    cells: dict[tuple[str, str, str, str], int] = {}
    for item in candidates:
        cell = cell_of(item[2].channel, item[0], item[1])
        if cells.get(cell, 0) < per_cell:
            cells[cell] = cells.get(cell, 0) + 1
            take("cell " + " · ".join(cell), item)
    return list(picked.values())
