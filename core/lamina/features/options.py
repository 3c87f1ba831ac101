"""Options of the builtin ``local`` feature store. Only attrs here: the builtin plugin
imports this module on every ``lamina`` command."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class FeatureStoreOptions:
    """Options of the ``local`` feature store.

    :param registry: the SQLite file holding every version of every definition; relative
        paths are relative to the project root.
    :param snapshots: where in-memory sources (Arrow tables, pandas frames) are stored as
        Parquet, named by content hash, when a view is applied.
    :param online_store: the online store's name (``sqlite``, or one a plugin offers
        through ``lamina_online_stores``).
    :param online_options: that online store's options (for ``sqlite``: ``path``).
    :param engine: what runs point-in-time joins: ``auto`` (the numpy engine where the
        data suits it: local Parquet or in-memory tables, integer, string or whole-number
        keys, timestamps; else DuckDB), ``numpy`` (an error where it cannot) or
        ``duckdb``. docs/features.md, "How it is computed".
    :param threads: DuckDB threads for point-in-time joins (default: all cores).
    :param memory_limit: DuckDB memory limit, e.g. ``"4GB"`` (default: DuckDB's, 80% of RAM).
    """

    registry: str = ".lamina/features/registry.db"
    snapshots: str = ".lamina/features/sources"
    online_store: str = "sqlite"
    online_options: dict[str, Any] = attrs.field(factory=dict)
    engine: str = attrs.field(default="auto",
                              validator=attrs.validators.in_(("auto", "numpy", "duckdb")))
    threads: int | None = None
    memory_limit: str | None = None


def sqlite_online_spec() -> Any:
    """The builtin ``sqlite`` online store's spec (what ``lamina_online_stores`` offers,
    and what a store built without a stack uses)."""
    from lamina.interfaces.feature_store import OnlineStoreSpec

    def build(options: Any, stack: Any) -> Any:
        from lamina.features.online_sqlite import SqliteOnlineStore

        return SqliteOnlineStore(options.path, busy_timeout=options.busy_timeout)

    from lamina.features.online_sqlite import SqliteOnlineOptions

    return OnlineStoreSpec(
        name="sqlite",
        config=SqliteOnlineOptions,
        factory=build,
        description="newest values per key in one SQLite file",
    )
