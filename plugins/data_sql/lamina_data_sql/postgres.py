"""The ``postgres`` data source: PostgreSQL into Arrow through the ADBC driver (its COPY
binary protocol straight into Arrow buffers, no Python objects per value).

Types: integers, floats, text, booleans, dates, ``timestamp`` (naive) and ``timestamptz``
(UTC), intervals, bytea and arrays map as the driver maps them; ``numeric(p, s)`` becomes
``decimal128(p, s)`` (an unconstrained ``numeric`` the narrowest decimal its values fit);
``json``/``jsonb`` become strings. A column of any other type (``point``, a user type)
is an error naming the column and its type: cast it in the query.
"""

from __future__ import annotations

import queue
import re
import threading
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from lamina.sdk import DataSourceError, line_column
from lamina_data_sql.common import SqlSource, one_line
from lamina_data_sql.plugin import PostgresSourceOptions

_FATAL = re.compile(r"(?:FATAL|ERROR):\s+(.*)")


def _fetch_hashing(cur: Any) -> tuple[Any, str]:
    """The cursor's result as a table, and its content hash computed on another thread
    as the batches arrive ("" when a column needs converting first: then the hash is
    taken of the converted table)."""
    import pyarrow as pa

    from lamina.sdk import TableDigest

    reader = cur.fetch_record_batch()
    schema = reader.schema
    if any(isinstance(f.type, pa.BaseExtensionType) for f in schema):
        return reader.read_all(), ""
    digest = TableDigest(schema)
    todo: queue.Queue[Any] = queue.Queue(maxsize=16)
    failed: list[BaseException] = []

    def work() -> None:
        while (batch := todo.get()) is not None:
            if not failed:
                try:
                    digest.update(batch)
                except BaseException as exc:  # reported below; the read goes on
                    failed.append(exc)

    worker = threading.Thread(target=work, name="lamina-digest", daemon=True)
    worker.start()
    batches = []
    try:
        for batch in reader:
            batches.append(batch)
            todo.put(batch)
    finally:
        todo.put(None)
        worker.join()
    table = pa.Table.from_batches(batches, schema=schema)
    return table, "" if failed else digest.hexdigest()


