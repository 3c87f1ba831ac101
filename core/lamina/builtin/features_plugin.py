"""The builtin feature store (component ``local`` of the ``feature_store`` layer) and the
builtin ``sqlite`` online store, offered through the public hooks.

Imported on every ``lamina`` invocation: it holds only option classes; DuckDB, pyarrow and
the store itself are imported when a stack builds the component.
"""

from __future__ import annotations

from typing import Any

import attrs

from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec


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


def _local_feature_store(options: FeatureStoreOptions, stack: Any) -> Any:
    from lamina.features.store import LocalFeatureStore

    return LocalFeatureStore(options, stack)


def _sqlite_online(options: Any, stack: Any) -> Any:
    from lamina.features.online_sqlite import SqliteOnlineStore

    return SqliteOnlineStore(options.path, busy_timeout=options.busy_timeout)


@hookimpl
def lamina_feature_stores() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="feature_store",
            name="local",
            config=FeatureStoreOptions,
            factory=_local_feature_store,
            description="versioned definitions in SQLite, point-in-time joins on DuckDB, "
            "SQLite online store",
            install_hint="pip install 'lamina[features]'",
        )
    ]


@hookimpl
def lamina_online_stores() -> list[Any]:
    from lamina.features.online_sqlite import SqliteOnlineOptions
    from lamina.interfaces.feature_store import OnlineStoreSpec

    return [
        OnlineStoreSpec(
            name="sqlite",
            config=SqliteOnlineOptions,
            factory=_sqlite_online,
            description="newest values per key in one SQLite file",
        )
    ]
