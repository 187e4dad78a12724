"""Decide tasks: channel decisions per batch, fallbacks after permanent failures."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.decide.plan import decide_batch, plan_fallbacks
from omnibill.ledger.repository import messages_without_fallback


@task(name="decide", task_run_name="decide batch {batch_no}/{batches}", cache_policy=NO_CACHE)
def decide(tenant: str, period: str, batch_no: int, batches: int = 0) -> dict:
    """Decide the channel of every undecided document in a batch."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        counts = decide_batch(session, run, batch_no, wiring.tenant_rules(tenant))
    get_run_logger().info("decide batch %d: %s", batch_no, dict(counts) or "nothing new")
    return dict(counts)


@task(name="plan-fallbacks", cache_policy=NO_CACHE)
def fallbacks(tenant: str, period: str) -> int:
    """Plan the next channel for messages that failed permanently."""
    run = wiring.run_of(tenant, period)
    with wiring.ledger().transaction() as session:
        planned = plan_fallbacks(session, run, messages_without_fallback(session, run.id),
                                 wiring.tenant_rules(tenant))
    if planned:
        get_run_logger().info("planned or released %d messages (fallbacks, companion notices, scheduled ones due)",
                              planned)
    return planned
