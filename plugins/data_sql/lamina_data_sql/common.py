"""What the SQL sources share: argument checks, the read's record, one-line errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.sdk import DataInput, DataRead, DataSourceError, jsonable_params, safe_url


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

    def _fetch(self, sql: str, params: Any, query: str) -> tuple[Any, str]:
        """(the result as an Arrow table, its content hash if computed while fetching,
        else "")."""
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
        whole (``columns`` chosen)."""
        from lamina.sdk import bind_params

        if as_of is not None:
            raise self._error(f"{self.plugin} keeps no table versions, so as_of cannot be read",
                              hint="drop as_of (time travel is for Delta and Iceberg sources)")
        if filter is not None:
            raise self._error("a table read takes no filter on SQL sources",
                              hint="write the condition in a query with params=")
        if table is not None:
            cols = ", ".join(self._quote(c) for c in columns) if columns else "*"
            sql, bound = f"SELECT {cols} FROM {self._qualified(table)}", None
            text = sql
        else:
            assert query is not None
            try:
                sql, bound = bind_params(query, params, self.style)
            except KeyError as missing:
                raise self._error(f"the query uses %({missing.args[0]})s, which params does "
                                  "not give", hint="add it to params=") from None
            text = query
        data, digest = self._fetch(sql, bound, text)
        return DataRead(table=data, input=DataInput(
            source=self.name, plugin=self.plugin, query=query,
            params=jsonable_params(params), table=table,
            columns=tuple(columns) if columns else None, version=None, version_kind="none",
            rows=data.num_rows, content_hash=digest,
        ))

    def version_of(self, read: DataInput) -> str | None:
        """None: a SQL database does not tell a table's version, so a step that read it is
        computed again rather than reused (docs/data.md, "Versions")."""
        return None


def one_line(text: str) -> str:
    """A driver's message on one line."""
    return " ".join(str(text).split())
