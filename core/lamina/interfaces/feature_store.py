"""The feature-store layer: definitions, point-in-time-correct training sets, online
lookup. The builtin implementation arrives with the feature-store work; this is the
contract it and any plugin will meet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FeatureStore(Protocol):
    """Serves features for training (historical) and for prediction (online)."""

    def apply(self, definitions: Sequence[Any]) -> None:
        """Register or update entities, feature views and feature services."""

    def get_historical_features(self, entities: Any, features: Sequence[str]) -> Any:
        """For each entity row, the latest feature values at or before its timestamp,
        within each view's TTL, as an Arrow table; rows without a match keep nulls."""

    def get_online_features(self, features: Sequence[str], entity_rows: Sequence[dict]) -> Any:
        """The newest values for the given keys, honouring TTL."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""
