"""Point-in-time correctness: every row compared with an independent reference (pandas
merge_asof, tie rule and TTL applied by hand) on generated data full of edge cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import (
    T0,
    US,
    assert_same,
    entity_table,
    feature_table,
    make_store,
    reference_join,
    ts,
)

from lamina.features import Entity, Feature, FeatureService, FeatureView, LocalFeatureStore

FEATURES = ["f_float", "f_int"]
DRIVER = Entity("driver", ["driver_id"])


def make_view(source: object, *, created: str | None = "created", ttl_us: int | None = None,
              name: str = "stats") -> FeatureView:
    return FeatureView(
        name, entities=[DRIVER], source=source,
        features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
        created_timestamp_field=created,
        ttl=None if ttl_us is None else dt.timedelta(microseconds=ttl_us),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ttl_hours", [6, None])
def test_matches_reference_on_every_row(tmp_path: Path, engine: str, seed: int, ttl_hours: int | None
                                        ) -> None:
    rng = np.random.default_rng(seed)
    span, ttl = 5 * 86400 * US, None if ttl_hours is None else ttl_hours * 3600 * US
    source = feature_table(rng, 8000, 200, span)
    entities = entity_table(rng, source, 3000, 200, span, ttl or 3600 * US)
    pq.write_table(source, tmp_path / "stats.parquet")
    store = make_store(tmp_path, engine)
    store.apply([DRIVER, make_view("stats.parquet", ttl_us=ttl)])
    result = store.get_historical_features(entities, ["stats:f_float", "stats:f_int"])
    assert result.column_names == ["driver_id", "event_timestamp", "label", *FEATURES]
    # rows keep their order (label is the position), entity columns untouched
    assert result.column("label").to_pylist() == entities.column("label").to_pylist()
    assert result.column("driver_id").equals(entities.column("driver_id"))
    expected = reference_join(entities, source, FEATURES, ttl)
    assert_same(result, expected, FEATURES)
    # the data really exercises the cases: matches, TTL misses and no-key misses
    nulls = result.column("f_float").null_count
    assert 0 < nulls < result.num_rows // 2


def test_entity_rows_from_parquet_and_pandas_give_the_same_rows(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(7)
    span, ttl = 3 * 86400 * US, 4 * 3600 * US
    source = feature_table(rng, 4000, 100, span)
    entities = entity_table(rng, source, 1500, 100, span, ttl)
    pq.write_table(source, tmp_path / "stats.parquet")
    pq.write_table(entities, tmp_path / "entities.parquet", row_group_size=500)
    store = make_store(tmp_path, engine)
    store.apply([make_view("stats.parquet", ttl_us=ttl), FeatureService("svc", ["stats:*"])])
    expected = reference_join(entities, source, FEATURES, ttl)
    from_path = store.get_historical_features(str(tmp_path / "entities.parquet"), "svc")
    assert_same(from_path, expected, FEATURES)
    assert from_path.column("label").to_pylist() == entities.column("label").to_pylist()
    frame = store.get_historical_features(entities.to_pandas(), "svc", as_pandas=True)
    assert list(frame["label"]) == entities.column("label").to_pylist()
    assert_same(pa.Table.from_pandas(frame), expected, FEATURES)


def test_without_created_column_ties_are_absent_and_result_matches(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(11)
    span, ttl = 2 * 86400 * US, 3600 * US
    source = feature_table(rng, 3000, 80, span)
    # no ties possible: keep one row per (key, event time)
    frame = source.to_pandas().drop_duplicates(["driver_id", "event_timestamp"])
    source = pa.Table.from_pandas(frame, preserve_index=False).drop_columns(["created"])
    entities = entity_table(rng, source, 1000, 80, span, ttl)
    store = make_store(tmp_path, engine)
    store.apply([make_view(source, created=None, ttl_us=ttl)])  # an in-memory source
    result = store.get_historical_features(entities, ["stats:*"])
    assert_same(result, reference_join(entities, source, FEATURES, ttl, created=None), FEATURES)


def test_hand_written_adversarial_cases(tmp_path: Path, engine: str) -> None:
    h = 3600 * US
    source = pa.table({
        "driver_id": pa.array([1, 1, 1, 1, 2, None], pa.int64()),
        "event_timestamp": ts(np.array([6 * h, 10 * h, 10 * h, 20 * h, 5 * h, 5 * h])),
        # the tie at 10 h: the row written later (created 11 h) wins though it comes first
        "created": ts(np.array([6 * h, 11 * h, 10 * h, 20 * h, 5 * h, 5 * h])),
        "f_float": [1.0, 2.0, 3.0, 4.0, 5.0, 99.0],
        "f_int": pa.array([1, 2, 3, 4, 5, 99], pa.int64()),
    })
    entities = pa.table({
        "driver_id": pa.array([1, 1, 1, 1, 1, 2, 2, None, 3, 1, 1], pa.int64()),
        "event_timestamp": pa.array(
            [np.datetime64(T0, "us") + np.timedelta64(int(x), "us") if x is not None else None
             for x in [10 * h, 10 * h - 1, 16 * h, 16 * h + 1, 20 * h - 1, 5 * h, 11 * h + 1,
                       5 * h, 5 * h, None, 10 * h]],
            pa.timestamp("us")),
    })
    store = make_store(tmp_path, engine)
    store.apply([make_view(source, ttl_us=6 * h)])
    got = store.get_historical_features(entities, ["stats:f_float"]).column("f_float")
    assert got.to_pylist()[:1] == [2.0]
    # a null created time counts as the oldest: the row still matches, and loses ties
    nulled = source.set_column(2, "created", pa.array([None, None, *source.column(2)[2:]],
                                                      pa.timestamp("us")))
    store.apply([make_view(nulled, ttl_us=6 * h)])
    again = store.get_historical_features(entities, ["stats:f_float"]).column("f_float")
    assert again.to_pylist()[:2] == [3.0, 1.0]
    assert got.to_pylist() == [
        2.0,   # exact match on the tie: latest created wins (not 3.0)
        1.0,   # one microsecond before: the older row, never the future one
        2.0,   # exactly at the TTL (6 h): still valid
        None,  # one microsecond past the TTL: null, never an older row
        None,  # 20 h - 1 us: the 10 h row is 10 h old (> TTL), the 20 h row is future
        5.0,   # other key, exact time
        None,  # other key past TTL
        None,  # null key: no match even though a null-keyed source row exists
        None,  # key absent from the source
        None,  # null timestamp
        2.0,   # a duplicate of the first row gets the same answer
    ]


def test_several_views_and_full_feature_names(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(5)
    span, ttl = 2 * 86400 * US, 2 * 3600 * US
    a = feature_table(rng, 3000, 50, span)
    b = feature_table(rng, 3000, 50, span)
    entities = entity_table(rng, a, 800, 50, span, ttl)
    store = make_store(tmp_path, engine)
    store.apply([make_view(a, ttl_us=ttl, name="a"), make_view(b, ttl_us=None, name="b")])
    result = store.get_historical_features(
        entities, ["a:f_float", "b:f_float", "b:f_int"], full_feature_names=True)
    assert result.column_names[-3:] == ["a__f_float", "b__f_float", "b__f_int"]
    ref_a = reference_join(entities, a, ["f_float"], ttl)
    ref_b = reference_join(entities, b, FEATURES, None)
    assert_same(result.rename_columns([*result.column_names[:-3], "f_float", "x", "y"]),
                ref_a, ["f_float"])
    assert_same(result.select(["b__f_float", "b__f_int"]).rename_columns(FEATURES), ref_b,
                FEATURES)


def test_created_column_without_ties_and_mixed_views(tmp_path: Path, engine: str) -> None:
    # the plain ASOF is used when no matched row has a tie; a view whose matches do have
    # ties falls back to the tie rule, in the same request
    rng = np.random.default_rng(17)
    span, ttl = 2 * 86400 * US, 3600 * US
    tied = feature_table(rng, 3000, 60, span)
    frame = feature_table(rng, 3000, 60, span).to_pandas()
    untied = pa.Table.from_pandas(
        frame.drop_duplicates(["driver_id", "event_timestamp"]), preserve_index=False)
    entities = entity_table(rng, untied, 1200, 60, span, ttl)
    store = make_store(tmp_path, engine)
    store.apply([make_view(untied, ttl_us=ttl, name="a"), make_view(tied, ttl_us=ttl, name="b")])
    alone = store.get_historical_features(entities, ["a:f_float", "a:f_int"])
    assert alone.column_names == [*entities.column_names, *FEATURES]
    assert_same(alone, reference_join(entities, untied, FEATURES, ttl), FEATURES)
    both = store.get_historical_features(entities, ["a:*", "b:*"], full_feature_names=True)
    assert both.column_names == [*entities.column_names, "a__f_float", "a__f_int",
                                 "b__f_float", "b__f_int"]
    assert_same(both.select(["a__f_float", "a__f_int"]).rename_columns(FEATURES),
                reference_join(entities, untied, FEATURES, ttl), FEATURES)
    assert_same(both.select(["b__f_float", "b__f_int"]).rename_columns(FEATURES),
                reference_join(entities, tied, FEATURES, ttl), FEATURES)


def test_ties_found_only_after_the_plain_join_are_resolved(tmp_path: Path, engine: str) -> None:
    # the start of the source has no tie, so the plain ASOF runs first; its check finds the
    # ties further down (where the entity rows match) and the tie rule is applied
    rng = np.random.default_rng(23)
    span, ttl = 2 * 86400 * US, 3600 * US
    n = 100_000
    event = rng.choice(span, n, replace=False)  # distinct event times: no tie at all
    prefix = pa.table({
        "driver_id": pa.array(rng.integers(0, 60, n), pa.int64()),
        "event_timestamp": ts(event),
        "created": ts(event + 5),
        "f_float": pa.array(rng.random(n)),
        "f_int": rng.integers(0, 1000, n),
    })
    tied = feature_table(rng, 3000, 60, span)
    source = pa.concat_tables([prefix, tied.cast(prefix.schema)])
    entities = entity_table(rng, tied, 1500, 60, span, ttl)
    store = make_store(tmp_path, engine)
    store.apply([make_view(source, ttl_us=ttl)])
    result = store.get_historical_features(entities, ["stats:*"])
    assert result.column_names == [*entities.column_names, *FEATURES]
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)


def _ties_known(store: LocalFeatureStore, view: str = "stats") -> bool | None:
    return store._known_source_ties(store._view(view))


def test_a_source_rewritten_with_ties_after_apply_still_gets_the_tie_rule(tmp_path: Path
                                                                          ) -> None:
    # with the DuckDB engine, apply scans the source once and remembers "no repeated (key,
    # event time)" for that version of the file; rewriting the file in place must not
    # reuse that answer
    rng = np.random.default_rng(31)
    span, ttl = 2 * 86400 * US, 3600 * US
    tied = feature_table(rng, 3000, 60, span)
    untied = pa.Table.from_pandas(tied.to_pandas().drop_duplicates(
        ["driver_id", "event_timestamp"]), preserve_index=False)
    assert untied.num_rows < tied.num_rows  # the generated data has ties to drop
    entities = entity_table(rng, tied, 1500, 60, span, ttl)
    path = tmp_path / "stats.parquet"
    pq.write_table(untied, path)
    store = make_store(tmp_path, "duckdb")
    store.apply([make_view("stats.parquet", ttl_us=ttl)])
    assert _ties_known(store) is False
    assert_same(store.get_historical_features(entities, ["stats:*"]),
                reference_join(entities, untied, FEATURES, ttl), FEATURES)
    with open(path, "r+b") as f:  # the same file (same inode), new bytes
        f.truncate(0)
    pq.write_table(tied, path)
    assert _ties_known(store) is None  # a new version of the source: nothing known
    assert_same(store.get_historical_features(entities, ["stats:*"]),
                reference_join(entities, tied, FEATURES, ttl), FEATURES)


def test_apply_remembers_repeated_times_per_source_version(tmp_path: Path) -> None:
    rng = np.random.default_rng(37)
    span, ttl = 2 * 86400 * US, 3600 * US
    tied = feature_table(rng, 3000, 60, span)
    entities = entity_table(rng, tied, 1000, 60, span, ttl)
    pq.write_table(tied, tmp_path / "stats.parquet")
    store = make_store(tmp_path, "duckdb")
    store.apply([make_view("stats.parquet", ttl_us=ttl)])
    assert _ties_known(store) is True
    assert_same(store.get_historical_features(entities, ["stats:*"]),
                reference_join(entities, tied, FEATURES, ttl), FEATURES)
    # a view without a created timestamp has no tie rule: nothing to learn
    store.apply([make_view("stats.parquet", ttl_us=ttl, created=None, name="plain")])
    assert _ties_known(store, "plain") is None


def test_apply_skips_the_repeated_times_scan_when_the_numpy_engine_joins(tmp_path: Path
                                                                          ) -> None:
    # the numpy engine sees ties as it sorts; a local source under "auto" is not scanned
    rng = np.random.default_rng(41)
    tied = feature_table(rng, 2000, 40, 86400 * US)
    pq.write_table(tied, tmp_path / "stats.parquet")
    for engine, known in (("auto", None), ("numpy", None), ("duckdb", True)):
        store = make_store(tmp_path / engine, engine)
        store.apply([make_view(str(tmp_path / "stats.parquet"), ttl_us=3600 * US)])
        assert _ties_known(store) is known, engine
