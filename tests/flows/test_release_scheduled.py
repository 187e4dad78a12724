"""A monthly run at night leaves SMS scheduled; the release flow sends them after 08:00 and not before.

The clock is OMNIBILL_NOW; what the sandbox SMS gateway received is counted after each step.
"""

from __future__ import annotations

import pytest

from flows.monthly_billing import monthly_billing_run
from flows.release_scheduled import release_scheduled
from omnibill import wiring
from omnibill.demo_data import write_demo_extract
from omnibill.reconcile.status import status_rows
from tests.conftest import reset_caches

pytestmark = pytest.mark.slow
PERIOD = "2026-11"


def _at(monkeypatch, moment: str) -> None:
    monkeypatch.setenv("OMNIBILL_NOW", moment)
    reset_caches()


def _sms_states() -> dict[str, int]:
    with wiring.ledger().transaction() as session:
        rows = status_rows(session, wiring.run_of("demo", PERIOD))
    counts: dict[str, int] = {}
    for r in rows:
        if r["channel"] == "sms":
            counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def test_sms_of_a_night_run_leave_with_the_release_after_quiet_hours(prefect_harness, omnibill_env, sandbox,
                                                                    monkeypatch, tmp_path):
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=300, period=PERIOD, seed=11)
    _at(monkeypatch, "2026-11-18T21:30:00+00:00")  # 22:30 in Stockholm
    summary = monthly_billing_run(tenant="demo", period=PERIOD, source=str(extract))
    night = _sms_states()
    assert night.get("scheduled", 0) > 0 and summary["status"] == "scheduled", night
    assert sandbox.ledger.count("sms") == night.get("sent", 0) + night.get("delivered", 0) == 0

    _at(monkeypatch, "2026-11-19T05:59:00+00:00")  # 06:59: still quiet
    assert release_scheduled(tenant="demo")["released"] == {}
    assert sandbox.ledger.count("sms") == 0

    _at(monkeypatch, "2026-11-19T07:01:00+00:00")  # 08:01
    released = release_scheduled(tenant="demo")["released"]
    morning = _sms_states()
    assert released[PERIOD]["due"] == night["scheduled"] and released[PERIOD]["status"] == "complete", released
    assert morning.get("scheduled", 0) == 0
    sent = morning.get("sent", 0) + morning.get("delivered", 0)
    assert sent == night["scheduled"]
    assert (sandbox.ledger.count("sms", unique=True), sandbox.ledger.count("sms")) == (sent, sent)
    assert release_scheduled(tenant="demo")["released"] == {}  # nothing twice
    assert sandbox.ledger.count("sms") == sent
