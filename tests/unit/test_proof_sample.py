"""The proof's sample: every cell of the run, the extremes, stable for the same run."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace as Row

from omnibill.proof.page import mix_table
from omnibill.proof.sample import cell_of, stratified


def _candidates():
    out = []
    for i, (channel, lang, kind, country) in enumerate([
            ("print", "sv", "invoice", "SE"), ("print", "sv", "invoice", "SE"), ("email", "fi", "invoice", "FI"),
            ("mailbox", "sv", "reminder", "SE"), ("print", "da", "credit_note", "DK"), ("sms", "nb", "invoice", "NO")]):
        doc = Row(id=f"d{i}", invoice_id=f"INV-{i}", document_type=kind, total_incl_vat=Decimal(100 + i * (-1) ** i),
                  line_count=i % 3 + 1)
        out.append((doc, Row(data={"language": lang, "country": country}), Row(channel=channel)))
    return out


def test_every_cell_and_the_extremes_are_in_the_sample_once():
    candidates = _candidates()
    picked = stratified(candidates, per_cell=1, limit=50)
    ids = [item[0].id for _, item in picked]
    assert len(ids) == len(set(ids))
    cells = {cell_of(m.channel, d, c) for d, c, m in candidates}
    assert {cell_of(i[2].channel, i[0], i[1]) for _, i in picked} == cells
    why = {item[0].id: reason for reason, item in picked}
    assert why["d4"] in ("the largest amount", "a credit note") and why["d3"] == "a reminder"
    assert picked == stratified(candidates, per_cell=1, limit=50)  # the same run, the same proof
    assert picked == stratified(iter(candidates), per_cell=1, limit=50)  # read once, as the ledger streams them


def test_the_limit_holds():
    assert len(stratified(_candidates(), per_cell=3, limit=2)) == 2


def test_the_mix_compares_with_last_period():
    rows = mix_table([("email", "invoice", "SEK", 12, Decimal("1200"))], [("email", "invoice", "SEK", 10, Decimal("900"))])
    assert rows == [{"channel": "email", "type": "invoice", "currency": "SEK", "documents": "12", "total": "1200.00",
                     "last period": "10", "last total": "900.00", "change": "+20%"}]


def test_the_sampler_keeps_only_what_it_may_show():
    from omnibill.proof.sample import Sampler

    sampler = Sampler(per_cell=2, limit=50)
    for n in range(3000):  # one cell, read once
        doc = Row(id=f"d{n}", invoice_id=f"INV-{n:05d}", document_type="invoice", total_incl_vat=Decimal(n % 997),
                  line_count=n % 13)
        sampler.add((doc, Row(data={"language": "sv", "country": "SE"}), Row(channel="print")))
    assert sampler.count == 3000 and len(sampler.cells) == 1 and len(sampler.early) == 2
    why = {item[0].id: reason for reason, item in sampler.picked()}
    # ties go to the highest invoice id, as max() over (value, invoice id) gives
    assert why == {"d2990": "the largest amount", "d2989": "the most lines", "d0": "cell print · sv · invoice · SE",
                   "d1": "cell print · sv · invoice · SE"}


def _sample_of_a_list(candidates: list, per_cell: int, limit: int) -> list:
    """The sample as it was taken from a list of every candidate (before the Sampler read them once)."""
    picked: dict = {}

    def take(why, item):
        if item[0].id not in picked and len(picked) < limit:
            picked[item[0].id] = (why, item)

    if candidates:
        take("the largest amount", max(candidates, key=lambda c: (abs(c[0].total_incl_vat), c[0].invoice_id)))
        take("the most lines", max(candidates, key=lambda c: (c[0].line_count, c[0].invoice_id)))
        for kind in ("credit_note", "reminder"):
            if found := next((c for c in candidates if c[0].document_type == kind), None):
                take(f"a {kind.replace('_', ' ')}", found)
    cells: dict = {}
    for item in candidates:
        cell = cell_of(item[2].channel, item[0], item[1])
        if cells.get(cell, 0) < per_cell:
            cells[cell] = cells.get(cell, 0) + 1
            take("cell " + " · ".join(cell), item)
    return list(picked.values())


def test_read_once_the_sample_is_the_one_a_list_of_every_candidate_gives():
    import random

    rng = random.Random(13)
    for trial in range(300):
        candidates = []
        for n in range(rng.randint(0, 40)):
            d = rng.randint(0, 25)  # a document may come twice (its message and a fallback); amounts tie
            doc = Row(id=f"d{d}", invoice_id=f"INV-{d:03d}", document_type=rng.choice(
                ["invoice", "invoice", "credit_note", "reminder", "message"]),
                total_incl_vat=Decimal(rng.randint(-5, 5)), line_count=rng.randint(1, 4))
            customer = Row(data={"language": rng.choice("sv fi"), "country": rng.choice(["SE", "FI"])})
            candidates.append((doc, customer, Row(channel=rng.choice(["print", "email", "sms"]))))
        per_cell, limit = rng.randint(1, 3), rng.randint(1, 12)
        assert stratified(iter(candidates), per_cell, limit) == _sample_of_a_list(candidates, per_cell, limit), trial
