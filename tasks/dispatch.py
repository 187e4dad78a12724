"""Dispatch task: one channel's batch to its provider; retried only on transient errors.

A provider outage is handled as designed (retries, then `omnibill rerun`), so its failures are logged as
one line each, without Prefect's traceback; any other exception is a bug and keeps its traceback.
"""

import logging

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.logging.loggers import task_run_logger

from channel_adapters.base import TransientError
from config.channels import PER_MESSAGE_CHANNELS
from omnibill import wiring
from omnibill.dispatch.pacing import PacedAdapter
from omnibill.dispatch.stage import run_dispatch
from omnibill.ops.limits import limit_name, slot


def retry_on_transient(task, task_run, state) -> bool:
    """Retry a failed dispatch only when the cause is transient (outage, 5xx, timeout); log a bug's traceback."""
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    if isinstance(exc, TransientError):
        return True
    # Prefect asks this only while retries are left, and then logs no traceback itself when the answer is
    # no (it does once they are exhausted): without this line a bug would show as one "Failed" line.
    task_run_logger(task_run, task).error("%s failed with an error that is not a provider's: %r", task_run.name,
                                          exc, exc_info=exc if isinstance(exc, BaseException) else None)
    return False


def without_outage_traceback(record: logging.LogRecord) -> bool:
    """Log filter: a task run's record keeps its message but loses the traceback of a transient error."""
    if record.exc_info and isinstance(record.exc_info[1], TransientError):
        record.exc_info, record.exc_text = None, None
    return True


# Prefect's engine logs "Retries are exhausted" with the traceback on this logger; the filter runs before
# every handler (terminal and API), and adding the same function twice keeps one.
logging.getLogger("prefect.task_runs").addFilter(without_outage_traceback)


@task(name="dispatch", task_run_name="dispatch[{channel}] batch {batch_no}/{batches}", cache_policy=NO_CACHE,
      retries=3, retry_delay_seconds=1, retry_jitter_factor=0.5, retry_condition_fn=retry_on_transient)
def dispatch(tenant: str, period: str, channel: str, batch_no: int, batches: int = 0) -> dict:
    """Send the batch's messages this dispatcher claims; fail (and retry) when some failed transiently."""
    settings = wiring.get_settings()
    limit = settings.limits.of(channel)
    # The breaker only for per-message HTTP APIs: SMTP stops at a lost connection by itself, and the
    # file drops must keep one print stream / upload per batch.
    probe = limit.breaker_probe if channel in PER_MESSAGE_CHANNELS else 0
    sender = PacedAdapter(wiring.adapter(channel, tenant=tenant, connections=limit.connections), limit.rate_per_s,
                          probe)
    # Without `omnibill limits setup` the batch runs unlimited (the flow logs that once).
    with slot(limit_name(channel)):
        try:
            counts = run_dispatch(wiring.ledger(), wiring.run_of(tenant, period), channel, batch_no, sender,
                                  wiring.document_store(), rules=wiring.tenant_rules(tenant), now=settings.now,
                                  lease_s=settings.dispatch_lease_s)
        finally:
            sender.close()
    get_run_logger().info("dispatch[%s] batch %d/%d: %s", channel, batch_no, batches,
                          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to send")
    return dict(counts)
