"""Entity order without a sort, on both engines (the DuckDB engine puts the join's rows
back by their position: numpy scatter for fixed-width columns, Arrow take for the rest;
the numpy engine never moves them), for in-memory and Parquet entity rows, one file or
several, duplicates included, every feature type."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from features_util import (
    US,
    assert_same,
    entity_table,
    feature_table,
    make_store,
    reference_join,
    ts,
)

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView
from lamina.features.reorder import InPlace, _by_take, by_position

FEATURES = ["f_float", "f_int"]
DRIVER = Entity("driver", ["driver_id"])


def stats_view(source: object, ttl_us: int) -> FeatureView:
    return FeatureView(
        "stats", entities=[DRIVER], source=source,
        features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
        created_timestamp_field="created", ttl=dt.timedelta(microseconds=ttl_us),
    )


def test_entity_rows_over_several_files_keep_file_then_row_order(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(31)
    span, ttl = 3 * 86400 * US, 4 * 3600 * US
    source = feature_table(rng, 5000, 120, span)
    entities = entity_table(rng, source, 2400, 120, span, ttl)  # duplicates, nulls
    pq.write_table(source, tmp_path / "stats.parquet")
    folder = tmp_path / "entities"
    folder.mkdir()
    # names sort in the order of the parts; several row groups per file
    parts = [entities.slice(0, 700), entities.slice(700, 1300), entities.slice(2000)]
    for i, part in enumerate(parts):
        pq.write_table(part, folder / f"part-{i:02d}.parquet", row_group_size=300)
    store = make_store(tmp_path, engine)
    store.apply([stats_view("stats.parquet", ttl)])
    result = store.get_historical_features(str(folder / "*.parquet"), ["stats:*"])
    assert result.column_names == [*entities.column_names, *FEATURES]
    assert result.column("label").to_pylist() == entities.column("label").to_pylist()
    assert result.column("driver_id").equals(entities.column("driver_id"))
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)


@pytest.mark.parametrize("extra", [False, True])
def test_a_parquet_file_of_entity_rows_keeps_its_order_narrow_or_wide(tmp_path: Path, engine: str,
                                                                     extra: bool) -> None:
    # keys and timestamp only: they go through the join and are placed with the
    # features; with another column: the file is read again after the join
    rng = np.random.default_rng(59)
    span, ttl = 3 * 86400 * US, 4 * 3600 * US
    source = feature_table(rng, 5000, 120, span)
    entities = entity_table(rng, source, 3000, 120, span, ttl)  # duplicates, nulls
    if not extra:
        entities = entities.select(["driver_id", "event_timestamp"])
    pq.write_table(source, tmp_path / "stats.parquet")
    pq.write_table(entities, tmp_path / "entities.parquet", row_group_size=700)
    store = make_store(tmp_path, engine)
    store.apply([stats_view("stats.parquet", ttl)])
    result = store.get_historical_features(str(tmp_path / "entities.parquet"), ["stats:*"])
    assert result.column_names == [*entities.column_names, *FEATURES]
    for name in entities.column_names:
        assert result.column(name).to_pylist() == entities.column(name).to_pylist(), name
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)
    store.close()


def test_duplicated_entity_rows_from_a_chunked_table_come_back_in_place(tmp_path: Path, engine: str
                                                                        ) -> None:
    rng = np.random.default_rng(37)
    span, ttl = 2 * 86400 * US, 3 * 3600 * US
    source = feature_table(rng, 4000, 50, span)
    base = entity_table(rng, source, 800, 50, span, ttl)
    # every row three times, interleaved, in a table made of many chunks
    entities = pa.concat_tables([base.slice(i, 97) for i in range(0, base.num_rows, 97)] * 3)
    assert entities.column("driver_id").num_chunks > 3
    store = make_store(tmp_path, engine)
    store.apply([stats_view(source, ttl)])
    result = store.get_historical_features(entities, ["stats:*"])
    assert result.column("label").to_pylist() == entities.column("label").to_pylist()
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)
    n = base.num_rows
    for f in FEATURES:  # the copies of a row got the same answer
        col = result.column(f).to_pylist()
        assert col[:n] == col[n:2 * n] == col[2 * n:]


def test_features_of_every_type_keep_their_values_and_nulls(tmp_path: Path, engine: str) -> None:
    h = 3600 * US
    n = 400
    rng = np.random.default_rng(41)
    keys = rng.integers(0, 20, n)
    event = rng.integers(0, 48 * h, n)
    mask = rng.random(n) < 0.2
    source = pa.table({
        "driver_id": pa.array(keys, pa.int64()),
        "event_timestamp": ts(event),
        "created": ts(event + 1),
        "s": pa.array([f"v{i}" for i in range(n)], mask=mask),
        "b": pa.array(rng.random(n) < 0.5, mask=mask),
        "i32": pa.array(rng.integers(-5, 5, n).astype(np.int32), mask=mask),
        "f32": pa.array(rng.random(n).astype(np.float32), mask=mask),
        "when": pa.array(event + 7, pa.timestamp("us"), mask=mask),
        "day": pa.array((event // (24 * h)).astype(np.int32), pa.date32(), mask=mask),
    })
    entities = pa.table({
        "driver_id": pa.array(rng.integers(0, 22, 3 * n), pa.int64()),
        "event_timestamp": ts(rng.integers(0, 50 * h, 3 * n)),
    })
    view = FeatureView(
        "typed", entities=[DRIVER], source=source, created_timestamp_field="created",
        ttl=dt.timedelta(hours=6),
        features=[Feature("s", "string"), Feature("b", "bool"), Feature("i32", "int32"),
                  Feature("f32", "float32"), Feature("when", "timestamp"),
                  Feature("day", "timestamp")])
    store = make_store(tmp_path, engine)
    store.apply([view])
    result = store.get_historical_features(entities, ["typed:*"])
    # the reference: for each row, the index of the source row that must be chosen
    src_key, src_ev = keys, event
    ent_key = entities.column("driver_id").to_numpy()
    ent_ts = (entities.column("event_timestamp").cast(pa.int64()).to_numpy()
              - ts(np.array([0])).cast(pa.int64()).to_numpy()[0])
    pick = []
    for k, t in zip(ent_key, ent_ts, strict=True):
        ok = np.flatnonzero((src_key == k) & (src_ev <= t) & (src_ev >= t - 6 * h))
        if ok.size:
            best = ok[src_ev[ok] == src_ev[ok].max()]
            pick.append(int(best[np.argmax(event[best])]))  # created = event + 1
        else:
            pick.append(None)
    assert any(p is not None for p in pick) and any(p is None for p in pick)
    for name in ["s", "b", "i32", "f32", "when", "day"]:
        assert result.column(name).type == source.column(name).type
        want = [None if p is None else source.column(name)[p].as_py() for p in pick]
        assert result.column(name).to_pylist() == want, name


@pytest.mark.parametrize("n", [1000, 250_000])  # the second scatters in two threads
def test_by_position_scatters_slices_and_rejects_a_bad_permutation(n: int) -> None:
    rng = np.random.default_rng(43)
    perm = rng.permutation(n)
    values = rng.random(n)
    mask = rng.random(n) < 0.3
    # chunks that are slices of larger arrays (non-zero offsets), nulls, strings
    big = pa.array(np.concatenate([rng.random(5), values]), mask=np.concatenate(
        [np.zeros(5, bool), mask]))
    col = pa.chunked_array([big.slice(5, 300), big.slice(305, n - 300)])
    stamps = pa.chunked_array([pa.array(perm * 1000, pa.timestamp("us"))])
    text = pa.chunked_array([pa.array([f"t{i}" for i in range(n)])])
    positions = pa.chunked_array([pa.array(perm[:450]), pa.array(perm[450:])])
    out = by_position({"x": col, "t": text, "w": stamps}, positions)
    assert out["w"].cast(pa.int64()).to_pylist() == list(np.arange(n) * 1000)
    want = np.empty(n)
    want[perm] = values
    wmask = np.empty(n, bool)
    wmask[perm] = mask
    assert out["x"].to_pylist() == [None if m else v for v, m in zip(want, wmask,
                                                                     strict=True)]
    wt = np.empty(n, object)
    wt[perm] = [f"t{i}" for i in range(n)]
    assert out["t"].to_pylist() == list(wt)
    assert _by_take({"x": col}, positions)["x"].equals(out["x"])
    twice = perm.copy()
    twice[1] = twice[0]
    for bad in (twice, np.append(perm[:-1], n + 3)):
        with pytest.raises(FeatureStoreError, match="point-in-time join"):
            by_position({"x": col}, pa.chunked_array([pa.array(bad)]))


def test_ties_found_when_entity_keys_have_a_narrower_type(tmp_path: Path, engine: str) -> None:
    # the tie check hashes (keys, event time); the entity's int32 keys must not hash
    # differently from the source's int64 ones and hide a tie
    rng = np.random.default_rng(47)
    span, ttl = 2 * 86400 * US, 3 * 3600 * US
    source = feature_table(rng, 3000, 40, span, null_keys=False)
    entities = entity_table(rng, source, 1000, 40, span, ttl)
    narrow = entities.set_column(0, "driver_id", entities.column("driver_id").cast(pa.int32()))
    store = make_store(tmp_path, engine)
    store.apply([stats_view(source, ttl)])
    result = store.get_historical_features(narrow, ["stats:*"])
    assert result.column("driver_id").type == pa.int32()
    assert_same(result, reference_join(entities, source, FEATURES, ttl), FEATURES)


def test_each_column_keeps_its_own_nulls_across_batches() -> None:
    # three columns with the same nulls in the first batch; in the second, "b" differs
    # from "a" and "c", and "d" gets its first nulls: each must keep its own nulls
    rng = np.random.default_rng(53)
    n = 3000
    perm = rng.permutation(n)
    first, second = perm[:1700], perm[1700:]
    common = rng.random(1700) < 0.4
    later = rng.random(n - 1700) < 0.4
    other = rng.random(n - 1700) < 0.2

    def batch(pos: np.ndarray, masks: dict[str, np.ndarray | None]) -> pa.RecordBatch:
        cols = {"__pos": pa.array(pos)}
        for name, mask in masks.items():
            cols[name] = pa.array(rng.random(len(pos)), mask=mask)
        return pa.record_batch(cols)

    batches = [batch(first, {"a": common, "b": common, "c": common, "d": None}),
               batch(second, {"a": later, "b": other, "c": later, "d": other})]
    placed = InPlace(n, batches[0].schema, "__pos")
    for b in batches:
        placed.add(b)
    out = placed.finish()
    for name in "abcd":
        want_values = np.empty(n)
        want_null = np.zeros(n, bool)
        for b in batches:
            pos = b.column("__pos").to_numpy()
            col = b.column(name)
            want_values[pos] = col.fill_null(0).to_numpy()
            want_null[pos] = col.is_null().to_numpy(zero_copy_only=False)
        got = out[name]
        assert got.is_null().to_numpy(zero_copy_only=False).tolist() == want_null.tolist()
        assert got.null_count == int(want_null.sum())
        assert got.fill_null(0).to_numpy().tolist() == np.where(want_null, 0,
                                                                 want_values).tolist()


def test_in_place_reports_missing_and_repeated_positions() -> None:
    schema = pa.schema([("__pos", pa.int64()), ("x", pa.float64())])
    placed = InPlace(4, schema, "__pos")
    placed.add(pa.record_batch([pa.array([2, 0, 1]), pa.array([1.0, 2.0, 3.0])],
                               schema=schema))
    with pytest.raises(FeatureStoreError, match="3 rows for 4 entity rows"):
        placed.finish()
    placed = InPlace(3, schema, "__pos")
    placed.add(pa.record_batch([pa.array([1, 1, 0]), pa.array([1.0, 2.0, 3.0])],
                               schema=schema))
    with pytest.raises(FeatureStoreError, match="some of them twice"):
        placed.finish()
    # a null position is refused as soon as it arrives
    with pytest.raises(FeatureStoreError, match="without an entity position"):
        InPlace(2, schema, "__pos").add(
            pa.record_batch([pa.array([0, None]), pa.array([1.0, 2.0])], schema=schema))
