"""The S3 datastore against real servers (SeaweedFS and moto): objects, records, the
cache, encryption and storage class, multipart, and the URL a remote task receives."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from lamina.errors import ArtifactNotFoundError, ConfigError, DatastoreError
from lamina.interfaces import Datastore

MIB = 1024 * 1024


def stage(store: Any, data: bytes) -> tuple[str, str]:
    """Write ``data`` into the store's staging folder: (staged path, content key)."""
    folder = store.staging_dir()
    path = os.path.join(folder, f".stage-{hashlib.md5(os.urandom(8)).hexdigest()}")
    with open(path, "wb") as f:
        f.write(data)
    return path, blake3(data).hexdigest()


def remote_bytes(server: Any, bucket: str, key: str) -> bytes:
    return server.client().get_object(Bucket=bucket, Key=f"lamina/objects/{key[:2]}/{key}")[
        "Body"
    ].read()


def test_it_is_a_datastore(make_store) -> None:
    assert isinstance(make_store(), Datastore)


def test_commit_then_read_back_through_an_empty_cache(make_store, server, bucket) -> None:
    writer, reader = make_store(), make_store()
    data = os.urandom(300_000)
    staged, key = stage(writer, data)
    assert writer.commit_blob(staged, key) is True
    assert not os.path.exists(staged), "the staged file is consumed"
    assert remote_bytes(server, bucket, key) == data
    assert reader.has_blob(key) and not reader.has_blob("0" * 64)
    path = reader.blob_path(key)
    assert Path(path).read_bytes() == data
    assert path.startswith(reader.cache_dir)
    assert os.stat(path).st_mode & 0o222 == 0, "cached objects are read-only"
    assert os.listdir(os.path.dirname(path)) == [key], "no temporary file left in the cache"


def test_an_existing_object_is_not_uploaded_again(make_store, server, bucket) -> None:
    store = make_store()
    staged, key = stage(store, b"the real bytes")
    assert store.commit_blob(staged, key) is True
    # Same key, other bytes: if the HEAD check were skipped, the object would change.
    impostor, _ = stage(store, b"other bytes")
    assert store.commit_blob(impostor, key) is False
    assert not os.path.exists(impostor)
    assert remote_bytes(server, bucket, key) == b"the real bytes"
    assert Path(store.blob_path(key)).read_bytes() == b"the real bytes", "cache kept too"


def test_uploads_are_kept_in_the_read_cache_unless_told_not_to(make_store) -> None:
    store = make_store()
    staged, key = stage(store, b"kept")
    store.commit_blob(staged, key)
    assert os.path.isfile(os.path.join(store.cache_dir, key[:2], key)), "kept: no download"
    assert Path(store.blob_path(key)).read_bytes() == b"kept"
    lean = make_store(keep_uploads=False)
    staged, key = stage(lean, b"not kept")
    lean.commit_blob(staged, key)
    assert not os.path.exists(os.path.join(lean.cache_dir, key[:2], key))
    assert os.listdir(lean.staging_dir()) == []


def test_a_missing_object_is_artifact_not_found(make_store) -> None:
    with pytest.raises(ArtifactNotFoundError, match="not found at s3://") as err:
        make_store().blob_path("ab" * 32)
    assert "rerun" in str(err.value)


def test_bad_object_keys_are_refused(make_store) -> None:
    store = make_store()
    with pytest.raises(DatastoreError, match="not 64 lowercase hex digits"):
        store.blob_path("../etc/passwd")
    with pytest.raises(DatastoreError, match="reserved folder"):
        store.put_record("objects/x", b"")
    with pytest.raises(DatastoreError, match="relative"):
        store.get_record("/runs/x")


