"""The builtin ``sqlite`` data source: queries and tables of a SQLite file into Arrow.

SQLite's columns have no fixed type, so each result column's Arrow type is inferred from
its values (integers -> int64, reals -> float64, text -> string, blobs -> binary; a column
of integers and reals -> float64); a column mixing text and numbers has no Arrow type and
is an error naming the column. Dates, decimals and JSON are stored as text by SQLite and
come back as strings.

Version: the database file's size and modification time (and its WAL file's), hashed:
``version_kind = "files"``. Any write to the file changes it, so a cached step is never
reused after the database changed (and may be recomputed after an unrelated write).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead, jsonable_params
from lamina.sqltext import bind_params

_ROWS_PER_BATCH = 65_536


def sqlite_path(url: str, stack: Any) -> str:
    """The file of a ``sqlite:///...`` URL or a path, relative to the project root."""
    path = url
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if path.startswith("/"):
            path = path[1:]  # sqlite:///rel.db -> rel.db, sqlite:////abs.db -> /abs.db
    if path in ("", ":memory:"):
        return ":memory:"
    return str(stack.resolve_path(path)) if stack is not None else path


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteSource:
    """A SQLite file read with Python's sqlite3 (see the module's docstring)."""

    plugin = "sqlite"

    def __init__(self, name: str, path: str, *, timeout: float = 30.0) -> None:
        self.name = name
        self.path = path
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<SqliteSource {self.name!r}: {self.path}>"

    def _error(self, text: str, hint: str | None = None) -> DataSourceError:
        return DataSourceError(f"data source {self.name!r} (sqlite {self.path}): {text}",
                               source=self.name, hint=hint)

    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        if self.path != ":memory:" and not create and not os.path.exists(self.path):
            raise self._error("the database file does not exist",
                              hint="check the source's url in the stack (relative paths are "
                              "relative to the project root)")
        try:
            if create and self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise self._error(f"cannot open the database: {exc}") from None

    # ---------------------------------------------------------------- reading

    def read(
        self,
        query: str | None = None,
        *,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        table: str | None = None,
        filter: Any = None,
        columns: Sequence[str] | None = None,
        as_of: str | None = None,
    ) -> DataRead:
        """Run ``query`` (``?``, ``:name`` or ``%(name)s`` placeholders, bound by sqlite3)
        or read ``table`` (``columns`` chosen; ``filter`` is not supported: write a query)."""
        if as_of is not None:
            raise self._error("SQLite keeps no old versions, so as_of cannot be read",
                              hint="drop as_of, or keep a copy of the database file per version")
        if filter is not None:
            raise self._error("a table read takes no filter on SQL sources",
                              hint="write the condition in a query: lamina.data.read(source, "
                              "'select ... where ...', params=...)")
        if table is not None:
            cols = ", ".join(_quote(c) for c in columns) if columns else "*"
            sql, bound = f"SELECT {cols} FROM {_quote(table)}", None
        else:
            assert query is not None
            try:
                sql, bound = bind_params(query, params, "colon")
            except KeyError as missing:
                raise self._error(f"the query uses %({missing.args[0]})s, which params does "
                                  "not give", hint="add it to params=") from None
        version = self._version()
        conn = self._connect()
        try:
            try:
                cursor = conn.execute(sql, bound if bound is not None else ())
            except sqlite3.Error as exc:
                raise self._sql_error(exc, table) from None
            names = [d[0] for d in cursor.description or ()]
            data = self._to_arrow(cursor, names)
        finally:
            conn.close()
        return DataRead(table=data, input=DataInput(
            source=self.name, plugin=self.plugin, query=query, params=jsonable_params(params),
            table=table, columns=tuple(columns) if columns else None,
            version=version, version_kind="files" if version else "none",
        ))

    def _sql_error(self, exc: sqlite3.Error, table: str | None) -> DataSourceError:
        text = str(exc)
        if table is not None and "no such table" in text:
            return self._error(f"no table {table!r} ({text})",
                               hint="check the table's name (sqlite: .tables lists them)")
        return self._error(f"SQL error: {text}",
                           hint="fix the query (SQLite reports the failing token above)")

    def _to_arrow(self, cursor: sqlite3.Cursor, names: list[str]) -> Any:
        import pyarrow as pa

        batches: list[list[Any]] = []
        columns: list[list[Any]] = [[] for _ in names]
        while True:
            rows = cursor.fetchmany(_ROWS_PER_BATCH)
            if not rows:
                break
            batches.append(rows)
        for rows in batches:
            for i, column in enumerate(zip(*rows, strict=True)):
                columns[i].extend(column)
        arrays = []
        for name, values in zip(names, columns, strict=True):
            try:
                arrays.append(pa.array(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                kinds = sorted({type(v).__name__ for v in values if v is not None})
                raise self._error(
                    f"column {name!r} holds values of several types ({', '.join(kinds)}), "
                    "which no single Arrow type holds",
                    hint=f"cast it in the query: CAST({name} AS TEXT) (or REAL, INTEGER)",
                ) from None
        return pa.table(arrays, names=names) if names else pa.table({})

    # ---------------------------------------------------------------- writing

    def write(self, table: str, data: Any, *, mode: Literal["append", "overwrite"] = "append"
              ) -> int:
        """Append (or overwrite) ``table``'s rows in one transaction; the table is created
        from the data's schema when it does not exist."""
        import pyarrow as pa

        data = data if isinstance(data, pa.Table) else pa.table(data)
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                exists = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                if not exists:
                    conn.execute(f"CREATE TABLE {_quote(table)} ("
                                 + ", ".join(f"{_quote(f.name)} {_sqlite_type(f.type)}"
                                             for f in data.schema) + ")")
                elif mode == "overwrite":
                    conn.execute(f"DELETE FROM {_quote(table)}")
                marks = ", ".join("?" for _ in data.schema)
                cols = ", ".join(_quote(n) for n in data.column_names)
                sql = f"INSERT INTO {_quote(table)} ({cols}) VALUES ({marks})"
                for batch in data.to_batches(_ROWS_PER_BATCH):
                    values = [_sqlite_values(c) for c in batch.columns]
                    conn.executemany(sql, zip(*values, strict=True))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(f"cannot write table {table!r}: {exc}",
                              hint="check that the data's columns match the table's") from None
        finally:
            conn.close()
        return int(data.num_rows)

    # ---------------------------------------------------------------- versions

    def _version(self) -> str | None:
        if self.path == ":memory:":
            return None
        digest = hashlib.sha256()
        for suffix in ("", "-wal"):
            try:
                st = os.stat(self.path + suffix)
            except FileNotFoundError:
                continue
            digest.update(f"{suffix}:{st.st_size}:{st.st_mtime_ns};".encode())
        return digest.hexdigest()[:32]

    def version_of(self, read: DataInput) -> str | None:
        """The database file's current version (any read of this source shares it)."""
        return self._version()

    def check(self) -> str:
        conn = self._connect()
        try:
            count = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                 ).fetchone()[0]
        except sqlite3.Error as exc:
            raise self._error(f"not a readable SQLite database: {exc}") from None
        finally:
            conn.close()
        return f"sqlite {self.path}: {count} tables"


def _sqlite_type(tp: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(tp) or pa.types.is_boolean(tp):
        return "INTEGER"
    if pa.types.is_floating(tp):
        return "REAL"
    if pa.types.is_binary(tp) or pa.types.is_large_binary(tp):
        return "BLOB"
    return "TEXT"


def _sqlite_values(column: Any) -> list[Any]:
    """A column as values sqlite3 binds (dates, decimals and timestamps as ISO text)."""
    import pyarrow as pa

    tp = column.type
    if (pa.types.is_integer(tp) or pa.types.is_floating(tp) or pa.types.is_string(tp)
            or pa.types.is_large_string(tp) or pa.types.is_binary(tp)
            or pa.types.is_boolean(tp)):
        return column.to_pylist()  # type: ignore[no-any-return]
    return [None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))
            for v in column.to_pylist()]
