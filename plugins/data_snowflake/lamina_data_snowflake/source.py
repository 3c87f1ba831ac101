"""The Snowflake source: queries and tables read into Arrow with the official connector's
Arrow fetch; writes as bound INSERTs in one transaction.

Parameters are bound by the connector (``%(name)s`` or ``%s``, its ``pyformat`` style),
never formatted into the text by lamina. Snowflake tables have no version a read could
record cheaply, so every read records ``version_kind="none"``: the step cache and
``resume`` then go by the content hash of what was read.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.sdk import (
    FILTER_OPERATORS,
    DataInput,
    DataRead,
    DataSourceError,
    dnf_filter,
    filter_text,
    jsonable_params,
    sql_where,
    table_digest,
)
from lamina_data_snowflake.plugin import INSTALL_HINT, SnowflakeOptions

PLUGIN = "snowflake"
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
#: Snowflake's "does not exist or not authorized" compilation error.
_NO_OBJECT = 2003
#: Login errors: wrong user or password, locked or disabled user, bad key or token.
_LOGIN_REFUSED = (390100, 390101, 390102, 390144, 390318, 251005)


def quote(name: str) -> str:
    """An identifier as Snowflake resolves it: a plain name as if unquoted (Snowflake
    stores and matches it upper-case, so ``id`` is ``ID``), quoted so that reserved words
    (``at``, ``order``) work as column names; anything else exactly as written."""
    if _SIMPLE.match(name):
        return '"' + name.upper() + '"'
    return '"' + name.replace('"', '""') + '"'


def table_ref(name: str) -> str:
    """``db.schema.table`` (or a part of it) with each part quoted as needed."""
    return ".".join(quote(part) for part in name.split("."))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "msg", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


class SnowflakeSource:
    """One Snowflake account (and default database and schema). One connection, opened on
    first use and shared by the source's calls (a lock keeps them one at a time)."""

    plugin = PLUGIN

    def __init__(self, name: str, options: SnowflakeOptions) -> None:
        try:
            import snowflake.connector  # noqa: F401
        except ImportError:
            raise DataSourceError(
                f"data source {name!r} (snowflake) needs snowflake-connector-python, which "
                "is not installed", hint=INSTALL_HINT,
            ) from None
        self.name = name
        self.options = options
        self._conn: Any = None
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- connection

    def _connection(self) -> Any:
        import snowflake.connector
        from snowflake.connector import errors

        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        kwargs = self.options.connect_kwargs()
        try:
            self._conn = snowflake.connector.connect(**kwargs)
        except errors.DatabaseError as exc:
            if getattr(exc, "errno", None) in _LOGIN_REFUSED or \
                    "incorrect username or password" in str(exc).lower():
                raise DataSourceError(
                    f"data source {self.name!r} (snowflake): login to account "
                    f"{kwargs.get('account')!r} as {kwargs.get('user')!r} was refused "
                    f"({_first_line(exc)})",
                    hint="check user, password (\"${VAR}\") or the key/authenticator",
                ) from None
            raise self._unreachable(kwargs, exc) from None
        except Exception as exc:
            raise self._unreachable(kwargs, exc) from None
        return self._conn

    def _unreachable(self, kwargs: Mapping[str, Any], exc: BaseException) -> DataSourceError:
        where = kwargs.get("host") or f"{kwargs.get('account')}.snowflakecomputing.com"
        if kwargs.get("port"):
            where = f"{where}:{kwargs['port']}"
        return DataSourceError(
            f"data source {self.name!r} (snowflake): cannot reach {where} "
            f"({type(exc).__name__}: {_first_line(exc)})",
            hint="check account (ORG-ACCOUNT), host and the network (proxy, PrivateLink)",
        )

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _execute(self, cursor: Any, sql: str, params: Any = None, *,
                 table: str | None = None) -> Any:
        from snowflake.connector import errors

        try:
            return cursor.execute(sql, params)
        except errors.ProgrammingError as exc:
            raise self._sql_error(exc, sql, table) from None
        except (errors.OperationalError, errors.InterfaceError) as exc:
            raise self._unreachable(self.options.connect_kwargs(), exc) from None

    def _sql_error(self, exc: Any, sql: str, table: str | None) -> DataSourceError:
        text = _first_line(exc)
        if table is not None and (getattr(exc, "errno", None) == _NO_OBJECT
                                  or "does not exist" in str(exc)):
            return DataSourceError(
                f"data source {self.name!r} (snowflake): table {table!r} does not exist or "
                f"is not authorized ({text})",
                hint="check the name (DATABASE.SCHEMA.TABLE, or the source's database and "
                "schema) and the role's grants",
            )
        where = _position(str(exc))
        return DataSourceError(
            f"data source {self.name!r} (snowflake): SQL error{where} in {_short(sql)!r}: "
            f"{text}", hint="fix the query (Snowflake's message above names the problem)",
        )

    # ----------------------------------------------------------------------- read

    def read(self, query: str | None = None, *, params: Mapping[str, Any] | None = None,
             table: str | None = None, filter: Any = None,
             columns: Sequence[str] | None = None, as_of: str | None = None) -> DataRead:
        """Run ``query`` with ``params`` bound by the connector, or read ``table`` with a
        DNF ``filter`` (``[("day", "=", "2026-01-01")]``, sent as bound parameters) and
        ``columns``; the result arrives as Arrow batches."""
        if as_of is not None:
            raise DataSourceError(
                f"data source {self.name!r} (snowflake) records no table versions, so it "
                f"cannot read as_of={as_of!r}",
                hint="read without as_of; for Snowflake's own time travel write "
                "AT(TIMESTAMP => ...) in a query",
            )
        if (query is None) == (table is None):
            raise DataSourceError(
                f"data source {self.name!r} (snowflake): pass either a query or table=",
                hint="read('select ...', params={...}) or read(table='NAME', filter=[...])",
            )
        if query is not None:
            sql, bound = query, params
        else:
            assert table is not None
            sql, bound = self._table_sql(table, filter, columns)
        with self._lock:
            cursor = self._connection().cursor()
            try:
                self._execute(cursor, sql, bound, table=table)
                result = cursor.fetch_arrow_all(force_return_table=True)
                if result is None:  # an older connector, no rows
                    result = _empty(cursor.description)
            finally:
                cursor.close()
        record = DataInput(
            source=self.name, plugin=PLUGIN, query=query,
            params=jsonable_params(params) if query is not None else None,
            table=table, filter=filter_text(filter), columns=tuple(columns) if columns else None,
            version=None, version_kind="none", rows=result.num_rows,
            content_hash=table_digest(result),
            read_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        )
        return DataRead(table=result, input=record)

    def _table_sql(self, table: str, filter: Any, columns: Sequence[str] | None
                   ) -> tuple[str, dict[str, Any]]:
        if isinstance(columns, str):
            raise DataSourceError(f"data source {self.name!r}: columns={columns!r} is one "
                                  "string", hint=f"pass a list: columns=[{columns!r}]")
        cols = ", ".join(quote(c) for c in columns) if columns else "*"
        sql = f"SELECT {cols} FROM {table_ref(table)}"
        params: dict[str, Any] = {}
        if filter is not None:
            try:
                dnf = dnf_filter(filter)
            except TypeError:
                raise DataSourceError(
                    f"data source {self.name!r} (snowflake): filter {filter!r} is not a list "
                    "of (column, op, value) tuples",
                    hint="write filter=[('day', '=', '2026-01-01')] (a list of lists is an OR "
                    f"of ANDs); operators: {', '.join(FILTER_OPERATORS)}; or write the WHERE "
                    "clause in a query",
                ) from None
            where, params = sql_where(dnf, quote)
            sql += " WHERE " + where
        return sql, params

    # ---------------------------------------------------------------------- write

    def write(self, table: str, data: Any, *,
              mode: Literal["append", "overwrite"] = "append") -> int:
        """Insert ``data`` into ``table`` in one transaction (created on the first write,
        with a column per Arrow column); ``overwrite`` deletes the old rows in the same
        transaction, so readers see the old rows or the new ones, never a mix."""
        if mode not in ("append", "overwrite"):
            raise DataSourceError(f"data source {self.name!r}: write mode {mode!r} is unknown",
                                  hint="use mode='append' or mode='overwrite'")
        arrow = _to_arrow(self.name, table, data)
        types = [_column_type(self.name, table, field) for field in arrow.schema]
        ref = table_ref(table)
        names = ", ".join(quote(n) for n in arrow.schema.names)
        marks = ", ".join(["%s"] * arrow.num_columns)
        insert = f"INSERT INTO {ref} ({names}) VALUES ({marks})"
        with self._lock:
            conn = self._connection()
            cursor = conn.cursor()
            try:
                if not self._exists(cursor, ref):
                    columns = ", ".join(f"{quote(n)} {t}"
                                        for n, t in zip(arrow.schema.names, types, strict=True))
                    self._execute(cursor, f"CREATE TABLE IF NOT EXISTS {ref} ({columns})")
                self._execute(cursor, "BEGIN")
                try:
                    if mode == "overwrite":
                        self._execute(cursor, f"DELETE FROM {ref}", table=table)
                    for batch in arrow.to_batches(max_chunksize=self.options.insert_batch):
                        rows = [tuple(_bindable(v) for v in row.values())
                                for row in batch.to_pylist()]
                        if rows:
                            self._executemany(cursor, insert, rows, table)
                    self._execute(cursor, "COMMIT")
                except BaseException:
                    try:
                        cursor.execute("ROLLBACK")
                    except Exception:
                        pass
                    raise
            finally:
                cursor.close()
        return int(arrow.num_rows)

    def _executemany(self, cursor: Any, sql: str, rows: list[tuple[Any, ...]],
                     table: str) -> None:
        from snowflake.connector import errors

        try:
            cursor.executemany(sql, rows)
        except errors.ProgrammingError as exc:
            raise self._sql_error(exc, sql, table) from None
        except (errors.OperationalError, errors.InterfaceError) as exc:
            raise self._unreachable(self.options.connect_kwargs(), exc) from None

    def _exists(self, cursor: Any, ref: str) -> bool:
        from snowflake.connector import errors

        try:
            cursor.execute(f"SELECT 1 FROM {ref} LIMIT 0")
            return True
        except errors.ProgrammingError:
            return False

    # --------------------------------------------------------------------- checks

    def version_of(self, read: DataInput) -> str | None:
        """None: Snowflake tables have no version a read records."""
        return None

    def check(self) -> str:
        """Log in and ask who and where we are; a one-line summary."""
        with self._lock:
            cursor = self._connection().cursor()
            try:
                self._execute(cursor, "SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")
                row = cursor.fetchone()
            finally:
                cursor.close()
        database, schema = (row or (None, None))[:2]
        account = self.options.connect_kwargs().get("account")
        return f"snowflake account {account}: database {database}, schema {schema}"


