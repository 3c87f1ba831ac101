"""Online features for a request, by key: what a model server calls per prediction.

The serving layer (or any request handler) calls::

    from lamina.features import online_features

    row = online_features("churn_model", [{"driver_id": 1001}], stack=stack)
    # {"driver_id": [1001], "conv_rate": [0.42], ...}

The feature store of the stack is built once and kept, so a call is one indexed lookup in
the online store, well under a millisecond for 100 keys with the builtin SQLite store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def online_features(
    features: Any,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    stack: Any = None,
    store: Any = None,
    now: Any = None,
) -> dict[str, list[Any]]:
    """The newest materialized feature values for each entity row, None where missing
    or older than the view's TTL.

    :param features: ``["view:feature", ...]``, a FeatureService or a service's name (what
        the model was trained with, so serving asks for exactly the same features).
    :param entity_rows: one mapping of join keys per prediction row.
    :param stack: the stack whose feature store to use (default: the project's).
    :param store: a feature store to use directly instead.
    :return: column -> values, one per entity row (join keys first).
    """
    if store is None:
        from lamina.features.training import get_store

        store = get_store(stack)
    return store.get_online_features(features, entity_rows, now=now)  # type: ignore[no-any-return]
