"""The ``sqlite`` online store: one table per feature view version, one row per entity key.

A lookup of a batch of keys is one indexed ``SELECT ... WHERE key IN (...)`` on a
connection kept open, with feature values in typed columns, so reading 100 keys costs well
under a millisecond. Writes are upserts that never replace a newer row with an older one,
so materializing windows out of order or twice is harmless.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.errors import BackendUnreachableError
from lamina.features.sources import quote
from lamina.features.sqlite_db import connect, write_transaction


@attrs.frozen
class SqliteOnlineOptions:
    """Options of the ``sqlite`` online store.

    :param path: the database file; relative paths are relative to the project root.
    :param busy_timeout: seconds to wait on a lock held by another process.
    """

    path: str = ".lamina/features/online.db"
    busy_timeout: float = 30.0


def encode_key(key: tuple) -> Any:
    """A stored key: the value itself for one join key, JSON for several."""
    if len(key) == 1:
        return key[0]
    return json.dumps(list(key), default=str)


class SqliteOnlineStore:
    """Implements :class:`lamina.interfaces.feature_store.OnlineStore` on one SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect(self.path, busy_timeout=busy_timeout, synchronous="NORMAL")
        self._known: set[str] = set()
        self._read_sql: dict[tuple, str] = {}

    def _ensure(self, table: str, features: Sequence[str]) -> None:
        if table in self._known:
            return
        cols = ", ".join(quote(f) for f in features)
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {quote(table)} (k PRIMARY KEY, event_us INTEGER, "
            f"created_us INTEGER, {cols}) WITHOUT ROWID"
        )
        self._known.add(table)

    def write(self, table: str, features: Sequence[str], rows: Sequence[tuple], *,
              ttl_seconds: float | None = None) -> int:
        """Upsert rows; ``ttl_seconds`` is not used here (lookups apply the TTL)."""
        with self._lock:
            self._ensure(table, features)
            names = ["k", "event_us", "created_us", *features]
            marks = ", ".join("?" for _ in names)
            updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names[1:])
            sql = (
                f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) VALUES "
                f"({marks}) ON CONFLICT(k) DO UPDATE SET {updates} WHERE "
                f"excluded.event_us > {quote(table)}.event_us OR (excluded.event_us = "
                f"{quote(table)}.event_us AND coalesce(excluded.created_us, 0) >= "
                f"coalesce({quote(table)}.created_us, 0))"
            )
            with write_transaction(self._db):
                self._db.executemany(sql, ((encode_key(r[0]), *r[1:]) for r in rows))
        return len(rows)

    def read(self, table: str, features: Sequence[str], keys: Sequence[tuple]
             ) -> dict[tuple, tuple[int, tuple]]:
        if not keys:
            return {}
        single = len(keys[0]) == 1
        encoded = {k[0]: k for k in keys} if single else {encode_key(k): k for k in keys}
        sig = (table, tuple(features), len(encoded))
        sql = self._read_sql.get(sig)
        if sql is None:
            cols = ", ".join(quote(f) for f in features)
            sql = (f"SELECT k, event_us, {cols} FROM {quote(table)} WHERE k IN "
                   f"({', '.join('?' for _ in encoded)})")
            self._read_sql[sig] = sql
        try:
            with self._lock:
                rows = self._db.execute(sql, list(encoded)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise
        return {encoded[r[0]]: (r[1], r[2:]) for r in rows}

    def check(self) -> str:
        try:
            with self._lock:
                n = self._db.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        except sqlite3.Error as exc:
            raise BackendUnreachableError(
                f"online store {self.path}: {exc}", hint="check the path and its permissions"
            ) from exc
        return f"sqlite online store {self.path} ({n} tables)"

    def close(self) -> None:
        self._db.close()
