"""Linear barcodes for the payment slip: the Finnish bank barcode as Code 128 (zint), drawn as PDF bars."""

from __future__ import annotations

from functools import lru_cache

import zint
from reportlab.pdfgen.canvas import Canvas

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.payments import fi_virtual_barcode

MODULE_MM = 0.25  # Finanssiala: module width at least 0.25 mm; quiet zone of ten modules each side


@lru_cache(maxsize=256)
def code128_bars(data: str) -> tuple[int, tuple[tuple[int, int], ...]]:
    """(width in modules, dark bars as (first module, width)) of a Code 128 symbol (digits packed as set C)."""
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.CODE128
    symbol.encode(data.encode("ascii"))
    raw, width = symbol.encoded_data.tobytes()[: symbol.encoded_data.shape[1]], symbol.width
    bars, col = [], 0
    while col < width:
        if raw[col >> 3] >> (col & 7) & 1:
            start = col
            while col < width and raw[col >> 3] >> (col & 7) & 1:
                col += 1
            bars.append((start, col - start))
        else:
            col += 1
    return width, tuple(bars)


def draw_code128(c: Canvas, data: str, x: float, y: float, module: float, height: float) -> float:
    """Draw a Code 128 symbol with its lower-left corner at (x, y); returns its width in points."""
    width, bars = code128_bars(data)
    c.saveState()
    c.translate(x, y)
    c.scale(module, height)
    c.addLiteral(" ".join(f"{start} 0 {w} 1 re" for start, w in bars) + " f")
    c.restoreState()
    return width * module


def fi_bank_barcode(doc: BillingDocument, sender: Sender) -> str | None:
    """The 54-digit virtual bank barcode for a EUR document payable to a Finnish IBAN, else None."""
    if doc.currency != "EUR" or doc.document_type == "credit_note" or not sender.iban.upper().startswith("FI"):
        return None
    try:
        return fi_virtual_barcode(sender.iban, doc.total_incl_vat, doc.payment_reference, doc.due_date)
    except ValueError:  # an account or reference the barcode cannot carry: the slip still has the text
        return None
