"""An extra `do_not_contact` column in the customers table flows from the extract into the decision."""

from __future__ import annotations

from omnibill.decide.stage import decide_batch
from omnibill.extract import read_extract
from omnibill.extract.stage import store_extract
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import Document
from omnibill.ledger.runs import open_run
from omnibill.wiring import tenant_rules

KEY = b"test address key"  # the tenant address key (settings hold the real secret)

HEADER_C = "customer_id,customer_type,name,country,email,street,postal_code,city,do_not_contact\n"
HEADER_I = ("invoice_id,customer_id,document_type,issue_date,due_date,currency,total_excl_vat,vat_amount,"
            "total_incl_vat,period\n")


def test_do_not_contact_reaches_the_decision(tmp_path, omnibill_env):
    src = tmp_path / "x"
    src.mkdir()
    (src / "customers.csv").write_text(HEADER_C + "C1,person,Anna,SE,a@example.se,Storg 1,111 22,Stockholm,true\n"
                                       "C2,person,Bo,SE,b@example.se,Storg 2,111 22,Stockholm,\n")
    (src / "invoices.csv").write_text(HEADER_I + "I1,C1,invoice,2026-11-01,2026-12-01,SEK,100.00,25.00,125.00,2026-11\n"
                                      "I2,C2,invoice,2026-11-01,2026-12-01,SEK,100.00,25.00,125.00,2026-11\n")
    (src / "invoice_lines.csv").write_text("invoice_id,line_no,description,quantity,unit_price,vat_rate,line_amount\n"
                                           "I1,1,El,1,100,25,100.00\nI2,1,El,1,100,25,100.00\n")
    extract = read_extract(str(src), "demo", "2026-11")
    assert extract.customer_extras["C1"] == {"do_not_contact": "true"}
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
    with ledger.transaction() as s:
        run = open_run(s, "demo", "2026-11", str(src))
        store_extract(s, run.id, extract, 100)
        decide_batch(s, run, 0, tenant_rules("demo"), hash_key=KEY)
        decisions = {d.invoice_id: (d.decision, d.decision_reason) for d in s.query(Document)}
    assert decisions["I2"][0] == "print"
    assert decisions["I1"][0] == "none" and "contact" in decisions["I1"][1]