def test_large_objects_go_up_in_parallel_parts(make_store, server, bucket) -> None:
    store = make_store(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    data = os.urandom(11 * MIB)
    staged, key = stage(store, data)
    assert store.commit_blob(staged, key)
    head = server.client().head_object(Bucket=bucket, Key=f"lamina/objects/{key[:2]}/{key}")
    assert head["ETag"].strip('"').endswith("-3"), "three parts: a multipart upload"
    assert head["ContentLength"] == len(data)
    other = make_store(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    assert blake3(Path(other.blob_path(key)).read_bytes()).hexdigest() == key
    uploads = server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == [], "no multipart upload left open"


def test_records_roundtrip_list_and_delete(make_store) -> None:
    store = make_store()
    assert store.get_record("runs/r1/run.json") is None
    store.put_record("runs/r1/run.json", b'{"a": 1}')
    store.put_record("runs/r1/tasks/s/0.json", b"{}")
    store.put_record("runs/r2/run.json", b"{}")
    staged, _ = stage(store, b"an object")
    store.commit_blob(staged, blake3(b"an object").hexdigest())
    assert store.get_record("runs/r1/run.json") == b'{"a": 1}'
    assert store.list_records("runs/r1") == ["runs/r1/run.json", "runs/r1/tasks/s/0.json"]
    assert store.list_records("") == [
        "runs/r1/run.json", "runs/r1/tasks/s/0.json", "runs/r2/run.json"
    ], "objects are not records"
    assert store.list_records("runs/none") == []
    store.put_record("runs/r1/run.json", b"replaced")
    assert store.get_record("runs/r1/run.json") == b"replaced"
    assert store.delete_record("runs/r2/run.json") is True
    assert store.delete_record("runs/r2/run.json") is False
    assert store.get_record("runs/r2/run.json") is None


@pytest.mark.slow
def test_exclusive_record_has_one_winner_among_racing_writers(make_store) -> None:
    stores = [make_store() for _ in range(4)]
    results: dict[int, bool] = {}
    barrier = threading.Barrier(len(stores))

    def write(i: int) -> None:
        barrier.wait()
        results[i] = stores[i].put_record("runs/R/manifest.json", f"writer {i}".encode(),
                                          exclusive=True)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1, results
    assert stores[0].get_record("runs/R/manifest.json") == f"writer {winners[0]}".encode()
    assert stores[0]._conditional is True, "both servers honour If-None-Match"


def test_exclusive_records_without_conditional_writes(make_store) -> None:
    store = make_store(conditional_writes="off")
    assert store.put_record("runs/R/a.json", b"1", exclusive=True) is True
    assert store.put_record("runs/R/a.json", b"2", exclusive=True) is False
    assert store.get_record("runs/R/a.json") == b"1"
    assert store.list_records("") == ["runs/R/a.json"], "the probe leaves nothing behind"


def test_sse_and_storage_class_reach_the_stored_objects(make_store, server, bucket) -> None:
    store = make_store(sse="AES256", storage_class="STANDARD_IA")
    staged, key = stage(store, b"secret model")
    store.commit_blob(staged, key)
    store.put_record("runs/R/run.json", b"{}")
    client = server.client()
    head = client.head_object(Bucket=bucket, Key=f"lamina/objects/{key[:2]}/{key}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head.get("StorageClass") == "STANDARD_IA"
    record = client.head_object(Bucket=bucket, Key="lamina/runs/R/run.json")
    assert record["ServerSideEncryption"] == "AES256"
    assert record.get("StorageClass", "STANDARD") == "STANDARD", "records stay STANDARD"


def test_sse_kms_key_reaches_the_stored_objects(make_store, server, bucket) -> None:
    if not server.supports_kms:
        pytest.skip(f"{server.name} has no KMS; SSE-KMS is checked against moto")
    store = make_store(sse="aws:kms", sse_kms_key_id="alias/lamina-test")
    staged, key = stage(store, b"kms-protected model")
    store.commit_blob(staged, key)
    head = server.client().head_object(Bucket=bucket, Key=f"lamina/objects/{key[:2]}/{key}")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/lamina-test")


def test_the_url_carries_what_a_remote_task_needs(make_store, server, bucket) -> None:
    store = make_store(sse="AES256", secret_access_key="hush", access_key_id="id")
    assert store.url == f"s3://{bucket}/lamina?endpoint_url={server.endpoint}&sse=AES256"
    assert "hush" not in store.url and "id" not in store.url.split("?")[1]
    again = make_store(url=store.url, endpoint_url=None)
    assert again.options.endpoint_url == server.endpoint and again.options.sse == "AES256"
    assert again.url == store.url


def test_url_query_conflicts_and_unknown_options_are_config_errors(make_store, bucket) -> None:
    with pytest.raises(ConfigError, match="sets sse='AES256' but the option sse"):
        make_store(url=f"s3://{bucket}/p?sse=AES256", sse="aws:kms")
    with pytest.raises(ConfigError, match="cannot be given in the URL"):
        make_store(url=f"s3://{bucket}/p?secret_access_key=x")


def test_a_download_is_hashed_on_the_way_in(make_store, server, bucket) -> None:
    """A downloaded object that hashes to its key is stamped (the store does not read it
    again); one altered on the server is not, and the store reports it as corrupt."""
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.hashing import stamp_matches
    from lamina.datastore.serializers import builtin_serializers
    from lamina.errors import CorruptArtifactError

    writer = make_store(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    whole, altered = os.urandom(11 * MIB), os.urandom(11 * MIB)
    for data in (whole, altered):
        staged, key = stage(writer, data)
        writer.commit_blob(staged, key)
    good, bad = blake3(whole).hexdigest(), blake3(altered).hexdigest()
    server.client().put_object(Bucket=bucket, Key=f"lamina/objects/{bad[:2]}/{bad}",
                               Body=altered[:-1] + bytes([altered[-1] ^ 1]))
    reader = make_store(multipart_chunksize=5 * MIB, max_concurrency=3)
    path = reader.blob_path(good)
    assert Path(path).read_bytes() == whole
    assert stamp_matches(path, good), "hashed while it downloaded: stamped"
    assert not stamp_matches(reader.blob_path(bad), bad), "does not match: not stamped"
    with pytest.raises(CorruptArtifactError, match="does not match its hash"):
        ArtifactStore(reader, builtin_serializers()).get_bytes(bad)


def test_an_empty_object_downloads(make_store) -> None:
    store = make_store()
    staged, key = stage(store, b"")
    store.commit_blob(staged, key)
    assert Path(make_store().blob_path(key)).read_bytes() == b""
