"""The feature-store layer: definitions, point-in-time-correct training sets, online lookup.

Two contracts: :class:`FeatureStore` is the layer's component (a stack's
``feature_store = {...}``); :class:`OnlineStore` is where a feature store keeps the newest
values per key for low-latency reads. Online stores are offered by plugins through the
``lamina_online_stores`` hook as :class:`OnlineStoreSpec`, so Redis or DynamoDB can be added
without touching the feature store that uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs


@runtime_checkable
class FeatureStore(Protocol):
    """Serves features for training (historical) and for prediction (online)."""

    def apply(self, definitions: Sequence[Any]) -> Any:
        """Register or update entities, feature views and feature services (a new version
        of each one whose definition changed)."""

    def get_historical_features(self, entities: Any, features: Any) -> Any:
        """For each entity row, the latest feature values at or before its timestamp,
        within each view's TTL, as an Arrow table in the entity rows' order; rows without a
        match keep nulls. Never a value from after the entity row's timestamp."""

    def materialize(self, start: Any, end: Any, views: Sequence[str] | None = None) -> Any:
        """Load the newest value per key with event time in ``[start, end)`` into the
        online store."""

    def get_online_features(self, features: Any, entity_rows: Sequence[Mapping[str, Any]]
                            ) -> dict[str, list[Any]]:
        """The newest materialized values for the given keys, honouring each view's TTL:
        column name -> one value per entity row (None when missing or expired)."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""


@runtime_checkable
class OnlineStore(Protocol):
    """Newest feature values per entity key, for one row at a time lookups.

    Values are written per feature view *table* (the view's name and version), keyed by
    the entity key (a tuple of the join-key values). Timestamps are epoch microseconds.
    The table name comes from the feature store, which qualifies it for a branch: an
    online store keeps tables apart and adds no namespace of its own beyond a configured
    prefix.
    """

    def write(self, table: str, features: Sequence[str], rows: Sequence[tuple], *,
              ttl_seconds: float | None = None) -> int:
        """Upsert ``rows`` of ``(key, event_us, created_us, *values)``; a stored row is
        replaced only by a newer one (event time, then created time). Returns rows
        written. ``ttl_seconds`` is the view's TTL: a store may drop a row once it is
        older than that (Redis sets it as the key's expiry); lookups apply it anyway."""

    def read(self, table: str, features: Sequence[str], keys: Sequence[tuple]
             ) -> dict[tuple, tuple[int, tuple]]:
        """For the keys present: key -> (event_us, values in ``features`` order)."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""

    def close(self) -> None:
        """Release connections."""


@attrs.frozen
class OnlineStoreSpec:
    """A named online store offered by a plugin.

    :param name: what a feature store's ``online_store`` option names (``"sqlite"``).
    :param config: an attrs class of its options (``online_options`` in the config).
    :param factory: ``factory(options, stack) -> OnlineStore``; import heavy clients inside.
    :param description: one line for listings.
    """

    name: str
    config: type
    factory: Callable[[Any, Any], Any]
    description: str = ""
