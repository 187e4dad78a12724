"""`omnibill release`: approve or reject a run that awaits release, from a terminal (as the UI's form does)."""

from __future__ import annotations

from typing import Annotated

import typer

from omnibill.cli.common import Period, Tenant, run_or_exit, this_month

commands = typer.Typer()


@commands.command()
def release(
    tenant: Tenant = "demo",
    period: Period = "",
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Send the run, or withdraw it")] = ...,
    by: Annotated[str, typer.Option(help="Who decides (kept with the decision)")] = "",
    comment: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Approve or reject a run paused for release after its proof (tenant rule release = "manual")."""
    from omnibill import wiring
    from omnibill.proof.release import decide, release_of

    if not by.strip():
        raise typer.BadParameter("say who decides", param_hint="--by")
    run = run_or_exit(tenant, period or this_month())
    ledger = wiring.ledger()
    before = release_of(ledger, run)
    if before.state != "awaiting":
        typer.echo(f"{tenant} {run.period} does not await release (it is {before.state or 'not held for release'}"
                   + (f", by {before.by}" if before.by else "") + ")", err=True)
        raise typer.Exit(1)
    after = decide(ledger, run, approve, by, comment)
    typer.echo(f"{tenant} {run.period}: {after.state} by {after.by}" + (f" ({after.comment})" if after.comment else ""))
    if _resume(before.flow_run, before.api_url, {"approve": approve, "by": by, "comment": comment}):
        typer.echo(f"the paused flow run {before.flow_run} goes on"
                   + (": its messages are being sent" if approve else ": it ends as rejected, nothing sent"))
    elif approve:
        typer.echo(f"the paused flow run is not reachable: send with `omnibill rerun --tenant {tenant} --period "
                   f"{run.period}`")


def _resume(flow_run_id: str | None, api_url: str | None, answer: dict) -> bool:
    """Resume the paused flow run with the decision as its input, through the API it waits on."""
    if not flow_run_id or not api_url:
        return False
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            resume_flow_run(UUID(flow_run_id), run_input=answer)
    except Exception as exc:  # noqa: BLE001  (gone, unreachable, no longer paused: the ledger has the decision)
        typer.echo(f"could not resume flow run {flow_run_id}: {type(exc).__name__}", err=True)
        return False
    return True
