"""Service and marketing messages of the extract go through the same run: consent, caps, providers, accounts."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from omnibill.sandbox import SandboxLedger
from tests.integration.test_run_end_to_end import _run_cli, sandbox  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

CUSTOMERS = ("customer_id,customer_type,name,country,language,email,mobile,street,postal_code,city\n"
             "C1,person,Anna Berg,SE,sv,anna@example.se,,Storgatan 1,111 22,Stockholm\n"
             "C2,person,Bo Ek,SE,sv,bo@example.se,,Storgatan 2,111 22,Stockholm\n")
PREFERENCES = ("customer_id,category,channel,status,recorded_at,source\n"
               "C1,marketing,email,opt_in,2025-01-01T00:00:00,web\n"
               "C2,marketing,email,opt_out,2025-01-01T00:00:00,web\n")


def _extract(folder: Path, period: str) -> Path:
    folder.mkdir(parents=True)
    tag = period.replace("-", "")
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "preferences.csv").write_text(PREFERENCES)
    (folder / "invoices.csv").write_text(
        "invoice_id,customer_id,document_type,issue_date,due_date,currency,total_excl_vat,vat_amount,"
        f"total_incl_vat,period\nINV-{tag}-1,C1,invoice,{period}-01,{period}-28,SEK,100.00,25.00,125.00,{period}\n")
    (folder / "invoice_lines.csv").write_text("invoice_id,line_no,description,quantity,unit,unit_price,vat_rate,"
                                              f"line_amount\nINV-{tag}-1,1,El,1,st,100,25,100.00\n")
    (folder / "messages.csv").write_text(
        "message_id,customer_id,category,subject,body_markdown\n"
        f"M-{tag}-1,C1,marketing,Fixed price,Lock your price for *12 months* <b>now</b>.\n"
        f"M-{tag}-2,C2,marketing,Fixed price,Lock your price for *12 months*.\n"
        f"M-{tag}-3,C2,service,Maintenance,**Planned maintenance**: short outages.\n")
    return folder


def _rows(period: str) -> dict[str, dict]:
    return {r["document_id"]: r for r in json.loads(_run_cli("status", "--tenant", "demo", "--period", period,
                                                              "--json"))}


def test_marketing_follows_consent_and_the_cap_holds_across_runs(prefect_harness, omnibill_env, sandbox, tmp_path):
    for period in ("2026-09", "2026-10", "2026-11"):
        _run_cli("run", "--tenant", "demo", "--period", period, "--source", str(_extract(tmp_path / period, period)))
    sep, oct_, nov = _rows("2026-09"), _rows("2026-10"), _rows("2026-11")

    # the opted-out customer never gets marketing; the service message reaches them
    assert sep["M-202609-2"]["state"] == "suppressed" and "opted out" in sep["M-202609-2"]["reason"]
    assert sep["M-202609-3"]["state"] in ("sent", "delivered")
    # at most 2 marketing messages per 30 days across runs: the third month's is held back by the cap
    assert sep["M-202609-1"]["state"] == "sent" and oct_["M-202610-1"]["state"] == "sent"
    assert nov["M-202611-1"]["state"] == "suppressed" and "cap" in nov["M-202611-1"]["reason"]

    box = SandboxLedger(omnibill_env / "sandbox")
    mails = box.list("email")
    marketing = [m for m in mails if "Fixed price" in (m.subject or "")]
    assert len(marketing) == 2 == len({m.idempotency_key for m in marketing})
    mail = email.message_from_bytes((omnibill_env / "sandbox" / marketing[0].path).read_bytes(),
                                    policy=email.policy.default)
    # a long header may be folded before its first item (RFC 5322 §2.2.3): what a reader sees is the unfolded value
    assert mail["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:8030/unsubscribe/")
    html = mail.get_body(("html",)).get_content()
    assert "<em>12 months</em>" in html and "<b>now</b>" not in html  # Markdown formats; ERP markup is escaped


def test_mail_comes_from_the_customers_group_company(prefect_harness, omnibill_env, sandbox, tmp_path):
    _run_cli("run", "--tenant", "demo", "--period", "2026-11", "--source", str(_extract(tmp_path / "x", "2026-11")))
    box = SandboxLedger(omnibill_env / "sandbox")
    mails = box.list("email")
    assert mails
    for received in mails:
        mail = email.message_from_bytes((omnibill_env / "sandbox" / received.path).read_bytes(),
                                        policy=email.policy.default)
        assert mail["From"].addresses[0].display_name == "Nordvatten Energi AB"  # the SE company: SE customers
