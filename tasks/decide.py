"""Decide tasks: channel decisions per batch, fallbacks after permanent failures, scheduled messages due."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.decide.stage import run_decide, run_fallbacks, run_release


@task(name="decide", task_run_name="decide batch {batch_no}/{batches}", cache_policy=NO_CACHE)
def decide(tenant: str, period: str, batch_no: int, batches: int = 0) -> dict:
    """Decide the channel of every undecided document in a batch."""
    counts = run_decide(wiring.ledger(), wiring.run_of(tenant, period), batch_no, wiring.tenant_rules(tenant),
                        hash_key=wiring.hash_key(tenant), now=wiring.now())
    get_run_logger().info("decide batch %d: %s", batch_no, dict(counts) or "nothing new")
    return dict(counts)


@task(name="plan-fallbacks", cache_policy=NO_CACHE)
def fallbacks(tenant: str, period: str) -> int:
    """Plan the next channel for messages that failed permanently; release companions and due messages."""
    planned = run_fallbacks(wiring.ledger(), wiring.run_of(tenant, period), wiring.tenant_rules(tenant),
                            wiring.document_store(), hash_key=wiring.hash_key(tenant), now=wiring.now())
    if planned:
        get_run_logger().info("planned or released %d messages (fallbacks, companion notices, scheduled ones due)",
                              planned)
    return planned


@task(name="release-due", cache_policy=NO_CACHE)
def release_due(tenant: str, period: str) -> int:
    """Make scheduled messages whose time has come ready to render and send."""
    released = run_release(wiring.ledger(), wiring.run_of(tenant, period), now=wiring.now())
    get_run_logger().info("%s %s: %d scheduled messages are due", tenant, period, released)
    return released
