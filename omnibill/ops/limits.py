"""Provider limits: Prefect global concurrency limits per provider and per tenant (pacing: omnibill/dispatch/pacing.py)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext

from config.channels import DISPATCH_CHANNELS as CHANNELS
from config.settings import Settings


def limit_name(channel: str) -> str:
    """The global concurrency limit that caps dispatch batches in flight to a channel's provider."""
    return f"provider-{channel}"


def tenant_limit_name(tenant: str) -> str:
    """The global concurrency limit (of 1) that keeps a tenant's monthly run and its reruns apart."""
    return f"tenant-{tenant}"


_known: dict[str, tuple[bool, float]] = {}
KNOWN_FOR_S = 10.0  # a limit made by `omnibill limits setup` is used within seconds


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit exists (cached briefly: asked once per batch otherwise)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    hit = _known.get(name)
    if hit and time.monotonic() - hit[1] < KNOWN_FOR_S:
        return hit[0]
    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
        found = True
    except ObjectNotFound:
        found = False
    _known[name] = (found, time.monotonic())
    return found


def slot(name: str) -> AbstractContextManager:
    """One slot of a limit while the block runs; nothing when the limit does not exist.

    Prefect 3.8's `concurrency(..., strict=False)` already skips a missing limit, but logs a
    warning every time: once per batch in the UI. The flow says it once instead.
    """
    from prefect.concurrency.sync import concurrency

    return concurrency(name, occupy=1, strict=False) if limit_exists(name) else nullcontext()


def missing_limits(tenant: str) -> list[str]:
    """The limits a run would use that are not set up."""
    return [n for n in [limit_name(c) for c in CHANNELS] + [tenant_limit_name(tenant)] if not limit_exists(n)]


def setup_limits(settings: Settings, tenants: list[str]) -> list[tuple[str, int]]:
    """Create or update `provider-<channel>` and `tenant-<tenant>` limits on the Prefect server; returns them."""
    from prefect.client.orchestration import get_client

    wanted = [(limit_name(c), settings.limits.of(c).concurrency) for c in CHANNELS]
    wanted += [(tenant_limit_name(t), 1) for t in tenants]
    with get_client(sync_client=True) as client:
        for name, limit in wanted:
            client.upsert_global_concurrency_limit_by_name(name, limit)
    return wanted
