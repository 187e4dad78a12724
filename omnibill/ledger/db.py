"""Engine, sessions and schema migrations of the ledger."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The tables a run fills by the hundred thousand rows within minutes, and how often their planner statistics are
# brought up to date (PostgreSQL; see Ledger.transaction).
GROWING_TABLES = ("customers", "documents", "messages", "message_events", "dispatch_attempts", "archived_documents",
                  "receipts", "provider_events", "quarantined_rows")
STATISTICS_EVERY_S = 30.0


class SchemaOutdated(RuntimeError):
    """The ledger's schema is not the one this code needs: `omnibill db upgrade` applies the migrations."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers read while one writes; busy_timeout waits instead of failing. The driver's own
    # transaction handling is off: a writing transaction starts with BEGIN IMMEDIATE (below), so a
    # read-then-write (a claim, a state change) holds the write lock from its first read.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _begin(conn) -> None:
    # Writers take SQLite's write lock at BEGIN; readers (Ledger.read) take none and see a WAL snapshot.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("omnibill_read") else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for the ledger URL (SQLite file or PostgreSQL)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A small pool: opening a connection and setting its pragmas costs about 0.8 ms, a run has tens of
        # thousands of short transactions. Writers still queue on the ledger's lock (Ledger.transaction);
        # the overflow serves concurrent readers and is closed when returned.
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, poolclass=QueuePool,
                               pool_size=4, max_overflow=32, pool_timeout=120)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=120)


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the ledger schema to the newest Alembic revision (`omnibill db upgrade`)."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def head_revision() -> str:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a database without the ledger)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine, *, migrate_empty_sqlite: bool = True) -> None:
    """Refuse an outdated schema; an empty SQLite file (the embedded default's first run) is migrated here.

    On PostgreSQL nothing is migrated implicitly: several workers starting together would race.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None and migrate_empty_sqlite and engine.dialect.name == "sqlite":
        migrate(engine)
        return
    where = engine.url.render_as_string(hide_password=True)
    raise SchemaOutdated(f"the ledger at {where} is at revision {current or 'none (empty)'}, this code needs {head}:"
                         " run `omnibill db upgrade` once (before starting workers)")


class Ledger:
    """The ledger's engine and session factory; the caller owns each transaction."""

    def __init__(self, url: str, *, check: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if check:
            check_schema(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.engine.execution_options(omnibill_read=True), expire_on_commit=False)
        # SQLite serialises writers anyway; queueing them on a lock here (instead of in SQLite's
        # busy handler) keeps waiting threads off the CPU and never times out a short write.
        self._sqlite_lock = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self._tended_at = -STATISTICS_EVERY_S
        self._tend_lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        if self._sqlite_lock is None:
            with self.sessions.begin() as session:
                yield session
            return
        with self._sqlite_lock, self.sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only: on SQLite it takes no write lock and waits for no writer."""
        with self.readers.begin() as session:
            yield session

    @contextmanager
    def statistics_kept(self, every_s: float = STATISTICS_EVERY_S) -> Iterator[None]:
        """PostgreSQL: while the block runs, a thread tends the tables a run fills every `every_s` seconds
        (`tend_growing_tables`).

        Flows hold a run this way (omnibill.runs.hold_run); the portal, webhooks and CLI commands, which write
        little, never wait for it. Nested blocks share the throttle. SQLite needs none: nothing is started.
        """
        if self._sqlite_lock is not None:
            yield
            return
        stop = threading.Event()

        def tend() -> None:
            while not stop.wait(every_s):
                self.tend_growing_tables(unless_within_s=every_s / 2)

        thread = threading.Thread(target=tend, name="ledger statistics", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()  # an ANALYZE or VACUUM under way ends first

    def tend_growing_tables(self, unless_within_s: float = 0.0) -> list[str]:
        """PostgreSQL: for the tables a run fills, what autovacuum does when it keeps up (its default thresholds),
        in case it does not: not when this ledger did so within `unless_within_s`. Returns the commands run.

        - ANALYZE a table once more than 50 + 10 % of its rows changed since it was last analyzed. A run grows
          them from nothing to hundreds of thousands of rows in minutes, faster than autovacuum (when it runs at
          all) analyzes them; planned with the statistics of an empty table, a chunk's UPDATE … FROM unnest(…)
          scanned all of `dispatch_attempts` instead of using its index: at 100,000 customers, 15,061 such scans
          read 992 million rows.
        - When the server runs no autovacuum, VACUUM (and analyze) a table once more than 50 + 20 % of its rows
          are dead. Every state change of a message leaves a dead row and dead entries in the indexes on state:
          at 600,000 of a million documents decided, `messages` had 1.2 million dead rows, and asking one batch's
          rendered messages walked 361,000 index entries (202 ms).

        Neither takes a lock that blocks reading or writing; a table another session is analyzing or vacuuming is
        skipped (SKIP_LOCKED). Both need the tables' owner (or MAINTAIN): under a role without it the server only
        warns and nothing changes. SQLite does nothing.
        """
        if self._sqlite_lock is not None:
            return []
        with self._tend_lock:
            if time.monotonic() - self._tended_at < unless_within_s:
                return []
            self._tended_at = time.monotonic()
        done: list[str] = []
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar() == "on"
                found = conn.exec_driver_sql(
                    "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = ANY(%(tables)s) ORDER BY relname",
                    {"tables": list(GROWING_TABLES)}).all()
                for table, live, dead, changed in found:
                    if not autovacuum and dead > 50 + 0.2 * live:
                        command = f"VACUUM (SKIP_LOCKED, ANALYZE) {table}"
                    elif changed > 50 + 0.1 * live:
                        command = f"ANALYZE (SKIP_LOCKED) {table}"
                    else:
                        continue
                    conn.exec_driver_sql(command)
                    done.append(command)
        except SQLAlchemyError as exc:  # the planner keeps older statistics; dead rows wait for the next time
            log.warning("ledger: tending the run's tables failed: %s", type(exc).__name__)
        return done

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create a PostgreSQL database on the server (for benchmarks); returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
