"""Service and marketing messages from the extract, in every channel, with the invoices' sender and layout."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from types import SimpleNamespace

import markdown
from lxml import html as lxml_html
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit

from config.tenant import Sender
from omnibill.model import MESSAGE_CATEGORIES, Party
from omnibill.render.context import address_lines
from omnibill.render.context import preferences_link
from omnibill.render.email_body import RenderedEmail, unsubscribe_link
from omnibill.render.fonts import register_fonts
from omnibill.render.pdf import new_canvas
from omnibill.render.pdf_parts import BOLD, FONT, brand_colours, fit, text

SMS_MAX = 306  # two concatenated GSM-7 segments


@dataclass(frozen=True)
class ServiceMessage:
    """A non-billing message of the extract's `messages` table, addressed to one customer."""

    document_id: str
    message_id: str
    category: str
    subject: str
    body_markdown: str
    period: str
    customer: Party
    token: str = ""  # the signed token of this message's links (omnibill.links), set by the render stage


def body_html(msg: ServiceMessage) -> str:
    """The body as HTML; raw HTML in the ERP text is escaped first, so only Markdown formats it."""
    return markdown.markdown(html.escape(msg.body_markdown, quote=False), output_format="html")


def body_text(msg: ServiceMessage) -> str:
    """The body as plain text (Markdown rendered, tags removed)."""
    rendered = body_html(msg)
    return " ".join(lxml_html.fromstring(f"<div>{rendered}</div>").text_content().split()) if rendered else ""


def render_service_email(msg: ServiceMessage, sender: Sender) -> RenderedEmail:
    """HTML and plain-text e-mail; marketing carries the unsubscribe link when the tenant has one."""
    unsubscribe = unsubscribe_link(msg, sender) if msg.category == "marketing" else None
    choices = preferences_link(msg, sender)
    footer = f"{sender.name}, {sender.street}, {sender.postal_code} {sender.city}"
    esc = html.escape
    parts = [f'<div style="font-family:Arial,sans-serif;max-width:600px;color:#222">',
             f'<div style="border-top:6px solid {esc(sender.brand_colour)};padding-top:12px">'
             f'<strong>{esc(sender.name)}</strong></div>',
             f'<h2 style="color:{esc(sender.brand_colour)}">{esc(msg.subject)}</h2>', body_html(msg),
             f'<p style="color:#777;font-size:12px">{esc(footer)}</p>']
    if unsubscribe:
        parts.append(f'<p style="font-size:12px"><a href="{esc(unsubscribe)}">Unsubscribe</a></p>')
    if choices:
        parts.append(f'<p style="font-size:12px"><a href="{esc(choices)}">Choose how we reach you</a></p>')
    parts.append("</div>")
    plain = f"{msg.subject}\n\n{body_text(msg)}\n\n--\n{footer}\n"
    if unsubscribe:
        plain += f"Unsubscribe: {unsubscribe}\n"
    if choices:
        plain += f"Choose how we reach you: {choices}\n"
    headers = {"List-Unsubscribe": f"<{unsubscribe}>, <mailto:{sender.email}?subject=unsubscribe>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} if unsubscribe else {}
    return RenderedEmail(subject=f"{msg.subject} – {sender.name}", html="\n".join(parts), text=plain,
                         headers=headers)


def render_service_sms(msg: ServiceMessage, sender: Sender) -> str:
    """A short text: sender, subject and as much of the body as two segments hold."""
    full = f"{sender.name}: {msg.subject}. {body_text(msg)}"
    return full if len(full) <= SMS_MAX else full[:SMS_MAX - 1].rstrip() + "…"


def render_service_pdf(msg: ServiceMessage, sender: Sender) -> bytes:
    """A one-page A4 letter: sender header, window-envelope address, subject and body."""
    register_fonts()
    buf = io.BytesIO()
    c = new_canvas(buf, msg.subject, sender.name, msg.customer.language or "en")
    brand, _ = brand_colours(sender.brand_colour)
    c.setFillColor(brand)
    c.rect(0, 287 * mm, 210 * mm, 10 * mm, stroke=0, fill=1)
    c.setFillColorRGB(0.1, 0.1, 0.1)
    text(c, 20, 22, fit(sender.name, BOLD, 14, 110 * mm), BOLD, 14)
    text(c, 20, 27, f"{sender.street}, {sender.postal_code} {sender.city}", size=8)
    for i, line in enumerate(address_lines(SimpleNamespace(customer=msg.customer), sender)[:6]):
        text(c, 25, 55 + i * 4.6, fit(line, BOLD if i == 0 else FONT, 10, 82 * mm), BOLD if i == 0 else FONT, 10)
    c.setFillColor(brand)
    text(c, 20, 100, fit(msg.subject, BOLD, 14, 170 * mm), BOLD, 14)
    c.setFillColorRGB(0.1, 0.1, 0.1)
    top = 110.0
    for line in simpleSplit(body_text(msg), FONT, 10, 170 * mm)[:40]:
        text(c, 20, top, line, FONT, 10)
        top += 5
    text(c, 20, 285, f"{sender.name} · {sender.email} · {sender.phone}", size=7)
    c.showPage()
    c.save()
    return buf.getvalue()
