"""The numpy engine on what it must pack: other time units, string, float and composite
keys, ranges that do not fit (DuckDB then takes the join), and what it leaves to DuckDB.
Every answer is compared with the pandas reference or with the DuckDB engine's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import US, assert_same, entity_table, feature_table, make_store, reference_join

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView, numpy_engine

FEATURES = ["f_float", "f_int"]


def view(source: object, *, keys: tuple[str, ...] = ("driver_id",), ttl_us: int | None,
         created: str | None = "created", name: str = "stats") -> FeatureView:
    return FeatureView(
        name, entities=[Entity("driver", list(keys))], source=source,
        features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
        created_timestamp_field=created,
        ttl=None if ttl_us is None else dt.timedelta(microseconds=ttl_us))


def data(seed: int, ttl: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    span = 3 * 86400 * US
    source = feature_table(rng, 4000, 120, span)
    return source, entity_table(rng, source, 1500, 120, span, ttl)


def joined(tmp_path: Path, engine: str, source: object, entities: object, **kw: object
           ) -> pa.Table:
    store = make_store(tmp_path / engine, engine)
    store.apply([view(source, **kw)])  # type: ignore[arg-type]
    try:
        return store.get_historical_features(entities, ["stats:*"])
    finally:
        store.close()


def left_to_duckdb(tmp_path: Path, source: object, entities: object, why: str,
                   **kw: object) -> pa.Table:
    """Assert that the numpy engine refuses this join saying ``why`` (a regex), and that
    ``auto`` gives the DuckDB engine's answer; return that answer."""
    store = make_store(tmp_path / "refused", "numpy")
    store.apply([view(source, **kw)])  # type: ignore[arg-type]
    with pytest.raises(FeatureStoreError, match=why) as info:
        store.get_historical_features(entities, ["stats:*"])
    assert "engine to 'auto'" in str(info.value)
    auto = joined(tmp_path / "auto", "auto", source, entities, **kw)
    assert auto.equals(joined(tmp_path / "auto", "duckdb", source, entities, **kw))
    return auto


def with_unit(table: pa.Table, column: str, unit: str, tz: str | None = None) -> pa.Table:
    i = table.column_names.index(column)
    return table.set_column(i, column, table.column(column).cast(pa.timestamp(unit, tz)))


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_nanosecond_sources_as_pandas_writes_them_pack_by_whole_microseconds(
        tmp_path: Path, engine: str) -> None:
    # 120 keys x 3 days in ns needs more than 62 bits; in whole microseconds it fits
    ttl = 4 * 3600 * US
    source, entities = data(1, ttl)
    ns = with_unit(with_unit(source, "event_timestamp", "ns"), "created", "ns")
    pq.write_table(ns, tmp_path / "ns.parquet")
    # tz-aware nanoseconds, as pandas makes them (DuckDB calls them TIMESTAMPTZ_NS)
    result = joined(tmp_path, engine, str(tmp_path / "ns.parquet"),
                    with_unit(entities, "event_timestamp", "ns", "UTC"), ttl_us=ttl)
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)


def test_time_units_of_entity_rows_and_source_may_differ(tmp_path: Path) -> None:
    h = 3600 * US
    source = pa.table({
        "driver_id": pa.array([1, 1, 2], pa.int64()),
        "event_timestamp": pa.array([10 * h, 20 * h, 10 * h], pa.timestamp("us")),
        "created": pa.array([10 * h, 20 * h, 10 * h], pa.timestamp("us")),
        "f_float": [1.0, 2.0, 3.0],
        "f_int": pa.array([1, 2, 3], pa.int64()),
    })
    ns = 1000
    entities = pa.table({  # nanoseconds around the source's microseconds
        "driver_id": pa.array([1, 1, 1, 2, 2, 2], pa.int64()),
        "event_timestamp": pa.array(
            [20 * h * ns - 1, 20 * h * ns, 20 * h * ns + 1,
             (10 * h + 2 * h) * ns, (10 * h + 2 * h) * ns + 1, 10 * h * ns - 1],
            pa.timestamp("ns")),
    })
    for engine in ("numpy", "duckdb"):
        got = joined(tmp_path, engine, source, entities, ttl_us=2 * h)
        # 1 ns before 20 h: the 10 h row, 10 h old (past the TTL); exactly 2 h old: kept,
        # 1 ns more: gone; 1 ns before the only row: nothing
        assert got.column("f_float").to_pylist() == [None, 2.0, 2.0, 3.0, None, None], engine
    seconds = entities.set_column(1, "event_timestamp", pa.array(
        [20 * 3600, 20 * 3600 - 1, 21 * 3600, 12 * 3600, 12 * 3600 + 1, 9 * 3600],
        pa.timestamp("s")))
    got = joined(tmp_path / "s", "numpy", source, seconds, ttl_us=2 * h)
    assert got.column("f_float").to_pylist() == [2.0, None, 2.0, 3.0, None, None]


