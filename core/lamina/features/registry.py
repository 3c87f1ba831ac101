"""The feature registry: every applied version of every definition, in one SQLite file.

A definition gets a new version only when its fingerprint (the hash of its canonical
form) changes, so applying the same file twice records nothing. Each ``apply`` that changes
something is a *revision* of the whole registry; ``lamina features diff`` compares two
revisions (or two versions of one definition). Rows are never updated or deleted: removing
a definition records a tombstone version.
"""

from __future__ import annotations

import getpass
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from lamina.errors import FeatureStoreError
from lamina.features.definitions import Definition, fingerprint, from_dict
from lamina.features.sqlite_db import connect, write_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    revision INTEGER PRIMARY KEY, applied_at REAL NOT NULL, user TEXT NOT NULL,
    summary TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (
    kind TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, spec TEXT, revision INTEGER NOT NULL, applied_at REAL NOT NULL,
    PRIMARY KEY (kind, name, version));
CREATE TABLE IF NOT EXISTS source_hashes (
    path TEXT NOT NULL, stamp TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (path, stamp));
CREATE TABLE IF NOT EXISTS source_facts (
    source TEXT NOT NULL, fact TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (source, fact));
CREATE TABLE IF NOT EXISTS materializations (
    view TEXT NOT NULL, fingerprint TEXT NOT NULL, start_us INTEGER, end_us INTEGER NOT NULL,
    rows INTEGER NOT NULL, at REAL NOT NULL);
