"""The entity rows' timestamp type survives the join on every engine and input kind, and
times beyond what nanoseconds hold (a source in seconds past 2262) are joined when that
is exact, or refused once, naming the column and its range."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import make_store

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView

DRIVER = Entity("driver", ["driver_id"])
T0 = np.datetime64("2026-01-01T00:00:00", "us")


def source_file(tmp_path: Path, times: pa.Array) -> str:
    pq.write_table(pa.table({
        "driver_id": pa.array([1] * len(times), pa.int64()),
        "event_timestamp": times,
        "rate": [0.1 * (i + 1) for i in range(len(times))],
    }), tmp_path / "src.parquet")
    return "src.parquet"


def entity_rows(kind: str, table: pa.Table, tmp_path: Path) -> Any:
    if kind == "parquet":
        pq.write_table(table, tmp_path / "entities.parquet")
        return str(tmp_path / "entities.parquet")
    return table.to_pandas() if kind == "pandas" else table


@pytest.mark.parametrize("kind", ["parquet", "arrow", "pandas"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_the_entity_types_survive(tmp_path: Path, engine: str, unit: str, tz: str | None,
                                  kind: str) -> None:
    store = make_store(tmp_path, engine)
    src = source_file(tmp_path, pa.array([T0, T0 + np.timedelta64(2, "h")], pa.timestamp("us")))
    store.apply([FeatureView("s", entities=[DRIVER], source=src,
                             features=[Feature("rate", "float64")])])
    hours = [1, 3, 3]
    table = pa.table({
        "driver_id": pa.array([1, 1, 2], pa.int64()),
        "event_timestamp": pa.array([T0 + np.timedelta64(h, "h") for h in hours],
                                    pa.timestamp("us")).cast(pa.timestamp(unit, tz=tz)),
        "label": pa.array(["a", "b", "c"], pa.large_string()),
        "code": pa.array(["x", "y", "x"]).dictionary_encode(),
    })
    given = entity_rows(kind, table, tmp_path)
    # what a reader of the input sees: Parquet keeps no seconds (pyarrow reads them as
    # milliseconds), pandas keeps no dictionary or large_string
    expected = (pq.read_schema(given) if kind == "parquet"
                else pa.Schema.from_pandas(given, preserve_index=False) if kind == "pandas"
                else table.schema)
    out = store.get_historical_features(given, ["s:rate"])
    for name in table.column_names:
        assert out.schema.field(name).type == expected.field(name).type, name
    assert out.column("event_timestamp").cast(pa.timestamp("us", tz=tz)).equals(
        table.column("event_timestamp").cast(pa.timestamp("us", tz=tz)))
    assert out.column("rate").to_pylist() == [0.1, 0.2, None]
    store.close()


def y2500_source(tmp_path: Path, tz: str | None) -> str:
    return source_file(tmp_path, pa.array(
        [dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1), dt.datetime(2500, 1, 1)],
        pa.timestamp("s", tz=tz)))


@pytest.mark.parametrize("source_tz", [None, "UTC"])
@pytest.mark.parametrize("entity_tz", [None, "UTC"])
@pytest.mark.parametrize("mode", ["auto", "duckdb"])
def test_a_source_past_2262_against_nanosecond_entities_is_joined(
        tmp_path: Path, mode: str, source_tz: str | None, entity_tz: str | None) -> None:
    store = make_store(tmp_path, mode)
    store.apply([FeatureView("s", entities=[DRIVER], source=y2500_source(tmp_path, source_tz),
                             features=[Feature("rate", "float64")],
                             ttl=dt.timedelta(days=3650))])
    times = np.array(["2019-06-01", "2021-01-01", "2031-01-01", "2262-01-01"],
                     "datetime64[ns]")
    entities = pa.table({
        "driver_id": pa.array([1, 1, 1, 1], pa.int64()),
        "event_timestamp": pa.array(times, pa.timestamp("ns")).cast(
            pa.timestamp("ns", tz=entity_tz)),
    })
    out = store.get_historical_features(entities, ["s:rate"])
    # the 2500 row is never at or before an entity time; the 2262 row's 2030 match is
    # past the ten-year TTL
    assert out.column("rate").to_pylist() == [None, 0.1, 0.2, None]
    assert out.schema.field("event_timestamp").type == pa.timestamp("ns", tz=entity_tz)
    store.close()


@pytest.mark.parametrize("mode", ["auto", "duckdb"])
def test_inexact_nanoseconds_against_a_source_past_2262_are_refused_clearly(
        tmp_path: Path, mode: str) -> None:
    store = make_store(tmp_path, mode)
    store.apply([FeatureView("s", entities=[DRIVER], source=y2500_source(tmp_path, None),
                             features=[Feature("rate", "float64")])])
    entities = pa.table({
        "driver_id": pa.array([1], pa.int64()),
        "event_timestamp": pa.array(np.array(["2021-01-01T00:00:00.000000500"],
                                             "datetime64[ns]"), pa.timestamp("ns")),
    })
    with pytest.raises(FeatureStoreError) as info:
        store.get_historical_features(entities, ["s:rate"])
    message = str(info.value)
    assert "feature view 's': source column 'event_timestamp' holds times from " \
        "2020-01-01 00:00:00 to 2500-01-01 00:00:00" in message
    assert "round the entity rows' 'event_timestamp' to microseconds" in message
    assert "Conversion Error" not in message  # one clear error, not DuckDB's
    store.close()


def test_entity_times_past_2262_against_a_nanosecond_source_are_refused_clearly(
        tmp_path: Path) -> None:
    store = make_store(tmp_path, "auto")
    src = source_file(tmp_path, pa.array(np.array(["2020-01-01"], "datetime64[ns]"),
                                         pa.timestamp("ns")))
    store.apply([FeatureView("s", entities=[DRIVER], source=src,
                             features=[Feature("rate", "float64")])])
    entities = pa.table({
        "driver_id": pa.array([1, 1], pa.int64()),
        "event_timestamp": pa.array([dt.datetime(2021, 1, 1), dt.datetime(2500, 1, 1)],
                                    pa.timestamp("s")),
    })
    with pytest.raises(FeatureStoreError, match=r"the entity rows' timestamp column "
                       r"'event_timestamp' holds times from 2021-01-01 00:00:00 to "
                       r"2500-01-01 00:00:00, beyond what the nanosecond source column "
                       r"'event_timestamp' of feature view 's' can hold"):
        store.get_historical_features(entities, ["s:rate"])
    store.close()
