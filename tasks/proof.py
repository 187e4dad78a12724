"""Proof task: the sample page of a rendered run, published to the Prefect UI (link, mix table, summary)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from omnibill import wiring
from omnibill.ops.artifacts import artifact_key
from omnibill.proof.stage import proof_of_run


@task(name="proof", cache_policy=NO_CACHE)
def proof(tenant: str, period: str) -> dict:
    """Build the run's proof page and publish where it is and what it holds."""
    settings = wiring.get_settings()
    run, rules = wiring.run_of(tenant, period), wiring.tenant_rules(tenant)
    made = proof_of_run(wiring.ledger(), run, rules, settings.resolved_store_url(), settings.s3,
                        settings.validation_dir)
    url = wiring.proof_url(run)
    checked = (f"{made.invalid_einvoices} e-invoice(s) of the sample failed validation" if made.invalid_einvoices
               else "e-invoices of the sample valid (UBL 2.1, EN 16931, PEPPOL BIS 3)") if made.validated \
        else "e-invoices not validated (no rule sets here)"
    create_link_artifact(key=artifact_key(tenant, period, "proof"), link=url, link_text="Open the proof",
                         description=f"Proof of {tenant} {period}: {made.shown} of {made.documents} documents")
    create_table_artifact(key=artifact_key(tenant, period, "proof-mix"), table=made.rows,
                          description="Documents and totals per channel, document type and currency, "
                                      "against last period's run")
    release = ("**Release by hand**: resume this flow run with the form (approve or reject, your name, a "
               f"comment), or `omnibill release --tenant {tenant} --period {period} --approve --by NAME`."
               if rules.release == "manual" else "Released automatically (tenant rule `release = \"auto\"`).")
    create_markdown_artifact(key=artifact_key(tenant, period, "proof-summary"),
                             description="What the proof shows, and how the run is released", markdown=(
        f"### Proof of {tenant} {period}\n\n{made.documents} documents in the run; [{made.shown} of them]"
        f"({url}) cover {made.cells_shown} of its {made.cells} channel × language × document type × country "
        f"cells, plus the largest, the longest, a credit note and a reminder. {checked}.\n\n{release}\n"))
    get_run_logger().info("proof of %s %s: %d documents shown (%d of %d cells); %s; open %s", tenant, period,
                          made.shown, made.cells_shown, made.cells, checked, url)
    return {"url": url, "shown": made.shown, "documents": made.documents, "cells": made.cells,
            "invalid_einvoices": made.invalid_einvoices}
