"""The payment slip area of page one: amount, due date, reference, account, national barcode and QR."""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.payments import compact_reference, fik_payment_line
from omnibill.render.barcode import MODULE_MM, draw_code128, fi_bank_barcode
from omnibill.render.pdf_parts import (BOLD, DARK, FONT, GREY, brand_colours, centred, draw_qr, fit, fit_size, text,
                                       y)
from omnibill.render.qr import payment_qr_payload

PAY_TOP, PAY_BOTTOM = 236.0, 277.0


def fik_line(doc: BillingDocument, sender: Sender) -> str | None:
    """The Danish FIK code line (+71 for 15-digit, +75 for 16-digit payment ids) when the sender has a creditor no."""
    creditor = sender.fik_creditor
    if doc.currency != "DKK" or not creditor:
        return None
    ref = compact_reference(doc.payment_reference)
    try:
        return fik_payment_line(ref, creditor, {15: "71", 16: "75"}.get(len(ref), "73"))
    except ValueError:
        return fik_payment_line("", creditor, "73")


def slip_details(v: dict[str, Any], doc: BillingDocument, sender: Sender) -> list[tuple[str, str]]:
    """(label, value) rows of the slip: reference and the accounts the customer can pay to."""
    t = v["t"]
    if v["credit"]:  # nothing to pay: no account, no QR
        return [(t["invoice_no"], v["number"]), (t["customer_no"], v["customer_id"])]
    rows = [(t["reference"], v["reference"])]
    fik = fik_line(doc, sender)
    rows += [("FIK", fik)] if fik else []
    rows += [("Bankgiro", v["bankgiro"])] if v["bankgiro"] else []
    if doc.currency == "SEK" and sender.plusgiro:
        rows.append(("PlusGiro", sender.plusgiro))
    return rows + [("IBAN", v["iban"]), ("BIC", v["bic"])]


def draw_payment_box(c: Canvas, v: dict[str, Any], doc: BillingDocument, sender: Sender) -> None:
    """Draw the payment box at the foot of page one."""
    brand, _ = brand_colours(sender.brand_colour)
    t, credit = v["t"], v["credit"]
    c.setStrokeColor(brand)
    c.setLineWidth(0.8)
    c.roundRect(20 * mm, y(PAY_BOTTOM), 170 * mm, (PAY_BOTTOM - PAY_TOP) * mm, 2 * mm, stroke=1, fill=0)
    c.setFillColor(brand)
    text(c, 25, PAY_TOP + 6.5, t["payment"], BOLD, 9)
    c.setFillColor(GREY)
    text(c, 25, PAY_TOP + 14, t["to_credit"] if credit else t["to_pay"], size=8)
    c.setFillColor(DARK)
    text(c, 25, PAY_TOP + 22, v["amount"], BOLD, fit_size(v["amount"], BOLD, 17, 42 * mm, 10))
    if not credit:
        c.setFillColor(GREY)
        text(c, 25, PAY_TOP + 29, t["due_date"], size=8)
        c.setFillColor(DARK)
        text(c, 25, PAY_TOP + 35, v["due_date"], BOLD, 11)
    barcode = None if credit else fi_bank_barcode(doc, sender)
    details = slip_details(v, doc, sender)[: 3 if barcode else 6]
    step = 5.8 if len(details) <= 5 else 4.9
    label_x = 70
    value_x = min(label_x + 3 + max(stringWidth(label, FONT, 8) for label, _ in details) / mm, 100)
    for i, (label, value) in enumerate(details):
        c.setFillColor(GREY)
        text(c, label_x, PAY_TOP + 8 + i * step, label, size=8)
        c.setFillColor(DARK)
        width = (154 - value_x) * mm
        size = fit_size(value, BOLD, 9, width, 6.5)
        text(c, value_x, PAY_TOP + 8 + i * step, fit(value, BOLD, size, width), BOLD, size)
    if barcode:
        # Code 128 (set C) of the 54-digit virtual barcode, 0.25 mm modules, 12 mm tall, digits beneath.
        draw_code128(c, barcode, 70 * mm, y(PAY_TOP + 34), MODULE_MM * mm, 12 * mm)
        c.setFillColor(GREY)
        text(c, 70, PAY_TOP + 37.5, barcode, FONT, 6)
    payload = None if credit else payment_qr_payload(doc, sender)
    if payload:
        # 27 mm keeps a quiet zone of four modules or more clear of the box, the caption and the account text.
        draw_qr(c, payload, 157 * mm, y(PAY_TOP + 31), 27 * mm)
        c.setFillColor(GREY)
        centred(c, 170.5 * mm, y(PAY_TOP + 35.8), t["scan"], FONT, 7)
