"""The builtin ``sqlite`` data source: queries and tables of a SQLite file into Arrow.

SQLite's columns have no fixed type. A table the source creates declares each column's
type from the Arrow type written (``INTEGER``, ``REAL``, ``TEXT``, ``BLOB``, ``BOOLEAN``,
``DECIMAL(p,s)``, ``DATE``, ``TIMESTAMP`` for naive and ``TIMESTAMPTZ`` for zoned
timestamps, stored as ISO text in UTC), and a table read maps a column's declared type back
(``DECIMAL``/``NUMERIC(p,s)`` -> decimal128, ``DATE`` -> date32, ``TIMESTAMP``/``DATETIME``
-> timestamp[us], ``TIMESTAMPTZ`` -> timestamp[us, UTC], ``BOOLEAN`` -> bool), so what was
written reads back equal. Any other column, and every column of a query, gets the Arrow
type its values have (integers -> int64, reals -> float64, text -> string, blobs ->
binary; integers and reals -> float64); a column mixing text and numbers has no Arrow type
and is an error naming the column.

A table read takes ``filter``, a DNF list (``[("day", "=", "b")]``; a list of lists is an
OR of ANDs), run as a ``WHERE`` with the values bound by sqlite3.

Version: the database file's size, modification time and change counter (and its WAL
file's size and time), hashed: ``version_kind = "files"``. Any write to the file changes
it, so a cached step is never reused after the database changed (and may be recomputed
after an unrelated write).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from lamina.errors import DataSourceError
from lamina.interfaces.data_source import DataInput, DataRead, arrow_table, jsonable_params
from lamina.sqltext import FILTER_OPERATORS, bind_params, dnf_filter, filter_text, sql_where

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

    def _connect(self, *, create: bool = False, table: str | None = None
                 ) -> sqlite3.Connection:
        if self.path != ":memory:" and not create and not os.path.exists(self.path):
            what = f"no table {table!r}: " if table is not None else ""
            raise self._error(f"{what}the database file does not exist",
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
        or read ``table`` (``columns`` chosen; ``filter`` a DNF list such as
        ``[("day", "=", "b")]``, a list of lists being an OR of ANDs, run as a ``WHERE``
        with its values bound)."""
        from lamina.datastore.hashing import table_digest

        if as_of is not None:
            raise self._error("SQLite keeps no old versions, so as_of cannot be read",
                              hint="drop as_of, or keep a copy of the database file per version")
        if table is not None:
            sql, bound = self._table_sql(table, filter, columns)
        else:
            if filter is not None:
                raise self._error("a query takes no filter (it is for table reads)",
                                  hint="write the condition in the query with params=")
            assert query is not None
            sql, bound = self._bind(query, params)
        version = self._version()
        conn = self._connect(table=table)
        try:
            try:
                declared = _declared_types(conn, table) if table is not None else {}
                if declared:  # a name SQLite would take for a string literal is an error
                    assert table is not None
                    self._check_names(table, declared, filter, columns)
                cursor = conn.execute(sql, bound if bound is not None else ())
            except sqlite3.Error as exc:
                raise self._sql_error(exc, table) from None
            names = [d[0] for d in cursor.description or ()]
            data = self._to_arrow(cursor, names, declared)
        finally:
            conn.close()
        return DataRead(table=data, input=DataInput(
            source=self.name, plugin=self.plugin, query=query,
            params=jsonable_params(params) if query is not None else None,
            table=table, filter=filter_text(filter) if table is not None else None,
            columns=tuple(columns) if columns else None,
            version=version, version_kind="files" if version else "none",
            rows=data.num_rows, content_hash=table_digest(data),
            read_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        ))

    def _bind(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None
              ) -> tuple[str, Any]:
        try:
            return bind_params(sql, params, "colon")
        except KeyError as missing:
            raise self._error(f"the query uses %({missing.args[0]})s, which params does "
                              "not give", hint="add it to params=") from None

    def _check_names(self, table: str, declared: Mapping[str, str], filter: Any,
                     columns: Sequence[str] | None) -> None:
        """Every column a table read names is one of the table's."""
        known = {name.lower() for name in declared}
        named = list(columns or ())
        if filter is not None:
            named += [column for conj in dnf_filter(filter) for column, _op, _v in conj]
        missing = [name for name in named if name.lower() not in known]
        if missing:
            raise self._error(
                f"table {table!r} has no column {missing[0]!r} (it has "
                f"{', '.join(declared)})", hint="name columns the table has")

    def _table_sql(self, table: str, filter: Any, columns: Sequence[str] | None
                   ) -> tuple[str, Any]:
        """The ``SELECT`` of a table read and its bound values."""
        if isinstance(columns, str):
            raise self._error(f"columns={columns!r} is one string",
                              hint=f"pass a list: columns=[{columns!r}]")
        cols = ", ".join(_quote(c) for c in columns) if columns else "*"
        sql = f"SELECT {cols} FROM {_quote(table)}"
        if filter is None:
            return sql, None
        try:
            dnf = dnf_filter(filter)
        except TypeError:
            raise self._error(
                f"the filter {filter!r} of table {table!r} is not a list of (column, op, "
                "value) tuples", hint="write filter=[('day', '=', '2026-01-01')] (a list of "
                f"lists is an OR of ANDs); operators: {', '.join(FILTER_OPERATORS)}",
            ) from None
        if not dnf:
            return sql, None
        where, values = sql_where(dnf, _quote)
        return self._bind(f"{sql} WHERE {where}", {k: _sqlite_param(v)
                                                    for k, v in values.items()})

    def _sql_error(self, exc: sqlite3.Error, table: str | None) -> DataSourceError:
        text = str(exc)
        if table is not None and "no such table" in text:
            return self._error(f"no table {table!r} ({text})",
                               hint="check the table's name (sqlite: .tables lists them)")
        return self._error(f"SQL error: {text}",
                           hint="fix the query (SQLite reports the failing token above)")

    def _to_arrow(self, cursor: sqlite3.Cursor, names: list[str],
                  declared: Mapping[str, str] | None = None) -> Any:
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
            typed = _typed_array(values, (declared or {}).get(name))
            if typed is not None:
                arrays.append(typed)
                continue
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
        if mode not in ("append", "overwrite"):
            raise self._error(f"write mode {mode!r} (table {table!r}) is unknown",
                              hint="use mode='append' or mode='overwrite'")
        data = arrow_table(self.name, table, data)
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
        try:  # the header's file change counter: bumped by every committed write
            with open(self.path, "rb") as f:
                f.seek(24)
                digest.update(f.read(4))
        except OSError:
            pass
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
    """The declared type of a column the source creates for Arrow type ``tp`` (read back
    by :func:`_typed_array`)."""
    import pyarrow as pa

    if pa.types.is_boolean(tp):
        return "BOOLEAN"
    if pa.types.is_integer(tp):
        return "INTEGER"
    if pa.types.is_decimal(tp):
        return f"DECIMAL({tp.precision},{tp.scale})"
    if pa.types.is_timestamp(tp):
        return "TIMESTAMPTZ" if tp.tz else "TIMESTAMP"
    if pa.types.is_date(tp):
        return "DATE"
    if pa.types.is_floating(tp):
        return "REAL"
    if pa.types.is_binary(tp) or pa.types.is_large_binary(tp):
        return "BLOB"
    return "TEXT"


