"""The one place that builds the ledger, stores, adapters and rules from settings."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from channel_adapters.base import ChannelAdapter
from config.settings import Settings, get_settings
from config.tenant import TenantRules, load_tenant
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.repository import find_run
from omnibill.store import ObjectStore, open_store


_ledgers: dict[str, Ledger] = {}
_lock = threading.Lock()


def ledger(settings: Settings | None = None) -> Ledger:
    """The ledger for the settings (one engine per URL and process, migrated on first use)."""
    url = (settings or get_settings()).resolved_database_url()
    with _lock:
        if url not in _ledgers:
            _ledgers[url] = Ledger(url)
        return _ledgers[url]


def dispose_ledgers() -> None:
    """Close every engine this process opened (tests switch databases between runs)."""
    with _lock:
        for each in _ledgers.values():
            each.dispose()
        _ledgers.clear()


def document_store(settings: Settings | None = None) -> ObjectStore:
    """The store rendered documents go to."""
    settings = settings or get_settings()
    return open_store(settings.resolved_store_url(), settings.s3)


def tenant_rules(tenant: str, settings: Settings | None = None) -> TenantRules:
    """The validated rule file of a tenant, parsed once per process until the file changes."""
    folder = Path((settings or get_settings()).tenants_dir)
    path = folder / f"{tenant}.toml"
    return _rules(tenant, str(folder), path.stat().st_mtime_ns if path.is_file() else 0)


@lru_cache(maxsize=32)
def _rules(tenant: str, folder: str, _mtime_ns: int) -> TenantRules:
    # Every decide and render task asks for the rules; the mtime in the key picks up an edited file.
    return load_tenant(tenant, Path(folder))


def adapter(channel: str, settings: Settings | None = None) -> ChannelAdapter:
    """A fresh adapter for a channel, configured from settings."""
    from channel_adapters.registry import build_adapter

    return build_adapter(channel, settings or get_settings())


def run_of(tenant: str, period: str, settings: Settings | None = None) -> BillingRun:
    """The ledger's run for a tenant's period; a clear error when there is none."""
    with ledger(settings).transaction() as session:
        run = find_run(session, tenant, period)
    if run is None:
        raise LookupError(f"no billing run for tenant {tenant!r} and period {period} in the ledger")
    return run
