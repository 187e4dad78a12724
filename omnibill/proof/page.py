"""The proof page: the run's mix against last period, then each sampled document in every channel, as
`omnibill preview` shows them, with where it goes, why it was picked and its e-invoice's validation."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from config.tenant import Sender
from omnibill.model import BillingDocument
from omnibill.render.preview import STYLE, document_panels, einvoice_for
from omnibill.render.validation import EInvoiceValidator

PROOF_STYLE = STYLE + """
table.mix { border-collapse: collapse; margin: 8px 20px 16px; background: #fff; }
table.mix td, table.mix th { border: 1px solid #d5dae1; padding: 4px 8px; text-align: right; font-size: 13px; }
table.mix td:first-child, table.mix td:nth-child(2) { text-align: left; }
.ok { color: #1a7f37; } .why { color: #52606d; font-weight: normal; }
"""

MixRow = tuple[str, str, str, int, Any]


def mix_table(now: Sequence[MixRow], before: Sequence[MixRow]) -> list[dict[str, str]]:
    """Rows of channel, document type, currency: documents and total now and in last period's run."""
    old = {(c, t, cur): (n, total) for c, t, cur, n, total in before}
    rows = []
    for channel, kind, currency, n, total in sorted(now):
        was_n, was_total = old.get((channel, kind, currency), (0, Decimal(0)))
        rows.append({"channel": channel, "type": kind, "currency": currency, "documents": str(n),
                     "total": f"{Decimal(total or 0):.2f}", "last period": str(was_n),
                     "last total": f"{Decimal(was_total or 0):.2f}",
                     "change": f"{(n - was_n) / was_n:+.0%}" if was_n else "new"})
    return rows


def validation_note(doc: BillingDocument, sender: Sender, validator: EInvoiceValidator | None,
                    unavailable: str | None) -> str:
    """The e-invoice's validation result as a line of HTML."""
    kind, xml = einvoice_for(doc, sender)
    if xml is None or not kind.startswith("PEPPOL"):
        return ""
    if validator is None:
        return f'<p class="warn">e-invoice not validated: {html.escape(unavailable or "no validator")}</p>'
    problems = validator.problems(xml)
    if not problems:
        return '<p class="ok">e-invoice valid: UBL 2.1 schema, EN 16931 and PEPPOL BIS 3 rules, no fatal error</p>'
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems[:20])
    return f'<p class="warn">e-invoice has {len(problems)} fatal error(s):</p><ul class="warn">{items}</ul>'


def build_proof(tenant: str, period: str, picked: Sequence[tuple[str, str, BillingDocument]],
                sender_for: Callable[[BillingDocument], Sender], rows: list[dict[str, str]], cells: tuple[int, int],
                documents: int, validator: EInvoiceValidator | None, unavailable: str | None) -> str:
    """The whole page (self-contained HTML). `picked`: (why, channel, document)."""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    sections = []
    for why, channel, doc in picked:
        sender = sender_for(doc)
        title = (f"{doc.document_type.replace('_', ' ')} {doc.invoice_id} → {channel} · {doc.currency} "
                 f"{doc.total_incl_vat} · {doc.customer.language} · {doc.customer.country}")
        sections.append(f'<div class="doc"><h2>{html.escape(title)} <span class="why">({html.escape(why)})</span>'
                        f'</h2>{validation_note(doc, sender, validator, unavailable)}<div class="row">'
                        + "".join(document_panels(doc, sender)) + "</div></div>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Proof · {html.escape(tenant)} · '
            f'{html.escape(period)}</title><style>{PROOF_STYLE}</style></head><body><header class="top"><h1>Proof: '
            f'{html.escape(tenant)} {html.escape(period)}</h1><p>{documents} documents in the run; {len(picked)} '
            f'shown, covering {cells[0]} of the {cells[1]} channel × language × document type × country cells of the '
            f'run. Rendered by the same code and from the same data as what will be sent.</p></header><table class="mix"><tr>{head}</tr>{body}'
            f'</table>{"".join(sections)}</body></html>')
