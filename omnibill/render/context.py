"""The view of one document that every output is rendered from: texts, formatted values, VAT groups."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from config.tenant import Sender
from omnibill.model import BillingDocument, InvoiceLine, stable_id
from omnibill.render.texts import NBSP, format_date, format_money, language_of, texts_for

CENT = Decimal("0.01")
TEMPLATES = Path(__file__).parent / "templates"
COUNTRY_NAMES = {"SE": "SWEDEN", "FI": "FINLAND", "DK": "DENMARK", "NO": "NORWAY", "IS": "ICELAND",
                 "DE": "GERMANY", "EE": "ESTONIA", "GB": "UNITED KINGDOM", "PL": "POLAND"}


@dataclass(frozen=True)
class VatGroup:
    """The lines of one VAT rate: their taxable sum and the VAT on it."""

    rate: Decimal
    basis: Decimal
    vat: Decimal


def cents(value: Decimal) -> Decimal:
    """An amount rounded half-up to two decimals."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def vat_breakdown(lines: tuple[InvoiceLine, ...], vat_total: Decimal | None = None) -> tuple[VatGroup, ...]:
    """The lines grouped by VAT rate, highest rate first; VAT rounded once per rate.

    With the document's `vat_total`, a difference of under one unit (the ERP rounded per line) is
    carried into the highest taxed rate, as the UBL does, so every channel shows the same figures.
    """
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        rate = Decimal(line.vat_rate).normalize()
        bases[rate] = bases.get(rate, Decimal(0)) + Decimal(line.line_amount)
    groups = [VatGroup(rate, cents(base), cents(base * rate / 100)) for rate, base in sorted(bases.items(), reverse=True)]
    gap = cents(Decimal(vat_total)) - sum((g.vat for g in groups), Decimal(0)) if vat_total is not None else 0
    if gap and abs(gap) < 1 and groups and groups[0].rate > 0:
        groups[0] = VatGroup(groups[0].rate, groups[0].basis, groups[0].vat + gap)
    return tuple(groups)


def group_iban(iban: str) -> str:
    """An IBAN in groups of four, as printed."""
    compact = iban.replace(" ", "").upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def payment_account(doc: BillingDocument, sender: Sender) -> tuple[str, str]:
    """(label, account) the customer pays to: the bankgiro for SEK where the sender has one, else the IBAN."""
    if doc.currency == "SEK" and sender.bankgiro:
        return "Bankgiro", sender.bankgiro
    return "IBAN", group_iban(sender.iban)


def address_lines(doc: BillingDocument, sender: Sender) -> list[str]:
    """The recipient's postal address, one line each; the country only when abroad."""
    c = doc.customer
    lines = [c.name]
    if c.care_of:
        lines.append(c.care_of if c.care_of.lower().startswith("c/o") else f"c/o {c.care_of}")
    if c.street:
        lines.append(c.street)
    town = " ".join(part for part in (c.postal_code, c.city) if part)
    if town:
        lines.append(town)
    if c.country and c.country.upper() != sender.country.upper():
        lines.append(COUNTRY_NAMES.get(c.country.upper(), c.country.upper()))
    return lines


def stable_token(*facts: str) -> str:
    """A short (80-bit) stable URL token from stable facts (never time or randomness)."""
    return base64.b32encode(bytes.fromhex(stable_id("link", *facts))[:10]).decode().lower()


def link_token(doc) -> str:
    """The document's signed link token; outside a run (a preview) an unsigned stand-in."""
    return getattr(doc, "token", "") or stable_token(doc.document_id)


def document_link(doc: BillingDocument, sender: Sender) -> str | None:
    """The customer's link to the document in the portal (tenant `document_url` with `{token}`), if set."""
    template = sender.document_url
    return template.format(token=link_token(doc)) if template else None


def preferences_link(doc, sender: Sender) -> str | None:
    """The customer's link to the portal's preference center (tenant `preferences_url`), if set."""
    template = sender.preferences_url
    return template.format(token=link_token(doc)) if template else None


def one_line(text: str) -> str:
    """Text without line breaks (for subjects, SMS and single-line fields)."""
    return " ".join(str(text).split())


def build_view(doc: BillingDocument, sender: Sender, space: str = NBSP) -> dict[str, Any]:
    """Everything the templates show about a document, formatted for the customer's language."""
    lang = language_of(doc.customer.language)
    t = texts_for(lang)
    credit = doc.document_type == "credit_note"
    money = lambda amount: format_money(amount, doc.currency, lang, space=space)  # noqa: E731
    account_label, account = payment_account(doc, sender)
    due = format_date(doc.due_date, lang)
    headline = abs(doc.total_incl_vat) if credit else doc.total_incl_vat
    fill = {"sender": one_line(sender.name), "number": doc.invoice_id, "title": t[doc.document_type],
            "amount": money(headline), "due": due, "phone": sender.phone, "email": sender.email,
            "account": f"{account_label} {account}", "ref": doc.payment_reference}
    subject = t["subject" if credit else "subject_due"].format(**fill)
    return {
        "lang": lang, "t": t, "doc": doc, "sender": sender, "customer": doc.customer, "credit": credit,
        "title": t[doc.document_type], "number": doc.invoice_id, "customer_id": doc.customer.customer_id,
        "issue_date": format_date(doc.issue_date, lang), "due_date": due, "period": doc.period,
        "amount": money(headline), "total_excl": money(doc.total_excl_vat), "total_vat": money(doc.vat_amount),
        "money": money,
        "rounding": doc.total_incl_vat - doc.total_excl_vat - doc.vat_amount,
        "account_label": account_label, "account": account, "iban": group_iban(sender.iban), "bic": sender.bic,
        "bankgiro": sender.bankgiro if doc.currency == "SEK" else None, "reference": doc.payment_reference,
        "vat_groups": vat_breakdown(doc.lines, doc.vat_amount), "address": address_lines(doc, sender),
        "subject": one_line(subject), "fill": fill,
        "greeting": t["greeting"].format(name=one_line(doc.customer.name)),
        "intro": t[f"intro_{doc.document_type}"].format(**fill),
        "pay_by": t["credited" if credit else "pay_by"].format(**fill),
        "questions": t["questions"].format(**fill),
    }


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment: autoescape for HTML and XML templates, strict about undefined names."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".xml.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
