"""A feature view whose source is Parquet on S3 (each loopback server): applied, joined
point-in-time on the DuckDB engine (which reads remote sources), recorded by content hash,
materialized; an unreachable one named with the fix."""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from features_util import US, assert_same, entity_table, feature_table, make_store, reference_join

from lamina.errors import FeatureStoreError
from lamina.features import Entity, Feature, FeatureView

FEATURES = ["f_float", "f_int"]
TTL = 3 * 3600 * US


def view(source: str) -> FeatureView:
    return FeatureView(
        "stats", entities=[Entity("driver", ["driver_id"])], source=source,
        features=[Feature("f_float", "float64"), Feature("f_int", "int64")],
        created_timestamp_field="created", ttl=dt.timedelta(microseconds=TTL))


@pytest.fixture
def s3_source(server: Any, bucket: str, aws_env: dict[str, str],
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, pa.Table, pa.Table]]:
    """(the s3:// URL of a feature source uploaded to the bucket, the source, entity rows);
    the endpoint is given the standard way, AWS_ENDPOINT_URL."""
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # fsspec keeps one S3 file system per set of arguments, and this one is set up from
    # the environment: the previous test's server must not answer for this one
    s3fs.S3FileSystem.clear_instance_cache()
    rng = np.random.default_rng(3)
    source = feature_table(rng, 3000, 80, 2 * 86400 * US)
    entities = entity_table(rng, source, 1000, 80, 2 * 86400 * US, TTL)
    sink = io.BytesIO()
    pq.write_table(source, sink)
    server.client().put_object(Bucket=bucket, Key="features/stats.parquet",
                               Body=sink.getvalue())
    yield f"s3://{bucket}/features/stats.parquet", source, entities
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_source_on_s3_is_joined_recorded_and_materialized(tmp_path: Path, s3_source: Any
                                                           ) -> None:
    url, source, entities = s3_source
    store = make_store(tmp_path, "auto")
    store.apply([view(url)])
    result = store.get_historical_features(entities, ["stats:*"])
    assert_same(result, reference_join(entities, source, FEATURES, TTL), FEATURES)
    lineage = store.lineage(store.resolve(["stats:*"]))
    assert lineage["stats"]["source"] == url and len(lineage["stats"]["source_hash"]) == 64
    store.materialize(None, dt.datetime(2026, 1, 4))
    online = store.get_online_features(["stats:f_int"], [{"driver_id": 1}],
                                       now=dt.datetime(2026, 1, 2, 23))
    assert len(online["f_int"]) == 1
    store.close()


def test_the_numpy_engine_names_a_remote_source_and_an_unreachable_one_is_said(
        tmp_path: Path, s3_source: Any, bucket: str) -> None:
    url, _, entities = s3_source
    store = make_store(tmp_path, "numpy")
    store.apply([view(url)])
    with pytest.raises(FeatureStoreError, match="source of feature view 'stats' is not local"):
        store.get_historical_features(entities, ["stats:*"])
    missing = f"s3://{bucket}/features/nope.parquet"
    with pytest.raises(FeatureStoreError, match="cannot be read") as info:
        make_store(tmp_path / "m", "auto").apply([view(missing)])
    assert "nope.parquet" in str(info.value) and "credentials" in str(info.value)


def test_a_source_rewritten_on_s3_is_a_new_version(tmp_path: Path, s3_source: Any, server: Any,
                                                   bucket: str) -> None:
    # the lineage of a training set names the source's content: an object rewritten in
    # place must not be taken for the old one (no stale listing of the bucket)
    url, source, entities = s3_source
    store = make_store(tmp_path, "auto")
    store.apply([view(url)])
    before = store.lineage(store.resolve(["stats:*"]))["stats"]["source_hash"]
    changed = source.slice(0, source.num_rows // 2)
    sink = io.BytesIO()
    pq.write_table(changed, sink)
    server.client().put_object(Bucket=bucket, Key="features/stats.parquet",
                               Body=sink.getvalue())
    after = store.lineage(store.resolve(["stats:*"]))["stats"]["source_hash"]
    assert after != before
    result = store.get_historical_features(entities, ["stats:*"])
    assert_same(result, reference_join(entities, changed, FEATURES, TTL), FEATURES)
    store.close()


def test_the_dask_join_reads_a_source_on_s3(tmp_path: Path, s3_source: Any) -> None:
    """The Dask engine reads the S3 source through fsspec (a cluster of two in-process
    workers here; tests/dask runs it on separate processes) and equals the numpy engine's
    join of the same rows row by row."""
    from distributed import Client
    from lamina_features_dask import training_set

    from lamina.builtin.file_datastore import FileDatastore

    url, source, entities = s3_source
    pq.write_table(source, tmp_path / "local.parquet")
    local = make_store(tmp_path / "local", "numpy")
    local.apply([view(str(tmp_path / "local.parquet"))])
    want = local.get_historical_features(entities, ["stats:*"])
    store = make_store(tmp_path, "auto")
    store.apply([view(url)])
    with Client(processes=False, n_workers=2, threads_per_worker=1,
                dashboard_address=None) as client:
        result = training_set(store, entities, ["stats:*"], client=client, partitions=4,
                              datastore=FileDatastore(str(tmp_path / "ds")))
    got = result.read()
    assert got.column_names == want.column_names
    for name in want.column_names:
        assert got.column(name).equals(want.column(name)), name
    local.close()
    store.close()
