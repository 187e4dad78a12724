"""Print-if-unread task: plan a letter for each document whose digital message was not opened in time."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.decide.unread import run_print_if_unread


@task(name="plan-unread-letters", task_run_name="plan letters for the unread {tenant} {period}",
      cache_policy=NO_CACHE)
def plan_unread_letters(tenant: str, period: str) -> dict:
    """Plan the print-if-unread letters of a run (the tenant's `[print_if_unread]` rule, judged at wiring.now())."""
    result = run_print_if_unread(wiring.ledger(), wiring.run_of(tenant, period), wiring.tenant_rules(tenant),
                                 wiring.now(), hash_key=wiring.hash_key(tenant))
    log = get_run_logger()
    log.info("%s %s: %d letters planned for %d unread documents (%s, sent before %s)", tenant, period,
             result["planned"], result["candidates"], result["rule"], result["cutoff"] or "-")
    if result["skipped"]:
        # Document ids and reasons only (the reasons name no address): no personal data in the logs.
        log.info("%d unread documents get no letter: %s", len(result["skipped"]),
                 "; ".join(f"{s['document_id']}: {s['reason']}" for s in result["skipped"][:20])
                 + (" …" if len(result["skipped"]) > 20 else ""))
    return result
