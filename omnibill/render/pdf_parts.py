"""Drawing pieces for the PDF: fonts, colours, text fitting, the payment QR and the consumption chart."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from omnibill.model import ConsumptionPoint
from omnibill.render.qr import qr_matrix
from omnibill.render.texts import format_number, month_label

FONT, BOLD = "OmniSans", "OmniSans-Bold"
GREY, DARK, RULE = HexColor("#5f6b7a"), HexColor("#1f2933"), HexColor("#d5dae1")
# DejaVu Sans (wider coverage) where the system has it; otherwise Bitstream Vera, which ships inside the
# reportlab wheel and has the same metrics for Latin text, so the layout is identical on a bare CI machine.
_FONT_CANDIDATES = (
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")),
    (Path(reportlab.__file__).parent / "fonts" / "Vera.ttf", Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf"),
)


@lru_cache(maxsize=1)
def register_fonts() -> str:
    """Register the regular and bold TTF once per process; returns the regular font's file."""
    # Binary (Flate only) streams: a quarter smaller and faster than the default ASCII85 wrapping.
    rl_config.useA85 = 0
    regular, bold = next((r, b) for r, b in _FONT_CANDIDATES if r.is_file() and b.is_file())
    pdfmetrics.registerFont(TTFont(FONT, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    return str(regular)


@lru_cache(maxsize=32)
def brand_colours(hex_colour: str) -> tuple[Color, Color]:
    """The brand colour and a light tint of it (for table headers and bars)."""
    base = HexColor(hex_colour)
    tint = Color(*(c + (1 - c) * 0.86 for c in (base.red, base.green, base.blue)))
    return base, tint


def fit(text: str, font: str, size: float, width: float) -> str:
    """The text cut with an ellipsis so that it fits the width."""
    text = " ".join(str(text).split())
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def fit_size(text: str, font: str, size: float, width: float, smallest: float) -> float:
    """The largest font size up to size (and not below smallest) at which the text fits the width."""
    natural = pdfmetrics.stringWidth(text, font, size)
    return size if natural <= width else max(smallest, size * width / natural)


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
    c.setFont(BOLD, 8)
    c.setFillColor(DARK)
    unit = points[-1].unit if points else ""
    c.drawString(x, top - 3 * mm, f"{title} ({unit})" if unit else title)
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
        c.setFont(FONT, 5.5)
        c.drawCentredString(bx + bar_w / 2, base_y + h + 1, format_number(point.quantity, lang, 0, 0))
        c.setFont(FONT, 6)
        c.drawCentredString(bx + bar_w / 2, base_y - 3.2 * mm, month_label(point.month, lang))
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    c.line(x, base_y, x + width, base_y)


def brand_colours_tint(colour: Color) -> Color:
    """A mid tint of a colour, for the bars of past months."""
    return Color(*(v + (1 - v) * 0.55 for v in (colour.red, colour.green, colour.blue)))
