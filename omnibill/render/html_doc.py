"""The interactive HTML document: one self-contained file per invoice (inline CSS, SVG chart and QR, no assets)."""

from __future__ import annotations

import base64
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from config.tenant import Sender
from omnibill.model import BillingDocument, ConsumptionPoint
from omnibill.render.context import build_view, environment
from omnibill.render.pdf_parts import REPO
from omnibill.render.pdf_slip import slip_details
from omnibill.render.qr import payment_qr_payload, qr_matrix
from omnibill.render.texts import format_number, month_label

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def qr_svg(payload: str) -> str:
    """A QR symbol as an inline SVG (one path, four-module quiet zone)."""
    matrix = qr_matrix(payload)
    side = matrix.size + 8
    path = "".join(f"M{col + 4} {row + 4}h{length}v1h-{length}z" for row, col, length in matrix.runs)
    return (f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
            f'<rect width="{side}" height="{side}" fill="#fff"/><path d="{path}" fill="#1f2933"/></svg>')


@lru_cache(maxsize=8)  # read and encoded once per worker, as the PDF's logo XObject is
def logo_data_uri(path: str | None) -> str | None:
    """The tenant's logo as a data: URI, so the file needs nothing from outside."""
    if not path:
        return None
    file = Path(path) if Path(path).is_absolute() else REPO / path
    if not file.is_file() or file.suffix.lower() not in _MIME:
        return None
    return f"data:{_MIME[file.suffix.lower()]};base64,{base64.b64encode(file.read_bytes()).decode()}"


def chart_data(points: tuple[ConsumptionPoint, ...], lang: str) -> dict[str, Any] | None:
    """Bar geometry (SVG user units) and hover values for the last 12 months."""
    points = points[-12:]
    if not points:
        return None
    width, height, top, base = 600, 220, 24, 190
    slot = width / len(points)
    peak = max((Decimal(p.quantity) for p in points), default=Decimal(1)) or Decimal(1)
    bars = []
    for i, point in enumerate(points):
        h = round(float(max(Decimal(point.quantity), Decimal(0)) / peak) * (base - top), 1)
        x = round(i * slot + slot * 0.18, 1)
        bars.append({"x": x, "y": round(base - h, 1), "h": h, "cx": round(x + slot * 0.32, 1),
                     "label": month_label(point.month, lang), "value": format_number(point.quantity, lang, 0, 2)})
    return {"width": width, "height": height, "base": base, "bar_width": round(slot * 0.64, 1),
            "unit": points[-1].unit, "bars": bars}


def _tint(hex_colour: str) -> str:
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * 0.86):02x}" for c in rgb)


def render_html_document(doc: BillingDocument, sender: Sender, portal: dict[str, Any] | None = None, *,
                         view: dict[str, Any] | None = None) -> str:
    """The document as one self-contained, responsive HTML page with a hoverable consumption chart.

    With `portal` (nonce, pdf_url, prefs_url, sent, history) it is the portal's page: copy buttons,
    the PDF to download, what was sent where and when, and the recipient's earlier documents.
    `view` is build_view(doc, sender) when the caller already has it.
    """
    view = view or build_view(doc, sender)
    lang = view["lang"]
    rows = [(ln.description, format_number(ln.quantity, lang, 0, 3), ln.unit.replace("m3", "m³"),
             format_number(ln.unit_price, lang, 2, 4), format_number(ln.vat_rate, lang, 0, 2),
             format_number(ln.line_amount, lang)) for ln in doc.lines]
    groups = [{"rate_text": format_number(g.rate, lang, 0, 2), "basis_text": view["money"](g.basis),
               "vat_text": view["money"](g.vat)} for g in view["vat_groups"]]
    payload = None if view["credit"] else payment_qr_payload(doc, sender)
    return environment().get_template("document.html.j2").render(
        **(view | {"vat_groups": groups}), rows=rows, slip=slip_details(view, doc, sender),
        qr=qr_svg(payload) if payload else "", chart=chart_data(doc.consumption, lang),
        logo=logo_data_uri(sender.logo), tint=_tint(sender.brand_colour), portal=portal)
