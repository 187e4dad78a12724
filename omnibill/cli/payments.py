"""`omnibill payments import`: a bank's camt.054 notification into the ledger, matched to documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnibill.cli.common import Tenant

commands = typer.Typer()
payments_app = typer.Typer(help="Payments reported by the bank: import them, matched by payment reference.",
                           no_args_is_help=True)
commands.add_typer(payments_app, name="payments")


@payments_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="An ISO 20022 camt.054 file (versions 001.02 to 001.08)",
                                         exists=True, dir_okay=False, readable=True)],
    tenant: Tenant = "demo",
) -> None:
    """Record the file's incoming payments once each; an unmatched payment is kept with its reason.

    Importing the same file again adds nothing (each payment is stored once per bank reference).
    Exit code 1 when the file is not a camt.054 notification.
    """
    from omnibill import wiring
    from omnibill.receipts.camt054 import Camt054Error
    from omnibill.receipts.payments import import_camt054

    try:
        counts = import_camt054(wiring.ledger(), tenant, file)
    except Camt054Error as exc:
        typer.echo(f"{file.name}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{tenant}: {counts['in_file']} payments in {file.name}: {counts['matched']} matched, "
               f"{counts['unmatched']} unmatched (kept), {counts['duplicate']} already recorded"
               + (f"; {counts['rematched']} earlier payments matched now" if counts["rematched"] else ""))