class PostgresSource(SqlSource):
    plugin = "postgres"
    style = "dollar"

    def __init__(self, name: str, options: PostgresSourceOptions) -> None:
        super().__init__(name, options.url)
        self.options = options

    def _quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def _uri(self) -> str:
        url = self.url
        if url.startswith(("postgres://", "redshift://")):
            url = "postgresql://" + url.split("://", 1)[1]
        sep = "&" if "?" in url else "?"
        if "connect_timeout=" not in url:
            url += f"{sep}connect_timeout={self.options.connect_timeout}"
        return url

    def connect(self) -> Any:
        """A new ADBC connection (autocommit off: a write is one transaction)."""
        import adbc_driver_postgresql.dbapi as pg

        try:
            conn = pg.connect(self._uri())
        except Exception as exc:
            raise self._connect_error(exc) from None
        if self.options.search_path:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('search_path', $1, false)",
                            (self.options.search_path,))
        return conn

    def _connect_error(self, exc: Exception) -> DataSourceError:
        text = str(exc)
        found = _FATAL.search(text)
        reason = one_line(found.group(1) if found else text.split(":", 2)[-1])
        if "password authentication failed" in text or "no password supplied" in text:
            return self._error(f"bad credentials: {reason}",
                               hint="give the password as url = \"postgresql://user:"
                               "${PGPASSWORD}@host/db\" and export PGPASSWORD (or use ~/.pgpass)")
        if "does not exist" in text and ("role" in text or "database" in text):
            return self._error(f"bad credentials or database: {reason}",
                               hint="check the user and database names in the source's url")
        if "Connection refused" in text or "timeout" in text.lower() or "could not" in text:
            return self._error(f"the server is unreachable: {reason}",
                               hint="check the host and port in the source's url and that the "
                               "server runs (psql with the same url tells the same)")
        return self._error(f"cannot connect: {reason}")

    def _sql_error(self, exc: Exception, sql: str, query: str, table: str | None = None
                   ) -> DataSourceError:
        details = dict(getattr(exc, "details", None) or [])
        message = details.get(b"PG_DIAG_MESSAGE_PRIMARY", b"").decode(errors="replace")
        state = getattr(exc, "sqlstate", None) or details.get(
            b"PG_DIAG_SQLSTATE", b"").decode()
        position = details.get(b"PG_DIAG_STATEMENT_POSITION")
        if not message:
            found = _FATAL.search(str(exc))
            message = one_line(found.group(1) if found else str(exc)).split(" LINE ")[0]
        if table is not None and state == "42P01":
            return self._error(f"no table {table!r} ({message})",
                               hint="check the table's name and schema (schema.table), or "
                               "the source's search_path")
        where = ""
        if position and sql == query:
            line, column = line_column(query, int(position))
            where = f" at line {line}, column {column} of the query"
        elif position:
            where = f" at character {int(position)} of the query as sent"
        return self._error(f"SQL error{f' {state}' if state else ''}: {message}{where}",
                           hint="fix the query (the database's message above names the "
                           "failing part)")

    def _fetch(self, sql: str, params: Any, query: str, table: str | None = None) -> Any:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                try:
                    if params is None:
                        cur.execute(sql)
                    else:
                        cur.execute(sql, params)
                    result, digest = _fetch_hashing(cur)
                except DataSourceError:
                    raise
                except Exception as exc:
                    raise self._sql_error(exc, sql, query, table) from None
        finally:
            conn.close()
        return self._arrow_types(result), digest

    def _arrow_types(self, table: Any) -> Any:
        """Numeric to decimals, JSON to strings; any other type the driver left opaque is
        an error naming the column."""
        import pyarrow as pa

        for i, field in enumerate(table.schema):
            tp = field.type
            meta = field.metadata or {}
            pgtype = meta.get(b"POSTGRESQL:type", b"").decode()
            if isinstance(tp, pa.BaseExtensionType):
                if pgtype in ("json", "jsonb") or tp.extension_name == "arrow.json":
                    storage = pa.chunked_array([c.storage for c in table.column(i).chunks],
                                               type=tp.storage_type)
                    table = table.set_column(i, pa.field(field.name, storage.type), storage)
                elif pgtype == "numeric":
                    typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1") or -1)
                    values = pa.chunked_array([c.storage for c in table.column(i).chunks],
                                              type=tp.storage_type)
                    table = table.set_column(i, field.name, self._numeric(field.name, values,
                                                                          typmod))
                else:
                    raise self._error(
                        f"column {field.name!r} has PostgreSQL type {pgtype or tp}, which has no "
                        "Arrow type",
                        hint=f"cast it in the query: {field.name}::text (or another type)")
        return table

    def _numeric(self, name: str, values: Any, typmod: int) -> Any:
        import pyarrow as pa

        if typmod >= 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            kind = pa.decimal128 if precision <= 38 else pa.decimal256
            try:
                return values.cast(kind(precision, scale))
            except pa.ArrowInvalid:
                pass  # NaN or infinity: fall through to the error below
        try:
            decimals = [None if v is None else Decimal(v) for v in values.to_pylist()]
            if any(d is not None and not d.is_finite() for d in decimals):
                raise InvalidOperation
            return pa.chunked_array([pa.array(decimals)])
        except (InvalidOperation, pa.ArrowInvalid, pa.ArrowTypeError):
            raise self._error(
                f"column {name!r} (numeric) holds values no Arrow decimal holds (NaN, "
                "infinity or more than 76 digits)",
                hint=f"cast it in the query: {name}::float8 (or ::text)") from None

    def write(self, table: str, data: Any, *, mode: Literal["append", "overwrite"] = "append"
              ) -> int:
        """Append to (or overwrite) ``table`` (``schema.table`` allowed) in one
        transaction: the table is created from the data's schema when missing, an
        overwrite deletes the old rows in the same transaction, so a reader sees the old
        rows or the new ones, never a mix."""
        data = self._writable(table, data, mode)
        schema, _, name = table.rpartition(".")
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                try:
                    types = self._column_types(cur, schema, name)
                    if not types:
                        rows = cur.adbc_ingest(name, data, mode="create",
                                               db_schema_name=schema or None)
                    else:
                        rows = self._insert_through_stage(cur, table, data, types, mode)
                    conn.commit()
                except DataSourceError:
                    conn.rollback()
                    raise
                except Exception as exc:
                    conn.rollback()
                    reason = one_line(_FATAL.sub(r"\1", str(exc)))
                    raise self._error(f"cannot write table {table!r}: {reason}",
                                      hint="check that the data's columns and types match the "
                                      "table's") from None
        finally:
            conn.close()
        return int(rows if rows is not None and rows >= 0 else data.num_rows)

    def _column_types(self, cur: Any, schema: str, name: str) -> dict[str, str]:
        """The existing table's columns and their SQL types (empty: no such table)."""
        qualified = (f"{self._quote(schema)}.{self._quote(name)}" if schema
                     else self._quote(name))
        cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
                    "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) "
                    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (qualified,))
        return {str(n): str(t) for n, t in cur.fetchall()}

    def _insert_through_stage(self, cur: Any, table: str, data: Any, types: dict[str, str],
                              mode: str) -> int:
        """COPY the rows into a temporary table, then insert them into ``table`` with each
        column cast to its type (text to ``jsonb``, a decimal to ``numeric(p, s)``...)."""
        unknown = [c for c in data.column_names if c not in types]
        if unknown:
            raise self._error(
                f"cannot write table {table!r}: it has no column {unknown[0]!r} (its columns: "
                f"{', '.join(types)})", hint="rename the data's columns to the table's")
        stage = f"lamina_stage_{abs(hash((table, id(data)))) % 10**12}"
        cur.adbc_ingest(stage, data, mode="create", temporary=True)
        cols = ", ".join(self._quote(c) for c in data.column_names)
        casts = ", ".join(f"{self._quote(c)}::{types[c]}" for c in data.column_names)
        if mode == "overwrite":
            cur.execute(f"DELETE FROM {self._qualified(table)}")
        cur.execute(f"INSERT INTO {self._qualified(table)} ({cols}) SELECT {casts} "
                    f"FROM {self._quote(stage)}")
        cur.execute(f"DROP TABLE {self._quote(stage)}")
        return int(data.num_rows)

    def check(self) -> str:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version()")
                version = str(cur.fetchone()[0]).split(" on ")[0]
        finally:
            conn.close()
        return f"postgres {self.shown_url}: {version}"
