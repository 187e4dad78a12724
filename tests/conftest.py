"""Shared fixtures: isolated settings per test, a PostgreSQL scratch database, Prefect's test harness."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("OMNIBILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def reset_caches() -> None:
    """Forget settings and engines built from an earlier test's environment."""
    from config.settings import get_settings
    from omnibill import wiring

    get_settings.cache_clear()
    wiring.dispose_ledgers()


@pytest.fixture
def omnibill_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every setting at a fresh data folder (ledger, store, drops, sandbox) for one test."""
    for key in list(os.environ):
        if key.startswith("OMNIBILL_") and key not in ("OMNIBILL_TEST_POSTGRES_URL", "OMNIBILL_VALIDATION_DIR"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OMNIBILL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OMNIBILL_SECRET_KEY", "a test secret, never a real one")
    monkeypatch.setenv("OMNIBILL_TENANTS_DIR", str(REPO / "config" / "tenants"))
    reset_caches()
    yield tmp_path / "var"
    reset_caches()


def upgrade_database(url: str) -> None:
    """What `omnibill db upgrade` does: a PostgreSQL ledger is never migrated implicitly."""
    from omnibill.ledger.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


def _pg_admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@contextmanager
def scratch_database(migrated: bool = True) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (skipped if no server, but never in CI)."""
    import sqlalchemy as sa

    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"omnibill_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        if migrated:
            upgrade_database(url)
        yield url
    finally:
        reset_caches()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (what `omnibill db upgrade` leaves)."""
    with scratch_database() as url:
        yield url


# A weekday noon in Stockholm, outside every quiet hour: what a run sends does not depend on when
# the suite runs (quiet hours have tests of their own, with their own clock).
DAYTIME = "2026-11-18T11:00:00+00:00"


@contextmanager
def sandbox_for_test(var: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[object]:
    """Sandbox providers on free ports with the run's adapters pointed at them (plus OMNIBILL_<env>).

    The runs' clock (OMNIBILL_NOW) is DAYTIME unless `NOW` is given.
    """
    env = {"NOW": DAYTIME} | env
    from omnibill.sandbox import Sandbox

    with Sandbox(var / "sandbox", smtp_port=0, http_port=0) as box:
        monkeypatch.setenv("OMNIBILL_SANDBOX__AUTOSTART", "false")
        for key, value in box.environment().items():
            monkeypatch.setenv(key, value)
        for key, value in env.items():
            monkeypatch.setenv(f"OMNIBILL_{key}", value)
        reset_caches()
        yield box


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server (SQLite) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
