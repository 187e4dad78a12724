"""What the sandbox providers received: one SQLite table plus the raw payloads as files."""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

CHANNELS = ("email", "sms", "mailbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    recipient TEXT,
    subject TEXT,
    size INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    duplicate_of INTEGER REFERENCES received(id),
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_received_channel_key ON received (channel, idempotency_key);
CREATE TABLE IF NOT EXISTS reads (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    read_at TEXT NOT NULL,
    UNIQUE (channel, idempotency_key)
);
"""
_COLUMNS = "id, channel, idempotency_key, recipient, subject, size, received_at, duplicate_of, path"


@dataclass(frozen=True)
class Received:
    """One delivery as a sandbox provider saw it."""

    id: int
    channel: str
    idempotency_key: str
    recipient: str | None
    subject: str | None
    size: int
    received_at: str
    duplicate_of: int | None
    path: str

    @property
    def original_id(self) -> int:
        """The id of the first delivery with this key (itself when not a duplicate)."""
        return self.duplicate_of or self.id


class SandboxLedger:
    """`<dir>/received.sqlite` and `<dir>/<channel>/` payload files; safe to share between threads."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared under a lock: the servers run on their own threads.
        self._db = sqlite3.connect(self.directory / "received.sqlite", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def record(self, channel: str, idempotency_key: str, recipient: str | None, subject: str | None,
               payload: bytes, suffix: str) -> Received:
        """Keep one delivery; a repeated key is still kept, flagged as a duplicate of the first."""
        with self._lock:
            first = self._first_id(channel, idempotency_key)
            now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            cursor = self._db.execute(
                "INSERT INTO received (channel, idempotency_key, recipient, subject, size, received_at,"
                " duplicate_of, path) VALUES (?, ?, ?, ?, ?, ?, ?, '')",
                (channel, idempotency_key, recipient, subject, len(payload), now, first))
            row_id = cursor.lastrowid
            path = self._write_payload(channel, row_id, idempotency_key, payload, suffix)
            self._db.execute("UPDATE received SET path = ? WHERE id = ?", (path, row_id))
        return Received(row_id, channel, idempotency_key, recipient, subject, len(payload), now, first, path)

    def first(self, channel: str, idempotency_key: str) -> Received | None:
        """The first delivery with this key, if any."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM received WHERE channel = ? AND idempotency_key = ?"
                                   " AND duplicate_of IS NULL", (channel, idempotency_key)).fetchone()
        return Received(*row) if row else None

    def count(self, channel: str | None = None, unique: bool = True) -> int:
        """Deliveries received (only first deliveries of each key when `unique`)."""
        where, args = self._where(channel, unique)
        with self._lock:
            return self._db.execute(f"SELECT count(*) FROM received {where}", args).fetchone()[0]

    def list(self, channel: str | None = None, since_id: int = 0, unique: bool = False,
             limit: int = -1) -> list[Received]:
        """Deliveries after `since_id` (duplicates included unless `unique`), in the order received."""
        where, args = self._where(channel, unique)
        where = f"{where} AND id > ?" if where else "WHERE id > ?"
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM received {where} ORDER BY id LIMIT ?",
                                    (*args, since_id, limit)).fetchall()
        return [Received(*row) for row in rows]

    def keys(self, channel: str) -> list[str]:
        """The distinct idempotency keys received on a channel, in the order first received."""
        with self._lock:
            rows = self._db.execute("SELECT idempotency_key FROM received WHERE channel = ? AND duplicate_of IS NULL"
                                    " ORDER BY id", (channel,)).fetchall()
        return [key for (key,) in rows]

    def mark_read(self, channel: str, keys: list[str]) -> int:
        """The recipient opened these deliveries in their mailbox (the first read counts); returns how many."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO reads (channel, idempotency_key, read_at) SELECT ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM received WHERE channel = ? AND idempotency_key = ?)",
                [(channel, k, now, channel, k) for k in keys])
            return self._db.total_changes - before

    def reads(self, channel: str, since_id: int = 0, limit: int = -1) -> list[tuple[int, str, str]]:
        """(id, idempotency key, read at) of reads after `since_id`, in order."""
        with self._lock:
            return self._db.execute("SELECT id, idempotency_key, read_at FROM reads WHERE channel = ? AND id > ?"
                                    " ORDER BY id LIMIT ?", (channel, since_id, limit)).fetchall()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def _first_id(self, channel: str, key: str) -> int | None:
        row = self._db.execute("SELECT id FROM received WHERE channel = ? AND idempotency_key = ?"
                               " AND duplicate_of IS NULL", (channel, key)).fetchone()
        return row[0] if row else None

    def _write_payload(self, channel: str, row_id: int, key: str, payload: bytes, suffix: str) -> str:
        # The row id keeps duplicates apart; the key (made file-safe) lets a human find a message.
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)[:80]
        relative = f"{channel}/{row_id:07d}-{safe}{suffix}"
        target = self.directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        return relative

    @staticmethod
    def _where(channel: str | None, unique: bool) -> tuple[str, tuple]:
        clauses, args = [], []
        if channel:
            clauses.append("channel = ?")
            args.append(channel)
        if unique:
            clauses.append("duplicate_of IS NULL")
        return ("WHERE " + " AND ".join(clauses) if clauses else "", tuple(args))
