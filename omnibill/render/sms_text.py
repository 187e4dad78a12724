"""The SMS notice: who, how much, when and the payment reference, kept within GSM-7 where possible."""

from __future__ import annotations

import math

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.render.context import build_view, document_link, environment

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")
# Typography that would force the whole message into UCS-2 (70 characters a segment).
_PLAIN = str.maketrans({"–": "-", "—": "-", "\u00a0": " ", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "..."})
MAX_SEGMENTS = 3  # default; a tenant sets `sms_max_segments`


def is_gsm7(text: str) -> bool:
    """Whether the text fits the GSM 03.38 alphabet (basic table plus extension)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def sms_segments(text: str) -> int:
    """How many SMS segments the text takes (GSM-7: 160/153 septets; UCS-2: 70/67 characters)."""
    if is_gsm7(text):
        units, single, multi = sum(2 if ch in GSM_EXTENDED else 1 for ch in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def max_segments(sender: Sender) -> int:
    """The tenant's longest SMS in segments (default MAX_SEGMENTS)."""
    return sender.sms_max_segments or MAX_SEGMENTS


def render_sms(doc: BillingDocument, sender: Sender) -> str:
    """The SMS text in the customer's language (GSM-7 friendly), with the document link when it fits the cap."""
    view = build_view(doc, sender, space=" ")
    text = " ".join(environment().get_template("sms.txt.j2").render(**view).translate(_PLAIN).split())
    link, cap = document_link(doc, sender), max_segments(sender)
    if link:
        with_link = f"{text} {view['t']['sms_link'].format(link=link)}".translate(_PLAIN)
        if sms_segments(with_link) <= cap:
            return with_link
    if sms_segments(text) > cap:
        raise ValueError(f"SMS for {doc.invoice_id} takes {sms_segments(text)} segments, the tenant allows {cap}")
    return text
