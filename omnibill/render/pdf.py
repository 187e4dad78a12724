"""The printable PDF: A4 for a C5/E65 window envelope, line table over pages, VAT, totals, payment box and QR."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.render.context import build_view
from omnibill.render.fonts import register_fonts
from omnibill.render.pdf_parts import BOLD, DARK, FONT, GREY, RULE, brand_colours, draw_chart, draw_logo, fit, text, y
from omnibill.render.pdf_slip import draw_payment_box
from omnibill.render.texts import format_number, language_of, texts_for

ROW, HEAD = 5.0, 6.5  # mm: a table row, the table header
FIRST_TOP, FIRST_BOTTOM = 100.0, 232.0  # mm from the top: the table's room on page one (above the payment box)
NEXT_TOP, NEXT_BOTTOM = 36.0, 276.0  # ... and on continuation pages (above the footer)
CHART_H = 38.0
# (text key, x in mm, alignment): description, quantity, unit, unit price, VAT %, amount
COLUMNS = (("col_description", 21, "l"), ("col_quantity", 118, "r"), ("col_unit", 121, "l"),
           ("col_unit_price", 149, "r"), ("col_vat", 165, "r"), ("col_amount", 189, "r"))
DESCRIPTION_WIDTH = 78 * mm


def paginate(n_lines: int, first_top: float, tail_height: float) -> tuple[list[range], bool]:
    """Line ranges per page, and whether the totals need a page of their own."""
    pages, start, top, bottom = [], 0, first_top, FIRST_BOTTOM
    while True:
        take = max(1, int((bottom - top - HEAD) // ROW))
        pages.append(range(start, min(n_lines, start + take)))
        start += take
        if start >= n_lines:
            break
        top, bottom = NEXT_TOP, NEXT_BOTTOM
    last_bottom = top + HEAD + len(pages[-1]) * ROW
    return pages, last_bottom + 4 + tail_height > bottom


def _rows(v: dict[str, Any]) -> list[tuple[str, ...]]:
    lang = v["lang"]
    return [(fit(ln.description, FONT, 8.5, DESCRIPTION_WIDTH), format_number(ln.quantity, lang, 0, 3),
             ln.unit.replace("m3", "m³"), format_number(ln.unit_price, lang, 2, 4),
             format_number(ln.vat_rate, lang, 0, 2), format_number(ln.line_amount, lang))
            for ln in v["doc"].lines]


def _note(v: dict[str, Any]) -> list[str]:
    """The reminder's explanation, wrapped to the page width (empty for other documents)."""
    return simpleSplit(v["intro"], FONT, 9, 170 * mm)[:3] if v["doc"].document_type == "reminder" else []


def _first_header(c: Canvas, v: dict[str, Any], sender: Sender, note: list[str]) -> None:
    brand, _ = brand_colours(sender.brand_colour)
    left = 20 + draw_logo(c, sender.logo, 20, 10.5, 17)
    left += 4 if left > 20 else 0
    text(c, left, 18, fit(sender.name, BOLD, 14, (115 - left) * mm), BOLD, 14)
    c.setFillColor(GREY)
    text(c, left, 23.5, f"{sender.street}, {sender.postal_code} {sender.city}", size=8)
    text(c, left, 27.5, fit(f"{v['t']['phone']} {sender.phone}", FONT, 8, (115 - left) * mm), size=8)
    text(c, left, 31.5, fit(sender.email, FONT, 8, (115 - left) * mm), size=8)  # own line: long addresses were cut
    text(c, 25, 48, fit(f"{sender.name}, {sender.street}, {sender.postal_code} {sender.city}", FONT, 6.5, 80 * mm), size=6.5)
    c.setStrokeColor(RULE)
    c.line(25 * mm, y(49.2), 105 * mm, y(49.2))
    c.setFillColor(DARK)
    for i, line in enumerate(v["address"][:6]):
        text(c, 25, 55 + i * 4.6, fit(line, BOLD if i == 0 else FONT, 10, 82 * mm), BOLD if i == 0 else FONT, 10)
    c.setFillColor(brand)
    text(c, 120, 19, v["title"], BOLD, 20)
    t = v["t"]
    info = [(t["invoice_no"], v["number"]), (t["issue_date"], v["issue_date"])]
    info += [] if v["credit"] else [(t["due_date"], v["due_date"])]
    info += [(t["customer_no"], v["customer_id"]), (t["period"], v["period"])]
    for i, (label, value) in enumerate(info):
        c.setFillColor(GREY)
        text(c, 120, 29 + i * 5, label, size=8)
        c.setFillColor(DARK)
        text(c, 190, 29 + i * 5, fit(value, BOLD, 9, 40 * mm), BOLD if i < 1 else FONT, 9, "r")
    for i, line in enumerate(note):
        text(c, 20, 97 + i * 4.4, line)