# ------------------------------------------------------------------------- helpers


def _position(text: str) -> str:
    match = re.search(r"line (\d+) at position (\d+)", text)
    return f" at line {match.group(1)}, position {match.group(2)}" if match else ""


def _short(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 120 else flat[:117] + "..."


def _empty(description: Any) -> Any:
    import pyarrow as pa

    names = [d[0] for d in (description or [])]
    return pa.table({n: pa.array([], pa.null()) for n in names})


def _to_arrow(source: str, table: str, data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    try:
        return pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError,
            ValueError) as exc:
        column = None
        items = data.items() if isinstance(data, Mapping) else []
        for name, values in items:
            try:
                pa.array(values)
            except Exception:
                column = str(name)
                break
        what = f"column {column!r}" if column else "the data"
        raise DataSourceError(
            f"data source {source!r}: cannot write {what} to table {table!r}: it has no "
            f"Arrow type ({_first_line(exc)})",
            hint="convert the column to numbers, strings, decimals, timestamps or bytes "
            "(json.dumps for nested Python objects)",
        ) from None


def _column_type(source: str, table: str, field: Any) -> str:
    """The Snowflake column type of an Arrow field; a type with none is named."""
    import pyarrow.types as t

    kind = field.type
    if t.is_boolean(kind):
        return "BOOLEAN"
    if t.is_integer(kind):
        return "NUMBER(38,0)"
    if t.is_floating(kind):
        return "FLOAT"
    if t.is_decimal(kind):
        if kind.precision > 38:
            raise _no_type(source, table, field, "decimals of more than 38 digits")
        return f"NUMBER({kind.precision},{kind.scale})"
    if t.is_string(kind) or t.is_large_string(kind):
        return "VARCHAR"
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind):
        return "BINARY"
    if t.is_timestamp(kind):
        return "TIMESTAMP_TZ" if kind.tz else "TIMESTAMP_NTZ"
    if t.is_date(kind):
        return "DATE"
    if t.is_time(kind):
        return "TIME"
    raise _no_type(source, table, field, f"type {kind}")


def _no_type(source: str, table: str, field: Any, what: str) -> DataSourceError:
    return DataSourceError(
        f"data source {source!r} (snowflake): column {field.name!r} of table {table!r} has "
        f"{what}, which has no Snowflake column type here",
        hint="cast it first (nested values to JSON strings with json.dumps, durations to "
        "int64)",
    )


def _bindable(value: Any) -> Any:
    """A value the connector binds as its column's type (an aware datetime in UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value
