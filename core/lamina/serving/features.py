"""Online features looked up by entity key before predicting (a deployment's ``features``).

A deployment that names features (a feature service, or ``view:feature`` names) takes
requests that carry only entity keys: for each request the server reads the newest values
of those features for the keys from the stack's feature store (its online store, with each
view's TTL), puts them in as the model's inputs of the same names, and predicts::

    name = "churn"
    features = "driver_service"          # or ["stats:rate", "stats:trips"]

    [[variants]]
    model = "churn/latest/model"

    # POST /v2/models/churn/infer
    # {"inputs": [{"name": "driver_id", "datatype": "INT64", "shape": [2], "data": [1001, 1002]}]}

Inputs the request sends itself are kept (a feature the caller already has is not looked
up again). It works over any online store, through :class:`lamina.interfaces.FeatureStore`'s
``get_online_features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lamina.serving.errors import PayloadError
from lamina.serving.schema import Schema


def feature_request(features: Sequence[str]) -> Any:
    """What a deployment's ``features`` asks the feature store for: a service's name as
    itself, ``view:feature`` names as a list."""
    if len(features) == 1 and ":" not in features[0]:
        return features[0]
    return list(features)


class FeatureLookup:
    """Completes V2 requests of entity keys with online feature values.

    :param store: a feature store (``get_online_features`` and ``resolve``).
    :param features: a feature service's name, or ``view:feature`` names.
    """

    def __init__(self, store: Any, features: Sequence[str]) -> None:
        self.store = store
        self.request = feature_request(features)
        resolved = store.resolve(self.request)  # an unknown name fails at start
        keys: list[str] = []
        for r in resolved:
            keys.extend(k for k in r.view.join_keys if k not in keys)
        self.join_keys = tuple(keys)

    def complete(self, inputs: Any, schema: Schema) -> list[dict[str, Any]]:
        """The request's tensors for the model's inputs plus the looked-up features.

        :raises PayloadError: a join key missing from the request, or a feature with no
            value for a key where the model's input cannot take a missing one.
        """
        if not isinstance(inputs, list) or not inputs:
            raise PayloadError('"inputs" must be a non-empty list of tensors', field="inputs",
                               hint=f"send the entity keys: {', '.join(self.join_keys)}")
        given = {t.get("name"): t for t in inputs if isinstance(t, dict)}
        missing = [k for k in self.join_keys if k not in given]
        if missing:
            raise PayloadError(
                f"input {missing[0]!r} is missing: the deployment looks features up by "
                f"{', '.join(self.join_keys)}", field=missing[0],
                hint=f"send a tensor per entity key: {', '.join(self.join_keys)}")
        columns = {k: _flat(given[k].get("data"), k) for k in self.join_keys}
        n = len(columns[self.join_keys[0]])
        for k, values in columns.items():
            if len(values) != n:
                raise PayloadError(f"input {k!r} has {len(values)} values, "
                                   f"{self.join_keys[0]!r} has {n}", field=k,
                                   hint="send one value of every key per row")
        rows = [{k: columns[k][i] for k in self.join_keys} for i in range(n)]
        found = self.store.get_online_features(self.request, rows)
        out: list[dict[str, Any]] = []
        for field in schema.inputs:
            if field.name in given:
                out.append(given[field.name])
                continue
            values = found.get(field.name)
            if values is None:
                continue  # neither sent nor a feature: decoding names it as missing
            if any(v is None for v in values):
                if field.kind != "f":
                    i = values.index(None)
                    key = ", ".join(f"{k}={rows[i][k]!r}" for k in self.join_keys)
                    raise PayloadError(
                        f"no online value of feature {field.name!r} for {key} (never "
                        "materialized, or older than its view's TTL)", field=field.name,
                        hint="materialize the view (lamina features materialize), or send "
                        "the value in the request")
                values = [float("nan") if v is None else v for v in values]
            out.append({"name": field.name, "datatype": field.datatype, "shape": [n],
                        "data": values})
        return out


def _flat(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise PayloadError(f"input {name!r} has no \"data\" list", field=name,
                           hint="send {\"name\": ..., \"shape\": [N], \"data\": [...]}")
    if data and isinstance(data[0], list):
        return [v for row in data for v in row]
    return data
