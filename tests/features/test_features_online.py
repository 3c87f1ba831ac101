"""Materialization (full and incremental) into the SQLite online store, and online reads
that honour the TTL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from features_util import T0, US, ts

from lamina.features import Entity, Feature, FeatureView, LocalFeatureStore, online_features

H = 3600 * US
DRIVER = Entity("driver", ["driver_id"])


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def make(tmp_path: Path, rows: list[tuple[int, float, float, float]]) -> LocalFeatureStore:
    """rows: (driver, event hour, created hour, value)."""
    pq.write_table(pa.table({
        "driver_id": pa.array([r[0] for r in rows], pa.int64()),
        "event_timestamp": ts(np.array([int(r[1] * H) for r in rows])),
        "created": ts(np.array([int(r[2] * H) for r in rows])),
        "rate": [r[3] for r in rows],
    }), tmp_path / "stats.parquet")
    store = LocalFeatureStore(root=tmp_path)
    store.apply([FeatureView("stats", entities=[DRIVER], source="stats.parquet",
                             features=[Feature("rate", "float64")],
                             created_timestamp_field="created", ttl=dt.timedelta(hours=2))])
    return store


def test_online_values_honour_ttl(tmp_path: Path) -> None:
    store = make(tmp_path, [(1, 0, 0, 0.1), (1, 5, 5, 0.5), (1, 5, 6, 0.6), (2, 1, 1, 0.2),
                            (3, 9, 9, 0.9)])
    assert store.materialize(None, at(6)) == {"stats": 2}  # driver 3's row is after the end
    rows = [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}, {"driver_id": 4}]
    got = store.get_online_features(["stats:rate"], rows, now=at(6))
    assert got == {"driver_id": [1, 2, 3, 4], "rate": [0.6, None, None, None]}
    # the tie at 5 h: the later-created row (0.6) is the one stored; at 7 h it is exactly
    # 2 h old (valid), a microsecond later it has expired
    assert store.get_online_features(["stats:rate"], rows[:1], now=at(7))["rate"] == [0.6]
    late = at(7) + dt.timedelta(microseconds=1)
    assert store.get_online_features(["stats:rate"], rows[:1], now=late)["rate"] == [None]
    # the same through the serving entry point
    assert online_features(["stats:rate"], rows[:1], store=store, now=at(6))["rate"] == [0.6]
    store.close()


def test_incremental_materialization_and_no_regression(tmp_path: Path) -> None:
    store = make(tmp_path, [(1, 1, 1, 0.1), (1, 3, 3, 0.3), (2, 2, 2, 0.2), (2, 8, 8, 0.8)])
    assert store.materialize_incremental(at(2.5)) == {"stats": 2}  # 1 h and 2 h rows
    rows = [{"driver_id": 1}, {"driver_id": 2}]
    assert store.get_online_features(["stats:rate"], rows, now=at(2.5))["rate"] == [0.1, 0.2]
    # the next window starts where the last one ended: only rows in [2.5 h, 9 h)
    assert store.materialize_incremental(at(9)) == {"stats": 2}
    assert store.get_online_features(["stats:rate"], rows, now=at(9))["rate"] == [None, 0.8]
    assert store.get_online_features(["stats:rate"], rows, now=at(4))["rate"] == [0.3, 0.8]
    # an older window materialized again never replaces newer stored values
    store.materialize(None, at(2.5))
    assert store.get_online_features(["stats:rate"], rows, now=at(4))["rate"] == [0.3, 0.8]
    assert store.materialize_incremental(at(9)) == {"stats": 0}
    store.close()


def test_several_join_keys(tmp_path: Path) -> None:
    pq.write_table(pa.table({
        "driver_id": pa.array([1, 1], pa.int64()),
        "city": ["fi", "se"],
        "event_timestamp": ts(np.array([0, 0])),
        "rate": [0.1, 0.2],
    }), tmp_path / "s.parquet")
    store = LocalFeatureStore(root=tmp_path)
    store.apply([FeatureView("s", entities=[DRIVER, Entity("city")], source="s.parquet",
                             features=[Feature("rate", "float")])])
    store.materialize(None, at(1))
    got = store.get_online_features(["s:rate"], [{"driver_id": 1, "city": "se"},
                                                 {"driver_id": 1, "city": "no"}], now=at(1))
    assert got == {"driver_id": [1, 1], "city": ["se", "no"], "rate": [0.2, None]}
    hist = store.get_historical_features(
        pa.table({"driver_id": pa.array([1], pa.int64()), "city": ["fi"],
                  "event_timestamp": ts(np.array([H]))}), ["s:rate"])
    assert hist.column("rate").to_pylist() == [0.1]
    store.close()
