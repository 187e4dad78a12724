"""Migrations run once, by `omnibill db upgrade` (or on an empty SQLite file), never by every worker;
address hashes are keyed with a secret from settings."""

from __future__ import annotations

import hashlib
import stat

import pytest
from typer.testing import CliRunner

from omnibill import wiring
from omnibill.cli.app import app
from omnibill.decide.reachability import address_hash
from omnibill.ledger.db import Ledger, SchemaOutdated, current_revision, head_revision, make_engine
from tests.conftest import reset_caches, scratch_database


def _alembic_upgrade(url: str, revision: str) -> None:
    from alembic import command

    from omnibill.ledger.db import _alembic_config

    engine = make_engine(url)
    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    engine.dispose()


def test_an_empty_sqlite_ledger_is_migrated_on_first_use(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert current_revision(ledger.engine) == head_revision()
    ledger.dispose()


def test_an_old_schema_is_refused_until_db_upgrade(omnibill_env, monkeypatch):
    url = f"sqlite:///{omnibill_env / 'old.sqlite'}"
    monkeypatch.setenv("OMNIBILL_DATABASE_URL", url)
    reset_caches()
    _alembic_upgrade(url, "0003")
    with pytest.raises(SchemaOutdated, match=r"at revision 0003, this code needs .*omnibill db upgrade"):
        Ledger(url)
    assert CliRunner().invoke(app, ["db", "current"]).exit_code == 1
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and f"0003 -> {head_revision()}" in result.output, result.output
    assert CliRunner().invoke(app, ["db", "current"]).exit_code == 0
    Ledger(url).dispose()


def test_postgresql_is_never_migrated_implicitly():
    with scratch_database(migrated=False) as url:
        with pytest.raises(SchemaOutdated, match="none \\(empty\\)"):
            Ledger(url)
        engine = make_engine(url)
        assert current_revision(engine) is None  # nothing was created behind the operator's back
        engine.dispose()


def test_address_hashes_are_keyed_with_the_secret_from_settings(omnibill_env, monkeypatch):
    monkeypatch.delenv("OMNIBILL_SECRET_KEY")
    reset_caches()
    key = wiring.hash_key("demo")
    secret_file = omnibill_env / "secret.key"
    assert secret_file.is_file() and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    reset_caches()
    assert wiring.hash_key("demo") == key  # kept: the next process hashes the same address the same way
    assert wiring.hash_key("other") != key
    salted = hashlib.sha256("demo\x1femail\x1fasa@example.se".encode()).hexdigest()[:32]  # the old, recomputable way
    assert address_hash(key, "email", "asa@example.se") != salted
    monkeypatch.setenv("OMNIBILL_SECRET_KEY", "a secret from the vault")
    reset_caches()
    assert wiring.hash_key("demo") != key


def test_a_shared_ledger_needs_the_secret_from_settings(omnibill_env, monkeypatch):
    monkeypatch.delenv("OMNIBILL_SECRET_KEY")
    monkeypatch.setenv("OMNIBILL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/anything")
    reset_caches()
    with pytest.raises(ValueError, match="OMNIBILL_SECRET_KEY is not set"):
        wiring.hash_key("demo")
