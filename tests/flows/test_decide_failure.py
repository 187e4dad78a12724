"""A batch that cannot be decided, while earlier batches are already rendering and sending (the monthly run
decides and renders batch by batch): what was decided goes out once, the run fails only after it, and running
the month again decides and sends the rest, nothing twice. Counted at the sandbox providers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import tasks.decide
from flows.monthly_billing import monthly_billing_run
from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.ledger.models import Document, Message

pytestmark = pytest.mark.slow
PERIOD = "2026-09"
CHANNELS = ("email", "sms", "mailbox")
BROKEN = 3  # the batch whose decide fails


class DecideBroke(RuntimeError):
    pass


def _ledger_state() -> tuple[dict[int, int], list[Message]]:
    """Undecided documents per batch, and every message of the run."""
    run = wiring.run_of("demo", PERIOD)
    with wiring.ledger().read() as session:
        undecided: dict[int, int] = {}
        for batch_no in session.scalars(select(Document.batch_no).where(Document.run_id == run.id,
                                                                         Document.decision.is_(None))):
            undecided[batch_no] = undecided.get(batch_no, 0) + 1
        return undecided, list(session.scalars(select(Message).where(Message.run_id == run.id)))


def test_a_batch_that_cannot_be_decided_stops_the_run_after_what_was_decided_is_sent(
        prefect_harness, omnibill_env, sandbox, tmp_path, monkeypatch):
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=400, period=PERIOD, seed=9)
    real = tasks.decide.run_decide

    def broken(ledger, run, batch_no, *args, **kwargs):
        if batch_no == BROKEN:
            raise DecideBroke(f"batch {batch_no} broke")
        return real(ledger, run, batch_no, *args, **kwargs)

    monkeypatch.setattr(tasks.decide, "run_decide", broken)
    with pytest.raises(DecideBroke):
        monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract))

    undecided, messages = _ledger_state()
    assert BROKEN in undecided and 0 not in undecided  # later batches were not decided; earlier ones were
    # Everything that was decided was rendered and sent before the run stopped: nothing left half way.
    assert messages and not [m for m in messages if m.state in ("rendered", "sending")]
    sent = [m for m in messages if m.state in ("sent", "delivered") and m.channel in CHANNELS]
    assert sent
    first = {c: sandbox.ledger.count(c, unique=False) for c in CHANNELS}
    assert first == {c: sum(1 for m in sent if m.channel == c) for c in CHANNELS}

    # The month run again (the hold was given up): the rest is decided and sent; what went out is not resent.
    monkeypatch.setattr(tasks.decide, "run_decide", real)
    monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract))
    undecided, messages = _ledger_state()
    assert undecided == {}
    sent = [m for m in messages if m.state in ("sent", "delivered") and m.channel in CHANNELS]
    for c in CHANNELS:
        assert sandbox.ledger.count(c, unique=True) == sandbox.ledger.count(c, unique=False), c
        assert sandbox.ledger.count(c, unique=False) == sum(1 for m in sent if m.channel == c) > first[c], c