@pytest.mark.parametrize("null_keys", [False, True])
def test_sources_of_several_row_groups_pack_chunk_by_chunk(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, null_keys: bool) -> None:
    # chunks never joined (no null) or joined for the rows kept (nulls); a narrow room
    # makes the sort drop value bits and put runs right across chunk borders
    ttl = 5 * 3600 * US
    rng = np.random.default_rng(41)
    span = 3 * 86400 * US
    source = feature_table(rng, 5000, 120, span, null_keys=null_keys)
    entities = entity_table(rng, source, 1500, 120, span, ttl)
    pq.write_table(source, tmp_path / "s.parquet", row_group_size=700)
    for room in (63, 45):
        monkeypatch.setattr(numpy_engine, "_ROOM", room)
        result = joined(tmp_path / str(room), "numpy", str(tmp_path / "s.parquet"),
                        entities, ttl_us=ttl)
        assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)


def test_string_keys_from_several_row_groups(tmp_path: Path) -> None:
    ttl = 3 * 3600 * US
    source, entities = data(2, ttl)

    def named(table: pa.Table) -> pa.Table:
        keys = table.column("driver_id").to_pylist()
        return table.set_column(0, "driver_id", pa.array(
            [None if k is None else f"driver-{k}" for k in keys], pa.string()))

    pq.write_table(named(source), tmp_path / "s.parquet", row_group_size=700)
    text = named(entities)
    result = joined(tmp_path, "numpy", str(tmp_path / "s.parquet"), text, ttl_us=ttl)
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)
    assert result.column("driver_id").equals(text.column("driver_id"))
    # a source read as several chunks, a key only the entity rows have
    chunked = pa.Table.from_batches(named(source).to_batches(max_chunksize=900))
    assert chunked.column("driver_id").num_chunks > 1
    extra = pa.table({"driver_id": ["nobody", "driver-3"],
                      "event_timestamp": entities.column("event_timestamp")[:2]})
    got = joined(tmp_path / "c", "numpy", chunked, extra, ttl_us=ttl)
    want = joined(tmp_path / "c", "duckdb", chunked, extra, ttl_us=ttl)
    assert got.column("f_float").to_pylist()[0] is None
    assert got.equals(want)


def test_float_keys_with_nulls_as_pandas_makes_them(tmp_path: Path) -> None:
    ttl = 2 * 3600 * US
    source, entities = data(3, ttl)
    frame = entities.to_pandas()  # null keys: a float column
    assert frame["driver_id"].dtype.kind == "f"
    frame.loc[frame.index[:5], "driver_id"] += 0.5  # fractions match no integer key
    result = joined(tmp_path, "numpy", source, frame, ttl_us=ttl)
    expected = reference_join(entities, source, FEATURES, ttl)
    expected.loc[:4, FEATURES] = None
    assert_same(result, expected, FEATURES)
    assert result.column("f_float").to_pylist()[:5] == [None] * 5
    # a source whose float keys hold fractions cannot pack: DuckDB takes it under "auto"
    odd = source.set_column(0, "driver_id", pa.array(
        source.column("driver_id").to_numpy(zero_copy_only=False) + 0.25))
    left_to_duckdb(tmp_path, odd, entities, "float join key of the source holds fractions",
                   ttl_us=ttl)


def test_two_join_keys(tmp_path: Path) -> None:
    ttl = 5 * 3600 * US
    source, entities = data(4, ttl)

    def split(table: pa.Table) -> pa.Table:  # driver_id = 12 * fleet + car, both negative
        key = table.column("driver_id")
        fleet = pa.array(np.floor_divide(key.to_numpy(zero_copy_only=False), 12) - 7,
                         mask=key.is_null().to_numpy(zero_copy_only=False))
        car = pa.array(np.remainder(key.to_numpy(zero_copy_only=False), 12) - 3,
                       mask=key.is_null().to_numpy(zero_copy_only=False))
        return table.append_column("fleet", fleet.cast(pa.int32())).append_column(
            "car", car.cast(pa.int16()))

    two = ("fleet", "car")
    got = joined(tmp_path, "numpy", split(source), split(entities), keys=two, ttl_us=ttl)
    want = joined(tmp_path, "duckdb", split(source), split(entities), keys=two, ttl_us=ttl)
    assert got.select(FEATURES).equals(want.select(FEATURES))
    assert_same(got, reference_join(entities, source, FEATURES, ttl), FEATURES)


