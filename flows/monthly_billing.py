"""The monthly billing run: extract → decide → render → dispatch → receipts → reconcile (or a dry-run forecast)."""

from __future__ import annotations

import re
from typing import Annotated

from prefect import flow
from prefect.futures import as_completed, wait
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.approval import AwaitingRelease, RunRejected, await_release
from flows.rounds import Decides, RunIncomplete, holder_name, left_to_do, render_and_dispatch
from omnibill import wiring
from omnibill.memory import keep_trimmed
from omnibill.model import PERIOD_PATTERN
from omnibill.ops.artifacts import Progress
from omnibill.ops.limits import slot, tenant_limit_name
from omnibill.ops.periods import previous_month
from omnibill.proof.release import rerun_after_rejection
from omnibill.runs import RunActive
from tasks.extract import extract
from tasks.proof import proof
from tasks.reconcile import forecast, reconcile
from tasks.render import render

__all__ = ["AwaitingRelease", "RunActive", "RunIncomplete", "RunRejected", "monthly_billing_run"]

PERIOD = re.compile(f"^{PERIOD_PATTERN}$")
PERIOD_OR_EMPTY = f"^({PERIOD_PATTERN})?$"


def _run_name() -> str:
    """`demo 2026-11` (and `dry run` when it is one); an empty period names the month just ended."""
    params = flow_run.parameters
    name = f"{params['tenant']} {params.get('period') or previous_month()}"
    return name + (" dry run" if params.get("dry_run") else "")


# Bounded: each task holds a ledger connection, and SQLite takes one writer at a time.
@flow(name="monthly-billing-run", flow_run_name=_run_name, log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=6))
def monthly_billing_run(
    tenant: str = "demo",
    period: Annotated[str, Field(pattern=PERIOD_OR_EMPTY)] = "",
    source: str = "var/extracts/{tenant}-{period}",
    dry_run: bool = False,
) -> dict:
    """Run a tenant's monthly billing for a period from an ERP extract.

    Args:
        tenant: Tenant name; its rules are config/tenants/<tenant>.toml.
        period: Billing period YYYY-MM; empty means the month that just ended.
        source: ERP extract as a folder or s3:// URL; {tenant} and {period} are filled in.
        dry_run: Extract, decide and render but send nothing; publish the cost forecast.
    """
    period = period or previous_month()
    if not PERIOD.match(period):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    if not source:
        raise ValueError("source is empty: give the extract folder or s3:// URL")
    source = source.replace("{tenant}", tenant).replace("{period}", period)
    wiring.tenant_rules(tenant)  # fail fast on a bad rule file, before any work
    # One run of a tenant's period at a time, held in the ledger (RunActive otherwise); the Prefect
    # limit also keeps a tenant's periods apart once `omnibill limits setup` made it.
    with wiring.hold_run(tenant, period, holder_name(), create=True) as hold, slot(tenant_limit_name(tenant)):
        return _run(tenant, period, source, dry_run, hold)


def _run(tenant: str, period: str, source: str, dry_run: bool, hold) -> dict:
    """The stages; a dry run stops after rendering. Before each stage and round: does the run still hold its period?"""
    keep_trimmed()  # freed memory back to the system as the run goes, so the process stays near what it uses
    progress = Progress(tenant, period)
    rerun_after_rejection(wiring.ledger(), wiring.run_of(tenant, period))  # a corrected run asks again
    extracted = extract(tenant, period, source)
    hold.check()
    progress.at(10)
    batch_nos = extracted["batches"]
    if dry_run:
        return _forecast(tenant, period, _decide_all(tenant, period, batch_nos, progress, hold), progress)
    if wiring.tenant_rules(tenant).release == "manual":
        # Everything decided and rendered, then the proof of the real run, and a person decides before anything
        # is sent.
        wait([render.submit(tenant, period, b, len(batch_nos))
              for b in _decide_all(tenant, period, batch_nos, progress, hold)])
        proof(tenant, period)
        await_release(tenant, period)
        hold.check()
        render_and_dispatch(tenant, period, progress, hold=hold)
    else:
        # Each batch is rendered as soon as it is decided and sent as soon as it is rendered; the proof of the run
        # is kept with it, built from the moment the last batch is rendered, beside the last dispatches and archives.
        proofs: list = []
        render_and_dispatch(tenant, period, progress, hold=hold, to_decide=batch_nos,
                            when_rendered=lambda: proofs.append(proof.submit(tenant, period)))
        for future in proofs:
            future.result()
    summary = reconcile(tenant, period, extracted["invoice_rows"])
    progress.at(100)
    if left := left_to_do(summary):
        # A Failed flow run is what operators (and automations) notice; everything is published already.
        raise RunIncomplete(f"{left} documents or messages not delivered yet (transient failures, or still in "
                            f"flight): omnibill rerun --tenant {tenant} --period {period}")
    return summary


def _decide_all(tenant: str, period: str, batch_nos: list[int], progress: Progress, hold) -> list[int]:
    """Decide every batch before anything renders (a dry run, a run released by hand); returns the batches."""
    deciding = Decides(tenant, period, batch_nos, len(batch_nos), progress, ahead=len(batch_nos))
    deciding.submit()
    for future in as_completed(list(deciding.running)):
        deciding.finished(future)
    if deciding.error is not None:
        raise deciding.error  # a batch that cannot be decided stops the run before anything renders
    hold.check()
    return batch_nos


def _forecast(tenant: str, period: str, batches: list[int], progress: Progress) -> dict:
    """Dry run: render everything planned (a template problem shows now), then forecast; nothing is sent."""
    wait([render.submit(tenant, period, b, len(batches)) for b in batches])
    progress.at(90)
    result = forecast(tenant, period)
    progress.at(100)
    return result