def _sqlite_values(column: Any) -> list[Any]:
    """A column as values sqlite3 binds (dates, decimals and timestamps as ISO text)."""
    import pyarrow as pa

    tp = column.type
    if pa.types.is_timestamp(tp) and tp.tz:
        return [None if v is None else _utc_text(v) for v in column.to_pylist()]
    if pa.types.is_decimal(tp):
        return [None if v is None else str(v) for v in column.to_pylist()]
    if (pa.types.is_integer(tp) or pa.types.is_floating(tp) or pa.types.is_string(tp)
            or pa.types.is_large_string(tp) or pa.types.is_binary(tp)
            or pa.types.is_boolean(tp)):
        return column.to_pylist()  # type: ignore[no-any-return]
    return [None if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v))
            for v in column.to_pylist()]


def _utc_text(value: dt.datetime) -> str:
    """An aware datetime as ISO text in UTC (sorts and compares as the instant)."""
    return value.astimezone(dt.UTC).isoformat()


def _sqlite_param(value: Any) -> Any:
    """A filter's value as sqlite3 binds it (as :func:`_sqlite_values` writes it)."""
    if isinstance(value, dt.datetime):
        return _utc_text(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, dt.date | decimal.Decimal):
        return str(value)
    return value


def _declared_types(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """``table``'s columns and their declared types, upper-cased."""
    rows = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return {str(r[1]): str(r[2] or "").upper() for r in rows}


_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")


def _typed_array(values: list[Any], declared: str | None) -> Any:
    """``values`` as the Arrow array of the column's declared type, or None where the type
    is not one the source maps or a value does not fit it exactly (a decimal with more
    digits than the scale, a text that is no date): then the type is inferred."""
    import pyarrow as pa

    if not declared:
        return None
    try:
        match = _DECIMAL.match(declared)
        if match:
            precision, scale = int(match.group(1)), int(match.group(2) or 0)
            if not 0 < precision <= 38:
                return None
            step = decimal.Decimal(1).scaleb(-scale)
            exact = decimal.Context(prec=precision, traps=[decimal.Inexact,
                                                          decimal.InvalidOperation])
            return pa.array([None if v is None else
                             decimal.Decimal(str(v)).quantize(step, context=exact)
                             for v in values], pa.decimal128(precision, scale))
        if declared in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
            return pa.array([None if v is None else _instant(v) for v in values],
                            pa.timestamp("us", "UTC"))
        if declared in ("TIMESTAMP", "DATETIME"):
            return pa.array([None if v is None else dt.datetime.fromisoformat(v)
                             for v in values], pa.timestamp("us"))
        if declared == "DATE":
            return pa.array([None if v is None else dt.date.fromisoformat(v) for v in values],
                            pa.date32())
        if declared in ("BOOLEAN", "BOOL"):
            if any(v not in (None, 0, 1) or isinstance(v, float) for v in values):
                return None
            return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
    except (TypeError, ValueError, ArithmeticError, pa.ArrowException):
        return None
    return None


def _instant(value: str) -> dt.datetime:
    """ISO text as an aware datetime (a text with no zone is UTC)."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
