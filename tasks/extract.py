"""Extract task: read, validate and store the ERP extract."""

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.extract.stage import run_extract


@task(name="extract", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def extract(tenant: str, period: str, source: str) -> dict:
    """Read the extract from its source, quarantine bad rows and store the rest in the ledger."""
    settings = wiring.get_settings()
    summary = run_extract(wiring.ledger(), tenant, period, source, batch_size=settings.batch_size, s3=settings.s3,
                          partition_customers=settings.extract_partition_customers)
    get_run_logger().info("extract: %d invoice rows, %d documents, %d quarantined rows (%d invoices), %d batches",
                          summary.invoice_rows, summary.documents, summary.quarantined_rows,
                          summary.quarantined_invoices, len(summary.batches))
    return {"invoice_rows": summary.invoice_rows, "documents": summary.documents, "batches": summary.batches,
            "quarantined_rows": summary.quarantined_rows, "quarantined_invoices": summary.quarantined_invoices}
