"""`omnibill preview`: one customer's document in every channel side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnibill.cli.common import Period, Tenant, this_month
from omnibill.model import BillingDocument

commands = typer.Typer()


def _from_extract(source: str, tenant: str, period: str, customer: str) -> list[BillingDocument]:
    from config.settings import get_settings
    from omnibill.extract import read_extract

    extract = read_extract(source, tenant, period, s3=get_settings().s3)
    return [d for d in extract.documents if d.customer.customer_id == customer]


def _from_ledger(tenant: str, period: str, customer: str) -> list[BillingDocument]:
    from omnibill import wiring
    from omnibill.render.preview import documents_of_customer

    # Billing documents only: service and marketing messages have no invoice to preview.
    return documents_of_customer(wiring.ledger(), wiring.run_of(tenant, period), customer)


@commands.command()
def preview(
    tenant: Tenant = "demo",
    customer: Annotated[str, typer.Option("--customer", "-c", help="ERP customer id")] = "",
    period: Period = "",
    source: Annotated[str, typer.Option(help="Extract folder or s3:// prefix; default: the ledger's run")] = "",
    out: Annotated[Path, typer.Option(help="The HTML page to write")] = Path("preview.html"),
) -> None:
    """Write one HTML page with a customer's documents in every channel side by side (PDF, e-mail, SMS, page, e-invoice)."""
    from omnibill.render.preview import build_preview
    from omnibill.wiring import tenant_rules

    if not customer:
        raise typer.BadParameter("give the customer with --customer ID")
    period = period or this_month()
    from omnibill.extract import ExtractError

    try:
        docs = _from_extract(source, tenant, period, customer) if source else _from_ledger(tenant, period, customer)
    except LookupError as exc:
        typer.echo(f"{exc} (or give the extract with --source DIR)", err=True)
        raise typer.Exit(1) from exc
    except ExtractError as exc:
        typer.echo(f"cannot read the extract: {exc} (make one with `omnibill demo-data --out DIR`)", err=True)
        raise typer.Exit(2) from exc
    if not docs:
        typer.echo(f"no documents for customer {customer!r} of {tenant} in {period}", err=True)
        raise typer.Exit(2)
    senders = tenant_rules(tenant).senders_by_country()
    page = build_preview(sorted(docs, key=lambda d: d.invoice_id),
                         lambda d: senders.get(d.customer.country, senders[""]), tenant, customer)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(docs)} document(s), {len(page) // 1024} KiB)")
