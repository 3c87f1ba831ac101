"""Objects stored from buffers in memory (``commit_buffers``), against real servers: the
parts are views of the buffers, the read cache is written beside the upload, a cut link
is retried, and a failed upload is aborted with nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.datastore.hashing import stamp_matches
from lamina.interfaces import BufferDatastore
from lamina.sdk import stamp

MIB = 1024 * 1024


def pieces(total: int) -> tuple[list[memoryview], bytes, str]:
    """A small header and a big body, as the numpy serializer gives them (a part spans
    both): (views, their bytes, key)."""
    head, body = os.urandom(128), os.urandom(total - 128)
    data = head + body
    return [memoryview(head), memoryview(body)], data, blake3(data).hexdigest()


def remote(key: str) -> str:
    return f"lamina/objects/{key[:2]}/{key}"


def _through(make_store, proxy, *, retries: int):
    """A store that talks to the server through ``proxy``, in 5 MiB parts, two at a time."""
    return make_store(endpoint_url=proxy.endpoint, multipart_threshold=5 * MIB,
                      multipart_chunksize=5 * MIB, max_concurrency=2, retries=retries)


def test_the_s3_datastore_saves_from_memory(make_store) -> None:
    assert isinstance(make_store(), BufferDatastore)


def test_buffers_go_up_in_parts_and_are_kept_in_the_read_cache(
    make_store, server, bucket
) -> None:
    store = make_store(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    views, data, key = pieces(11 * MIB)
    assert store.commit_buffers(views, key) is True
    admin = server.client()
    head = admin.head_object(Bucket=bucket, Key=remote(key))
    assert head["ETag"].strip('"').endswith("-3"), "three parts: a multipart upload"
    assert admin.get_object(Bucket=bucket, Key=remote(key))["Body"].read() == data
    assert admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    cached = os.path.join(store.cache_dir, key[:2], key)
    assert Path(cached).read_bytes() == data, "kept: reading it back costs no download"
    assert os.listdir(os.path.dirname(cached)) == [key], "no temporary file left"
    assert os.stat(cached).st_mode & 0o222 == 0, "cached objects are read-only"
    probe = Path(store.cache_dir) / "probe"
    probe.write_bytes(b"")
    if stamp(str(probe), blake3(b"").hexdigest()):  # the file system keeps stamps
        assert stamp_matches(cached, key), "stamped: the load does not hash it again"
    probe.unlink()
    assert store.blob_path(key) == cached
    assert os.listdir(store.staging_dir()) == [], "nothing staged"

    lean = make_store(keep_uploads=False)
    views, data, key = pieces(2 * MIB)  # one PUT, under the threshold
    assert lean.commit_buffers(views, key) is True
    assert not os.path.exists(os.path.join(lean.cache_dir, key[:2], key))
    assert admin.get_object(Bucket=bucket, Key=remote(key))["Body"].read() == data


def test_a_part_cut_mid_body_is_sent_again_from_its_start(
    make_store, proxy_to, server, bucket
) -> None:
    proxy = proxy_to(cut_after=2 * MIB, cuts=2)
    store = _through(make_store, proxy, retries=4)
    views, data, key = pieces(12 * MIB)
    assert store.commit_buffers(views, key) is True
    assert proxy.cuts_done == 2, "two connections were cut mid-body"
    stored = server.client().get_object(Bucket=bucket, Key=remote(key))["Body"].read()
    assert stored == data


def test_a_failed_upload_is_aborted_and_leaves_nothing(
    make_store, proxy_to, server, bucket
) -> None:
    from lamina_datastore_s3.errors import S3DatastoreError

    # every connection that carries more than 1 MiB is cut: the parts never get through,
    # the small requests (create, abort) do
    proxy = proxy_to(cut_after=1 * MIB, cuts=1000)
    store = _through(make_store, proxy, retries=2)
    views, _, key = pieces(16 * MIB)
    with pytest.raises(S3DatastoreError) as info:
        store.commit_buffers(views, key)
    assert f"uploading object {key}" in str(info.value)
    admin = server.client()
    assert not store.has_blob(key)
    assert admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], (
        "the multipart upload was aborted")
    folder = os.path.join(store.cache_dir, key[:2])
    assert not os.path.isdir(folder) or os.listdir(folder) == [], (
        "no cached copy of an object the store does not hold")


def test_a_wrapper_that_overrides_commit_blob_still_sees_every_big_value(make_store) -> None:
    """``DatastoreWrapper`` forwards ``commit_buffers`` only while it cannot bypass an
    overridden ``commit_blob``."""
    np = pytest.importorskip("numpy")
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.datastore.serializers import builtin_serializers
    from lamina.sdk import DatastoreWrapper

    seen: list[int] = []

    class Sized(DatastoreWrapper):
        def commit_blob(self, staged_path: str, key: str) -> bool:
            seen.append(os.path.getsize(staged_path))
            return bool(self.inner.commit_blob(staged_path, key))

    array = np.arange(2 * MIB, dtype=np.int64)
    ref, created = ArtifactStore(Sized(make_store()), builtin_serializers()).save(
        array, name="sized")
    assert created and seen == [ref.size], "the override saw the value's bytes"

    inner = make_store()
    staged: list[str] = []
    commit_blob = inner.commit_blob
    inner.commit_blob = lambda path, key: staged.append(key) or commit_blob(path, key)
    plain = ArtifactStore(DatastoreWrapper(inner), builtin_serializers())
    ref, created = plain.save(array + 1, name="plain")
    assert created and staged == [], "sent from memory: no staged file was committed"
    assert np.array_equal(plain.load(ref), array + 1)


@pytest.mark.parametrize("sizes", [(128, 3 * 4096 + 1), (8 * MIB - 5, 5, 4097), (4096,)])
def test_the_direct_cache_copy_holds_exactly_the_bytes(tmp_path, sizes) -> None:
    from lamina_datastore_s3.cache_copy import write_direct

    data = [os.urandom(n) for n in sizes]
    path = tmp_path / "copy"
    path.write_bytes(b"stale bytes, longer than nothing")
    if not write_direct(str(path), [memoryview(d) for d in data], sum(sizes)):
        pytest.skip("no direct I/O on this system or file system")
    assert path.read_bytes() == b"".join(data)


def test_a_big_object_from_memory_is_cached_with_direct_io(
    make_store, monkeypatch, server, bucket
) -> None:
    from lamina_datastore_s3 import cache_copy

    monkeypatch.setattr(cache_copy, "DIRECT_MIN", 1 * MIB)
    store = make_store(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    views, data, key = pieces(13 * MIB + 3)
    assert store.commit_buffers(views, key) is True
    assert Path(store.blob_path(key)).read_bytes() == data
    assert server.client().get_object(Bucket=bucket, Key=remote(key))["Body"].read() == data


@settings(max_examples=200, deadline=None)
@given(
    pieces_=st.lists(st.binary(max_size=64), max_size=5),
    reads=st.lists(st.one_of(st.none(), st.integers(-1, 80)), max_size=12),
    start=st.integers(0, 100),
)
def test_a_part_body_reads_back_its_views_without_copying_them(pieces_, reads, start) -> None:
    """What botocore and urllib3 read from a part's body: the concatenation of its views
    from any position, in reads of any size; within one view a read-only slice of it."""
    from lamina_datastore_s3.upload import BufferReader

    whole = b"".join(pieces_)
    body = BufferReader([memoryview(bytearray(p)) for p in pieces_])
    assert len(body) == len(whole)
    body.seek(start)
    position = start
    for size in reads:
        data = body.read(size)
        end = len(whole) if size is None or size < 0 else min(len(whole), position + size)
        assert bytes(data) == whole[position:end]
        if isinstance(data, memoryview):
            assert data.readonly, "the caller's array is never writable through a body"
        position = max(position, end)
        assert body.tell() == position
    single = BufferReader([memoryview(bytearray(whole))])
    if whole:
        assert isinstance(single.read(3), memoryview), "one view: read without a copy"
    two = BufferReader([memoryview(b"head"), memoryview(bytearray(b"body"))])
    assert isinstance(two.read(3), memoryview), "a read inside one of several views: a slice"
    assert two.read(3) == b"dbo", "a read across two views joins them"
