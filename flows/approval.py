"""Proof and release inside the monthly run: pause with Prefect's own form until a person approves or rejects."""

from __future__ import annotations

from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from pydantic import Field

from omnibill import wiring
from omnibill.proof.release import decide, release_of, start_awaiting
from omnibill.runs import ExpectedStop

POLL_S = 3


class ReleaseDecision(RunInput):
    """The form the Prefect UI shows on the paused run."""

    approve: bool = Field(description="Send this run (true), or withdraw it and send nothing (false)")
    by: str = Field(min_length=1, description="Your name: the decision is kept with it")
    comment: str = Field("", description="Why (kept with the decision; required in practice for a rejection)")


class AwaitingRelease(ExpectedStop):
    """Nobody decided within the tenant's release timeout: nothing was sent, the run still awaits release."""


class RunRejected(ExpectedStop):
    """A person rejected the run: nothing was sent, its extract and renderings were withdrawn."""


def await_release(tenant: str, period: str) -> None:
    """Pause until a decision (UI form, or `omnibill release`); return when approved, raise otherwise."""
    ledger, run, rules = wiring.ledger(), wiring.run_of(tenant, period), wiring.tenant_rules(tenant)
    if release_of(ledger, run).state == "approved":
        return
    start_awaiting(ledger, run, str(flow_run.id) if flow_run.id else None, get_current_settings().api.url)
    get_run_logger().warning("%s %s awaits release: open the proof, then approve or reject with this flow run's "
                             "form, or `omnibill release --tenant %s --period %s --approve --by NAME`",
                             tenant, period, tenant, period)
    try:
        answer = pause_flow_run(wait_for_input=ReleaseDecision, timeout=int(rules.release_timeout_h * 3600),
                                poll_interval=POLL_S)
    except FlowPauseTimeout:
        raise AwaitingRelease(f"nobody released {tenant} {period} within {rules.release_timeout_h:g} h: nothing was "
                              f"sent; approve with `omnibill release --tenant {tenant} --period {period} --approve "
                              f"--by NAME`, then `omnibill rerun --tenant {tenant} --period {period}`") from None
    release = decide(ledger, run, answer.approve, answer.by, answer.comment)  # `omnibill release` may have first
    if release.state != "approved":
        raise RunRejected(f"{tenant} {period} rejected by {release.by}: {release.comment or 'no comment'}; nothing "
                          "was sent, and a corrected extract or template can be run again for the period")
