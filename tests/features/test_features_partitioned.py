"""``join_partition`` (what a distributed engine runs per partition) equals the store's
join: on the numpy engine, and on DuckDB for data the numpy engine cannot take."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import US, entity_table, feature_table, make_store

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView
from lamina.sdk import join_partition

DRIVER = Entity("driver", ["driver_id"])


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_join_partition_equals_the_store(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(11)
    span, ttl = 2 * 86400 * US, 3600 * US
    source = feature_table(rng, 3000, 60, span)
    entities = entity_table(rng, source, 800, 60, span, ttl)
    if engine == "duckdb":  # decimal keys: the numpy engine does not take them
        source = source.set_column(0, "driver_id", source.column("driver_id").cast(
            pa.decimal128(19, 0)))
        entities = entities.set_column(0, "driver_id", entities.column("driver_id").cast(
            pa.decimal128(19, 0)))
    pq.write_table(source, tmp_path / "s.parquet")
    view = FeatureView("stats", entities=[DRIVER], source="s.parquet",
                       features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
                       created_timestamp_field="created", ttl=dt.timedelta(microseconds=ttl))
    store = make_store(tmp_path, engine)
    store.apply([DRIVER, view])
    want = store.get_historical_features(entities, ["stats:f_float", "stats:f_int"])
    got = join_partition(entities, [(view, source, ("f_float", "f_int"), ("f_float", "f_int"))])
    assert got.column_names == want.column_names
    for name in want.column_names:
        assert got.column(name).equals(want.column(name)), name
    store.close()


def test_a_partition_missing_a_column_is_named() -> None:
    view = FeatureView("stats", entities=[DRIVER], source="s.parquet",
                       features=[Feature("rate", "float64")])
    source = pa.table({"driver_id": [1], "event_timestamp": pa.array([0], pa.timestamp("us"))})
    entities = pa.table({"driver_id": [1], "event_timestamp": pa.array([0], pa.timestamp("us"))})
    with pytest.raises(FeatureStoreError, match="rate"):
        join_partition(entities, [(view, source, ("rate",), ("rate",))])
