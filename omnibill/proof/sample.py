"""The proof's sample: a few documents of every cell (channel × language × document type × country) that
exists in the run, plus the largest, the longest, a credit note and a reminder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def cell_of(channel: str, document: Any, customer: Any) -> tuple[str, str, str, str]:
    """The stratum of one document: where it goes, its language, its type, the customer's country."""
    data = customer.data or {}
    return channel, data.get("language", ""), document.document_type, data.get("country", "")


class Sampler:
    """The sample of candidates seen one at a time, in a stable order (the ledger's by invoice id), keeping only
    what it may show: the extremes and the first `per_cell` of each cell. A run's documents are never all in
    memory (at 100,000 customers, holding every candidate cost the proof's process 147 MB). Also counts the
    candidates and the cells."""

    def __init__(self, per_cell: int, limit: int):
        self.per_cell, self.limit = per_cell, limit
        self.count = 0
        self.per_cells: dict[tuple[str, str, str, str], int] = {}
        self.largest: tuple[Any, Any, Any] | None = None
        self.longest: tuple[Any, Any, Any] | None = None
        self.first_of: dict[str, tuple[Any, Any, Any]] = {}
        self.early: list[tuple[tuple[str, str, str, str], tuple[Any, Any, Any]]] = []

    @property
    def cells(self) -> set[tuple[str, str, str, str]]:
        return set(self.per_cells)

    def add(self, item: tuple[Any, Any, Any]) -> None:
        """One more (document, customer, message) candidate."""
        document = item[0]
        self.count += 1
        # The first of the largest (and of the longest) wins, as max() picks it.
        if self.largest is None or _amount(item) > _amount(self.largest):
            self.largest = item
        if self.longest is None or _length(item) > _length(self.longest):
            self.longest = item
        if document.document_type in ("credit_note", "reminder"):
            self.first_of.setdefault(document.document_type, item)
        cell = cell_of(item[2].channel, document, item[1])
        seen = self.per_cells.get(cell, 0)
        if seen < self.per_cell:
            self.early.append((cell, item))
        self.per_cells[cell] = seen + 1

    def picked(self) -> list[tuple[str, Any]]:
        """(why it was picked, candidate) pairs: the extremes first, then `per_cell` of each cell, at most `limit`."""
        picked: dict[str, tuple[str, Any]] = {}

        def take(why: str, item: tuple[Any, Any, Any] | None) -> None:
            if item is not None and item[0].id not in picked and len(picked) < self.limit:
                picked[item[0].id] = (why, item)

        take("the largest amount", self.largest)
        take("the most lines", self.longest)
        for kind in ("credit_note", "reminder"):
            take(f"a {kind.replace('_', ' ')}", self.first_of.get(kind))
        for cell, item in self.early:
            take("cell " + " · ".join(cell), item)
        return list(picked.values())


def _amount(item: tuple[Any, Any, Any]) -> tuple[Any, str]:
    return abs(item[0].total_incl_vat), item[0].invoice_id


def _length(item: tuple[Any, Any, Any]) -> tuple[int, str]:
    return item[0].line_count, item[0].invoice_id


def stratified(candidates: Iterable[tuple[Any, Any, Any]], per_cell: int, limit: int) -> list[tuple[str, Any]]:
    """(why it was picked, candidate) pairs: the extremes first, then `per_cell` of each cell, at most `limit`.

    `candidates` are (document, customer, message) triples in a stable order (the ledger's by invoice id),
    so the same run gives the same proof; they are read once (see Sampler).
    """
    sampler = Sampler(per_cell, limit)
    for item in candidates:
        sampler.add(item)
    return sampler.picked()
