"""Payment QR payloads (EPC069-12 for EUR, usingQR otherwise) and the module matrix read from zint."""

from __future__ import annotations

import json

import zint
from stdnum import iso11649

from omnibill.render.qr import creditor_reference, payment_qr_payload, qr_matrix
from tests.unit.render_fixtures import demo_sender, doc_from, party, utility_lines


def test_epc_payload_for_euro() -> None:
    doc = doc_from(utility_lines(), currency="EUR", customer=party(language="fi", country="FI"))
    fields = payment_qr_payload(doc, demo_sender()).split("\n")
    assert fields[:8] == ["BCD", "002", "1", "SCT", "ESSESESS", "Nordvatten Energi AB", "SE4550000000058398257466", "EUR2116.66"]
    assert iso11649.is_valid(fields[9]) and fields[9].endswith(doc.payment_reference)


def test_usingqr_payload_for_sek_pays_to_bankgiro() -> None:
    data = json.loads(payment_qr_payload(doc_from(utility_lines()), demo_sender()))
    assert data | {"due": 0} == data | {"uqr": 1, "tp": 1, "nme": "Nordvatten Energi AB", "cc": "SE", "iref": "1234567890123",
                                        "ddt": "20261201", "pt": "BG", "acc": "50501055", "cur": "SEK", "due": 0}
    assert data["due"] == 2116.66


def test_no_swedish_qr_for_danish_or_norwegian_kroner() -> None:
    # No common invoice QR is read by Danish or Norwegian banking apps: print none rather than a Swedish one.
    for currency in ("NOK", "DKK"):
        assert payment_qr_payload(doc_from(utility_lines(), currency=currency), demo_sender()) is None


def test_nothing_to_pay_means_no_qr() -> None:
    assert payment_qr_payload(doc_from(utility_lines(), document_type="credit_note", sign=-1), demo_sender()) is None


def test_creditor_reference() -> None:
    assert creditor_reference("539007547034") == "RF18539007547034"
    assert creditor_reference("RF18 5390 0754 7034") == "RF18539007547034"


def test_matrix_matches_zint_bitmap() -> None:
    payload = "BCD\n002\n1\nSCT\nESSESESS\nNordvatten Energi AB\nSE4550000000058398257466\nEUR2116.66\n\nRF18539007547034"
    matrix = qr_matrix(payload)
    dark = {(r, c) for r, start, length in matrix.runs for c in range(start, start + length)}
    symbol = zint.Symbol()
    symbol.symbology, symbol.option_1, symbol.scale = zint.Symbology.QRCODE, 2, 0.5
    symbol.encode(payload.encode())
    symbol.buffer()
    bitmap = symbol.bitmap  # one pixel per module at scale 0.5, RGB
    assert bitmap.shape[:2] == (matrix.size, matrix.size)
    assert dark == {(r, c) for r in range(matrix.size) for c in range(matrix.size) if bitmap[r, c, 0] == 0}
