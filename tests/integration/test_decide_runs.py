"""Two monthly runs through the real flow and sandbox: a hard bounce in October suppresses the address in
November (until it changes), and `omnibill explain` says so with personal data masked."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from omnibill.demo_data import write_demo_extract
from tests.integration.test_run_end_to_end import _run_cli, sandbox  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def _edit(folder: Path, email: str) -> None:
    """Customer C0000001: a person with only an e-mail opt-in for invoices, at `email`."""
    path = folder / "customers.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for row in rows:
        if row["customer_id"] == "C0000001":
            row |= {"customer_type": "person", "email": email, "digital_mailbox": "", "peppol_id": "",
                    "einvoice_address": "", "einvoice_operator": ""}
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with (folder / "preferences.csv").open("a", encoding="utf-8") as prefs:
        prefs.write("C0000001,invoice,email,opt_in,2026-09-30T12:00:00Z,web\n")


def _explain(period: str) -> dict:
    return json.loads(_run_cli("explain", "--tenant", "demo", "--period", period, "--customer", "C0000001", "--json"))


def test_bounce_suppresses_the_address_in_the_next_run(prefect_harness, omnibill_env, sandbox, tmp_path):  # noqa: F811
    for period, email in (("2026-10", "bounce.kund@example.com"), ("2026-11", "bounce.kund@example.com"),
                          ("2026-12", "kund.ny@example.com")):
        write_demo_extract(tmp_path / period, customers=20, period=period, seed=5)
        _edit(tmp_path / period, email)
        _run_cli("run", "--tenant", "demo", "--period", period, "--source", str(tmp_path / period))
    october, november, december = (_explain(p)["documents"][0] for p in ("2026-10", "2026-11", "2026-12"))
    assert [(m["channel"], m["state"]) for m in october["messages"]] == [("email", "failed"), ("print", "sent")]
    assert october["messages"][1]["fallback_of"]
    assert november["decision"] == "print"
    assert any(r["rule"] == "suppressed" and r["channel"] == "email" for r in november["rules"])
    assert [m["channel"] for m in november["messages"]] == ["print"]
    assert december["decision"] == "email"
    text = _run_cli("explain", "--tenant", "demo", "--period", "2026-11", "--customer", "C0000001")
    assert "suppressed until it changes" in text and "bounce.kund@example.com" not in text
