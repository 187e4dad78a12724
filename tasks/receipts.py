"""Receipts task: delivery reports of one channel's provider."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.receipts.stage import run_receipts


@task(name="receipts", task_run_name="receipts[{channel}]", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def receipts(tenant: str, period: str, channel: str) -> int:
    """Collect delivery reports from a channel's provider and mark messages delivered or bounced."""
    source = wiring.adapter(channel, tenant=tenant)
    try:
        applied = run_receipts(wiring.ledger(), wiring.run_of(tenant, period), source, log=get_run_logger())
    finally:
        source.close()
    get_run_logger().info("receipts[%s]: %d applied", channel, applied)
    return applied
