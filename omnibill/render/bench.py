"""Render throughput on one core: `python -m omnibill.render.bench --n 500` prints documents/s and bytes per document."""

from __future__ import annotations

import argparse
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

from omnibill.model import BillingDocument, ConsumptionPoint, InvoiceLine, Party, Sender
from omnibill.render import render_email, render_pdf, render_sms, render_ubl

D = Decimal


def bench_sender() -> Sender:
    """The demo tenant's sender (falls back to an inline copy outside the repository)."""
    try:
        from config.tenant import load_tenant

        return load_tenant("demo", Path(__file__).resolve().parents[2] / "config" / "tenants").to_sender()
    except Exception:  # noqa: BLE001 - the benchmark must run from an installed package too
        return Sender(name="Nordvatten Energi AB", org_number="5567321707", vat_id="SE556732170701", country="SE",
                      street="Kungsgatan 12", postal_code="111 43", city="Stockholm", email="kund@nordvatten.example",
                      phone="+46 8 123 456 00", iban="SE4550000000058398257466", bic="ESSESESS",
                      peppol_id="0007:5567321707", bankgiro="5050-1055")


def bench_document(i: int, n_lines: int) -> BillingDocument:
    """A household-or-company electricity invoice with n_lines lines and a consumption history."""
    lines = []
    for no in range(1, n_lines + 1):
        qty, price = D(700 + (i * 7 + no) % 300) + D("0.250"), D("1.2345") / no
        amount = (qty * price).quantize(D("0.01"))
        lines.append(InvoiceLine(no, f"Elenergi del {no}, mätpunkt 735999{i:08d}", qty, "kWh", price, D(25), amount))
    excl = sum((ln.line_amount for ln in lines), D(0))
    vat = (excl * D("0.25")).quantize(D("0.01"))
    customer = Party(customer_id=f"K{i:07d}", customer_type="organisation", name=f"Öbergs Bygg & Rör {i} AB",
                     country="SE", language="sv", street="Storgatan 5", postal_code="123 45", city="Sundbyberg",
                     email="ekonomi@example.org", peppol_id="0007:5560125790")
    consumption = tuple(ConsumptionPoint(f"2026-{m:02d}", D(400 + 60 * m), "kWh") for m in range(1, 13))
    return BillingDocument(
        document_id=f"d{i}", invoice_id=f"{1000000 + i}", document_type="invoice", period="2026-10",
        issue_date=date(2026, 11, 3), due_date=date(2026, 12, 1), currency="SEK", total_excl_vat=excl,
        vat_amount=vat, total_incl_vat=excl + vat, payment_reference=f"{9000000000 + i}", customer=customer,
        lines=tuple(lines), consumption=consumption)


def measure(render: Callable[[BillingDocument, Sender], object], docs: list[BillingDocument], sender: Sender) -> tuple[float, float]:
    """(documents per second, mean output size in bytes) for one renderer."""
    render(docs[0], sender)  # warm-up: font registration, template compilation
    size, start = 0, time.perf_counter()
    for doc in docs:
        out = render(doc, sender)
        size += len(out) if isinstance(out, (bytes, str)) else len(out.html) + len(out.text)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    return len(docs) / elapsed, size / len(docs)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one line per output."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="documents per output")
    parser.add_argument("--lines", type=int, default=6, help="invoice lines per document")
    args = parser.parse_args(argv)
    sender = bench_sender()
    docs = [bench_document(i, args.lines) for i in range(args.n)]
    for name, render in (("PDF", render_pdf), ("e-mail", render_email), ("UBL", render_ubl), ("SMS", render_sms)):
        rate, size = measure(render, docs, sender)
        print(f"{name:7s} {rate:9.1f} docs/s  {size:9.0f} bytes/doc  (n={args.n}, {args.lines} lines, one core)")


if __name__ == "__main__":
    main()
