"""The e-mail: subject, responsive HTML body with its CSS inlined, the plain-text alternative, and headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import css_inline

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.render.context import build_view, document_link, environment, link_token, preferences_link


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered e-mail: subject line, HTML body, plain-text alternative and extra headers."""

    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    # The <style> block stays for the media queries; every other rule is also copied onto its elements.
    return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def unsubscribe_link(doc: BillingDocument, sender: Sender) -> str | None:
    """The tenant's one-click unsubscribe URL for this customer (from `unsubscribe_url`), if configured."""
    template = sender.unsubscribe_url
    return template.format(token=link_token(doc)) if template else None


def email_headers(doc: BillingDocument, sender: Sender, marketing: bool) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369) with one-click POST (RFC 8058) on marketing mail; nothing on invoices."""
    link = unsubscribe_link(doc, sender) if marketing else None
    if not link:
        return {}
    return {"List-Unsubscribe": f"<{link}>, <mailto:{sender.email}?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def render_email(doc: BillingDocument, sender: Sender, *, pdf_link: str | None = None,
                 marketing: bool = False, view: dict[str, Any] | None = None) -> RenderedEmail:
    """The e-mail for a document in the customer's language (view: build_view's, if built); customer text escaped."""
    view = view or build_view(doc, sender)
    extra = {"link": document_link(doc, sender), "pdf_link": pdf_link, "choices": preferences_link(doc, sender),
             "unsubscribe": unsubscribe_link(doc, sender) if marketing else None}
    env = environment()
    html = _inliner().inline(env.get_template("email.html.j2").render(**view, **extra))
    text = env.get_template("email.txt.j2").render(**view, **extra)
    return RenderedEmail(subject=view["subject"], html=html, text=text.replace("\u00a0", " "),
                         headers=email_headers(doc, sender, marketing))
