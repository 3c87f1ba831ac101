"""lamina's point-in-time join on a Dask cluster (``training_set(store, entities, features,
client=...)``): entity and source rows partitioned by key hash, each partition joined by
the feature store's own join, the result written as partitioned Parquet to the datastore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina_features_dask.join import DaskTrainingSet, training_set

__all__ = ["DaskTrainingSet", "training_set"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lamina_features_dask import join

        return getattr(join, name)
    raise AttributeError(name)
