"""An SMS outage for one batch, repaired by a rerun, under Prefect's test harness.

The sandbox's own counts (unique idempotency keys vs. every delivery) prove nothing was sent twice;
the run's artifacts are read back from the Prefect API.
"""

from __future__ import annotations

import logging
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from channel_adapters.base import TransientError
from flows.monthly_billing import monthly_billing_run
from flows.rerun_failed import rerun_failed
from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.ledger.models import Message
from omnibill.ops.artifacts import artifact_key
from omnibill.ledger.reports import TO_SEND
from omnibill.ops import events
from omnibill.ops.events import BATCH_FAILED, RUN_RECONCILED
from tests.flows.conftest import artifacts_of

pytestmark = pytest.mark.slow
PERIOD = "2026-10"
CHANNELS = ("email", "sms", "mailbox")


def _messages() -> list[Message]:
    run = wiring.run_of("demo", PERIOD)
    with wiring.ledger().transaction() as session:
        return list(session.scalars(select(Message).where(Message.run_id == run.id)))


def _received(box) -> dict[str, tuple[int, int]]:
    return {c: (box.ledger.count(c, unique=True), box.ledger.count(c, unique=False)) for c in CHANNELS}


def _kivra_documents(document_ids: set[str]) -> set[str]:
    """Documents whose customer's mailbox is Kivra."""
    from omnibill.ledger.repository import documents_with_customers

    with wiring.ledger().read() as session:
        found = documents_with_customers(session, document_ids)
    return {doc_id for doc_id, (_, c) in found.items() if (c.data or {}).get("digital_mailbox") == "kivra"}


def _rerun_lines(records: list[logging.LogRecord]) -> dict[tuple[str, int], str]:
    """The flow's one line per failed batch, by (channel, batch), from the line's own rerun command."""
    found = {}
    for r in records:
        text = r.getMessage()
        if r.name == "prefect.flow_runs" and text.startswith("dispatch[") and "omnibill rerun" in text:
            cmd = text.split("omnibill rerun", 1)[1].split()
            args = dict(zip(cmd[::2], cmd[1::2]))
            found[(args["--channel"], int(args["--batch"]))] = text
    return found


