"""The SQLite files of the feature store (registry, online store): one connection per
object, shared by its threads under a lock, in WAL mode so that readers in other processes
never wait for a writer, and explicit ``BEGIN IMMEDIATE`` transactions for writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, *, busy_timeout: float, synchronous: str | None = None) -> sqlite3.Connection:
    """Open (creating its folder) the database at ``path`` in autocommit + WAL mode.
    ``synchronous`` (e.g. ``"NORMAL"``) trades durability of the last commits on power
    loss for write speed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    db.execute("PRAGMA journal_mode=WAL")
    if synchronous is not None:
        db.execute(f"PRAGMA synchronous={synchronous}")
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the file's write lock at once (so two writers
    never deadlock upgrading a read lock); committed when the block ends, rolled back when
    it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
