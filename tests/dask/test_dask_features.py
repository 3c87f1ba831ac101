"""The point-in-time join on a real Dask cluster (scheduler and two worker processes)
equals the numpy engine's row by row on 40 random cases full of edge cases (ties with and
without a created time, rows at and just past the TTL, null keys and times, unknown keys,
several files and row groups), and on sources read from S3-like URLs through fsspec."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from features_util import US, entity_table, feature_table, make_store

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView

pytestmark = pytest.mark.slow

DRIVER = Entity("driver", ["driver_id"])


def write_source(folder: Path, table: pa.Table, files: int, row_group: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, table.num_rows, files + 1).astype(int)
    for i in range(files):
        part = table.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
        pq.write_table(part, folder / f"part-{i:03d}.parquet", row_group_size=row_group)
    return f"{folder.name}/*.parquet"


def case(root: Path, seed: int) -> tuple[object, object, pa.Table, list[str], object]:
    """A store (numpy engine) with one random view, entity rows and the feature list."""
    rng = np.random.default_rng(seed)
    n, keys = int(rng.integers(300, 3000)), int(rng.integers(10, 150))
    span = int(rng.integers(1, 6)) * 86400 * US
    ttl_us = [None, 3600 * US, 6 * 3600 * US][seed % 3]
    source = feature_table(rng, n, keys, span)
    created = seed % 4 != 0
    if not created:  # ties then go to the last row in source order
        source = source.drop_columns(["created"])
    entities = entity_table(rng, source, int(rng.integers(100, 1500)), keys, span,
                            ttl_us or 3600 * US)
    pattern = write_source(root / "src", source, int(rng.integers(1, 4)),
                           int(rng.integers(50, 1000)))
    store = make_store(root, engine="numpy")
    import datetime as dt

    store.apply([DRIVER, FeatureView(
        "stats", entities=[DRIVER], source=pattern,
        features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
        created_timestamp_field="created" if created else None,
        ttl=None if ttl_us is None else dt.timedelta(microseconds=ttl_us))])
    return store, entities, source, ["stats:f_float", "stats:f_int"], rng


def test_forty_random_cases_equal_the_numpy_engine_row_by_row(
        dask_cluster, tmp_path_factory: pytest.TempPathFactory) -> None:
    from lamina_features_dask import training_set

    from lamina.builtin.file_datastore import FileDatastore

    datastore = FileDatastore(str(tmp_path_factory.mktemp("ds")))
    with dask_cluster.client() as client:
        for seed in range(40):
            root = tmp_path_factory.mktemp(f"case{seed}")
            store, entities, _, features, rng = case(root, seed)
            want = store.get_historical_features(entities, features)
            given: object = entities
            if seed % 2:  # entity rows from Parquet files too
                pq.write_table(entities, root / "entities.parquet",
                               row_group_size=int(rng.integers(50, 500)))
                given = str(root / "entities.parquet")
            result = training_set(store, given, features, client=client,
                                  partitions=int(rng.integers(1, 6)), datastore=datastore)
            got = result.read()
            assert result.rows == entities.num_rows
            assert got.column_names == want.column_names, seed
            for name in want.column_names:
                assert got.column(name).equals(want.column(name)), (seed, name)
            store.close()


def test_parts_are_in_the_datastore_and_bad_requests_are_named(
        dask_cluster, tmp_path: Path) -> None:
    import json

    from lamina_features_dask import training_set

    from lamina.builtin.file_datastore import FileDatastore

    datastore = FileDatastore(str(tmp_path / "ds"))
    store, entities, _, features, _ = case(tmp_path, 7)
    with dask_cluster.client() as client:
        result = training_set(store, entities, features, client=client, partitions=3,
                              datastore=datastore)
        manifest = json.loads(datastore.get_record(f"{result.key}/manifest.json") or b"{}")
        assert manifest["parts"] == list(result.parts) and len(result.parts) == 3
        assert sum(pq.read_table(pa.BufferReader(datastore.get_record(p))).num_rows
                   for p in result.parts) == entities.num_rows
        # the shuffle's pieces went through the datastore and are gone once joined
        assert datastore.list_records("features/shuffle") == []
        with pytest.raises(FeatureStoreError, match="needs a client or a scheduler"):
            training_set(store, entities, features, datastore=datastore)
        pq.write_table(pa.table({"city": ["fi"], "event_timestamp": pa.array(
            [0], pa.timestamp("us")), "f_int": [1]}), tmp_path / "cities.parquet")
        city = Entity("city", ["city"])
        store.apply([city, FeatureView("other", entities=[city], source="cities.parquet",
                                       features=[Feature("f_int", "int64")])])
        with pytest.raises(FeatureStoreError, match="different join keys"):
            training_set(store, entities, [*features, "other:f_int"], client=client,
                         datastore=datastore)
    store.close()


def test_the_shuffle_stores_pieces_and_deletes_them(tmp_path: Path) -> None:
    from lamina_features_dask.join import Shuffle

    from lamina.builtin.file_datastore import FileDatastore

    datastore = FileDatastore(str(tmp_path / "ds"))
    shuffle = Shuffle(datastore, "features/shuffle/job")
    table = pa.table({"k": [1, 2, 3], "v": [0.5, None, 2.0]})
    key = shuffle.put(4, "0-000007", table)
    assert key == "features/shuffle/job/00004/0-000007.arrow"
    assert shuffle.get(key).equals(table)
    empty = shuffle.put(5, "0-000007", table.slice(0, 0))  # inline: keeps the schema
    assert not isinstance(empty, str) and shuffle.get(empty).schema == table.schema
    shuffle.drop([key, empty])
    assert datastore.list_records("features/shuffle") == []
    with pytest.raises(FeatureStoreError, match="missing from the datastore"):
        shuffle.get(key)


def test_a_chunk_cut_in_batches_gives_the_pieces_of_the_whole(tmp_path: Path, monkeypatch) -> None:
    from lamina_features_dask import join
    from lamina_features_dask.hashing import split
    from lamina_features_dask.join import Shuffle, chunks, read_split

    from lamina.builtin.file_datastore import FileDatastore

    table = pa.table({"k": [i % 7 for i in range(50)], "v": [float(i) for i in range(50)]})
    pq.write_table(table, tmp_path / "src.parquet", row_group_size=20)
    (chunk,) = chunks(str(tmp_path / "src.parquet"), {}, chunk_rows=100)
    shuffle = Shuffle(FileDatastore(str(tmp_path / "ds")), "features/shuffle/t")
    monkeypatch.setattr(join, "BATCH_ROWS", 6)  # 9 batches across 3 row groups
    stored = read_split(chunk, None, ["k"], 4, {}, True, (shuffle, "e-0"))
    whole = split(table.append_column(join.ROW, pa.array(range(50), pa.int64())), ["k"], 4)
    assert len(stored) == 4
    for piece, expected in zip(stored, whole, strict=True):
        assert shuffle.get(piece).equals(expected)
