"""Archive task: every sent document of a period as PDF/A-3b in the archive store."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.archive.archive import archive_run
from omnibill.store import open_store


@task(name="archive", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def archive(tenant: str, period: str) -> dict:
    """Store every sent, not yet archived document of a tenant's period as PDF/A-3b in the archive."""
    settings = wiring.get_settings()
    counts = archive_run(wiring.ledger(), wiring.run_of(tenant, period), wiring.document_store(settings),
                         open_store(settings.resolved_archive_url(), settings.s3), wiring.tenant_rules(tenant))
    get_run_logger().info("archive %s %s: archived %d, already there %d, failed %d", tenant, period,
                          counts["archived"], counts["found"], counts["failed"])
    return dict(counts)
