"""Archive task: every sent document of a period as PDF/A-3b in the archive store."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.runtime import task_run

from omnibill import wiring
from omnibill.memory import keep_trimmed
from omnibill.archive.archive import archive_run
from omnibill.store import open_store


def _run_name() -> str:
    given = task_run.parameters
    batch = given.get("batch_no")
    return f"archive {given['tenant']} {given['period']}" + ("" if batch is None else f" batch {batch}")


@task(name="archive", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE, task_run_name=_run_name)
def archive(tenant: str, period: str, batch_no: int | None = None) -> dict:
    """Store every sent, not yet archived document of a tenant's period (one batch when given) as PDF/A-3b in
    the archive; the copies are made by the render processes."""
    keep_trimmed()  # the process working here (a Dask worker too) gives freed memory back as it goes
    settings = wiring.get_settings()
    counts = archive_run(wiring.ledger(), wiring.run_of(tenant, period), wiring.document_store(settings),
                         open_store(settings.resolved_archive_url(), settings.s3), wiring.tenant_rules(tenant),
                         batch_no, workers=wiring.render_processes(settings))
    get_run_logger().info("archive %s %s%s: archived %d, already there %d, failed %d", tenant, period,
                          "" if batch_no is None else f" batch {batch_no}", counts["archived"], counts["found"],
                          counts["failed"])
    return dict(counts)