def _next_header(c: Canvas, v: dict[str, Any], sender: Sender) -> None:
    text(c, 20, 18, fit(sender.name, BOLD, 12, 95 * mm), BOLD, 12)
    c.setFillColor(brand_colours(sender.brand_colour)[0])
    text(c, 190, 18, f"{v['title']} {v['number']}", BOLD, 12, "r")
    c.setFillColor(DARK)


def _frame(c: Canvas, v: dict[str, Any], sender: Sender, page: int, pages: int) -> None:
    """Brand bar on top, footer with the sender's registration and contact data, page number."""
    brand, _ = brand_colours(sender.brand_colour)
    c.setFillColor(brand)
    c.rect(0, y(6), A4[0], 6 * mm, stroke=0, fill=1)
    t = v["t"]
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    c.line(20 * mm, y(281), 190 * mm, y(281))
    c.setFillColor(GREY)
    legal = f"{sender.name} · {t['org_no']} {sender.org_number} · {t['vat_id']} {sender.vat_id}"
    legal += " · Godkänd för F-skatt" if sender.country.upper() == "SE" else ""
    text(c, 20, 285, fit(legal, FONT, 7, 150 * mm), size=7)
    contact = f"{sender.street}, {sender.postal_code} {sender.city} · {sender.phone} · {sender.email}"
    text(c, 20, 289, fit(f"{contact} · {sender.website}" if sender.website else contact, FONT, 7, 150 * mm), size=7)
    text(c, 190, 285, t["page"].format(page=page, pages=pages), size=7, align="r")
    c.setFillColor(DARK)


def _table(c: Canvas, v: dict[str, Any], rows: list[tuple[str, ...]], top: float, tint: Any) -> float:
    c.setFillColor(tint)
    c.rect(20 * mm, y(top + HEAD), 170 * mm, HEAD * mm, stroke=0, fill=1)
    c.setFillColor(DARK)
    for key, x, align in COLUMNS:
        text(c, x, top + 4.3, v["t"][key], BOLD, 7.5, align)
    c.setStrokeColor(RULE)
    c.setLineWidth(0.4)
    row_top = top + HEAD
    for row in rows:
        for value, (_, x, align) in zip(row, COLUMNS):
            text(c, x, row_top + 3.6, value, FONT, 8.5, align)
        row_top += ROW
        c.line(20 * mm, y(row_top), 190 * mm, y(row_top))
    return row_top


