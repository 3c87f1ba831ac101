"""The ``mysql`` data source: MySQL, MariaDB and Aurora MySQL into Arrow through
SQLAlchemy (URL handling, the dialect) and PyMySQL (the driver). No ADBC driver exists
for MySQL, so rows are fetched in batches and converted column by column, with each
column's Arrow type taken from the type the server reports:

integers -> int32/int64, ``float``/``double`` -> float32/float64, ``decimal(p, s)`` ->
``decimal128(p, s)``, ``date`` -> date32, ``datetime`` -> timestamp[us],
``timestamp`` -> timestamp[us, tz=UTC] (the session runs in UTC), ``time`` -> duration,
text, ``enum``/``set`` and JSON -> string, blobs -> binary. ``geometry`` has no Arrow type:
an error naming the column.
"""

from __future__ import annotations

from typing import Any, Literal

from lamina.sdk import DataSourceError, line_column
from lamina_data_sql.common import SqlSource, one_line
from lamina_data_sql.plugin import MysqlSourceOptions

_ROWS_PER_BATCH = 65_536
_INT32 = {1, 2, 3, 9, 13}  # TINY, SHORT, LONG, INT24, YEAR
_TEXTISH = {15, 247, 248, 253, 254}  # VARCHAR, ENUM, SET, VAR_STRING, STRING
_BLOBISH = {249, 250, 251, 252}  # blobs and texts: told apart by their values
_NAMES = {255: "GEOMETRY"}