def test_outage_of_one_sms_batch_is_repaired_by_a_rerun(prefect_harness, omnibill_env, sandbox, tmp_path,
                                                        monkeypatch, caplog):
    emitted: list[dict] = []
    real_emit = events.emit_event
    monkeypatch.setattr(events, "emit_event", lambda **kw: emitted.append(kw) or real_emit(**kw))
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=250, period=PERIOD, seed=5)

    # 1. a dry run decides and renders, sends nothing, and forecasts the mix and cost
    forecast = monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract), dry_run=True)
    planned = _messages()
    assert _received(sandbox) == dict.fromkeys(CHANNELS, (0, 0))
    assert not [m for m in planned if m.state in ("sent", "delivered", "sending")]
    to_send = [m for m in planned if m.state in TO_SEND and not (m.state == "failed" and m.permanent)]
    mix = Counter(m.channel for m in to_send)
    assert {r["channel"]: r["messages"] for r in forecast["channels"]} == dict(mix)
    cost: dict[str, Decimal] = {}
    for m in to_send:
        cost[m.channel] = cost.get(m.channel, Decimal(0)) + m.cost
    assert {r["channel"]: Decimal(r["cost_eur"]) for r in forecast["channels"]} == \
        {c: v.quantize(Decimal("0.01")) for c, v in cost.items()}

    # 2. the HTTP gateway fails every SMS and mailbox message of one batch (transiently) during the real run
    sms_batches = Counter(m.batch_no for m in to_send if m.channel == "sms")
    assert sms_batches, "the demo extract routes a few documents to SMS"
    broken = max(sms_batches, key=lambda b: (sms_batches[b], -b))
    sms_out = {m.id for m in to_send if m.channel == "sms" and m.batch_no == broken}
    # Kivra never sees our message id (it keys content by payload), so the fault rule cannot name its messages.
    kivra = _kivra_documents({m.document_id for m in to_send if m.channel == "mailbox"})
    mailbox_out = {m.id for m in to_send if m.channel == "mailbox" and m.batch_no == broken
                   and m.document_id not in kivra}
    sandbox.faults.fail_keys = sms_out | mailbox_out
    caplog.clear()
    state = monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract), return_state=True)
    assert state.is_failed() and "omnibill rerun" in state.message

    # the log: one line per failed batch with its count and exact rerun command, no traceback for the outage
    lines = _rerun_lines(caplog.records)
    assert set(lines) == {("sms", broken), ("mailbox", broken)}
    for channel, n in (("sms", len(sms_out)), ("mailbox", len(mailbox_out))):
        assert f"dispatch[{channel}] batch {broken}: {n} messages" in lines[(channel, broken)]
        assert lines[(channel, broken)].endswith(
            f"omnibill rerun --tenant demo --period {PERIOD} --channel {channel} --batch {broken}")
    task_lines = [r for r in caplog.records if r.name == "prefect.task_runs"]
    assert any("BatchHadTransientFailures" in r.getMessage() and "Retries are exhausted" in r.getMessage()
               for r in task_lines)
    assert [r.getMessage() for r in task_lines if r.exc_info or r.exc_text] == []

    after = {m.id: m for m in _messages()}
    assert {i for i, m in after.items() if m.state == "failed" and not m.permanent} == sms_out | mailbox_out
    assert {m.state for m in after.values() if m.kind == "primary"} <= {"sent", "delivered", "failed"}
    sent = Counter(m.channel for m in after.values() if m.state in ("sent", "delivered"))
    first = _received(sandbox)
    assert first == {c: (sent[c], sent[c]) for c in CHANNELS}

    # 3. the run's artifacts carry the right numbers
    found = artifacts_of(state.state_details.flow_run_id)
    channels = {r["channel"]: r for r in found[artifact_key("demo", PERIOD, "channels")]["data"]}
    assert (channels["sms"]["failed"], channels["mailbox"]["failed"]) == (len(sms_out), len(mailbox_out))
    # companion notices have their own line, e.g. "sms (companion)"
    shown = Counter({c: 0 for c in CHANNELS})
    for name, row in channels.items():
        shown[name.split(" ")[0]] += row["sent"] + row["delivered"]
    assert {c: shown[c] for c in CHANNELS} == {c: sent[c] for c in CHANNELS}
    fails = found[artifact_key("demo", PERIOD, "failures")]["data"]
    assert Counter((r["channel"], r["kind"]) for r in fails)[("mailbox", "transient")] == len(mailbox_out)
    assert all("@" not in r["reason"] or "***@" in r["reason"] for r in fails)
    assert "not delivered yet" in found[artifact_key("demo", PERIOD, "reconciliation")]["data"]
    assert found[artifact_key("demo", PERIOD, "progress")]["data"] == 100
    assert [k for k, a in found.items() if k and not a["description"]] == []  # keyless: Prefect's own

    # (events are recorded where they are emitted: the harness server stores them only eventually)
    failed_events = {(e["payload"]["channel"], e["payload"]["batch"]): e for e in emitted
                     if e["event"] == BATCH_FAILED}
    assert set(failed_events) == {("sms", broken), ("mailbox", broken)}
    assert failed_events[("sms", broken)]["payload"]["failed"] == len(sms_out)
    assert failed_events[("mailbox", broken)]["payload"]["failed"] == len(mailbox_out)
    assert failed_events[("sms", broken)]["resource"]["omnibill.flow"] == "monthly-billing-run"
    reconciled = [e for e in emitted if e["event"] == RUN_RECONCILED][-1]["payload"]
    assert reconciled["channels"]["sms"]["failed"] == len(sms_out) and not reconciled["outcome"]["pending"]

    # 4. the provider recovers; a rerun of the SMS batch sends exactly its failed messages, nothing twice
    sandbox.faults.fail_keys = set()
    rerun_failed(tenant="demo", period=PERIOD, channel="sms", batch=broken)
    again = _received(sandbox)
    assert again == first | {"sms": (first["sms"][0] + len(sms_out), first["sms"][1] + len(sms_out))}
    assert set(sandbox.ledger.keys("sms")) >= sms_out

    # 5. a rerun of everything sends the mailbox messages left, and a second one finds nothing to send
    summary = rerun_failed(tenant="demo", period=PERIOD)
    assert summary["outcome"]["failed_transient"] == summary["outcome"]["pending"] == 0
    now = {m.id: m for m in _messages()}
    assert all(now[i].state in ("sent", "delivered") for i in mailbox_out)
    sent = Counter(m.channel for m in now.values() if m.state in ("sent", "delivered"))
    last = _received(sandbox)
    # SMS notices of the mailbox deliveries (companions) are released and sent now too, once each
    assert last == {c: (sent[c], sent[c]) for c in CHANNELS}
    assert last["mailbox"][0] == again["mailbox"][0] + len(mailbox_out) and last["email"] == again["email"]
    rerun_failed(tenant="demo", period=PERIOD)
    assert _received(sandbox) == last


class DispatchBug(Exception):
    """Not a provider's answer: a bug in our own code."""


def test_a_bug_in_dispatch_keeps_its_traceback_once_per_failed_batch(prefect_harness, omnibill_env, sandbox,
                                                                     tmp_path, monkeypatch, caplog):
    from omnibill.dispatch import stage

    real = stage.to_outbound

    def buggy(run, message, *args, **kwargs):
        if message.channel == "email":
            raise DispatchBug(f"cannot build the e-mail of {message.id}")
        return real(run, message, *args, **kwargs)

    monkeypatch.setattr(stage, "to_outbound", buggy)
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=80, period=PERIOD, seed=5)
    state = monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract), return_state=True)
    assert state.is_failed()

    email = {m.batch_no for m in _messages() if m.channel == "email"}
    assert email and not [m for m in _messages() if m.channel == "email" and m.state in ("sent", "delivered")]
    assert set(_rerun_lines(caplog.records)) == {("email", b) for b in email}
    # each failed dispatch task run shows the bug's traceback exactly once; no transient failure shows one
    failed_runs = [r for r in caplog.records if r.name == "prefect.task_runs"
                   and r.getMessage().startswith("Finished in state Failed") and "DispatchBug" in r.getMessage()]
    tracebacks = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], DispatchBug)]
    assert failed_runs and len(tracebacks) == len(failed_runs)
    text = logging.Formatter().formatException(tracebacks[0].exc_info)
    assert "Traceback" in text and "in buggy" in text and "cannot build the e-mail" in text
    assert not [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], TransientError)]
