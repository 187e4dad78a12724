"""Drawing pieces for the PDF: fonts, colours, text fitting, the payment QR and the consumption chart."""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from PIL import Image
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.lib.rl_accel import escapePDF, fp_str

from omnibill.model import ConsumptionPoint
from omnibill.render.fonts import BOLD, FONT, glyph_runs, string_width, visual
from omnibill.render.qr import qr_matrix
from omnibill.render.texts import format_number, month_label

PAGE_H = A4[1]
REPO = Path(__file__).resolve().parents[2]
GREY, DARK, RULE = HexColor("#5f6b7a"), HexColor("#1f2933"), HexColor("#d5dae1")


def y(top_mm: float) -> float:
    """Canvas y for a distance in mm from the top edge."""
    return PAGE_H - top_mm * mm


def show(c: Canvas, x: float, y_pt: float, value: str, font: str, size: float) -> None:
    """Set one run of text in one font at (x, y) in points: the bytes Canvas.drawString writes, without its objects."""
    c.setFont(font, size)
    face = pdfmetrics.getFont(font)
    if not face._dynamicFont:  # a built-in Type 1 font: ReportLab's own path
        c.drawString(x, y_pt, value)
        return
    doc, parts, current = c._doc, [], -1
    for subset, chars in face.splitString(value, doc):
        if subset != current:
            parts.append(f"{face.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf {fp_str(c._leading)} TL")
            current = subset
        parts.append(f"({escapePDF(chars)}) Tj")
    c._code.append(f"BT 1 0 0 1 {fp_str(x, y_pt)} Tm {' '.join(parts)} T* ET")


def text(c: Canvas, x_mm: float, top_mm: float, value: str, font: str = FONT, size: float = 9, align: str = "l") -> None:
    """Draw one line of text, left or right aligned at x (mm), baseline at top_mm."""
    runs = glyph_runs(visual(value), font)
    x = x_mm * mm
    if align == "r":
        x -= sum(pdfmetrics.stringWidth(part, f, size) for f, part in runs)
    for run_font, part in runs:
        show(c, x, y(top_mm), part, run_font, size)
        x += pdfmetrics.stringWidth(part, run_font, size)


def centred(c: Canvas, x: float, y_pt: float, value: str, font: str, size: float) -> None:
    """Draw a text centred on x (points), in one font (as Canvas.drawCentredString)."""
    show(c, x - 0.5 * pdfmetrics.stringWidth(value, font, size), y_pt, value, font, size)


@lru_cache(maxsize=8)
def logo_xobject(path: str) -> tuple[str, pdfdoc.PDFImageXObject] | None:
    """The tenant's logo as a ready image XObject (flattened on white, deflated once per process), or None."""
    file = Path(path) if Path(path).is_absolute() else REPO / path
    if not file.is_file():
        return None
    with Image.open(file) as source:
        image = source.convert("RGBA")
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A"))
    reader = ImageReader(flat)
    name = "logo" + hashlib.sha1(reader.getRGBData()).hexdigest()[:16]  # noqa: S324 - a name, not security
    xobject = pdfdoc.PDFImageXObject(name, reader)
    xobject.name, xobject.XObjects = name, None
    return name, xobject


def draw_logo(c: Canvas, path: str | None, x_mm: float, top_mm: float, height_mm: float) -> float:
    """Draw the logo with its top-left at (x, top); returns its width in mm (0 when there is none)."""
    entry = logo_xobject(path) if path else None
    if entry is None:
        return 0.0
    # Canvas.drawImage would decode and deflate the image again for every document; the XObject is built once
    # and only registered with each new PDF (ReportLab's own image registration, minus the re-encoding).
    name, xobject = entry
    registered = c._doc.getXObjectName(name)
    if registered not in c._doc.idToObject:
        fresh = copy.copy(xobject)  # each PDF names its own object; the deflated pixels are shared
        c._doc.Reference(fresh, registered)
        c._doc.addForm(name, fresh)
    width = height_mm * xobject.width / xobject.height
    c.saveState()
    c.translate(x_mm * mm, y(top_mm + height_mm))
    c.scale(width * mm, height_mm * mm)
    c._code.append(f"/{registered} Do")
    c.restoreState()
    c._formsinuse.append(name)
    return width


@lru_cache(maxsize=32)
def brand_colours(hex_colour: str) -> tuple[Color, Color]:
    """The brand colour and a light tint of it (for table headers and bars)."""
    base = HexColor(hex_colour)
    tint = Color(*(c + (1 - c) * 0.86 for c in (base.red, base.green, base.blue)))
    return base, tint


def fit(text: str, font: str, size: float, width: float) -> str:
    """The text cut with an ellipsis so that it fits the width."""
    text = " ".join(str(text).split())
    if string_width(text, font, size) <= width:
        return text
    while text and string_width(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def fit_size(text: str, font: str, size: float, width: float, smallest: float) -> float:
    """The largest font size up to size (and not below smallest) at which the text fits the width."""
    natural = string_width(text, font, size)
    # 2% slack: at the exact size, rounding in the width sum made fit() cut the last character.
    return size if natural <= width else max(smallest, size * width / natural * 0.98)


def draw_qr(c: Canvas, payload: str, x: float, y: float, side: float) -> None:
    """Draw a QR symbol, lower-left corner at (x, y), as one filled path (quiet zone left to the caller)."""
    matrix = qr_matrix(payload)
    size = matrix.size
    c.saveState()
    c.setFillColor(DARK)
    c.translate(x, y)
    c.scale(side / size, side / size)
    # One literal path in module units: ~350 integer rectangles instead of as many formatted path calls.
    # The 0.02-module overhang closes hairline seams some viewers show between adjacent modules.
    c.addLiteral(" ".join(f"{col} {size - row - 1} {length}.02 1.02 re" for row, col, length in matrix.runs) + " f")
    c.restoreState()


def draw_chart(c: Canvas, points: tuple[ConsumptionPoint, ...], title: str, lang: str, colour: Color,
               x: float, top: float, width: float, height: float) -> None:
    """A bar chart of the last 12 months' consumption; top is the y of the chart's upper edge."""
    points = points[-12:]
    c.setFillColor(DARK)
    unit = points[-1].unit if points else ""
    show(c, x, top - 3 * mm, f"{title} ({unit})" if unit else title, BOLD, 8)
    base_y, bar_top = top - height + 5 * mm, top - 9 * mm
    peak = max((Decimal(p.quantity) for p in points), default=Decimal(0)) or Decimal(1)
    slot = width / max(len(points), 1)
    bar_w = slot * 0.62
    for i, point in enumerate(points):
        bx = x + i * slot + (slot - bar_w) / 2
        h = float(max(Decimal(point.quantity), Decimal(0)) / peak) * (bar_top - base_y)
        c.setFillColor(colour if i == len(points) - 1 else brand_colours_tint(colour))
        c.rect(bx, base_y, bar_w, h, stroke=0, fill=1)
        c.setFillColor(GREY)
        centred(c, bx + bar_w / 2, base_y + h + 1, format_number(point.quantity, lang, 0, 0), FONT, 5.5)
        centred(c, bx + bar_w / 2, base_y - 3.2 * mm, month_label(point.month, lang), FONT, 6)
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    c.line(x, base_y, x + width, base_y)


def brand_colours_tint(colour: Color) -> Color:
    """A mid tint of a colour, for the bars of past months."""
    return Color(*(v + (1 - v) * 0.55 for v in (colour.red, colour.green, colour.blue)))
