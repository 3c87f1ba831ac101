"""The builtin data sources: ``sqlite`` (Python's own sqlite3 module, so ``pip install
lamina`` alone reads SQLite). Only option classes here; the implementation is imported when
a stack builds a source."""

from __future__ import annotations

from typing import Any

import attrs

from lamina.hookspecs import hookimpl
from lamina.interfaces.data_source import DataSourceSpec


@attrs.frozen
class SqliteSourceOptions:
    """Options of the ``sqlite`` data source.

    :param url: the database: ``sqlite:///relative/path.db``, ``sqlite:////absolute.db``
        or a plain path; relative paths are relative to the project root.
    :param timeout: seconds to wait for a lock held by another writer.
    """

    url: str
    timeout: float = 30.0


def _sqlite_source(name: str, options: SqliteSourceOptions, stack: Any) -> Any:
    from lamina.builtin.sqlite_source import SqliteSource, sqlite_path

    return SqliteSource(name, sqlite_path(options.url, stack), timeout=options.timeout)


@hookimpl
def lamina_data_sources() -> list[DataSourceSpec]:
    return [DataSourceSpec(
        name="sqlite", config=SqliteSourceOptions, factory=_sqlite_source,
        description="a SQLite database file, through Python's sqlite3 (no driver to install)",
        url_schemes=("sqlite",),
    )]
