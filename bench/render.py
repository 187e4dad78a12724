"""Render throughput: `python -m bench.render --n 500` prints documents/s and bytes per document per output.

The PDF is the invoice as printed and mailed: logo, consumption chart and payment QR (checked below). "docs/s CPU"
is per CPU second of this one process, i.e. per core; the last lines render on every core at once.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

from config.tenant import Sender
from omnibill.model import BillingDocument, ConsumptionPoint, InvoiceLine, Party
from omnibill.render import render_email, render_finvoice, render_html_document, render_pdf, render_sms, render_ubl

D = Decimal


def bench_sender(country: str | None = None) -> Sender:
    """The demo tenant's sender."""
    from config.tenant import load_tenant

    return load_tenant("demo", Path(__file__).resolve().parents[1] / "config" / "tenants").to_sender(country)


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


def measure(render: Callable[[BillingDocument, Sender], object], docs: list[BillingDocument],
            sender: Sender) -> tuple[float, float, float]:
    """(documents per wall-clock second, per CPU second of this process, mean output bytes) for one renderer."""
    render(docs[0], sender)  # warm-up: font registration, template compilation
    size, start, cpu = 0, time.perf_counter(), time.process_time()
    for doc in docs:
        out = render(doc, sender)
        size += len(out) if isinstance(out, (bytes, str)) else len(out.html) + len(out.text)  # type: ignore[attr-defined]
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    return len(docs) / elapsed, len(docs) / used, size / len(docs)


def finvoice_documents(docs: list[BillingDocument]) -> list[BillingDocument]:
    """The same documents as Finnish consumer e-invoices (EUR, a valid viitenumero, an e-invoice address)."""
    from dataclasses import replace

    from omnibill.payments import make_reference

    return [replace(d, currency="EUR", payment_reference=make_reference("EUR", d.invoice_id),
                    customer=replace(d.customer, customer_type="person", country="FI", language="fi",
                                     einvoice_address="FI7944052020036082", einvoice_operator="NDEAFIHH"))
            for d in docs]


def _pdf_chunk(args: tuple[int, int, int]) -> int:
    start, n, n_lines = args
    sender = bench_sender()
    return sum(len(render_pdf(bench_document(i, n_lines), sender)) for i in range(start, start + n))


def all_cores(n: int, n_lines: int) -> tuple[int, float]:
    """(processes, PDFs per second) rendering one PDF per document on every core."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_pdf_chunk, [(0, 2, n_lines)] * workers))  # warm-up: imports, fonts
        start = time.perf_counter()
        list(pool.map(_pdf_chunk, [(i, 50, n_lines) for i in range(0, n, 50)]))
    return workers, n / (time.perf_counter() - start)


def stage_outputs(channels: set[str]) -> Callable[[BillingDocument, Sender], bytes]:
    """Every file the render stage makes for a document in these channels (one view shared by the formats)."""
    from omnibill.render.stage import render_outputs

    return lambda doc, sender: b"".join(data for _, data, _ in render_outputs(doc, sender, channels).values())


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one line per output."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="documents per output")
    parser.add_argument("--lines", type=int, default=6, help="invoice lines per document")
    args = parser.parse_args(argv)
    sender = bench_sender()
    docs = [bench_document(i, args.lines) for i in range(args.n)]
    from omnibill.render.qr import payment_qr_payload

    assert docs[0].consumption and payment_qr_payload(docs[0], sender) and sender.logo, "chart, QR and logo expected"
    fi_sender = bench_sender(country="FI")
    outputs = (("PDF invoice (logo, chart, QR)", render_pdf, docs, sender), ("e-mail", render_email, docs, sender),
               ("UBL", render_ubl, docs, sender), ("Finvoice", render_finvoice, finvoice_documents(docs), fi_sender),
               ("SMS", render_sms, docs, sender), ("HTML doc", render_html_document, docs, sender),
               ("e-mail channel: PDF + e-mail + HTML doc", stage_outputs({"email"}), docs, sender))
    # Wall-clock rates drop when other work shares the machine; per-CPU-second rates show the renderer's own cost.
    print(f"n={args.n}, {args.lines} lines, one process{'':13s}docs/s wall  docs/s CPU   bytes/doc")
    for name, render, batch, who in outputs:
        rate, cpu_rate, size = measure(render, batch, who)
        print(f"{name:40s} {rate:9.1f}  {cpu_rate:9.1f}  {size:9.0f}")
    workers, rate = all_cores(args.n, args.lines)
    print(f"{f'PDF, {workers} processes (every core)':40s} {rate:9.1f}  (per core {rate / workers:.1f})")


if __name__ == "__main__":
    main()
