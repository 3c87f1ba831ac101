"""Bad input gives a FeatureStoreError naming the feature view and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import US, ts

from lamina.errors import FeatureStoreError, LaminaError
from lamina.features import Entity, Feature, FeatureView, LocalFeatureStore

DRIVER = Entity("driver", ["driver_id"])


def source(**override: object) -> pa.Table:
    cols = {
        "driver_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": ts(np.array([0, US])),
        "rate": [0.5, 0.7],
    }
    cols.update(override)
    return pa.table(cols)


def view(src: object, **kw: object) -> FeatureView:
    return FeatureView("stats", entities=[DRIVER], source=src,
                       features=[Feature("rate", "float64")], **kw)


@pytest.fixture
def store(tmp_path: Path) -> LocalFeatureStore:
    s = LocalFeatureStore(root=tmp_path)
    yield s
    s.close()


def entities() -> pa.Table:
    return pa.table({"driver_id": pa.array([1], pa.int64()),
                     "event_timestamp": ts(np.array([US]))})


def test_unknown_feature_names_view_and_feature(store: LocalFeatureStore) -> None:
    store.apply([view(source())])
    with pytest.raises(FeatureStoreError) as err:
        store.get_historical_features(entities(), ["stats:rat"])
    assert "'stats'" in str(err.value) and "'rat'" in str(err.value)
    assert "did you mean 'rate'" in str(err.value).lower()
    with pytest.raises(FeatureStoreError, match="no feature view 'stat'"):
        store.get_historical_features(entities(), ["stat:rate"])
    with pytest.raises(FeatureStoreError, match="view:feature"):
        store.get_historical_features(entities(), ["rate"])


def test_missing_timestamp_column_in_source(store: LocalFeatureStore) -> None:
    bad = source().rename_columns(["driver_id", "ts", "rate"])
    with pytest.raises(FeatureStoreError) as err:
        store.apply([view(bad)])
    text = str(err.value)
    assert "'stats'" in text and "timestamp column 'event_timestamp'" in text and "ts" in text
    assert store.list_definitions() == []  # nothing recorded


def test_timestamp_column_that_is_not_a_timestamp(store: LocalFeatureStore) -> None:
    with pytest.raises(FeatureStoreError, match=r"'event_timestamp'.*not a timestamp"):
        store.apply([view(source(event_timestamp=pa.array([1, 2])))])


def test_type_mismatch_between_definition_and_source(store: LocalFeatureStore) -> None:
    with pytest.raises(FeatureStoreError) as err:
        store.apply([view(source(rate=pa.array(["a", "b"])))])
    text = str(err.value)
    assert "'stats'" in text and "'rate'" in text and "float64" in text and "VARCHAR" in text


def test_unreachable_source(store: LocalFeatureStore, tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError) as err:
        store.apply([view("no/such/file.parquet")])
    assert "'stats'" in str(err.value) and "no/such/file.parquet" in str(err.value)
    # a source that disappears after it was applied fails the same way at query time
    pq.write_table(source(), tmp_path / "s.parquet")
    store.apply([view("s.parquet")])
    (tmp_path / "s.parquet").unlink()
    with pytest.raises(FeatureStoreError, match=r"'stats'.*'s\.parquet' cannot be read"):
        store.get_historical_features(entities(), ["stats:rate"])


def test_entity_rows_without_key_or_timestamp(store: LocalFeatureStore) -> None:
    store.apply([view(source())])
    with pytest.raises(FeatureStoreError, match="no timestamp column 'event_timestamp'"):
        store.get_historical_features(entities().drop_columns(["event_timestamp"]),
                                      ["stats:rate"])
    with pytest.raises(FeatureStoreError, match="join key 'driver_id' of feature view 'stats'"):
        store.get_historical_features(entities().drop_columns(["driver_id"]), ["stats:rate"])
    wrong = entities().set_column(0, "driver_id", pa.array(["1"]))
    with pytest.raises(FeatureStoreError, match="join key 'driver_id' is VARCHAR"):
        store.get_historical_features(wrong, ["stats:rate"])


def test_bad_definitions_fail_early() -> None:
    with pytest.raises(FeatureStoreError, match="declares no features"):
        FeatureView("v", entities=[DRIVER], source="x.parquet", features=[])
    with pytest.raises(FeatureStoreError, match="unknown type 'float65'"):
        Feature("x", "float65")
    with pytest.raises(FeatureStoreError, match="ttl"):
        view("x.parquet", ttl=-5)
    assert issubclass(FeatureStoreError, LaminaError)
