"""Proof and release: a tenant that releases by hand gets a proof of the real run and a paused flow run;
nothing reaches a provider before a person approves; a rejection sends nothing and can be run again."""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.monthly_billing import AwaitingRelease, RunRejected, monthly_billing_run
from omnibill import wiring
from omnibill.cli.app import app
from omnibill.demo_data import write_demo_extract
from omnibill.proof.release import release_of
from tests.conftest import REPO, reset_caches

pytestmark = pytest.mark.slow


@pytest.fixture
def manual_tenant(omnibill_env, monkeypatch, tmp_path) -> Path:
    """The demo tenant with `release = "manual"` (and `timeout_h` hours to wait)."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    text = (REPO / "config" / "tenants" / "demo.toml").read_text()
    (folder / "demo.toml").write_text(text.replace("default_channel_cost = 0.0",
                                                   'default_channel_cost = 0.0\nrelease = "manual"', 1))
    (folder / "demo-logo.png").write_bytes((REPO / "config" / "tenants" / "demo-logo.png").read_bytes())
    monkeypatch.setenv("OMNIBILL_TENANTS_DIR", str(folder))
    reset_caches()
    return folder


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _in_background(period: str, extract: Path) -> tuple[threading.Thread, dict]:
    """The monthly run in a thread (with this context: the test's Prefect server); returns its outcome."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = monthly_billing_run(tenant="demo", period=period, source=str(extract))
        except BaseException as exc:  # noqa: BLE001  (the test looks at it)
            outcome["error"] = exc

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()
    return thread, outcome


def _until_awaiting(period: str, thread: threading.Thread, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and thread.is_alive():
        try:
            if release_of(wiring.ledger(), wiring.run_of("demo", period)).state == "awaiting":
                time.sleep(1.5)  # the flow run moves to Paused right after
                return
        except LookupError:
            pass
        time.sleep(0.3)
    raise AssertionError("the run never came to await release")


def _sent_anywhere(sandbox, var: Path) -> int:
    letters = list((var / "drops" / "print").rglob("*.csv"))
    einvoices = [p for p in (var / "drops" / "einvoice").rglob("*.xml") if "responses" not in p.parts]
    return sandbox.ledger.count(unique=False) + len(letters) + len(einvoices)


def test_nothing_is_sent_before_approval_and_everything_once_after(prefect_harness, manual_tenant, sandbox,
                                                                   omnibill_env, tmp_path):
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=80, period="2026-07", seed=21)
    thread, outcome = _in_background("2026-07", extract)
    _until_awaiting("2026-07", thread)
    assert _sent_anywhere(sandbox, omnibill_env) == 0
    proof = (omnibill_env / "documents" / "proofs" / "demo" / "2026-07" / "proof.html").read_text()
    assert "Proof: demo 2026-07" in proof and "cells" in proof and 'class="page"' in proof
    out = _cli("release", "--tenant", "demo", "--period", "2026-07", "--approve", "--by", "Anna Ek",
               "--comment", "checked VAT and references")
    assert "approved by Anna Ek" in out and "goes on" in out
    thread.join(300)
    assert outcome.get("summary", {}).get("status") == "complete", outcome
    sent = sandbox.ledger.count(unique=False)
    assert sent > 0 and sent == sandbox.ledger.count(unique=True)
    status = _cli("status", "--tenant", "demo", "--period", "2026-07")
    assert "release: approved by Anna Ek" in status
    summary = wiring.run_of("demo", "2026-07").summary
    assert summary["release"]["state"] == "approved" and summary["release"]["comment"] == "checked VAT and references"


def test_a_rejected_run_sends_nothing_and_a_corrected_one_runs_again(prefect_harness, manual_tenant, sandbox,
                                                                     omnibill_env, tmp_path):
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=60, period="2026-06", seed=22)
    thread, outcome = _in_background("2026-06", extract)
    _until_awaiting("2026-06", thread)
    _cli("release", "--tenant", "demo", "--period", "2026-06", "--reject", "--by", "Bo", "--comment", "wrong VAT")
    thread.join(120)
    assert isinstance(outcome.get("error"), RunRejected) and "wrong VAT" in str(outcome["error"])
    assert _sent_anywhere(sandbox, omnibill_env) == 0
    assert wiring.run_of("demo", "2026-06").status == "rejected"

    thread, outcome = _in_background("2026-06", extract)  # the corrected extract, the same period
    _until_awaiting("2026-06", thread)
    assert _sent_anywhere(sandbox, omnibill_env) == 0
    paused = release_of(wiring.ledger(), wiring.run_of("demo", "2026-06")).flow_run
    resume_flow_run(UUID(paused), run_input={"approve": True, "by": "Cecilia", "comment": "fixed"})  # the UI form
    thread.join(300)
    assert outcome.get("summary", {}).get("status") == "complete", outcome
    assert sandbox.ledger.count(unique=False) == sandbox.ledger.count(unique=True) > 0


def test_nobody_decides_in_time_then_nothing_is_sent_until_approved(prefect_harness, manual_tenant, sandbox,
                                                                    omnibill_env, tmp_path):
    rules = manual_tenant / "demo.toml"
    rules.write_text(rules.read_text().replace('release = "manual"', 'release = "manual"\nrelease_timeout_h = 0.001'))
    reset_caches()
    extract = tmp_path / "extract"
    write_demo_extract(extract, customers=40, period="2026-05", seed=23)
    with pytest.raises(AwaitingRelease):
        monthly_billing_run(tenant="demo", period="2026-05", source=str(extract))
    assert _sent_anywhere(sandbox, omnibill_env) == 0
    result = CliRunner().invoke(app, ["rerun", "--tenant", "demo", "--period", "2026-05"])
    assert result.exit_code != 0 and _sent_anywhere(sandbox, omnibill_env) == 0  # refused: not released
    _cli("release", "--tenant", "demo", "--period", "2026-05", "--approve", "--by", "Dan")
    _cli("rerun", "--tenant", "demo", "--period", "2026-05")
    assert sandbox.ledger.count(unique=False) == sandbox.ledger.count(unique=True) > 0
