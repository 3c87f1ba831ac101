"""What the SQL sources share: argument checks, the read's record, one-line errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.sdk import (
    FILTER_OPERATORS,
    DataInput,
    DataRead,
    DataSourceError,
    arrow_table,
    dnf_filter,
    filter_text,
    jsonable_params,
    safe_url,
    sql_where,
)


class SqlSource:
    """A SQL database read into Arrow. Subclasses give ``plugin``, ``_quote``,
    ``_fetch(sql, params, query)`` and ``write``."""

    plugin = "sql"
    #: the placeholder style ``%(name)s`` is rewritten to (lamina.sdk.bind_params)
    style: Literal["dollar", "colon", "qmark", "pyformat"] = "pyformat"

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.shown_url = safe_url(url)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.shown_url}>"

    def _error(self, text: str, hint: str | None = None) -> DataSourceError:
        return DataSourceError(
            f"data source {self.name!r} ({self.plugin} {self.shown_url}): {text}",
            source=self.name, hint=hint)

    def _quote(self, name: str) -> str:
        raise NotImplementedError

    def _qualified(self, table: str) -> str:
        return ".".join(self._quote(part) for part in table.split("."))

    def _fetch(self, sql: str, params: Any, query: str, table: str | None = None
               ) -> tuple[Any, str]:
        """(the result as an Arrow table, its content hash if computed while fetching,
        else ""); ``table`` is the table read, for an error naming it."""
        raise NotImplementedError

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
        """Run ``query`` with ``params`` bound by the driver (``%(name)s`` placeholders
        with a mapping; the driver's positional ones with a sequence), or read ``table``
        (``columns`` chosen; ``filter`` a DNF list such as ``[("day", "=", "b")]``, a list
        of lists being an OR of ANDs, run as a ``WHERE`` with its values bound)."""
        import datetime as dt

        from lamina.sdk import table_digest

        if as_of is not None:
            raise self._error(f"{self.plugin} keeps no table versions, so as_of cannot be read",
                              hint="drop as_of (time travel is for Delta and Iceberg sources)")
        if table is not None:
            sql, bound = self._table_sql(table, filter, columns)
            text = sql
        else:
            if filter is not None:
                raise self._error("a query takes no filter (it is for table reads)",
                                  hint="write the condition in the query with params=")
            assert query is not None
            sql, bound = self._bind(query, params)
            text = query
        data, digest = self._fetch(sql, bound, text, table)
        if not digest:
            digest = table_digest(data)
        return DataRead(table=data, input=DataInput(
            source=self.name, plugin=self.plugin, query=query,
            params=jsonable_params(params) if query is not None else None, table=table,
            filter=filter_text(filter) if table is not None else None,
            columns=tuple(columns) if columns else None, version=None, version_kind="none",
            rows=data.num_rows, content_hash=digest,
            read_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        ))

    def _bind(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None
              ) -> tuple[str, Any]:
        from lamina.sdk import bind_params

        try:
            return bind_params(sql, params, self.style)
        except KeyError as missing:
            raise self._error(f"the query uses %({missing.args[0]})s, which params does "
                              "not give", hint="add it to params=") from None

    def _table_sql(self, table: str, filter: Any, columns: Sequence[str] | None
                   ) -> tuple[str, Any]:
        """The ``SELECT`` of a table read and its bound values."""
        if isinstance(columns, str):
            raise self._error(f"columns={columns!r} is one string",
                              hint=f"pass a list: columns=[{columns!r}]")
        cols = ", ".join(self._quote(c) for c in columns) if columns else "*"
        sql = f"SELECT {cols} FROM {self._qualified(table)}"
        if filter is None:
            return sql, None
        try:
            dnf = dnf_filter(filter)
        except TypeError:
            raise bad_filter(self._error, table, filter) from None
        if not dnf:
            return sql, None
        where, values = sql_where(dnf, self._quote)
        return self._bind(f"{sql} WHERE {where}",
                          {k: self._filter_value(v) for k, v in values.items()})

    def _filter_value(self, value: Any) -> Any:
        """A filter's value as the driver binds it (as a write would store it)."""
        return value

    def _writable(self, table: str, data: Any, mode: str) -> Any:
        """``data`` as an Arrow table to write, after checking ``mode``."""
        if mode not in ("append", "overwrite"):
            raise self._error(f"write mode {mode!r} (table {table!r}) is unknown",
                              hint="use mode='append' or mode='overwrite'")
        return arrow_table(self.name, table, data)

    def version_of(self, read: DataInput) -> str | None:
        """None: a SQL database does not tell a table's version, so a step that read it is
        computed again rather than reused (docs/data.md, "Versions")."""
        return None


def one_line(text: str) -> str:
    """A driver's message on one line."""
    return " ".join(str(text).split())


def bad_filter(error: Any, table: str, value: Any) -> DataSourceError:
    """The error for a table read's filter that is not a DNF list (``error(text, hint)``
    makes the source's error)."""
    return error(  # type: ignore[no-any-return]
        f"the filter {value!r} of table {table!r} is not a list of (column, op, value) "
        "tuples", hint="write filter=[('day', '=', '2026-01-01')] (a list of lists is an OR "
        f"of ANDs); operators: {', '.join(FILTER_OPERATORS)}")
