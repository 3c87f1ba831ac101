"""The mark set of ``lamina gc``: object keys reachable from what is kept, on disk.

A store of millions of objects must not need millions of Python strings in memory: marks
go to a SQLite table in a temporary file (32-byte keys, ``WITHOUT ROWID``), in batches,
and the sweep asks it about the objects it lists, a page at a time.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence

#: An object key anywhere in a record's bytes (64 lowercase hex digits standing alone).
HEX_KEY = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def keys_in(data: bytes) -> list[bytes]:
    """Every object key a record's bytes name, wherever it appears (an artifact's
    ``key``, a log's ``stdout_key``, a code file, a card's image, a file input...): a
    record format that gains a new kind of reference is covered without a change here."""
    return HEX_KEY.findall(data)


class MarkSet:
    """Object keys on disk (a SQLite file under ``folder``, removed by :meth:`close`)."""

    def __init__(self, folder: str | None = None, *, batch: int = 10_000) -> None:
        fd, self.path = tempfile.mkstemp(prefix="lamina-gc-", suffix=".db", dir=folder)
        os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA cache_size = -16000")  # 16 MB of pages at most
        self._db.execute("CREATE TABLE marked (key BLOB PRIMARY KEY) WITHOUT ROWID")
        self._pending: list[tuple[bytes]] = []
        self._batch = batch
        self.added = 0

    def add(self, hex_keys: Iterable[bytes | str]) -> None:
        """Mark these keys (hex, as bytes or str)."""
        for key in hex_keys:
            raw = bytes.fromhex(key.decode() if isinstance(key, bytes) else key)
            self._pending.append((raw,))
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO marked VALUES (?)", self._pending)
            self._db.execute("COMMIT")
            self.added += len(self._pending)
            self._pending.clear()

    def marked(self, hex_keys: Sequence[str]) -> set[str]:
        """Which of ``hex_keys`` (one page of a listing) are marked."""
        self.flush()
        found: set[str] = set()
        for start in range(0, len(hex_keys), 500):
            chunk = [bytes.fromhex(k) for k in hex_keys[start : start + 500]]
            marks = ", ".join("?" * len(chunk))
            found.update(
                row[0].hex()
                for row in self._db.execute(f"SELECT key FROM marked WHERE key IN ({marks})", chunk)
            )
        return found

    def count(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT count(*) FROM marked").fetchone()[0])

    def close(self) -> None:
        self._db.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> MarkSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
