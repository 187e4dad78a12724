"""camt.054 → payments: Handelsbanken's published credit-notification example, versions .02 to .08, batches,
several references in one payment, debits, reversals and pending entries left out, broken files refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from omnibill.receipts.camt054 import Camt054Error, parse_camt054

EXAMPLE = Path(__file__).resolve().parents[1] / "contract" / "fixtures" / "camt054" / \
    "handelsbanken_fi_credit_notification.xml"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.0{v}"


def doc(entries: str, version: int = 2) -> bytes:
    return (f'<?xml version="1.0"?><Document xmlns="{NS.format(v=version)}"><BkToCstmrDbtCdtNtfctn>'
            f"<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-30T08:00:00</CreDtTm></GrpHdr>"
            f"<Ntfctn><Id>N1</Id><CreDtTm>2026-11-30T08:00:00</CreDtTm><Acct><Id><IBAN>SE4550000000058398257466</IBAN>"
            f"</Id></Acct>{entries}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>").encode()


def entry(ref: str = "AS1", *, amount: str = "125.00", status: str = "<Sts>BOOK</Sts>", indicator: str = "CRDT",
          txs: str = "", extra: str = "") -> str:
    return (f'<Ntry><NtryRef>E-{ref}</NtryRef><Amt Ccy="SEK">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{extra}'
            f"{status}<BookgDt><Dt>2026-11-28</Dt></BookgDt><ValDt><Dt>2026-11-29</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><NtryDtls>{txs}</NtryDtls></Ntry>")


def tx(reference: str | None = "1234566", amount: str = "125.00", own_ref: str = "") -> str:
    refs = f"<Refs><AcctSvcrRef>{own_ref}</AcctSvcrRef></Refs>" if own_ref else ""
    strd = (f"<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{reference}</Ref>"
            f"</CdtrRefInf></Strd></RmtInf>") if reference else "<RmtInf><Ustrd>faktura 17</Ustrd></RmtInf>"
    return f'<TxDtls>{refs}<AmtDtls><TxAmt><Amt Ccy="SEK">{amount}</Amt></TxAmt></AmtDtls>{strd}</TxDtls>'


def test_the_published_example_gives_every_credit_with_its_structured_reference():
    events = parse_camt054(EXAMPLE)
    assert [(e.reference, e.amount, e.currency, e.event_id) for e in events] == [
        ("", Decimal("88.16"), "EUR", "201701312588CECZ0804"),  # unstructured only: kept, to stay unmatched
        ("9544208", Decimal("742.45"), "EUR", "20170123456"),  # the Finnish reference, net of a credit note
        ("", Decimal("6000.54"), "EUR", "201702013131LG123456"),  # an invoice number, no creditor reference
        ("", Decimal("216.85"), "EUR", "170130313190U60111"),  # cross-border: the amount booked, in EUR
    ]
    assert {e.paid_on for e in events} == {date(2017, 1, 22)} and {e.source for e in events} == {"camt054"}


@pytest.mark.parametrize("version", range(2, 9))
def test_versions_02_to_08_are_read_alike(version):
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= 7 else "<Sts>BOOK</Sts>"
    (event,) = parse_camt054(doc(entry(status=status, txs=tx("RF18 5390 0754 7034")), version))
    assert (event.reference, event.amount, event.paid_on, event.event_id) == (
        "RF18 5390 0754 7034", Decimal("125.00"), date(2026, 11, 28), "AS1")


def test_a_batch_entry_gives_one_payment_per_transaction_with_stable_ids():
    txs = tx("1234566", "100.00", own_ref="TX-A") + tx("7654321", "50.00") + tx(None, "25.00")
    events = parse_camt054(doc(entry("B1", amount="175.00", txs=txs)))
    assert [(e.reference, e.amount, e.event_id) for e in events] == [
        ("1234566", Decimal("100.00"), "TX-A"), ("7654321", Decimal("50.00"), "B1#2"), ("", Decimal("25.00"), "B1#3")]
    assert parse_camt054(doc(entry("B1", amount="175.00", txs=txs))) == events  # the same file, the same ids


def test_one_payment_of_several_references_is_split_by_the_amounts_remitted():
    strd = "".join(f'<Strd><RfrdDocAmt><RmtdAmt Ccy="SEK">{a}</RmtdAmt></RfrdDocAmt><CdtrRefInf><Ref>{r}</Ref>'
                   f"</CdtrRefInf></Strd>" for r, a in (("1234566", "100.00"), ("7654321", "25.00")))
    txs = f'<TxDtls><AmtDtls><TxAmt><Amt Ccy="SEK">125.00</Amt></TxAmt></AmtDtls><RmtInf>{strd}</RmtInf></TxDtls>'
    events = parse_camt054(doc(entry("S1", txs=txs)))
    assert [(e.reference, e.amount, e.event_id) for e in events] == [
        ("1234566", Decimal("100.00"), "S1/1"), ("7654321", Decimal("25.00"), "S1/2")]


def test_debits_reversals_and_pending_entries_are_no_payments():
    entries = (entry("D1", indicator="DBIT", txs=tx()) + entry("R1", extra="<RvslInd>true</RvslInd>", txs=tx())
               + entry("P1", status="<Sts>PDNG</Sts>", txs=tx()) + entry("OK", txs=tx()))
    assert [e.event_id for e in parse_camt054(doc(entries))] == ["OK"]


def test_an_entry_without_details_uses_its_own_amount_and_reference():
    plain = ('<Ntry><Amt Ccy="NOK">10.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
             "<ValDt><Dt>2026-11-27</Dt></ValDt><NtryRef>N-9</NtryRef></Ntry>")
    (event,) = parse_camt054(doc(plain))
    assert (event.amount, event.currency, event.paid_on, event.event_id, event.reference) == (
        Decimal("10.50"), "NOK", date(2026, 11, 27), "N-9", "")


@pytest.mark.parametrize("data, why", [
    (b"<Document><BkToCstmrStmt/></Document>", "not a camt.054"),
    (doc("").replace(b"camt.054.001.02", b"camt.053.001.02"), "not a camt.054"),
    (doc("").replace(b"camt.054.001.02", b"camt.054.001.09"), "not a camt.054"),
    (b"<Document", "not readable as XML"),
    (doc(entry(amount="12,50", txs="")), "not an amount"),
])
def test_other_or_broken_files_are_refused(data, why):
    with pytest.raises(Camt054Error, match=why):
        parse_camt054(data)
