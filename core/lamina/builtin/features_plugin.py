"""The builtin feature store (component ``local`` of the ``feature_store`` layer) and the
builtin ``sqlite`` online store, offered through the public hooks.

Imported on every ``lamina`` invocation: it holds only option classes; DuckDB, pyarrow and
the store itself are imported when a stack builds the component.
"""

from __future__ import annotations

from typing import Any

from lamina.features.options import FeatureStoreOptions
from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec


def _local_feature_store(options: FeatureStoreOptions, stack: Any) -> Any:
    from lamina.features.store import LocalFeatureStore

    return LocalFeatureStore(options, stack)


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
    from lamina.features.options import sqlite_online_spec

    return [sqlite_online_spec()]
