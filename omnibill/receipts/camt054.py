"""Payments from a bank's ISO 20022 camt.054 notification (BankToCustomerDebitCreditNotification).

What is read, per the ISO 20022 message definition of camt.054 (versions 001.02 to 001.08, which
keep these elements in the same place) and the Nordic banks' implementation guides (Nordea's MIG
camt.054.001.02 Credit, Handelsbanken's credit notification example, Bankgirot's guide):

- every credit entry (`Ntry` with `CdtDbtInd` CRDT) that is booked (`Sts` BOOK; from 001.07 on
  written `Sts/Cd`), not reversed (`RvslInd` true is left out), one payment per transaction
  (`NtryDtls/TxDtls`; a batch-booked entry carries several);
- the payment reference is the structured creditor reference `RmtInf/Strd/CdtrRefInf/Ref`
  (Swedish OCR, Norwegian KID, Finnish reference, RF creditor reference); a transaction without one
  is still returned, with an empty reference (kept unmatched, never lost); a transaction paying
  several references (several `Strd` with `CdtrRefInf`) becomes one payment per reference, each
  with its `RfrdDocAmt/RmtdAmt` when the bank gives it;
- the amount is the transaction's `AmtDtls/TxAmt/Amt` (else `TxDtls/Amt`, else the entry's `Amt`
  when the entry has one transaction), in its `Ccy`;
- `paid_on` is the booking date (`BookgDt/Dt` or `/DtTm`), else the value date;
- the event id is the bank's reference of the transaction (`TxDtls/Refs/AcctSvcrRef`), else the
  entry's `AcctSvcrRef`, else its `NtryRef`, with `#n` for the n-th transaction of a batch entry
  and `/k` for the k-th reference of a transaction; without any, a hash of what the entry says.

Names of payers, their accounts and unstructured text are not read: no personal data leaves here.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from channel_adapters.base import PaymentEvent

SOURCE = "camt054"
NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.054\.001\.0([2-8])\}Document$")


class Camt054Error(ValueError):
    """A file that is not a camt.054 notification of a version we read (001.02 to 001.08), or is broken."""


@dataclass(frozen=True)
class _Tx:
    """One transaction of an entry, with what identifies the entry it is in."""

    node: ET.Element
    entry: ET.Element
    index: int
    count: int


def parse_camt054(data: bytes | str | Path) -> list[PaymentEvent]:
    """The incoming payments of a camt.054 file (bytes, text or a path), in file order."""
    root = _root(data)
    events: list[PaymentEvent] = []
    for entry in root.iterfind(".//{*}Ntfctn/{*}Ntry"):
        if _text(entry, "{*}CdtDbtInd") != "CRDT" or not _booked(entry) or _reversed(entry):
            continue
        txs = entry.findall("{*}NtryDtls/{*}TxDtls") or [entry]
        for i, tx in enumerate(txs, 1):
            events += _payments(_Tx(tx, entry, i, len(txs)))
    return events


def _root(data: bytes | str | Path) -> ET.Element:
    raw = data.read_bytes() if isinstance(data, Path) else data.encode() if isinstance(data, str) else data
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise Camt054Error(f"not readable as XML: {exc}") from exc
    if not NAMESPACE.match(root.tag):
        raise Camt054Error(f"not a camt.054.001.02-08 document (root element {root.tag})")
    return root


def _payments(tx: _Tx) -> list[PaymentEvent]:
    """One payment per structured creditor reference of a transaction (one without any: reference '')."""
    amount, currency = _amount(tx)
    paid_on = _date(tx.entry)
    base = _event_id(tx)
    refs = [(_text(s, "{*}CdtrRefInf/{*}Ref"), s.find("{*}RfrdDocAmt/{*}RmtdAmt"))
            for s in tx.node.iterfind("{*}RmtInf/{*}Strd")]
    refs = [(r, amt) for r, amt in refs if r]
    if len(refs) <= 1:
        return [PaymentEvent(reference=refs[0][0] if refs else "", amount=amount, currency=currency,
                             paid_on=paid_on, event_id=base, source=SOURCE)]
    return [PaymentEvent(reference=ref, amount=_decimal(amt.text) if amt is not None else amount,
                         currency=amt.get("Ccy", currency) if amt is not None else currency,
                         paid_on=paid_on, event_id=f"{base}/{k}", source=SOURCE)
            for k, (ref, amt) in enumerate(refs, 1)]


def _amount(tx: _Tx) -> tuple[Decimal, str]:
    paths = ["{*}AmtDtls/{*}TxAmt/{*}Amt", "{*}Amt"]
    for node in [tx.node.find(p) for p in paths] + ([tx.entry.find("{*}Amt")] if tx.count == 1 else []):
        if node is not None and node.text:
            return _decimal(node.text), node.get("Ccy", "")
    raise Camt054Error(f"entry {_event_id(tx)}: no amount")


def _date(entry: ET.Element) -> date:
    for path in ("{*}BookgDt/{*}Dt", "{*}BookgDt/{*}DtTm", "{*}ValDt/{*}Dt", "{*}ValDt/{*}DtTm"):
        if value := _text(entry, path):
            return date.fromisoformat(value[:10])
    raise Camt054Error("an entry has neither a booking nor a value date")


def _event_id(tx: _Tx) -> str:
    own = _text(tx.node, "{*}Refs/{*}AcctSvcrRef")
    if own:
        return own
    entry_ref = _text(tx.entry, "{*}AcctSvcrRef") or _text(tx.entry, "{*}NtryRef")
    if not entry_ref:
        facts = ET.tostring(tx.entry, encoding="unicode").encode()
        entry_ref = "sha256:" + hashlib.sha256(facts).hexdigest()[:32]
    return entry_ref if tx.count == 1 else f"{entry_ref}#{tx.index}"


def _booked(entry: ET.Element) -> bool:
    status = _text(entry, "{*}Sts/{*}Cd") or _text(entry, "{*}Sts")
    return status in ("", "BOOK")


def _reversed(entry: ET.Element) -> bool:
    return _text(entry, "{*}RvslInd").lower() == "true"


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    return (found.text or "").strip() if found is not None else ""


def _decimal(text: str | None) -> Decimal:
    try:
        return Decimal((text or "").strip())
    except InvalidOperation as exc:
        raise Camt054Error(f"not an amount: {text!r}") from exc
