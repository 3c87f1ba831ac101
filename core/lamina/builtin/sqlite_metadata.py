"""The embedded metadata store: runs, tasks and tags in one SQLite file.

Why SQLite: it needs no server, survives crashes (WAL journal), lets several processes
write at once (writers queue on a lock for up to ``busy_timeout`` seconds) and answers
"newest runs of this flow" from an index. Records go in as rows; their dict and tuple
fields are JSON text. See ``docs/versioning.md`` for the schema and how it evolves.
"""

from __future__ import annotations

import json
import operator
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from lamina.errors import (
    BackendUnreachableError,
    ImmutableRunError,
    MetadataError,
    ModelNotFoundError,
    RunNotFoundError,
)
from lamina.interfaces.model_registry import AliasChange, ModelVersion
from lamina.recordcodec import (
    ALIAS_CHANGE_COLUMNS,
    MODEL_VERSION_COLUMNS,
    NAMESPACE_OF_ROW,
    alias_change_from_row,
    check_result_from_row,
    encode_field,
    in_step_order,
    model_version_from_row,
    namespace_condition,
    with_crashed,
)
from lamina.records import ArtifactRef, RunRecord, TaskRecord

# Each migration brings the database from version N-1 to N. They only ever add (tables,
# columns with defaults, indexes): a database written by a newer lamina stays readable and
# writable by an older one. Append a new entry; never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            params TEXT NOT NULL DEFAULT '{}',
            user TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            pid INTEGER NOT NULL DEFAULT 0,
            stack TEXT NOT NULL DEFAULT '',
            datastore_url TEXT NOT NULL DEFAULT '',
            flow_file TEXT NOT NULL DEFAULT '',
            code_hash TEXT NOT NULL DEFAULT '',
            code_files TEXT NOT NULL DEFAULT '{}',
            step_code TEXT NOT NULL DEFAULT '{}',
            python_version TEXT NOT NULL DEFAULT '',
            packages_key TEXT NOT NULL DEFAULT '',
            git_commit TEXT NOT NULL DEFAULT '',
            git_dirty INTEGER,
            resumed_from TEXT NOT NULL DEFAULT '',
            orchestrator TEXT NOT NULL DEFAULT '',
            orchestrator_run_id TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            steps TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_flow ON runs (flow, run_id)",
        """CREATE TABLE IF NOT EXISTS run_tags (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            tag TEXT NOT NULL,
            UNIQUE (run_id, tag)
        )""",
        "CREATE INDEX IF NOT EXISTS run_tags_by_tag ON run_tags (tag)",
        """CREATE TABLE IF NOT EXISTS tasks (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            step TEXT NOT NULL,
            "index" INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            started_at REAL,
            finished_at REAL,
            output TEXT,
            inputs TEXT NOT NULL DEFAULT '{}',
            element TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            error_type TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            traceback TEXT NOT NULL DEFAULT '',
            exit_reason TEXT NOT NULL DEFAULT '',
            stdout_key TEXT NOT NULL DEFAULT '',
            stderr_key TEXT NOT NULL DEFAULT '',
            cache_key TEXT NOT NULL DEFAULT '',
            reused_from TEXT NOT NULL DEFAULT '',
            metrics TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, step, "index")
        )""",
        "CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON tasks (cache_key) WHERE cache_key != ''",
    ),
    (  # 2: teams: the namespace, project and branch of each run (lamina.namespaces)
        "ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN project TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN branch TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN production INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX IF NOT EXISTS runs_by_namespace ON runs (namespace, flow, run_id)",
    ),
    (  # 3: what each task read from data sources; the model registry
        "ALTER TABLE tasks ADD COLUMN data_inputs TEXT NOT NULL DEFAULT '[]'",
        """CREATE TABLE IF NOT EXISTS model_versions (
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            ref TEXT NOT NULL,
            run_id TEXT NOT NULL DEFAULT '',
            registered_by TEXT NOT NULL DEFAULT '',
            registered_at TEXT NOT NULL DEFAULT '',
            metadata TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (namespace, name, version)
        )""",
        """CREATE TABLE IF NOT EXISTS model_alias_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            version INTEGER,
            previous INTEGER,
            user TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            forced INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX IF NOT EXISTS model_alias_changes_by_name "
        "ON model_alias_changes (namespace, name, alias, seq)",
    ),
    (  # 4: results of check suites run on registered versions (the registry's gates)
        """CREATE TABLE IF NOT EXISTS model_checks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            result TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX IF NOT EXISTS model_checks_by_version "
        "ON model_checks (namespace, name, version, seq)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_RUN_JSON = {"params": dict, "code_files": dict, "step_code": dict, "steps": tuple}
_TASK_JSON = {"inputs": dict, "metrics": dict, "data_inputs": list}
_RUN_COLUMNS = tuple(a.name for a in RunRecord.__attrs_attrs__ if a.name != "tags")
_RUN_SELECT = ", ".join(f'"{c}"' for c in _RUN_COLUMNS)
_RUN_JSON_POSITIONS = tuple((_RUN_COLUMNS.index(name), kind) for name, kind in _RUN_JSON.items())
_GIT_DIRTY_POSITION = _RUN_COLUMNS.index("git_dirty")
_PRODUCTION_POSITION = _RUN_COLUMNS.index("production")
_TAGS_POSITION = [a.name for a in RunRecord.__attrs_attrs__].index("tags")
_TASK_COLUMNS = tuple(a.name for a in TaskRecord.__attrs_attrs__)
_task_values = operator.attrgetter(*_TASK_COLUMNS)
_TASK_JSON_POSITIONS = tuple((_TASK_COLUMNS.index(name), name) for name in _TASK_JSON)
_OUTPUT_POSITION = _TASK_COLUMNS.index("output")
_TASK_SELECT = ", ".join(f'"{c}"' for c in _TASK_COLUMNS)
_ABANDONED: list[sqlite3.Connection] = []  # inherited across fork: never used nor closed


def _quote(column: str) -> str:
    return f'"{column}"'


def _loads(text: str | None, empty: Any) -> Any:
    if not text or text == "{}" or text == "[]":
        return type(empty)()
    return json.loads(text)


class SqliteMetadataStore:
    """Runs, tasks and tags in one SQLite file, shared by every process of a project.

    The file and its folder are created on first use. One connection per store object,
    opened lazily and reopened in a forked child (a SQLite connection must never cross a
    fork). Writes are short ``BEGIN IMMEDIATE`` transactions, so concurrent runs queue for
    at most ``busy_timeout`` seconds instead of failing.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = float(busy_timeout)
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._host = socket.gethostname()

    def __repr__(self) -> str:
        return f"SqliteMetadataStore({self.path!r})"

    # --- connection -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        where = f"sqlite metadata at {self.path}"
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnreachableError(
                f"{where}: cannot create its folder ({exc.strerror or exc})",
                hint="point [stacks.*].metadata path at a writable folder",
            ) from exc
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise BackendUnreachableError(
                f"{where}: cannot open ({exc})",
                hint="check that the folder is writable and the path is a file",
            ) from exc
        # Two processes opening a new database at once: while one turns it into WAL (or
        # recovers its WAL index), SQLite answers the other "database is locked" at once,
        # without waiting on the busy timeout; so setting up retries until that timeout.
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.01
        while True:
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate(conn)
                return conn
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    conn.close()
                    raise self._unreachable(exc) from exc
                if time.monotonic() >= deadline:
                    conn.close()
                    raise self._unreachable(exc) from exc
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
            except sqlite3.Error as exc:
                conn.close()
                raise self._unreachable(exc) from exc

    def _unreachable(self, exc: sqlite3.Error) -> BackendUnreachableError:
        text = str(exc)
        where = f"sqlite metadata at {self.path}"
        if "not a database" in text:
            return BackendUnreachableError(
                f"{where}: the file is not a SQLite database ({text})",
                hint="move the file away or set another metadata path in the stack",
            )
        if "locked" in text or "busy" in text:
            return BackendUnreachableError(
                f"{where}: locked by another process for more than {self.busy_timeout:g} s",
                hint="wait for the other process, or raise the metadata busy_timeout",
            )
        if "readonly" in text or "unable to open" in text:
            return BackendUnreachableError(
                f"{where}: not writable ({text})",
                hint="make the file and its folder writable, or set another metadata path",
            )
        return BackendUnreachableError(f"{where}: {text}", hint="run `lamina stack check`")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return  # up to date, or written by a newer lamina (migrations only add)
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another may have won
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._conn is not None and self._pid != pid:
            _ABANDONED.append(self._conn)  # the parent's; closing it here could harm it
            self._conn = None
        if self._conn is None:
            self._conn = self._connect()
            self._pid = pid
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from exc
                raise

    def _error(self, exc: sqlite3.Error) -> MetadataError:
        unreachable = self._unreachable(exc)
        return MetadataError(unreachable.message, hint=unreachable.hint)

    def close(self) -> None:
        """Close this process's connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # --- rows <-> records -----------------------------------------------------------

    def _run_row(self, run: RunRecord) -> list[Any]:
        row = []
        for name in _RUN_COLUMNS:
            value = getattr(run, name)
            if name in _RUN_JSON:
                value = encode_field(
                    list(value) if name == "steps" else value, f"{name} of run {run.run_id}"
                )
            elif name in ("git_dirty", "production") and value is not None:
                value = int(value)
            row.append(value)
        return row

    @staticmethod
    def _task_row(task: TaskRecord) -> list[Any]:
        row = list(_task_values(task))
        for position, name in _TASK_JSON_POSITIONS:
            row[position] = encode_field(row[position], f"{name} of task {task.task_id}")
        if row[_OUTPUT_POSITION] is not None:
            row[_OUTPUT_POSITION] = encode_field(
                row[_OUTPUT_POSITION].to_dict(), f"output of task {task.task_id}"
            )
        return row

    @staticmethod
    def _task_from_row(row: tuple[Any, ...]) -> TaskRecord:
        values = list(row)
        for position, name in _TASK_JSON_POSITIONS:
            values[position] = _loads(values[position], _TASK_JSON[name]())
        output = values[_OUTPUT_POSITION]
        values[_OUTPUT_POSITION] = ArtifactRef.from_dict(json.loads(output)) if output else None
        return TaskRecord(*values)

    @staticmethod
    def _tasks_from_rows(rows: list[tuple[Any, ...]]) -> list[TaskRecord]:
        """:meth:`_task_from_row` for many rows: each JSON column is decoded with one
        ``json.loads`` over all rows rather than one call per value."""
        if len(rows) < 20:
            return [SqliteMetadataStore._task_from_row(row) for row in rows]
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        for position, _name in (*_TASK_JSON_POSITIONS, (_OUTPUT_POSITION, "output")):
            texts = columns[position]
            try:
                values = json.loads("[" + ",".join([t or "null" for t in texts]) + "]")
            except ValueError:  # a damaged value: decode this column one by one
                return [SqliteMetadataStore._task_from_row(row) for row in rows]
            if position == _OUTPUT_POSITION:
                columns[position] = [
                    ArtifactRef.from_dict(v) if v is not None else None for v in values
                ]
            else:
                kind = _TASK_JSON[_TASK_COLUMNS[position]]
                columns[position] = [kind() if v is None else v for v in values]
        return [TaskRecord(*values) for values in zip(*columns, strict=True)]

    def _tags_of(
        self, conn: sqlite3.Connection, run_ids: Sequence[str], runs_sql: tuple[str, list[Any]]
    ) -> dict[str, tuple[str, ...]]:
        """The tags of each run (runs without tags are absent). ``runs_sql`` is the query
        (SQL and arguments) that selected the runs: for many runs, the tags are read with
        one query over it instead of one query per 500 ids."""
        tags: dict[str, list[str]] = {}
        if len(run_ids) > 500:
            subquery, args = runs_sql
        else:
            subquery, args = ",".join("?" * len(run_ids)), list(run_ids)
        sql = f"SELECT run_id, tag FROM run_tags WHERE run_id IN ({subquery}) ORDER BY rowid"
        for run_id, tag in conn.execute(sql, args).fetchall():
            found = tags.get(run_id)
            if found is None:
                tags[run_id] = [tag]
            else:
                found.append(tag)
        return {rid: tuple(values) for rid, values in tags.items()}

    def _runs_from_rows(
        self,
        conn: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        runs_sql: tuple[str, list[Any]],
    ) -> list[RunRecord]:
        """Records from rows of ``SELECT _RUN_SELECT`` (``runs_sql`` selects their
        ``run_id``: it is used to read their tags in one query).

        Rows stay tuples: each JSON column is decoded with one ``json.loads`` over all
        rows (listing 10,000 runs otherwise spends most of its time in 40,000 small
        ``json.loads`` calls) and each record is built positionally."""
        if not rows:
            return []
        tags = self._tags_of(conn, [row[0] for row in rows], runs_sql)
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        for position, kind in _RUN_JSON_POSITIONS:
            texts = columns[position]
            try:
                values = json.loads("[" + ",".join([t or "null" for t in texts]) + "]")
            except ValueError:  # a damaged value: decode this column one by one
                values = [_loads(t, None) for t in texts]
            if kind is tuple:
                columns[position] = [tuple(v) if v is not None else () for v in values]
            else:
                columns[position] = [
                    v if type(v) is dict else (kind(v) if v is not None else kind())
                    for v in values
                ]
        dirty = columns[_GIT_DIRTY_POSITION]
        if any(d is not None for d in dirty):
            columns[_GIT_DIRTY_POSITION] = [None if d is None else bool(d) for d in dirty]
        columns[_PRODUCTION_POSITION] = [bool(p) for p in columns[_PRODUCTION_POSITION]]
        get_tags = tags.get
        columns.insert(_TAGS_POSITION, [get_tags(rid, ()) for rid in columns[0]])
        runs = [RunRecord(*values) for values in zip(*columns, strict=True)]
        return with_crashed(runs, self._host)

    def _resolve(self, conn: sqlite3.Connection, ref: str) -> str:
        """A run id from a full id or a unique prefix of one."""
        if ref and conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (ref,)).fetchone():
            return ref
        matches = (
            []
            if not ref
            else [
                r[0]
                for r in conn.execute(
                    "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id DESC LIMIT 11",
                    (ref, ref + "\U0010ffff"),
                )
            ]
        )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFoundError(
                f"no run {ref!r} in the metadata store at {self.path}",
                hint="`lamina runs` lists the runs (a unique prefix of an id is enough)",
            )
        shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
        raise RunNotFoundError(
            f"run prefix {ref!r} is ambiguous: it matches {shown}",
            hint="give more characters of the run id",
        )

    # --- MetadataStore --------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Record a new run. A run id already present raises :class:`MetadataError`
        (a run is never overwritten)."""
        row = self._run_row(run)
        columns = ", ".join(_quote(c) for c in _RUN_COLUMNS)
        marks = ", ".join("?" * len(_RUN_COLUMNS))
        with self._write() as conn:
            try:
                conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", row)
            except sqlite3.IntegrityError as exc:
                raise MetadataError(
                    f"run {run.run_id} already exists in the metadata store at {self.path}",
                    hint="make each run's id with lamina.versioning.ids.new_run_id()",
                ) from exc
            conn.executemany(
                "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)",
                [(run.run_id, tag) for tag in dict.fromkeys(run.tags)],
            )

    def _assert_open(self, conn: sqlite3.Connection, run_ids: Sequence[str], what: str) -> None:
        for run_id in run_ids:
            row = conn.execute(
                "SELECT status, finished_at FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFoundError(
                    f"cannot {what}: no run {run_id!r} in the metadata store at {self.path}",
                    hint="create the run (create_run) before recording its tasks",
                )
            if row[1] is not None:
                raise ImmutableRunError(
                    f"cannot {what}: run {run_id} is finished ({row[0]}) and immutable",
                    hint="start a new run (`lamina resume RUN` reruns what failed); "
                    "only tags may be added to a finished run",
                )

    def finish_run(self, run_id: str, *, status: str, finished_at: float, error: str = "") -> None:
        """Close a run with its final status. Finishing it twice raises
        :class:`ImmutableRunError`."""
        with self._write() as conn:
            self._assert_open(conn, [run_id], f"finish run {run_id}")
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
                (status, finished_at, error, run_id),
            )

    def record_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Insert or update task records (keyed by run, step, index) in one transaction.
        Tasks of a finished run raise :class:`ImmutableRunError` and nothing is written."""
        if not tasks:
            return
        rows = [self._task_row(task) for task in tasks]
        columns = ", ".join(_quote(c) for c in _TASK_COLUMNS)
        marks = ", ".join("?" * len(_TASK_COLUMNS))
        updates = ", ".join(
            f"{_quote(c)} = excluded.{_quote(c)}"
            for c in _TASK_COLUMNS
            if c not in ("run_id", "step", "index")
        )
        run_ids = list(dict.fromkeys(task.run_id for task in tasks))
        with self._write() as conn:
            self._assert_open(conn, run_ids, "record tasks")
            conn.executemany(
                f"INSERT INTO tasks ({columns}) VALUES ({marks}) "
                f'ON CONFLICT (run_id, step, "index") DO UPDATE SET {updates}',
                rows,
            )

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Add tags to a run, finished or not; a tag it already has is ignored."""
        if isinstance(tags, str):
            tags = [tags]
        with self._write() as conn:
            full_id = self._resolve(conn, run_id)
            conn.executemany(
                "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)",
                [(full_id, tag) for tag in dict.fromkeys(tags)],
            )

    def remove_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Remove tags from a run, finished or not; a tag it does not have is ignored."""
        if isinstance(tags, str):
            tags = [tags]
        with self._write() as conn:
            full_id = self._resolve(conn, run_id)
            conn.executemany(
                "DELETE FROM run_tags WHERE run_id = ? AND tag = ?",
                [(full_id, tag) for tag in dict.fromkeys(tags)],
            )

    def get_run(self, run_id: str) -> RunRecord:
        """One run, by id or by a unique prefix of its id."""
        with self._read() as conn:
            full_id = self._resolve(conn, run_id)
            rows = conn.execute(
                f"SELECT {_RUN_SELECT} FROM runs WHERE run_id = ?", (full_id,)
            ).fetchall()
            return self._runs_from_rows(
                conn, rows, ("SELECT run_id FROM runs WHERE run_id = ?", [full_id])
            )[0]

    def list_runs(
        self,
        flow: str | None = None,
        *,
        status: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        namespace: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one flow, with one status, carrying a tag or
        in one namespace (a record without one belongs to ``user:<its user>``).
        ``status="crashed"`` finds running runs whose process is gone."""
        where: list[str] = []
        args: list[Any] = []
        if namespace is not None:
            condition, values = namespace_condition(namespace)
            where.append(condition)
            args.extend(values)
        if flow is not None:
            where.append("flow = ?")
            args.append(flow)
        if tag is not None:
            where.append("run_id IN (SELECT run_id FROM run_tags WHERE tag = ?)")
            args.append(tag)
        # "crashed" is partly decided at read time, so running/crashed filter after reading
        live_status = status in ("running", "crashed")
        if status is not None:
            where.append("status IN (?, ?)" if live_status else "status = ?")
            args.extend(["running", "crashed"] if live_status else [status])
        sql = " FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = " ORDER BY run_id DESC"
        if limit is not None and not live_status:
            order += f" LIMIT {int(limit)}"
        # the tags of the same runs: the order matters only to a LIMIT
        runs_sql = "SELECT run_id" + sql + (order if "LIMIT" in order else "")
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_RUN_SELECT}" + sql + order, args).fetchall()
            runs = self._runs_from_rows(conn, rows, (runs_sql, args))
        if live_status:
            runs = [run for run in runs if run.status == status]
            if limit is not None:
                runs = runs[: int(limit)]
        return runs

    def list_tasks(self, run_id: str, step: str | None = None) -> list[TaskRecord]:
        """A run's tasks in the run's step order, then by index."""
        with self._read() as conn:
            full_id = self._resolve(conn, run_id)
            steps = json.loads(
                conn.execute("SELECT steps FROM runs WHERE run_id = ?", (full_id,)).fetchone()[0]
                or "[]"
            )
            sql = f"SELECT {_TASK_SELECT} FROM tasks WHERE run_id = ?"
            args: list[Any] = [full_id]
            if step is not None:
                sql += " AND step = ?"
                args.append(step)
            rows = conn.execute(sql + ' ORDER BY step, "index"', args).fetchall()
            tasks = self._tasks_from_rows(rows)
        return in_step_order(tasks, steps)

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        """The newest succeeded (or reused) task with this cache key, or None."""
        if not cache_key:
            return None
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_TASK_SELECT} FROM tasks "
                "WHERE cache_key = ? AND status IN ('succeeded', 'reused') "
                "ORDER BY run_id DESC, finished_at DESC LIMIT 1",
                (cache_key,),
            ).fetchone()
            return self._task_from_row(row) if row else None

    def list_flows(self, *, namespace: str | None = None) -> list[str]:
        """Names of the flows that have runs (in ``namespace``, if given), sorted."""
        sql, args = "SELECT DISTINCT flow FROM runs", list[str]()
        if namespace is not None:
            condition, args = namespace_condition(namespace)
            sql += f" WHERE {condition}"
        with self._read() as conn:
            return [r[0] for r in conn.execute(sql + " ORDER BY flow", args)]

    def list_namespaces(self) -> list[str]:
        """The namespaces that have runs, sorted (a record without one counts in
        ``user:<its user>``)."""
        with self._read() as conn:
            return [r[0] for r in conn.execute(
                f"SELECT DISTINCT {NAMESPACE_OF_ROW} AS ns FROM runs ORDER BY ns"
            )]

    # --- the model registry's records ---------------------------------------------------

    def register_model_version(self, version: ModelVersion) -> ModelVersion:
        """Store the next version of ``version.name`` in its namespace: the number is
        allocated under the write lock (``BEGIN IMMEDIATE``), so concurrent processes
        never get the same one."""
        metadata = encode_field(dict(version.metadata), "model version metadata")
        with self._write() as conn:
            row = conn.execute(
                "SELECT coalesce(max(version), 0) FROM model_versions "
                "WHERE namespace = ? AND name = ?", (version.namespace, version.name),
            ).fetchone()
            number = int(row[0]) + 1
            conn.execute(
                "INSERT INTO model_versions (namespace, name, version, ref, run_id, "
                "registered_by, registered_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (version.namespace, version.name, number, version.ref, version.run_id,
                 version.registered_by, version.registered_at, metadata),
            )
        return attrs.evolve(version, version=number, aliases=())

    def list_model_versions(self, namespace: str, name: str) -> list[ModelVersion]:
        """Every version of ``name`` in ``namespace``, oldest first."""
        columns = ", ".join(_quote(c) for c in MODEL_VERSION_COLUMNS)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM model_versions WHERE namespace = ? AND name = ? "
                "ORDER BY version", (namespace, name),
            ).fetchall()
        return [model_version_from_row(row) for row in rows]

    def list_model_names(self, namespace: str) -> list[str]:
        """The names registered in ``namespace``, sorted."""
        with self._read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT name FROM model_versions WHERE namespace = ? ORDER BY name",
                (namespace,),
            )]

    def record_alias_change(self, namespace: str, change: AliasChange) -> AliasChange:
        """Append an alias move, its ``previous`` read in the same transaction."""
        with self._write() as conn:
            if change.version is not None and conn.execute(
                "SELECT 1 FROM model_versions WHERE namespace = ? AND name = ? AND version = ?",
                (namespace, change.name, change.version),
            ).fetchone() is None:
                raise ModelNotFoundError(
                    f"model {change.name!r} has no version {change.version} in {namespace}",
                    hint=f"`lamina model versions {change.name}` lists its versions",
                )
            row = conn.execute(
                "SELECT version FROM model_alias_changes WHERE namespace = ? AND name = ? "
                "AND alias = ? ORDER BY seq DESC LIMIT 1", (namespace, change.name, change.alias),
            ).fetchone()
            recorded = attrs.evolve(change, previous=row[0] if row else None)
            conn.execute(
                "INSERT INTO model_alias_changes (namespace, name, alias, version, previous, "
                '"user", at, reason, forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                (namespace, recorded.name, recorded.alias, recorded.version, recorded.previous,
                 recorded.user, recorded.at, recorded.reason, int(recorded.forced)),
            )
        return recorded

    def list_alias_changes(self, namespace: str, name: str) -> list[AliasChange]:
        """Every alias move of ``name`` in ``namespace``, oldest first."""
        columns = ", ".join(_quote(c) for c in ALIAS_CHANGE_COLUMNS)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM model_alias_changes WHERE namespace = ? AND name = ? "
                "ORDER BY seq", (namespace, name),
            ).fetchall()
        return [alias_change_from_row(row) for row in rows]

    def record_model_check(self, namespace: str, name: str, version: int,
                           result: Mapping[str, Any]) -> None:
        """Append a check result of a version."""
        text = encode_field(dict(result), "model check result")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO model_checks (namespace, name, version, result) VALUES (?, ?, ?, ?)",
                (namespace, name, int(version), text),
            )

    def list_model_checks(self, namespace: str, name: str,
                          version: int | None = None) -> list[dict[str, Any]]:
        """Check results of ``name`` (of one version, if given), oldest first."""
        sql = "SELECT version, result FROM model_checks WHERE namespace = ? AND name = ?"
        args: list[Any] = [namespace, name]
        if version is not None:
            sql += " AND version = ?"
            args.append(int(version))
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [check_result_from_row(row) for row in rows]

    # --- retention (lamina gc, lamina runs --delete) ---------------------------------

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete runs with their tasks and tags, in one transaction; how many runs were
        deleted (unknown ids are ignored). Which runs may go is the caller's decision."""
        wanted = sorted(set(run_ids))
        deleted = 0
        with self._write() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                conn.execute(f"DELETE FROM tasks WHERE run_id IN ({marks})", chunk)
                conn.execute(f"DELETE FROM run_tags WHERE run_id IN ({marks})", chunk)
                deleted += conn.execute(f"DELETE FROM runs WHERE run_id IN ({marks})",
                                        chunk).rowcount
        return deleted

    def referenced_run_ids(self) -> list[str]:
        """Ids of the runs that registered model versions point at (``model_versions``),
        distinct and sorted: retention keeps them."""
        with self._read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT run_id FROM model_versions WHERE run_id != '' ORDER BY run_id"
            )]

    def runs_reusing(self, run_id: str) -> list[str]:
        """Ids of the other runs with a task that reused a result of ``run_id`` (its
        ``reused_from`` names one of its tasks), sorted."""
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
        with self._read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT run_id FROM tasks WHERE reused_from LIKE ? ESCAPE '\\' "
                "AND run_id != ? ORDER BY run_id", (pattern, run_id),
            )]

    def check(self) -> str:
        """Open (creating if needed), take the write lock once, count runs: a one-line
        summary, or :class:`BackendUnreachableError` saying why the store is unusable."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                count = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._unreachable(exc) from exc
        return f"sqlite metadata at {self.path}: {count} run{'s' if count != 1 else ''}"
