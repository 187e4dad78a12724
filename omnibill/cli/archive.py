"""`omnibill archive get`: a sent document's archived PDF/A-3b, for customer service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnibill.cli.common import Tenant

commands = typer.Typer()
group = typer.Typer(help="The archive: every sent document as PDF/A-3b (with its e-invoice XML embedded).",
                    no_args_is_help=True)
commands.add_typer(group, name="archive")


@group.command("get")
def get(
    tenant: Tenant = "demo",
    invoice: Annotated[str, typer.Option("--invoice", "-i", help="The ERP invoice id")] = "",
    period: Annotated[str, typer.Option("--period", "-p", help="Billing period YYYY-MM, when the invoice id "
                                                               "is archived in several")] = "",
    out: Annotated[Path | None, typer.Option(help="The file to write; default <invoice id>.pdf here")] = None,
) -> None:
    """Write an archived document's PDF/A-3b to a file (checked against the hash recorded when archived)."""
    from omnibill import wiring
    from omnibill.archive.archive import AmbiguousInvoice, NotArchivable, fetch_archived, file_name
    from omnibill.store import open_store

    if not invoice:
        raise typer.BadParameter("give the invoice with --invoice ID")
    settings = wiring.get_settings()
    try:
        record, at, data = fetch_archived(wiring.ledger(settings), open_store(settings.resolved_archive_url(),
                                                                              settings.s3),
                                          tenant, invoice, period or None)
    except AmbiguousInvoice as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except (LookupError, NotArchivable) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    target = out or Path(file_name(invoice))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    extras = ["e-invoice XML embedded"] if record.einvoice else []
    lock = " under S3 Object Lock" if record.object_lock else ""
    extras.append(f"kept until {record.retain_until:%Y-%m-%d}{lock}")
    typer.echo(f"wrote {target} ({len(data) // 1024} KiB, PDF/A-3b, {tenant} {at}, {', '.join(extras)})")

