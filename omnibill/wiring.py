"""The one place that builds the ledger, stores, adapters and rules from settings."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from channel_adapters.base import ChannelAdapter
from config.settings import Settings, get_settings
from config.tenant import TenantRules, load_tenant
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.ledger.runs import find_run
from omnibill.store import ObjectStore, open_store


_ledgers: dict[str, Ledger] = {}
_keys: dict[tuple, bytes] = {}
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


def adapter(channel: str, settings: Settings | None = None, tenant: str | None = None,
            connections: int = 1) -> ChannelAdapter:
    """A fresh adapter for a channel, configured from settings (and the tenant's choice of providers),
    sending over `connections` connections at once."""
    from channel_adapters.registry import build_adapter

    settings = settings or get_settings()
    return build_adapter(channel, settings, tenant_rules(tenant) if tenant else None, message_for(settings),
                         connections)


def message_for(settings: Settings | None = None):
    """Provider reference -> our message id, from the ledger (for providers that never see our id)."""
    from omnibill.ledger.events import message_by_provider_ref

    def find(provider_ref: str) -> str | None:
        with ledger(settings).read() as session:
            return message_by_provider_ref(session, provider_ref)

    return find


def now(settings: Settings | None = None) -> datetime:
    """The moment quiet hours and scheduled messages are judged at: the real clock, or `OMNIBILL_NOW`."""
    return (settings or get_settings()).now or datetime.now(timezone.utc)


def derived_key(purpose: str, settings: Settings | None = None) -> bytes:
    """A key for one purpose (address hashes, links, CSRF), derived from the secret in settings.

    Kept per process: the secret may live in a file, and every task and every portal page asks for one.
    """
    settings = settings or get_settings()
    source = (settings.secret_key.get_secret_value() if settings.secret_key else None,
              settings.resolved_database_url(), str(settings.data_dir), purpose)
    with _lock:
        if source not in _keys:
            _keys[source] = settings.derived_key(purpose)
        return _keys[source]


def hash_key(tenant: str, settings: Settings | None = None) -> bytes:
    """A tenant's key for address hashes, derived from the secret in settings."""
    return derived_key(f"address-hash\x1f{tenant}", settings)


def task_runner(settings: Settings | None = None):
    """The task runner from settings: threads of this process, or the workers of a Dask scheduler."""
    settings = settings or get_settings()
    if settings.task_runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        # Bounded: each task holds a ledger connection, and SQLite takes one writer at a time.
        return ThreadPoolTaskRunner(max_workers=6)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=settings.task_runner)


def runnable(flow, settings: Settings | None = None):
    """The flow with the task runner the settings name (every entry point runs flows through this)."""
    return flow.with_options(task_runner=task_runner(settings))


def render_processes(settings: Settings | None = None) -> int:
    """Render processes per render task: as set, or one per core; one under Dask (its workers are the processes)."""
    settings = settings or get_settings()
    return settings.render_workers or (0 if settings.task_runner == "threads" else 1)


def proof_token(run_id: str, settings: Settings | None = None) -> str:
    """An unguessable token naming a run's proof page (the portal serves it at /proof/<token>)."""
    mac = hmac.new(derived_key("proof-link", settings), run_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{run_id}.{mac}"


def proof_run_id(token: str, settings: Settings | None = None) -> str | None:
    """The run a proof token names, or None when the token is not ours."""
    run_id, _, _ = token.partition(".")
    return run_id if hmac.compare_digest(proof_token(run_id, settings), token) else None


def proof_url(run, settings: Settings | None = None) -> str:
    """Where the person releasing a run opens its proof: the portal, at our public address."""
    settings = settings or get_settings()
    return f"{settings.webhooks.public_url.rstrip('/')}/proof/{proof_token(run.id, settings)}"


def link_signer(tenant: str | None = None, settings: Settings | None = None):
    """The maker and reader of document link tokens: key from the secret, lifetime from the tenant's rules.

    One key for every tenant, so the portal reads a token without knowing whose it is.
    """
    from omnibill.links import LinkSigner

    return LinkSigner(derived_key("document-link", settings),
                      tenant_rules(tenant, settings).link_months if tenant else 13)


def run_of(tenant: str, period: str, settings: Settings | None = None) -> BillingRun:
    """The ledger's run for a tenant's period; a clear error when there is none."""
    with ledger(settings).read() as session:
        run = find_run(session, tenant, period)
    if run is None:
        raise LookupError(f"no billing run for tenant {tenant!r} and period {period} in the ledger")
    return run


def hold_run(tenant: str, period: str, holder: str, *, create: bool, settings: Settings | None = None):
    """Hold a tenant's period in the ledger for a flow (see omnibill.runs): a context manager."""
    from omnibill.runs import hold_run as hold

    settings = settings or get_settings()
    return hold(ledger(settings), tenant, period, holder, lease_s=settings.run_lease_s, create=create)


def periods_with_due_messages(tenant: str, settings: Settings | None = None) -> list[str]:
    """The periods of a tenant with scheduled messages due now, or still waiting for a release to finish."""
    from omnibill.ledger.runs import runs_to_release

    with ledger(settings).read() as session:
        return [r.period for r in runs_to_release(session, tenant, now(settings))]


def periods_awaiting_reports(tenant: str, days: int = 14, settings: Settings | None = None) -> list[str]:
    """The periods of a tenant with messages sent in the last `days` whose providers may still report back."""
    from config.channels import RECEIPT_CHANNELS
    from omnibill.ledger.runs import runs_awaiting_reports

    since = now(settings) - timedelta(days=days)
    with ledger(settings).read() as session:
        return [r.period for r in runs_awaiting_reports(session, tenant, RECEIPT_CHANNELS, since)]


def next_due(tenant: str, settings: Settings | None = None) -> str | None:
    """When the tenant's first scheduled message becomes due, as text (UTC), or None."""
    from omnibill.ledger.runs import next_scheduled
    from omnibill.runs import utc

    with ledger(settings).read() as session:
        at = next_scheduled(session, tenant)
    return f"{utc(at):%Y-%m-%d %H:%M} UTC" if at else None


def has_work(tenant: str, period: str, settings: Settings | None = None) -> bool:
    """Whether a run has anything to render or send now (planned, rendered, failed transiently, lapsed)."""
    from omnibill.dispatch.stage import batches_to_send
    from omnibill.render.stage import batches_to_render

    run, where = run_of(tenant, period, settings), ledger(settings)
    return bool(batches_to_render(where, run) or batches_to_send(where, run))


def busy(tenant: str, period: str, settings: Settings | None = None) -> str | None:
    """Why a tenant's period cannot be run now (another live run holds it), or None."""
    from omnibill.ledger.runs import find_run
    from omnibill.runs import busy_text

    with ledger(settings).read() as session:
        run = find_run(session, tenant, period)
    if run is None or run.holder is None or run.held_until is None:
        return None
    held_until = run.held_until if run.held_until.tzinfo else run.held_until.replace(tzinfo=timezone.utc)
    return busy_text(run) if held_until > datetime.now(timezone.utc) else None