"""


@attrs.frozen
class Version:
    """One stored version of a definition (``spec`` is None for a removal)."""

    kind: str
    name: str
    version: int
    fingerprint: str
    spec: dict[str, Any] | None
    revision: int
    applied_at: float

    @property
    def removed(self) -> bool:
        return self.spec is None

    def definition(self) -> Definition:
        if self.spec is None:
            raise FeatureStoreError(
                f"{self.kind} {self.name!r} was removed in revision {self.revision}",
                hint="apply it again, or ask for an older version",
            )
        return from_dict(self.kind, self.spec)


class Registry:
    """The registry file. Safe for several processes (SQLite WAL, one writer at a time)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = connect(self.path, busy_timeout=busy_timeout)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ writing

    def apply(self, definitions: list[Definition], *, remove: Sequence[tuple[str, str]] = ()
              ) -> tuple[int | None, list[Version]]:
        """Record new versions of the changed definitions (and removals) as one revision:
        (the revision, or None when nothing changed; the versions written)."""
        with self._lock, write_transaction(self._db):
            changes: list[tuple[str, str, str, str | None]] = []
            for d in definitions:
                spec = d.to_dict()
                fp = fingerprint(spec)
                latest = self._latest_row(d.kind, d.name)
                if latest is None or latest[1] != fp:
                    changes.append((d.kind, d.name, fp, json.dumps(spec, sort_keys=True)))
            for kind, name in remove:
                latest = self._latest_row(kind, name)
                if latest is not None and latest[2] is not None:
                    changes.append((kind, name, "", None))
            if not changes:
                return None, []
            now = time.time()
            summary = ", ".join(
                f"{'-' if text is None else ''}{kind}:{name}" for kind, name, _, text in changes
            )
            cur = self._db.execute(
                "INSERT INTO revisions (applied_at, user, summary) VALUES (?, ?, ?)",
                (now, _user(), summary),
            )
            revision = int(cur.lastrowid or 0)
            written = []
            for kind, name, fp, text in changes:
                latest = self._latest_row(kind, name)
                version = (latest[0] if latest else 0) + 1
                self._db.execute(
                    "INSERT INTO definitions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, name, version, fp, text, revision, now),
                )
                written.append(Version(kind, name, version, fp,
                                       json.loads(text) if text else None, revision, now))
            return revision, written

    def _latest_row(self, kind: str, name: str) -> tuple[int, str, str | None] | None:
        row = self._db.execute(
            "SELECT version, fingerprint, spec FROM definitions WHERE kind=? AND name=? "
            "ORDER BY version DESC LIMIT 1", (kind, name),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    # ------------------------------------------------------------------ reading

    def _version(self, row: tuple) -> Version:
        kind, name, version, fp, spec, revision, at = row
        return Version(kind, name, version, fp, json.loads(spec) if spec else None, revision, at)

    def revision(self) -> int:
        """The newest revision (0 when nothing was ever applied)."""
        row = self._db.execute("SELECT max(revision) FROM revisions").fetchone()
        return int(row[0] or 0)

    def revisions(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT revision, applied_at, user, summary FROM revisions ORDER BY revision"
        ).fetchall()
        return [dict(zip(("revision", "applied_at", "user", "summary"), r, strict=True))
                for r in rows]

    def state(self, revision: int | None = None, *, kind: str | None = None) -> list[Version]:
        """The live definitions as of ``revision`` (default: now), removals left out."""
        rev = self.revision() if revision is None else revision
        rows = self._db.execute(
            "SELECT d.* FROM definitions d JOIN (SELECT kind, name, max(version) AS v FROM "
            "definitions WHERE revision <= ? GROUP BY kind, name) m ON d.kind = m.kind AND "
            "d.name = m.name AND d.version = m.v WHERE d.spec IS NOT NULL "
            + ("AND d.kind = ? " if kind else "") + "ORDER BY d.kind, d.name",
            (rev, kind) if kind else (rev,),
        ).fetchall()
        return [self._version(r) for r in rows]

    def get(self, kind: str, name: str, version: int | None = None) -> Version:
        """One definition: its newest version, or ``version``."""
        if version is None:
            row = self._db.execute(
                "SELECT * FROM definitions WHERE kind=? AND name=? ORDER BY version DESC "
                "LIMIT 1", (kind, name)).fetchone()
        else:
            row = self._db.execute(
                "SELECT * FROM definitions WHERE kind=? AND name=? AND version=?",
                (kind, name, version)).fetchone()
        if row is None or (version is None and row[4] is None):
            from lamina.kernel.suggest import did_you_mean

            names = [v.name for v in self.state(kind=kind)]
            what = kind.replace("_", " ")
            at = f" version {version}" if version is not None else ""
            raise FeatureStoreError(
                f"no {what} {name!r}{at} in the feature registry {self.path}"
                f"{did_you_mean(name, names)}",
                hint=(f"known: {', '.join(names)}" if names else
                      "apply definitions first: store.apply([...]) or "
                      "`lamina features apply FILE.py`"),
            )
        return self._version(row)

    def history(self, kind: str, name: str) -> list[Version]:
        rows = self._db.execute(
            "SELECT * FROM definitions WHERE kind=? AND name=? ORDER BY version",
            (kind, name)).fetchall()
        return [self._version(r) for r in rows]

    def find(self, name: str, version: int | None = None) -> Version:
        """A definition by name whatever its kind (views first)."""
        for kind in ("feature_view", "feature_service", "entity"):
            try:
                return self.get(kind, name, version)
            except FeatureStoreError:
                continue
        return self.get("feature_view", name, version)  # raises with suggestions

    # ------------------------------------------------------------------ caches & logs

    def cached_hash(self, path: str, stamp: str) -> str | None:
        row = self._db.execute(
            "SELECT hash FROM source_hashes WHERE path=? AND stamp=?", (path, stamp)
        ).fetchone()
        return None if row is None else str(row[0])

    def remember_hash(self, path: str, stamp: str, digest: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO source_hashes VALUES (?, ?, ?)",
                             (path, stamp, digest))

    def source_fact(self, source: str, fact: str) -> bool | None:
        """A fact learned about one version of a source (``source`` names its files with
        their size and modification time), or None if it was never established."""
        row = self._db.execute(
            "SELECT value FROM source_facts WHERE source=? AND fact=?", (source, fact)
        ).fetchone()
        return None if row is None else bool(row[0])

    def remember_source_fact(self, source: str, fact: str, value: bool) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO source_facts VALUES (?, ?, ?)",
                             (source, fact, int(value)))

    def record_materialization(self, view: str, fp: str, start_us: int | None, end_us: int,
                               rows: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO materializations VALUES (?, ?, ?, ?, ?, ?)",
                             (view, fp, start_us, end_us, rows, time.time()))

    def last_materialized(self, view: str, fp: str) -> int | None:
        """End (epoch microseconds) of the last materialization of this view version."""
        row = self._db.execute(
            "SELECT max(end_us) FROM materializations WHERE view=? AND fingerprint=?",
            (view, fp)).fetchone()
        return None if row is None or row[0] is None else int(row[0])


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def diff_specs(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """Field-level differences between two stored definitions: (field, in a, in b)."""
    if a is None or b is None:
        return [("definition", "absent" if a is None else "present",
                 "absent" if b is None else "present")]
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if key == "features" and isinstance(va, list) and isinstance(vb, list):
            fa = {f["name"]: f for f in va}
            fb = {f["name"]: f for f in vb}
            for name in sorted(set(fa) | set(fb)):
                if fa.get(name) != fb.get(name):
                    out.append((f"feature {name}",
                                fa[name]["dtype"] if name in fa else None,
                                fb[name]["dtype"] if name in fb else None))
            continue
        out.append((key, va, vb))
    return out
