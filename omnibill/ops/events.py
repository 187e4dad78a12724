"""Prefect events an operator (or an automation) can react to."""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

BATCH_FAILED = "omnibill.batch.failed"
RUN_RECONCILED = "omnibill.run.reconciled"


def _resource(kind: str, tenant: str, period: str, **labels: Any) -> dict[str, str]:
    ident = ".".join(str(p) for p in (tenant, period, *labels.values()))
    return {"prefect.resource.id": f"omnibill.{kind}.{ident}", "prefect.resource.name": f"{tenant} {period}",
            "omnibill.tenant": tenant, "omnibill.period": period,
            **{f"omnibill.{k}": str(v) for k, v in labels.items()}}


def batch_failed(tenant: str, period: str, channel: str, batch_no: int, failed: int) -> None:
    """A dispatch batch still has transient failures after its retries."""
    from prefect.runtime import flow_run

    resource = _resource("batch", tenant, period, channel=channel, batch=batch_no)
    # Which flow failed: the rerun automation reacts to the monthly run only, so it cannot loop.
    resource["omnibill.flow"] = flow_run.flow_name or "unknown"
    emit_event(event=BATCH_FAILED, resource=resource,
               payload={"tenant": tenant, "period": period, "channel": channel, "batch": batch_no,
                        "failed": failed})


def run_reconciled(tenant: str, period: str, rec: dict[str, Any]) -> None:
    """A run was reconciled: outcome counts and per-channel counts in the payload."""
    channels = {c["channel"]: {k: c[k] for k in ("planned", "sent", "delivered", "failed", "rejected", "pending")}
                for c in rec["channels"]}
    emit_event(event=RUN_RECONCILED, resource=_resource("run", tenant, period),
               payload={"tenant": tenant, "period": period, "balanced": rec["balanced"],
                        "outcome": rec["outcome"], "channels": channels})