class MysqlSource(SqlSource):
    plugin = "mysql"
    style = "pyformat"

    def __init__(self, name: str, options: MysqlSourceOptions) -> None:
        super().__init__(name, options.url)
        self.options = options
        self._engine: Any = None

    def _quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def _filter_value(self, value: Any) -> Any:
        """An aware datetime in UTC, the session's zone (PyMySQL drops the zone)."""
        import datetime as dt

        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def _sa_url(self) -> str:
        scheme, rest = self.url.split("://", 1)
        if "+" not in scheme:
            scheme = f"{scheme}+pymysql"
        return f"{scheme}://{rest}"

    def connect(self) -> Any:
        """A PyMySQL connection from SQLAlchemy's pool, autocommit off, in UTC."""
        import sqlalchemy as sa

        if self._engine is None:
            self._engine = sa.create_engine(
                self._sa_url(), poolclass=sa.pool.NullPool,
                connect_args={"connect_timeout": self.options.connect_timeout,
                              "init_command": "SET time_zone = '+00:00'"})
        try:
            return self._engine.raw_connection()
        except Exception as exc:
            raise self._connect_error(getattr(exc, "orig", None) or exc) from None

    def _connect_error(self, exc: Any) -> DataSourceError:
        code, reason = _code_and_message(exc)
        if code in (1045, 1698):
            return self._error(f"bad credentials: {reason}",
                               hint='give the password as url = "mysql://user:${MYSQL_PWD}@'
                               'host/db" and export MYSQL_PWD')
        if code == 1049:
            return self._error(f"no such database: {reason}",
                               hint="check the database name in the source's url")
        if code in (2002, 2003, 2005, 2006, 2013):
            return self._error(f"the server is unreachable: {reason}",
                               hint="check the host and port in the source's url and that the "
                               "server runs")
        return self._error(f"cannot connect: {reason}")

    def _sql_error(self, exc: Any, query: str, table: str | None = None) -> DataSourceError:
        code, message = _code_and_message(exc)
        if table is not None and code == 1146:
            return self._error(f"no table {table!r} ({message})",
                               hint="check the table's name (SHOW TABLES lists them) and the "
                               "database in the source's url")
        where = ""
        near = message.partition("near '")[2].rpartition("' at line")[0]
        if near and near in query:
            line, column = line_column(query, query.index(near) + 1)
            where = f" (line {line}, column {column} of the query)"
        return self._error(f"SQL error{f' {code}' if code else ''}: {message}{where}",
                           hint="fix the query (the database's message above names the "
                           "failing part)")

    def _fetch(self, sql: str, params: Any, query: str, table: str | None = None
               ) -> tuple[Any, str]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
            except Exception as exc:
                raise self._sql_error(exc, query, table) from None
            description = list(cur.description or ())
            columns: list[list[Any]] = [[] for _ in description]
            while True:
                rows = cur.fetchmany(_ROWS_PER_BATCH)
                if not rows:
                    break
                for i, values in enumerate(zip(*rows, strict=True)):
                    columns[i].extend(values)
            cur.close()
        finally:
            conn.close()
        return self._to_arrow(description, columns), ""

    def _to_arrow(self, description: list[Any], columns: list[list[Any]]) -> Any:
        import pyarrow as pa

        arrays, names = [], []
        for desc, values in zip(description, columns, strict=True):
            name, code = desc[0], desc[1]
            names.append(name)
            try:
                arrays.append(pa.array(values, type=self._arrow_type(name, desc))
                              if code != 16 else pa.array(
                                  [None if v is None else int.from_bytes(v, "big")
                                   for v in values], pa.int64()))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise self._error(f"column {name!r} cannot be converted to Arrow: "
                                  f"{one_line(str(exc))}",
                                  hint=f"cast it in the query: CAST({name} AS CHAR)") from None
        return pa.table(arrays, names=names) if names else pa.table({})

    def _arrow_type(self, name: str, desc: Any) -> Any:
        import pyarrow as pa

        code, size, scale = desc[1], desc[3] or 0, desc[5] or 0
        if code in _INT32:
            return pa.int32()
        if code == 8:
            return pa.int64()
        if code == 4:
            return pa.float32()
        if code == 5:
            return pa.float64()
        if code in (0, 246):
            precision = max(int(size) - (2 if scale else 1), 1)
            return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, int(scale))
        if code == 7:
            return pa.timestamp("us", tz="UTC")
        if code == 12:
            return pa.timestamp("us")
        if code in (10, 14):
            return pa.date32()
        if code == 11:
            return pa.duration("us")
        if code == 6:
            return pa.null()
        if code in _TEXTISH or code == 245:
            return None  # strings (bytes for a binary charset): inferred
        if code in _BLOBISH:
            return None
        raise self._error(
            f"column {name!r} has MySQL type {_NAMES.get(code, code)}, which has no Arrow type",
            hint=f"convert it in the query: ST_AsText({name}) or CAST({name} AS CHAR)")

    def write(self, table: str, data: Any, *, mode: Literal["append", "overwrite"] = "append"
              ) -> int:
        """Append to (or overwrite) ``table``: the rows go in one transaction (an overwrite
        deletes the old rows in it). A missing table is created first; MySQL commits a
        ``CREATE TABLE`` on its own, so the creation is not part of the transaction."""
        data = self._writable(table, data, mode)
        conn = self.connect()
        try:
            cur = conn.cursor()
            name = self._qualified(table)
            try:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {name} ("
                            + ", ".join(f"{self._quote(f.name)} {_mysql_type(f.type)}"
                                        for f in data.schema) + ")")
                if mode == "overwrite":
                    cur.execute(f"DELETE FROM {name}")
                cols = ", ".join(self._quote(n) for n in data.column_names)
                marks = ", ".join("%s" for _ in data.column_names)
                sql = f"INSERT INTO {name} ({cols}) VALUES ({marks})"
                for batch in data.to_batches(10_000):
                    values = [_mysql_values(c) for c in batch.columns]
                    cur.executemany(sql, list(zip(*values, strict=True)))
                conn.commit()
            except Exception as exc:
                conn.rollback()
                _code, reason = _code_and_message(exc)
                raise self._error(f"cannot write table {table!r}: {reason}",
                                  hint="check that the data's columns and types match the "
                                  "table's") from None
        finally:
            conn.close()
        return int(data.num_rows)

    def check(self) -> str:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT version()")
            version = cur.fetchone()[0]
        finally:
            conn.close()
        return f"mysql {self.shown_url}: {version}"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _code_and_message(exc: Any) -> tuple[int | None, str]:
    """A PyMySQL error's code and its message on one line."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else None
    return code, one_line(str(args[1]) if len(args) > 1 else str(exc))


def _mysql_type(tp: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(tp):
        return "BOOLEAN"
    if pa.types.is_integer(tp):
        return "BIGINT" if tp.bit_width == 64 else "INT"
    if pa.types.is_float32(tp):
        return "FLOAT"
    if pa.types.is_floating(tp):
        return "DOUBLE"
    if pa.types.is_decimal(tp):
        return f"DECIMAL({min(tp.precision, 65)}, {tp.scale})"
    if pa.types.is_timestamp(tp):
        return "TIMESTAMP(6) NULL" if tp.tz else "DATETIME(6)"
    if pa.types.is_date(tp):
        return "DATE"
    if pa.types.is_binary(tp) or pa.types.is_large_binary(tp):
        return "LONGBLOB"
    return "LONGTEXT"


def _mysql_values(column: Any) -> list[Any]:
    """A column as values PyMySQL binds (aware timestamps in UTC, the session's zone)."""
    import datetime as dt

    import pyarrow as pa

    values = column.to_pylist()
    if pa.types.is_timestamp(column.type) and column.type.tz:
        return [None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None)
                for v in values]
    return values  # type: ignore[no-any-return]