def _summary(c: Canvas, v: dict[str, Any], top: float) -> float:
    t, lang, money = v["t"], v["lang"], v["money"]
    text(c, 20, top + 4, t["vat_summary"], BOLD, 8)
    c.setFillColor(GREY)
    for label, x, align in ((t["col_vat"], 20, "l"), (t["vat_basis"], 70, "r"), (t["vat"], 98, "r")):
        text(c, x, top + 8.5, label, FONT, 7.5, align)
    c.setFillColor(DARK)
    for i, group in enumerate(v["vat_groups"]):
        row = top + 13 + i * 4.5
        text(c, 20, row, format_number(group.rate, lang, 0, 2), size=8.5)
        text(c, 70, row, format_number(group.basis, lang), size=8.5, align="r")
        text(c, 98, row, format_number(group.vat, lang), size=8.5, align="r")
    left_bottom = top + 13 + 4.5 * len(v["vat_groups"])
    totals = [(t["total_excl"], v["total_excl"]), (t["vat"], v["total_vat"])]
    totals += [(t["rounding"], money(v["rounding"]))] if v["rounding"] else []
    for i, (label, value) in enumerate(totals):
        text(c, 120, top + 4 + i * 4.8, label, size=8.5)
        text(c, 189, top + 4 + i * 4.8, value, size=8.5, align="r")
    rule = top + 1.5 + len(totals) * 4.8
    c.line(120 * mm, y(rule), 190 * mm, y(rule))
    text(c, 120, rule + 5.5, t["to_credit"] if v["credit"] else t["to_pay"], BOLD, 11)
    text(c, 189, rule + 5.5, v["amount"], BOLD, 11, "r")
    return max(left_bottom, rule + 8)


def summary_height(v: dict[str, Any]) -> float:
    """The height (mm) of VAT summary plus totals plus chart."""
    totals = 3 + (1 if v["rounding"] else 0)
    height = max(13 + 4.5 * len(v["vat_groups"]), 1.5 + totals * 4.8 + 8)
    return height + (CHART_H + 4 if v["doc"].consumption else 0)


def draw_document(c: Canvas, doc: BillingDocument, sender: Sender, view: dict[str, Any] | None = None) -> int:
    """Draw a document's pages on a canvas (ending each page); returns how many pages it took."""
    v = view or build_view(doc, sender)
    c.setFillColor(DARK)
    note = _note(v)
    first_top = 97 + 4.4 * len(note) if note else FIRST_TOP
    pages, tail_alone = paginate(len(doc.lines), first_top, summary_height(v))
    total, rows = len(pages) + tail_alone, _rows(v)
    tint = brand_colours(sender.brand_colour)[1]
    for number, line_range in enumerate(pages, start=1):
        _frame(c, v, sender, number, total)
        if number == 1:
            _first_header(c, v, sender, note)
            draw_payment_box(c, v, doc, sender)
            top = first_top
        else:
            _next_header(c, v, sender)
            top = NEXT_TOP
        bottom = _table(c, v, rows[line_range.start : line_range.stop], top, tint)
        if number < total:
            c.showPage()
    if tail_alone:
        _frame(c, v, sender, total, total)
        _next_header(c, v, sender)
        bottom = NEXT_TOP
    bottom = _summary(c, v, bottom + 4)
    if doc.consumption:
        draw_chart(c, doc.consumption, v["t"]["consumption"], v["lang"], brand_colours(sender.brand_colour)[0],
                   20 * mm, y(bottom + 4), 90 * mm, CHART_H * mm)
    c.showPage()
    return total


def new_canvas(buf: io.BytesIO, title: str, author: str, lang: str) -> Canvas:
    """An A4 canvas with the document fonts registered and metadata set (deterministic output)."""
    register_fonts()
    c = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1, lang=lang, initialFontName=FONT)
    c.setTitle(title)
    c.setAuthor(author)
    c.setCreator("omnibill")
    return c


def render_pdf(doc: BillingDocument, sender: Sender, *, view: dict[str, Any] | None = None) -> bytes:
    """The document as a PDF (A4, one or more pages) ready for print or e-mail attachment (view: build_view's)."""
    buf = io.BytesIO()
    lang = language_of(doc.customer.language)
    c = new_canvas(buf, f"{texts_for(lang)[doc.document_type]} {doc.invoice_id}", sender.name, lang)
    draw_document(c, doc, sender, view)
    c.save()
    return buf.getvalue()