def test_ids_spread_wide_pack_by_their_index_among_distinct_values(tmp_path: Path) -> None:
    ttl = 4 * 3600 * US
    source, entities = data(10, ttl)

    def spread(table: pa.Table) -> pa.Table:  # 64-bit ids, as snowflake ids look
        key = table.column("driver_id")
        wide = pa.array(key.to_numpy(zero_copy_only=False).astype(np.float64) * 2.0**52
                        - 2.0**62, mask=key.is_null().to_numpy(zero_copy_only=False))
        return table.set_column(0, "driver_id", wide.cast(pa.int64()))

    got = joined(tmp_path, "numpy", spread(source), spread(entities), ttl_us=ttl)
    want = joined(tmp_path, "duckdb", spread(source), spread(entities), ttl_us=ttl)
    assert got.select(FEATURES).equals(want.select(FEATURES))
    assert_same(got, reference_join(entities, source, FEATURES, ttl), FEATURES)


def test_ranges_too_wide_to_pack_go_to_duckdb(tmp_path: Path) -> None:
    # three keys over 2**61 nanoseconds that are not whole microseconds: 3 * 2**61 > 2**62
    source = pa.table({
        "driver_id": pa.array([0, 1, 1, 2], pa.int64()),
        "event_timestamp": pa.array([0, 7, 2**61 + 1, 5], pa.timestamp("ns")),
        "created": pa.array([0, 0, 0, 0], pa.timestamp("ns")),
        "f_float": [1.0, 2.0, 3.0, 4.0],
        "f_int": pa.array([1, 2, 3, 4], pa.int64()),
    })
    entities = pa.table({"driver_id": pa.array([1, 0, 1], pa.int64()),
                         "event_timestamp": pa.array([10, 5, 2**61 + 2], pa.timestamp("ns"))})
    got = left_to_duckdb(tmp_path, source, entities, "do not fit in 62 bits", ttl_us=None)
    assert got.column("f_float").to_pylist() == [2.0, 1.0, 3.0]


def test_what_the_numpy_engine_leaves_to_duckdb_is_said(tmp_path: Path) -> None:
    source, entities = data(5, US)
    days = entities.set_column(1, "event_timestamp",
                               entities.column("event_timestamp").cast(pa.date32()))
    left_to_duckdb(tmp_path, source, days, "timestamp column 'event_timestamp' is DATE",
                   ttl_us=None)


def test_ties_pick_the_latest_created_then_the_last_row(tmp_path: Path) -> None:
    h = 3600 * US
    source = pa.table({
        "driver_id": pa.array([1] * 5 + [2] * 3, pa.int64()),
        "event_timestamp": pa.array([h] * 5 + [h] * 3, pa.timestamp("us")),
        "created": pa.array([3, None, 9, 9, 1, None, None, 5], pa.timestamp("us")),
        "f_float": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "f_int": pa.array(range(8), pa.int64()),
    })
    entities = pa.table({"driver_id": pa.array([1, 2], pa.int64()),
                         "event_timestamp": pa.array([2 * h, h], pa.timestamp("us"))})
    got = joined(tmp_path, "numpy", source, entities, ttl_us=None)
    assert got.column("f_float").to_pylist() == [4.0, 8.0]
    plain = joined(tmp_path / "p", "numpy", source.drop_columns(["created"]), entities,
                   ttl_us=None, created=None)
    assert plain.column("f_float").to_pylist() == [5.0, 8.0]


def test_values_that_share_no_room_with_their_row_index_sort_exactly(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ttl = 6 * 3600 * US
    source, entities = data(6, ttl)
    # too little room: the values lose low bits in the packed sort and are put right
    monkeypatch.setattr(numpy_engine, "_ROOM", 40)
    result = joined(tmp_path, "numpy", source, entities, ttl_us=ttl)
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)
    monkeypatch.setattr(numpy_engine, "_ROOM", 20)  # 10 bits of row index: 0-26 dropped
    rng = np.random.default_rng(0)
    for bound in (50, 1 << 20, 1 << 36):
        packed = rng.integers(0, bound, 1000)
        values, order = numpy_engine._sort(packed, bound)
        assert np.array_equal(values, np.sort(packed))
        assert np.array_equal(order, np.argsort(packed, kind="stable"))


