"""Payment QR codes: EPC069-12 ("BCD", SEPA credit transfer) for EUR, usingQR JSON otherwise; matrix by zint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
import zint

from config.tenant import Sender
from omnibill.model import BillingDocument

ECC_LEVEL_M = 2  # EPC069-12 requires error correction level M


@dataclass(frozen=True)
class QrMatrix:
    """A QR symbol as horizontal runs of dark modules: (row, first column, length)."""

    size: int
    runs: tuple[tuple[int, int, int], ...]


def creditor_reference(reference: str) -> str:
    """The ISO 11649 'RF' creditor reference for a national reference (returned as-is if already RF)."""
    ref = "".join(reference.split()).upper()
    if ref.startswith("RF"):
        return ref
    digits = "".join(str(int(ch, 36)) for ch in ref + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{ref}"


def _payable(doc: BillingDocument) -> Decimal | None:
    amount = Decimal(doc.total_incl_vat)
    return amount if doc.document_type != "credit_note" and amount > 0 else None


def epc_payload(doc: BillingDocument, sender: Sender) -> str | None:
    """The EPC069-12 v002 payload (SEPA credit transfer) for a EUR document with something to pay."""
    amount = _payable(doc)
    if doc.currency != "EUR" or amount is None or amount > Decimal("999999999.99"):
        return None
    ref = "".join(doc.payment_reference.split())
    structured = creditor_reference(ref) if ref.isalnum() and len(ref) <= 21 else ""
    unstructured = "" if structured else f"{doc.invoice_id} {ref}"[:140]
    fields = ["BCD", "002", "1", "SCT", sender.bic, sender.name[:70], sender.iban.replace(" ", ""),
              f"EUR{amount:.2f}", "", structured, unstructured]
    return "\n".join(fields).rstrip("\n")


def usingqr_payload(doc: BillingDocument, sender: Sender) -> str | None:
    """The usingQR JSON (Swedish invoice QR) for a SEK document with something to pay.

    Danish and Norwegian banking apps have no common invoice QR: for DKK and NOK none is printed
    rather than a Swedish one they cannot read (the FIK line / KID is what those customers pay with).
    """
    amount = _payable(doc)
    if doc.currency != "SEK" or amount is None:
        return None
    data: dict[str, object] = {
        "uqr": 1, "tp": 1, "nme": sender.name, "cc": sender.country, "cid": sender.org_number,
        "iref": doc.payment_reference, "idt": doc.issue_date.strftime("%Y%m%d"),
        "ddt": doc.due_date.strftime("%Y%m%d"), "due": float(amount), "cur": doc.currency,
    }
    if doc.currency == "SEK" and sender.bankgiro:
        data |= {"pt": "BG", "acc": "".join(ch for ch in sender.bankgiro if ch.isdigit())}
    else:
        data |= {"pt": "IBAN", "acc": sender.iban.replace(" ", ""), "bc": sender.bic}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def payment_qr_payload(doc: BillingDocument, sender: Sender) -> str | None:
    """The QR payload to print for a document, or None when there is nothing to pay."""
    return epc_payload(doc, sender) or usingqr_payload(doc, sender)


@lru_cache(maxsize=64)  # a document's PDF and its HTML page show the same symbol: encode it once
def qr_matrix(payload: str) -> QrMatrix:
    """Encode a payload (UTF-8, byte mode, ECC level M) and return its dark-module runs."""
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.QRCODE
    symbol.option_1 = ECC_LEVEL_M
    symbol.encode(payload.encode("utf-8"))
    size = symbol.width
    data = symbol.encoded_data  # a fixed-capacity bit buffer: the symbol is its first rows and columns
    packed = np.frombuffer(data.tobytes(), dtype=np.uint8).reshape(data.shape)[: symbol.rows]
    dark = np.unpackbits(packed, axis=1, bitorder="little")[:, :size].astype(np.int8)
    # A run starts where a row steps 0 -> 1 and ends where it steps 1 -> 0 (rows padded with light modules).
    edges = np.diff(np.pad(dark, ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    runs = tuple(zip(rows.tolist(), starts.tolist(), (ends - starts).tolist()))
    return QrMatrix(size=size, runs=runs)
