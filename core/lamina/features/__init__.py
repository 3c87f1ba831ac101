"""The feature store: versioned feature definitions, point-in-time-correct training sets
and online lookup.

::

    from datetime import timedelta
    from lamina.features import Entity, Feature, FeatureService, FeatureView, get_store

    driver = Entity("driver", ["driver_id"])
    stats = FeatureView(
        "driver_stats", entities=[driver], source="data/driver_stats.parquet",
        features=[Feature("conv_rate", "float64"), Feature("trips", "int64")],
        timestamp_field="event_timestamp", created_timestamp_field="created",
        ttl=timedelta(hours=12),
    )
    store = get_store()
    store.apply([driver, stats, FeatureService("churn", ["driver_stats:*"])])
    train = store.get_historical_features(entity_rows, "churn")

Inside a flow step, :func:`training_set` does the same and records what it used with the
run. Public names are imported lazily; DuckDB only when a join runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina._lazy import lazy_exports

if TYPE_CHECKING:
    from lamina.features.definitions import Entity, Feature, FeatureService, FeatureView
    from lamina.features.online import online_features
    from lamina.features.store import LocalFeatureStore
    from lamina.features.training import get_store, rebuild_training_set, training_set

_LAZY = {
    "Entity": "lamina.features.definitions",
    "Feature": "lamina.features.definitions",
    "FeatureView": "lamina.features.definitions",
    "FeatureService": "lamina.features.definitions",
    "LocalFeatureStore": "lamina.features.store",
    "get_store": "lamina.features.training",
    "training_set": "lamina.features.training",
    "rebuild_training_set": "lamina.features.training",
    "online_features": "lamina.features.online",
}

__all__ = [
    "Entity",
    "Feature",
    "FeatureService",
    "FeatureView",
    "LocalFeatureStore",
    "get_store",
    "online_features",
    "rebuild_training_set",
    "training_set",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
