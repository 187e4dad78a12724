"""The e-mail: subject, HTML body (inline styles, escaped) and the plain-text alternative."""

from __future__ import annotations

from dataclasses import dataclass

from omnibill.model import BillingDocument, Sender
from omnibill.render.context import build_view, environment


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered e-mail: subject line, HTML body and plain-text alternative."""

    subject: str
    html: str
    text: str


def render_email(doc: BillingDocument, sender: Sender) -> RenderedEmail:
    """The e-mail for a document in the customer's language; customer text is HTML-escaped."""
    view = build_view(doc, sender)
    env = environment()
    html = env.get_template("email.html.j2").render(**view)
    text = env.get_template("email.txt.j2").render(**view)
    return RenderedEmail(subject=view["subject"], html=html, text=text.replace("\u00a0", " "))
