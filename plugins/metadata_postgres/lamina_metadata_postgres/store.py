"""The team metadata store: runs, tasks and tags in PostgreSQL.

Same contract and same records as lamina's SQLite store (``lamina.sdk.MetadataStore``):
a run is created once, finished once and then immutable except for its tags; tasks are
upserted in batches; listings are newest first. What a shared server adds:

* **many hosts, many processes**: every write is one short transaction; the rows of the
  runs a batch of tasks belongs to are locked ``FOR SHARE`` while the batch is written, so
  a concurrent ``finish_run`` (which takes them ``FOR UPDATE``) waits and a finished run
  never gains a task;
* **forked workers**: one connection per store object and process, opened lazily and
  opened anew in a forked child (the parent's is left alone: closing it from the child
  would end the parent's session);
* **lost connections**: an operation whose connection drops (server restarted, session
  killed, network) reconnects and is retried a bounded number of times with back-off;
  every operation is safe to repeat. When the server stays away the error names the
  stack, the server (never the password) and the fix;
* **versioned schema**: migrations (:mod:`lamina_metadata_postgres.migrations`) run on
  first use under an advisory lock (or with ``lamina metadata migrate``); a database of a
  newer schema is refused with the upgrade to install.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from lamina.sdk import (
    ALIAS_CHANGE_COLUMNS,
    MODEL_VERSION_COLUMNS,
    NAMESPACE_OF_ROW,
    AliasChange,
    ArtifactRef,
    BackendUnreachableError,
    ImmutableRunError,
    MetadataError,
    ModelNotFoundError,
    ModelVersion,
    RunNotFoundError,
    RunRecord,
    TaskRecord,
    alias_change_from_row,
    check_result_from_row,
    encode_field,
    in_step_order,
    model_version_from_row,
    namespace_condition,
    with_crashed,
)
from lamina_metadata_postgres import migrations
from lamina_metadata_postgres.server import Server, check_identifier, parse

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

_RUN_JSON = {"params": dict, "code_files": dict, "step_code": dict, "steps": tuple}
_TASK_JSON = ("output", "inputs", "metrics", "data_inputs")
_RUN_FIELDS = tuple(a.name for a in RunRecord.__attrs_attrs__)
_RUN_COLUMNS = tuple(name for name in _RUN_FIELDS if name != "tags")
_TAGS_POSITION = _RUN_FIELDS.index("tags")
_TASK_COLUMNS = tuple(a.name for a in TaskRecord.__attrs_attrs__)
#: PostgreSQL array type of each task column, for the one-statement batch upsert.
_TASK_TYPES = {
    "index": "int8", "attempt": "int8", "started_at": "float8", "finished_at": "float8",
}
_ABANDONED: list[Any] = []  # connections inherited across fork: never used nor closed
#: SQLSTATEs after which a retry on a fresh connection may succeed.
_RETRY_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003",
                           "08006", "08001", "08004"})
_PERMANENT_CONNECT = (
    ("password authentication failed", "wrong password",
     "set the password through the environment: password = \"${PGPASSWORD}\" in the stack "
     "(or PGPASSWORD / ~/.pgpass), and check it with psql"),
    ("no password supplied", "the server asks for a password and none was given",
     "add password = \"${PGPASSWORD}\" to the stack's metadata table and export PGPASSWORD "
     "(or use ~/.pgpass)"),
    ("role", "", "create the role (CREATE ROLE NAME LOGIN) or fix the user in the url"),
    ("does not exist", "", "create the database (createdb -h HOST -p PORT NAME) or fix the url"),
    ("no pg_hba.conf entry", "the server refuses this host or user",
     "ask the server's administrator for a pg_hba.conf entry, or fix the url"),
    ("ssl", "", "fix sslmode in the url (e.g. ?sslmode=require) or the server's SSL set-up"),
)


def _quote(column: str) -> str:
    return f'"{column}"'


def _decode_column(texts: list[str | None]) -> list[Any]:
    """Decode a column of JSON texts with one ``json.loads`` (``None`` stays ``None``)."""
    try:
        return list(json.loads("[" + ",".join([t or "null" for t in texts]) + "]"))
    except ValueError:  # a damaged value: decode one by one
        out: list[Any] = []
        for t in texts:
            try:
                out.append(json.loads(t) if t else None)
            except ValueError:
                out.append(None)
        return out


def _one_line(text: str) -> str:
    """A driver's message on one line (libpq's run over several, with tabs)."""
    return " ".join(str(text).split())


class _Retry(Exception):
    """The operation met a lost connection (or a deadlock) and may be tried again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PostgresMetadataStore:
    """Runs, tasks and tags in PostgreSQL: one shared record for a team.

    :param url: ``postgresql://USER@HOST:PORT/DATABASE`` (libpq's URL; query parameters
        such as ``?sslmode=require`` pass through). A password belongs in ``password``
        or in the environment (``PGPASSWORD``, ``~/.pgpass``), never in a committed file.
    :param password: the password, when the server asks for one (give it as
        ``"${VAR}"`` in the stack). Never printed: messages name the server without it.
    :param schema: the PostgreSQL schema holding the tables (created if missing), so
        several teams or test suites can share one database.
    :param stack: the stack's name, used in messages.
    :param connect_timeout: seconds to wait for the server to answer a connection.
    :param retries: how many times an operation whose connection was lost is tried again
        (with exponential back-off from ``retry_wait`` seconds, at most 4 s between tries).
    :param retry_wait: the first back-off, in seconds.
    :param auto_migrate: bring an older schema up to date on first use; with ``False`` an
        older schema is refused until ``lamina metadata migrate`` ran.
    """

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        schema: str = "lamina",
        stack: str = "",
        connect_timeout: float = 10.0,
        retries: int = 5,
        retry_wait: float = 0.5,
        auto_migrate: bool = True,
    ) -> None:
        try:
            self.server: Server = parse(url, password)
            check_identifier(schema, "schema")
        except ValueError as exc:
            raise MetadataError(
                f"{self._who(stack)}: {exc}",
                hint='write metadata = { plugin = "postgres", url = '
                '"postgresql://USER@HOST:5432/DATABASE" } in the stack',
            ) from None
        self.schema = schema
        self.stack = stack
        self.connect_timeout = float(connect_timeout)
        self.retries = int(retries)
        self.retry_wait = float(retry_wait)
        self.auto_migrate = auto_migrate
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._host = socket.gethostname()
        self._connected_once = False
        self._gave_up_at = -1e9
        self._sql = self._statements()

    def __repr__(self) -> str:
        return f"PostgresMetadataStore({self.server.display!r}, schema={self.schema!r})"

    @staticmethod
    def _who(stack: str) -> str:
        return f"stack {stack!r}, metadata (postgres)" if stack else "postgres metadata"

    @property
    def where(self) -> str:
        """How messages name this store: the stack, the server (no password), the schema."""
        return f"{self._who(self.stack)} at {self.server.display} (schema {self.schema})"

    # --- SQL --------------------------------------------------------------------------

    def _statements(self) -> dict[str, str]:
        s = f'"{self.schema}"'
        run_select = ", ".join(
            f'"{c}"::text' if c in _RUN_JSON else f'"{c}"' for c in _RUN_COLUMNS
        )
        task_select = ", ".join(
            f'"{c}"::text' if c in _TASK_JSON else f'"{c}"' for c in _TASK_COLUMNS
        )
        run_insert = ", ".join(
            "%s::json" if c in _RUN_JSON else "%s" for c in _RUN_COLUMNS
        )
        # %b: the arrays travel in binary (no escaping of each element: 5x faster)
        arrays = ", ".join(
            "%b::text[]::json[]" if c in _TASK_JSON
            else f"%b::{_TASK_TYPES.get(c, 'text')}[]"
            for c in _TASK_COLUMNS
        )
        updates = ", ".join(
            f"{_quote(c)} = excluded.{_quote(c)}"
            for c in _TASK_COLUMNS
            if c not in ("run_id", "step", "index")
        )
        task_columns = ", ".join(_quote(c) for c in _TASK_COLUMNS)
        return {
            "s": s,
            "run_select": run_select,
            "task_select": task_select,
            "create_run": (
                f"INSERT INTO {s}.runs ({', '.join(_quote(c) for c in _RUN_COLUMNS)}) "
                f"VALUES ({run_insert})"
            ),
            "add_tags": (
                f"INSERT INTO {s}.run_tags (run_id, tag) "
                "SELECT %s, t.tag FROM unnest(%s::text[]) WITH ORDINALITY AS t(tag, n) "
                "ORDER BY t.n ON CONFLICT DO NOTHING"
            ),
            "remove_tags": f"DELETE FROM {s}.run_tags WHERE run_id = %s AND tag = ANY(%s::text[])",
            "record_tasks": (
                f"INSERT INTO {s}.tasks ({task_columns}) SELECT * FROM unnest({arrays}) "
                f'ON CONFLICT (run_id, step, "index") DO UPDATE SET {updates}'
            ),
        }

    # --- connection -------------------------------------------------------------------

    def _open(self) -> psycopg.Connection[Any]:
        """A new autocommit connection (no schema check)."""
        import psycopg

        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, round(self.connect_timeout)),
            "application_name": "lamina",
            "autocommit": True,
        }
        if self.server.password:
            kwargs["password"] = self.server.password
        try:
            return psycopg.connect(self.server.url, **kwargs)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self._open()
        import psycopg

        try:
            self._prepare(conn)
        except psycopg.Error as exc:
            broken = conn.closed or conn.broken
            conn.close()
            text = self.server.mask(_one_line(str(exc)))
            if broken:
                raise BackendUnreachableError(f"{self.where}: cannot connect: {text}",
                                              hint="check that PostgreSQL answers (pg_isready)"
                                              ) from None
            raise MetadataError(
                f"{self.where}: cannot create or update the schema: {text}",
                hint="let the role create tables in the database (GRANT CREATE ON DATABASE "
                "... / ON SCHEMA ...), or have its owner run `lamina metadata migrate "
                f"--stack {self.stack or 'NAME'}`",
            ) from None
        except BaseException:
            conn.close()
            raise
        self._connected_once = True
        return conn

    def _connect_error(self, exc: Exception) -> BackendUnreachableError:
        text = self.server.mask(_one_line(str(exc)))
        low = text.lower()
        for needle, what, hint in _PERMANENT_CONNECT:
            if needle in low and (needle != "role" or "does not exist" in low):
                hint = hint.replace("HOST", self.server.host or "localhost").replace(
                    "PORT", self.server.port or "5432").replace(
                    "createdb -h localhost -p 5432 NAME", "createdb NAME").replace(
                    "NAME", (self.server.dbname if "createdb" in hint else self.server.user)
                    or "NAME")
                return BackendUnreachableError(
                    f"{self.where}: cannot connect: {what + ' (' if what else ''}{text}"
                    f"{')' if what else ''}",
                    hint=hint,
                )
        return BackendUnreachableError(
            f"{self.where}: cannot connect: {text}",
            hint=f"check that PostgreSQL runs and answers at {self.server.host or 'localhost'}"
            f"{':' + self.server.port if self.server.port else ''} (pg_isready), and the "
            "url in the stack",
        )

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Check the schema's version on a new connection; create or migrate it when
        allowed."""
        version = self._schema_version(conn)
        if version > migrations.SCHEMA_VERSION:
            raise MetadataError(
                f"{self.where}: the database has schema version {version}, newer than this "
                f"lamina-metadata-postgres knows (version {migrations.SCHEMA_VERSION})",
                hint="upgrade the plugin on this machine: pip install -U "
                "lamina-metadata-postgres (a newer lamina migrated this database)",
            )
        if version < migrations.SCHEMA_VERSION:
            if not self.auto_migrate:
                raise MetadataError(
                    f"{self.where}: the database has schema version {version}, this plugin "
                    f"needs version {migrations.SCHEMA_VERSION}",
                    hint=f"lamina metadata migrate --stack {self.stack or 'NAME'}",
                )
            self._migrate(conn)

    def _schema_version(self, conn: psycopg.Connection[Any]) -> int:
        exists = conn.execute(
            "SELECT to_regclass(%s)", (f'"{self.schema}".schema_version',)
        ).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute(
            f"SELECT coalesce(max(version), 0) FROM {self._sql['s']}.schema_version"
        ).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, conn: psycopg.Connection[Any]) -> tuple[int, int]:
        """Apply the missing migrations in one transaction, under an advisory lock so that
        processes starting together migrate once. Returns (version before, after)."""
        s = self._sql["s"]
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"lamina-metadata:{self.schema}",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(migrations.VERSION_TABLE.format(s=s))
            before = self._schema_version(conn)
            if before > migrations.SCHEMA_VERSION:
                return before, before
            user = conn.info.user
            for number in range(before + 1, migrations.SCHEMA_VERSION + 1):
                for statement in migrations.MIGRATIONS[number - 1]:
                    conn.execute(statement.format(s=s))
                conn.execute(
                    f"INSERT INTO {s}.schema_version (version, applied_at, applied_by) "
                    "VALUES (%s, %s, %s)",
                    (number, time.time(), f"{user}@{self._host}"),
                )
        return before, max(before, migrations.SCHEMA_VERSION)

    def migrate(self) -> tuple[int, int]:
        """Create the schema or bring it up to date (what ``lamina metadata migrate``
        does): ``(version before, version after)``. A newer schema raises
        :class:`lamina.sdk.MetadataError`."""
        import psycopg

        with self._lock:
            self.close()
            conn = self._open()
            try:
                before = self._schema_version(conn)
                if before > migrations.SCHEMA_VERSION:
                    self._prepare(conn)  # raises the newer-schema error
                return self._migrate(conn)
            except psycopg.Error as exc:
                raise MetadataError(
                    f"{self.where}: migration failed: {self.server.mask(_one_line(str(exc)))}",
                    hint="the migration ran in one transaction and changed nothing; fix the "
                    "cause (often: the role may not create tables in the database) and rerun "
                    "`lamina metadata migrate`",
                ) from None
            finally:
                conn.close()

    def schema_version(self) -> int:
        """The version of the database's schema (0 before the first migration)."""
        return self._call("read the schema version", lambda conn, _: self._schema_version(conn))

    def _connection(self) -> psycopg.Connection[Any]:
        pid = os.getpid()
        if self._conn is not None and self._pid != pid:
            _ABANDONED.append(self._conn)  # the parent's: closing it here would end its session
            self._conn = None
        if self._conn is not None and self._conn.closed:
            self._conn = None
        if self._conn is None:
            self._conn = self._connect()
            self._pid = pid
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def close(self) -> None:
        """Close this process's connection (it reopens on next use)."""
        with self._lock:
            self._drop_connection()

    def _call(
        self,
        what: str,
        operation: Callable[[psycopg.Connection[Any], int], T],
        *,
        run_id: str = "",
    ) -> T:
        """Run ``operation(conn, attempt)`` on this process's connection; on a lost
        connection (or a deadlock) reconnect and try again, at most ``retries`` times."""
        import psycopg

        attempt = 0
        started = time.monotonic()
        # right after giving up, fail fast: a run's clean-up calls (flush, finish) must not
        # each wait through the whole back-off again
        since = time.monotonic() - self._gave_up_at
        retries = 0 if since < 30 else self.retries
        reason = ""
        while True:
            try:
                with self._lock:
                    try:
                        conn = self._connection()
                    except BackendUnreachableError as exc:
                        if not self._connected_once:
                            raise  # the first connection of this process: fail at once
                        raise _Retry(exc.message.split(": cannot connect: ", 1)[-1]) from None
                    try:
                        result = operation(conn, attempt)
                    except psycopg.Error as exc:
                        state = getattr(exc, "sqlstate", None) or ""
                        if (
                            conn.closed or conn.broken or state in _RETRY_STATES
                            or (isinstance(exc, psycopg.OperationalError) and not state)
                        ):
                            self._drop_connection()
                            raise _Retry(self.server.mask(_one_line(str(exc)))) from None
                        raise self._error(what, exc) from None
                self._gave_up_at = -1e9
                return result
            except _Retry as retry:
                reason = retry.reason
                attempt += 1
                if attempt > retries:
                    resume = (
                        f"; the run stays resumable: `lamina resume {run_id}` once the "
                        "server is back" if run_id else ""
                    )
                    tried = (
                        f"it was already unreachable {since:.0f} s ago and still is"
                        if since < 30 else
                        f"{attempt} attempt{'s' if attempt > 1 else ''} over "
                        f"{time.monotonic() - started:.1f} s failed"
                    )
                    self._gave_up_at = time.monotonic()
                    raise BackendUnreachableError(
                        f"{self.where}: could not {what}: the connection to the server was "
                        f"lost and {tried} ({reason})",
                        hint=f"check that PostgreSQL answers at {self.server.display} "
                        f"(pg_isready; `lamina stack check --stack {self.stack or 'NAME'}`)"
                        f"{resume}",
                    ) from None
                time.sleep(min(4.0, self.retry_wait * 2 ** (attempt - 1)))

    def _error(self, what: str, exc: Exception) -> MetadataError:
        text = self.server.mask(_one_line(str(exc)))
        return MetadataError(
            f"{self.where}: could not {what}: {text}",
            hint="run `lamina stack check`; if the schema was changed by hand, "
            "`lamina metadata migrate` repairs what migrations created",
        )

    # --- rows <-> records ---------------------------------------------------------------

    def _run_row(self, run: RunRecord) -> list[Any]:
        row = []
        for name in _RUN_COLUMNS:
            value = getattr(run, name, "")
            if name in _RUN_JSON:
                value = encode_field(
                    list(value) if name == "steps" else value, f"{name} of run {run.run_id}"
                )
            elif isinstance(value, str) and "\x00" in value:
                raise MetadataError(
                    f"cannot record {name} of run {run.run_id}: it holds a NUL character",
                    hint="strip NUL characters from recorded strings",
                )
            row.append(value)
        return row

    @staticmethod
    def _fetch(
        conn: psycopg.Connection[Any], sql: str, args: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """All rows of a query, transferred in binary (floats and booleans need no
        parsing: a third faster on 10,000 runs)."""
        with conn.cursor(binary=True) as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def _runs_from_rows(
        self,
        conn: psycopg.Connection[Any],
        rows: list[tuple[Any, ...]],
        runs_sql: tuple[str, Sequence[Any]],
    ) -> list[RunRecord]:
        """Records from rows of ``SELECT run_select``; ``runs_sql`` (SQL and arguments)
        selects the same runs' ids, so their tags come from one query over it (sending
        10,000 ids back to the server costs more than selecting them again)."""
        if not rows:
            return []
        tags: dict[str, list[str]] = {}
        subquery, args = runs_sql
        with conn.cursor(binary=True) as cur:
            cur.execute(
                f"SELECT run_id, tag FROM {self._sql['s']}.run_tags "
                f"WHERE run_id IN ({subquery}) ORDER BY added",
                args,
            )
            for run_id, tag in cur.fetchall():
                found = tags.get(run_id)
                if found is None:
                    tags[run_id] = [tag]
                else:
                    found.append(tag)
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        for position, name in enumerate(_RUN_COLUMNS):
            kind = _RUN_JSON.get(name)
            if kind is None:
                continue
            values = _decode_column(columns[position])
            if kind is tuple:
                columns[position] = [tuple(v) if v is not None else () for v in values]
            else:
                columns[position] = [v if type(v) is dict else kind() for v in values]
        get_tags = tags.get
        columns.insert(_TAGS_POSITION, [tuple(get_tags(rid, ())) for rid in columns[0]])
        fields = columns
        runs = [RunRecord(*values) for values in zip(*fields, strict=True)]
        return with_crashed(runs, self._host)

    @staticmethod
    def _tasks_from_rows(rows: list[tuple[Any, ...]]) -> list[TaskRecord]:
        if not rows:
            return []
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        for position, name in enumerate(_TASK_COLUMNS):
            if name not in _TASK_JSON:
                continue
            values = _decode_column(columns[position])
            if name == "output":
                columns[position] = [
                    ArtifactRef.from_dict(v) if v is not None else None for v in values
                ]
            elif name == "data_inputs":
                columns[position] = [v if type(v) is list else [] for v in values]
            else:
                columns[position] = [v if type(v) is dict else {} for v in values]
        return [TaskRecord(*values) for values in zip(*columns, strict=True)]

    def _task_arrays(self, tasks: Sequence[TaskRecord]) -> list[list[Any]]:
        """One list per task column (the batch deduplicated by key, the last one winning,
        and sorted by key so that concurrent batches lock rows in one order)."""
        latest: dict[tuple[str, str, int], TaskRecord] = {}
        for task in tasks:
            latest[(task.run_id, task.step, task.index)] = task
        ordered = [latest[key] for key in sorted(latest)]
        arrays: list[list[Any]] = []
        for name in _TASK_COLUMNS:
            values = [getattr(task, name) for task in ordered]
            if name == "output":
                values = [
                    None if v is None else encode_field(v.to_dict(), f"output of task {t.task_id}")
                    for v, t in zip(values, ordered, strict=True)
                ]
            elif name in _TASK_JSON:
                values = [
                    encode_field(v, f"{name} of task {t.task_id}")
                    for v, t in zip(values, ordered, strict=True)
                ]
            elif name not in _TASK_TYPES and "\x00" in "".join(values):
                raise MetadataError(
                    f"cannot record {name} of a task of run {ordered[0].run_id}: it holds a "
                    "NUL character",
                    hint="strip NUL characters from recorded strings",
                )
            arrays.append(values)
        return arrays

    def _resolve(self, conn: psycopg.Connection[Any], ref: str) -> str:
        """A run id from a full id or a unique prefix of one."""
        s = self._sql["s"]
        if ref and conn.execute(f"SELECT 1 FROM {s}.runs WHERE run_id = %s", (ref,)).fetchone():
            return ref
        matches = (
            []
            if not ref
            else [
                r[0]
                for r in conn.execute(
                    f"SELECT run_id FROM {s}.runs WHERE run_id >= %s AND run_id < %s "
                    "ORDER BY run_id DESC LIMIT 11",
                    (ref, ref + "\U0010ffff"),
                )
            ]
        )
        if len(matches) == 1:
            return str(matches[0])
        if not matches:
            raise RunNotFoundError(
                f"no run {ref!r} in the metadata store at {self.server.display} "
                f"(stack {self.stack or '?'}, schema {self.schema})",
                hint="`lamina runs` lists the runs (a unique prefix of an id is enough)",
            )
        shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
        raise RunNotFoundError(
            f"run prefix {ref!r} is ambiguous: it matches {shown}",
            hint="give more characters of the run id",
        )

    def _assert_open(
        self, conn: psycopg.Connection[Any], run_ids: Sequence[str], what: str, lock: str
    ) -> dict[str, tuple[str, float | None, str]]:
        """Lock the runs' rows (``FOR SHARE`` / ``FOR UPDATE``) and check they are open;
        returns each run's (status, finished_at, error)."""
        rows = conn.execute(
            f"SELECT run_id, status, finished_at, error FROM {self._sql['s']}.runs "
            f"WHERE run_id = ANY(%s) ORDER BY run_id FOR {lock}",
            (list(run_ids),),
        ).fetchall()
        found = {r[0]: (r[1], r[2], r[3]) for r in rows}
        for run_id in run_ids:
            if run_id not in found:
                raise RunNotFoundError(
                    f"cannot {what}: no run {run_id!r} in the metadata store at "
                    f"{self.server.display} (schema {self.schema})",
                    hint="create the run (create_run) before recording its tasks",
                )
        return found

    @staticmethod
    def _immutable(what: str, run_id: str, status: str) -> ImmutableRunError:
        return ImmutableRunError(
            f"cannot {what}: run {run_id} is finished ({status}) and immutable",
            hint="start a new run (`lamina resume RUN` reruns what failed); "
            "only tags may be added to a finished run",
        )

    # --- MetadataStore ----------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Record a new run. A run id already present raises
        :class:`lamina.sdk.MetadataError` (a run is never overwritten)."""
        import psycopg

        row = self._run_row(run)
        tags = list(dict.fromkeys(run.tags))

        def create(conn: psycopg.Connection[Any], attempt: int) -> None:
            try:
                with conn.transaction():
                    conn.execute(self._sql["create_run"], row)
                    if tags:
                        conn.execute(self._sql["add_tags"], (run.run_id, tags))
            except psycopg.errors.UniqueViolation:
                if attempt and self._is_ours(conn, run):
                    return  # our first try committed before the connection dropped
                raise MetadataError(
                    f"run {run.run_id} already exists in the metadata store at "
                    f"{self.server.display} (schema {self.schema})",
                    hint="make each run's id with a fresh id (lamina makes one per run)",
                ) from None

        self._call(f"record run {run.run_id}", create, run_id=run.run_id)

    def _is_ours(self, conn: psycopg.Connection[Any], run: RunRecord) -> bool:
        found = conn.execute(
            f"SELECT flow, started_at, host, pid FROM {self._sql['s']}.runs WHERE run_id = %s",
            (run.run_id,),
        ).fetchone()
        return found is not None and tuple(found) == (run.flow, run.started_at, run.host, run.pid)

    def finish_run(self, run_id: str, *, status: str, finished_at: float, error: str = "") -> None:
        """Close a run with its final status. Finishing it twice raises
        :class:`lamina.sdk.ImmutableRunError`."""
        what = f"finish run {run_id}"

        def finish(conn: psycopg.Connection[Any], attempt: int) -> None:
            with conn.transaction():
                current, finished, recorded_error = self._assert_open(
                    conn, [run_id], what, "UPDATE"
                )[run_id]
                if finished is not None:
                    if attempt and (current, finished, recorded_error) == (
                        status, finished_at, error
                    ):
                        return  # our first try committed before the connection dropped
                    raise self._immutable(what, run_id, current)
                conn.execute(
                    f"UPDATE {self._sql['s']}.runs SET status = %s, finished_at = %s, "
                    "error = %s WHERE run_id = %s",
                    (status, finished_at, error, run_id),
                )

        self._call(what, finish, run_id=run_id)

    def record_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Insert or update task records (keyed by run, step, index) with one statement
        in one transaction. Tasks of a finished run raise
        :class:`lamina.sdk.ImmutableRunError` and nothing is written."""
        if not tasks:
            return
        arrays = self._task_arrays(tasks)
        run_ids = sorted({task.run_id for task in tasks})

        def record(conn: psycopg.Connection[Any], attempt: int) -> None:
            with conn.transaction():
                states = self._assert_open(conn, run_ids, "record tasks", "SHARE")
                for run_id in run_ids:
                    status, finished, _ = states[run_id]
                    if finished is not None:
                        raise self._immutable("record tasks", run_id, status)
                conn.execute(self._sql["record_tasks"], arrays)

        self._call(f"record {len(tasks)} tasks", record, run_id=run_ids[0])

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Add tags to a run, finished or not; a tag it already has is ignored."""
        if isinstance(tags, str):
            tags = [tags]
        wanted = list(dict.fromkeys(tags))

        def add(conn: psycopg.Connection[Any], attempt: int) -> None:
            with conn.transaction():
                full_id = self._resolve(conn, run_id)
                if wanted:
                    conn.execute(self._sql["add_tags"], (full_id, wanted))

        self._call(f"tag run {run_id}", add)

    def remove_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Remove tags from a run, finished or not; a tag it does not have is ignored."""
        if isinstance(tags, str):
            tags = [tags]
        unwanted = list(dict.fromkeys(tags))

        def remove(conn: psycopg.Connection[Any], attempt: int) -> None:
            with conn.transaction():
                full_id = self._resolve(conn, run_id)
                if unwanted:
                    conn.execute(self._sql["remove_tags"], (full_id, unwanted))

        self._call(f"untag run {run_id}", remove)

    def get_run(self, run_id: str) -> RunRecord:
        """One run, by id or by a unique prefix of its id."""

        def get(conn: psycopg.Connection[Any], attempt: int) -> RunRecord:
            full_id = self._resolve(conn, run_id)
            rows = self._fetch(
                conn,
                f"SELECT {self._sql['run_select']} FROM {self._sql['s']}.runs "
                "WHERE run_id = %s",
                (full_id,),
            )
            return self._runs_from_rows(conn, rows, ("%s", (full_id,)))[0]

        return self._call(f"read run {run_id}", get)

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
        ``status="crashed"`` finds running runs whose process (on this host) is gone."""
        s = self._sql["s"]
        where: list[str] = []
        args: list[Any] = []
        if namespace is not None:
            condition, values = namespace_condition(namespace, "%s")
            where.append(condition)
            args.extend(values)
        if flow is not None:
            where.append("flow = %s")
            args.append(flow)
        if tag is not None:
            where.append(f"run_id IN (SELECT run_id FROM {s}.run_tags WHERE tag = %s)")
            args.append(tag)
        live_status = status in ("running", "crashed")
        if status is not None:
            where.append("status = 'running'" if live_status else "status = %s")
            if not live_status:
                args.append(status)
        sql = f" FROM {s}.runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = " ORDER BY run_id DESC"
        if limit is not None and not live_status:
            order += f" LIMIT {max(0, int(limit))}"
        # the tags of the same runs: the order matters only to a LIMIT
        runs_sql = "SELECT run_id" + sql + (order if "LIMIT" in order else "")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[RunRecord]:
            rows = self._fetch(conn, f"SELECT {self._sql['run_select']}" + sql + order, args)
            return self._runs_from_rows(conn, rows, (runs_sql, args))

        runs = self._call("list runs", read)
        if live_status:
            runs = [run for run in runs if run.status == status]
            if limit is not None:
                runs = runs[: max(0, int(limit))]
        return runs

    def list_tasks(self, run_id: str, step: str | None = None) -> list[TaskRecord]:
        """A run's tasks in the run's step order, then by index."""
        s = self._sql["s"]

        def read(conn: psycopg.Connection[Any], attempt: int) -> tuple[list[str], list[Any]]:
            full_id = self._resolve(conn, run_id)
            found = conn.execute(
                f"SELECT steps::text FROM {s}.runs WHERE run_id = %s", (full_id,)
            ).fetchone()
            sql = f"SELECT {self._sql['task_select']} FROM {s}.tasks WHERE run_id = %s"
            args: list[Any] = [full_id]
            if step is not None:
                sql += " AND step = %s"
                args.append(step)
            rows = self._fetch(conn, sql + ' ORDER BY step, "index"', args)
            return json.loads(found[0] if found and found[0] else "[]"), rows

        steps, rows = self._call(f"list the tasks of run {run_id}", read)
        return in_step_order(self._tasks_from_rows(rows), steps)

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        """The newest succeeded (or reused) task with this cache key, or None."""
        if not cache_key:
            return None

        def find(conn: psycopg.Connection[Any], attempt: int) -> list[Any]:
            return conn.execute(
                f"SELECT {self._sql['task_select']} FROM {self._sql['s']}.tasks "
                "WHERE cache_key = %s AND status IN ('succeeded', 'reused') "
                "ORDER BY run_id DESC, finished_at DESC NULLS LAST LIMIT 1",
                (cache_key,),
            ).fetchall()

        rows = self._call("look up a cached task", find)
        return self._tasks_from_rows(rows)[0] if rows else None

    def list_flows(self, *, namespace: str | None = None) -> list[str]:
        """Names of the flows that have runs (in ``namespace``, if given), sorted."""
        sql, args = f"SELECT DISTINCT flow FROM {self._sql['s']}.runs", list[str]()
        if namespace is not None:
            condition, args = namespace_condition(namespace, "%s")
            sql += f" WHERE {condition}"

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[str]:
            return [r[0] for r in conn.execute(sql + " ORDER BY flow", args)]

        return self._call("list flows", read)

    def list_namespaces(self) -> list[str]:
        """The namespaces that have runs, sorted (a record without one counts in
        ``user:<its user>``)."""
        sql = (f"SELECT DISTINCT {NAMESPACE_OF_ROW} AS ns FROM {self._sql['s']}.runs "
               "ORDER BY ns")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[str]:
            return [r[0] for r in conn.execute(sql)]

        return self._call("list namespaces", read)

    # --- the model registry's records ---------------------------------------------------

    def _lock_model(self, conn: psycopg.Connection[Any], namespace: str, name: str) -> None:
        """Serialize writers of one model (inside their transaction): version numbers and
        an alias's ``previous`` are read then written, never by two at once."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 24))",
                     (f"lamina-model {self.schema} {namespace} {name}",))

    def register_model_version(self, version: ModelVersion) -> ModelVersion:
        """Store the next version of ``version.name`` in its namespace: the number is
        allocated under a transaction-scoped advisory lock on the name, so concurrent
        processes never get the same one. A retry after a lost connection first looks for
        the version its earlier try may have committed (same reference, user and time), so
        one registration never makes two versions."""
        s = self._sql["s"]
        metadata = encode_field(dict(version.metadata), "model version metadata")

        def register(conn: psycopg.Connection[Any], attempt: int) -> int:
            with conn.transaction():
                self._lock_model(conn, version.namespace, version.name)
                if attempt:
                    done = conn.execute(
                        f"SELECT version FROM {s}.model_versions WHERE namespace = %s "
                        "AND name = %s AND ref = %s AND registered_by = %s "
                        "AND registered_at = %s",
                        (version.namespace, version.name, version.ref,
                         version.registered_by, version.registered_at),
                    ).fetchone()
                    if done is not None:
                        return int(done[0])  # our first try committed before the drop
                row = conn.execute(
                    f"SELECT coalesce(max(version), 0) FROM {s}.model_versions "
                    "WHERE namespace = %s AND name = %s", (version.namespace, version.name),
                ).fetchone()
                number = int(row[0] if row else 0) + 1
                conn.execute(
                    f"INSERT INTO {s}.model_versions (namespace, name, version, ref, run_id, "
                    "registered_by, registered_at, metadata) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json)",
                    (version.namespace, version.name, number, version.ref, version.run_id,
                     version.registered_by, version.registered_at, metadata),
                )
                return number

        number = self._call(f"register model {version.name}", register)
        return attrs.evolve(version, version=number, aliases=())

    def list_model_versions(self, namespace: str, name: str) -> list[ModelVersion]:
        """Every version of ``name`` in ``namespace``, oldest first."""
        columns = ", ".join(
            f"{_quote(c)}::text" if c == "metadata" else _quote(c) for c in MODEL_VERSION_COLUMNS)
        sql = (f"SELECT {columns} FROM {self._sql['s']}.model_versions "
               "WHERE namespace = %s AND name = %s ORDER BY version")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[Any]:
            return conn.execute(sql, (namespace, name)).fetchall()

        return [model_version_from_row(r) for r in self._call(f"list versions of {name}", read)]

    def list_model_names(self, namespace: str) -> list[str]:
        """The names registered in ``namespace``, sorted."""
        sql = (f"SELECT DISTINCT name FROM {self._sql['s']}.model_versions "
               "WHERE namespace = %s ORDER BY name")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[str]:
            return [r[0] for r in conn.execute(sql, (namespace,))]

        return self._call("list model names", read)

    def record_alias_change(self, namespace: str, change: AliasChange) -> AliasChange:
        """Append an alias move, its ``previous`` read in the same transaction."""
        s = self._sql["s"]

        def record(conn: psycopg.Connection[Any], attempt: int) -> AliasChange:
            with conn.transaction():
                self._lock_model(conn, namespace, change.name)
                if change.version is not None and conn.execute(
                    f"SELECT 1 FROM {s}.model_versions "
                    "WHERE namespace = %s AND name = %s AND version = %s",
                    (namespace, change.name, change.version),
                ).fetchone() is None:
                    raise ModelNotFoundError(
                        f"model {change.name!r} has no version {change.version} in {namespace}",
                        hint=f"`lamina model versions {change.name}` lists its versions",
                    )
                row = conn.execute(
                    f"SELECT version FROM {s}.model_alias_changes WHERE namespace = %s "
                    "AND name = %s AND alias = %s ORDER BY seq DESC LIMIT 1",
                    (namespace, change.name, change.alias),
                ).fetchone()
                recorded = attrs.evolve(change, previous=row[0] if row else None)
                conn.execute(
                    f"INSERT INTO {s}.model_alias_changes (namespace, name, alias, version, "
                    'previous, "user", at, reason, forced) '
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (namespace, recorded.name, recorded.alias, recorded.version,
                     recorded.previous, recorded.user, recorded.at, recorded.reason,
                     recorded.forced),
                )
                return recorded

        return self._call(f"move alias {change.alias} of {change.name}", record)

    def list_alias_changes(self, namespace: str, name: str) -> list[AliasChange]:
        """Every alias move of ``name`` in ``namespace``, oldest first."""
        columns = ", ".join(_quote(c) for c in ALIAS_CHANGE_COLUMNS)
        sql = (f"SELECT {columns} FROM {self._sql['s']}.model_alias_changes "
               "WHERE namespace = %s AND name = %s ORDER BY seq")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[Any]:
            return conn.execute(sql, (namespace, name)).fetchall()

        return [alias_change_from_row(r) for r in self._call(f"read history of {name}", read)]

    def record_model_check(self, namespace: str, name: str, version: int,
                           result: Mapping[str, Any]) -> None:
        """Append a check result of a version."""
        text = encode_field(dict(result), "model check result")
        sql = (f"INSERT INTO {self._sql['s']}.model_checks (namespace, name, version, result) "
               "VALUES (%s, %s, %s, %s::json)")

        def record(conn: psycopg.Connection[Any], attempt: int) -> None:
            conn.execute(sql, (namespace, name, int(version), text))

        self._call(f"record a check of {name}/{version}", record)

    def list_model_checks(self, namespace: str, name: str,
                          version: int | None = None) -> list[dict[str, Any]]:
        """Check results of ``name`` (of one version, if given), oldest first."""
        sql = (f"SELECT version, result::text FROM {self._sql['s']}.model_checks "
               "WHERE namespace = %s AND name = %s")
        args: list[Any] = [namespace, name]
        if version is not None:
            sql += " AND version = %s"
            args.append(int(version))

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[Any]:
            return conn.execute(sql + " ORDER BY seq", args).fetchall()

        return [check_result_from_row(r) for r in self._call(f"read checks of {name}", read)]

    # --- retention (lamina gc, lamina runs --delete) -----------------------------------

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete runs with their tasks and tags, in one transaction; how many runs were
        deleted (unknown ids are ignored). Which runs may go is the caller's decision."""
        wanted = sorted(set(run_ids))
        if not wanted:
            return 0
        s = self._sql["s"]

        def delete(conn: psycopg.Connection[Any], attempt: int) -> int:
            with conn.transaction():
                conn.execute(f"DELETE FROM {s}.tasks WHERE run_id = ANY(%s::text[])", (wanted,))
                conn.execute(f"DELETE FROM {s}.run_tags WHERE run_id = ANY(%s::text[])",
                             (wanted,))
                cur = conn.execute(f"DELETE FROM {s}.runs WHERE run_id = ANY(%s::text[])",
                                   (wanted,))
                return int(cur.rowcount or 0)

        return self._call(f"delete {len(wanted)} runs", delete)

    def referenced_run_ids(self) -> list[str]:
        """Ids of the runs that registered model versions point at (``model_versions``),
        distinct and sorted: retention keeps them."""
        sql = (f"SELECT DISTINCT run_id FROM {self._sql['s']}.model_versions "
               "WHERE run_id != '' ORDER BY run_id")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[str]:
            return [r[0] for r in conn.execute(sql)]

        return self._call("list the runs model versions point at", read)

    def runs_reusing(self, run_id: str) -> list[str]:
        """Ids of the other runs with a task that reused a result of ``run_id`` (its
        ``reused_from`` names one of its tasks), sorted."""
        sql = (f"SELECT DISTINCT run_id FROM {self._sql['s']}.tasks "
               "WHERE starts_with(reused_from, %s) AND run_id != %s ORDER BY run_id")

        def read(conn: psycopg.Connection[Any], attempt: int) -> list[str]:
            return [r[0] for r in conn.execute(sql, (run_id + "/", run_id))]

        return self._call(f"list the runs reusing results of {run_id}", read)

    def check(self) -> str:
        """Connect (creating or migrating the schema if allowed), count runs: a one-line
        summary, or :class:`lamina.sdk.BackendUnreachableError` saying why the store is
        unusable."""

        def count(conn: psycopg.Connection[Any], attempt: int) -> tuple[int, int]:
            runs = conn.execute(f"SELECT count(*) FROM {self._sql['s']}.runs").fetchone()
            return (int(runs[0]) if runs else 0), self._schema_version(conn)

        try:
            runs, version = self._call("count runs", count)
        except MetadataError as exc:
            raise BackendUnreachableError(exc.message, hint=exc.hint) from None
        return (
            f"postgres metadata at {self.server.display} (schema {self.schema}, version "
            f"{version}): {runs} run{'s' if runs != 1 else ''}"
        )