def test_categorical_keys_and_sources_with_no_usable_row(tmp_path: Path) -> None:
    ttl = 3 * 3600 * US
    source, entities = data(7, ttl)
    frame = source.to_pandas()
    frame["driver_id"] = frame["driver_id"].astype("Int64").astype(str).astype("category")
    cat = pa.Table.from_pandas(frame, preserve_index=False)
    assert pa.types.is_dictionary(cat.schema.field("driver_id").type)
    ents = entities.to_pandas()
    ents["driver_id"] = ents["driver_id"].astype("Int64").astype(str)
    got = joined(tmp_path, "numpy", cat, ents, ttl_us=ttl)
    want = joined(tmp_path, "duckdb", cat, ents, ttl_us=ttl)
    assert got.select(FEATURES).equals(want.select(FEATURES))
    assert got.column("f_float").null_count < got.num_rows
    # every source row has a null key: every feature is null, in every engine
    empty = source.set_column(0, "driver_id", pa.nulls(source.num_rows, pa.int64()))
    for engine in ("numpy", "duckdb"):
        out = joined(tmp_path / "e", engine, empty, entities, ttl_us=ttl)
        assert out.num_rows == entities.num_rows
        assert out.column("f_float").null_count == out.num_rows
        assert out.column("f_int").type == pa.int64()


def test_a_corrupt_source_file_is_named_with_the_engine_and_the_fix(tmp_path: Path) -> None:
    ttl = 3 * 3600 * US
    source, entities = data(8, ttl)
    path = tmp_path / "stats.parquet"
    pq.write_table(source, path)
    store = make_store(tmp_path, "auto")
    store.apply([view("stats.parquet", ttl_us=ttl)])
    raw = bytearray(path.read_bytes())
    raw[100:4000] = b"\xff" * 3900  # the data pages; the footer (the schema) stays whole
    path.write_bytes(bytes(raw))
    with pytest.raises(FeatureStoreError) as info:
        store.get_historical_features(entities, ["stats:*"])
    text = str(info.value)
    assert "point-in-time join of stats on the numpy engine failed" in text
    assert "engine to 'duckdb'" in text


@pytest.mark.parametrize("engine", ["auto", "duckdb"])
def test_entity_rows_at_a_path_that_is_missing_or_broken(tmp_path: Path, engine: str) -> None:
    source, _ = data(9, US)
    store = make_store(tmp_path, engine)
    store.apply([view(source, ttl_us=None)])
    with pytest.raises(FeatureStoreError, match=r"entity rows '.*nope\.parquet' name no Parquet"
                       ) as info:
        store.get_historical_features(str(tmp_path / "nope.parquet"), ["stats:*"])
    assert "relative to the working directory" in str(info.value)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(FeatureStoreError, match=r"entity rows '.*bad\.parquet' cannot be read"):
        store.get_historical_features(str(tmp_path / "bad.parquet"), ["stats:*"])


def test_times_that_overflow_the_finer_unit_are_refused(tmp_path: Path) -> None:
    h = 3600 * US
    source = pa.table({
        "driver_id": pa.array([1, 1], pa.int64()),
        "event_timestamp": pa.array([10 * h * 1000, 20 * h * 1000], pa.timestamp("ns")),
        "created": pa.array([0, 0], pa.timestamp("ns")),
        "f_float": [1.0, 2.0],
        "f_int": pa.array([1, 2], pa.int64()),
    })
    far = 400 * 365 * 86400  # the year 2370: no nanosecond count holds it
    entities = pa.table({"driver_id": pa.array([1, 1], pa.int64()),
                         "event_timestamp": pa.array([15 * 3600, far], pa.timestamp("s"))})
    # never a wrapped-around time: the numpy engine says why, and under "auto" DuckDB,
    # which cannot convert it either, is refused once, naming the column and its range
    for engine, why in (("numpy", "entity rows' times do not fit in 64 bits"),
                        ("auto", "timestamp column 'event_timestamp' holds times from "
                                 "1970-01-01 15:00:00 to 2369-09-26 00:00:00, beyond what the "
                                 "nanosecond source column 'event_timestamp' of feature view "
                                 "'stats' can hold")):
        store = make_store(tmp_path / engine, engine)
        store.apply([view(source, ttl_us=None)])
        with pytest.raises(FeatureStoreError, match=why):
            store.get_historical_features(entities, ["stats:*"])
    got = joined(tmp_path / "near", "numpy", source, entities.slice(0, 1), ttl_us=None)
    assert got.column("f_float").to_pylist() == [1.0]
