"""Render task: one batch's planned messages into stored documents."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.memory import keep_trimmed
from omnibill.render.stage import run_render


@task(name="render", task_run_name="render batch {batch_no}/{batches}", cache_policy=NO_CACHE)
def render(tenant: str, period: str, batch_no: int, batches: int = 0) -> dict:
    """Render every planned message of a batch (PDF, e-mail, SMS, UBL) into the document store."""
    keep_trimmed()  # the process working here (a Dask worker too) gives freed memory back as it goes
    settings = wiring.get_settings()
    counts = run_render(wiring.ledger(), wiring.run_of(tenant, period), batch_no,
                        wiring.tenant_rules(tenant).senders_by_country(), settings.resolved_store_url(), settings.s3,
                        wiring.render_processes(settings), links=wiring.link_signer(tenant))
    get_run_logger().info("render batch %d/%d: rendered %d, failed %d", batch_no, batches, counts["rendered"],
                          counts["failed"])
    return counts
