"""What a user sees when S3 goes wrong: a missing bucket, a wrong endpoint, bad or absent
credentials, access denied, and the server dying in the middle of a large upload (a clear
error, and no partial object visible once it is back)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from envs_util import free_port
from lamina_datastore_s3.errors import S3DatastoreError
from s3_util import READER_KEY, READER_SECRET, SeaweedServer

from lamina.errors import BackendUnreachableError, DatastoreError

MIB = 1024 * 1024


def fast_failing(make_store, **options: Any) -> Any:
    options.setdefault("retries", 2)
    options.setdefault("connect_timeout", 2.0)
    options.setdefault("read_timeout", 5.0)
    return make_store(**options)


def test_missing_bucket(make_store) -> None:
    store = fast_failing(make_store, url="s3://no-such-bucket-anywhere/p")
    with pytest.raises(S3DatastoreError) as err:
        store.check()
    assert err.value.reason == "bucket-missing"
    assert "bucket 'no-such-bucket-anywhere' does not exist" in str(err.value)
    assert "aws s3 mb s3://no-such-bucket-anywhere" in str(err.value)
    assert isinstance(err.value, BackendUnreachableError) and isinstance(err.value, DatastoreError)


def test_wrong_endpoint(make_store) -> None:
    port = free_port()  # nothing listens there
    store = fast_failing(make_store, endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(S3DatastoreError) as err:
        store.check()
    assert err.value.reason == "unreachable"
    assert f"127.0.0.1:{port}" in str(err.value) and "after 2 attempts" in str(err.value)
    assert "endpoint_url" in str(err.value)
    with pytest.raises(S3DatastoreError, match="cannot be reached"):
        store.get_record("runs/x.json")


def test_no_credentials(make_store, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = fast_failing(make_store)
    with pytest.raises(S3DatastoreError) as err:
        store.check()
    assert err.value.reason == "no-credentials"
    assert "AWS_ACCESS_KEY_ID" in str(err.value)


def test_unknown_profile(make_store) -> None:
    with pytest.raises(S3DatastoreError, match="profile") as err:
        fast_failing(make_store, profile="nobody-has-this").check()
    assert err.value.reason == "no-credentials"


def test_explicit_credentials_come_from_options(make_store, server, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    key, secret = server.env()["AWS_ACCESS_KEY_ID"], server.env()["AWS_SECRET_ACCESS_KEY"]
    store = make_store(access_key_id=key, secret_access_key=secret)
    assert "reachable and writable" in store.check()
    assert secret not in store.url and secret not in repr(store)


def test_bad_credentials(make_store, server, monkeypatch) -> None:
    if not server.enforces_auth:
        pytest.skip("moto accepts any credentials; SeaweedFS checks them")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(S3DatastoreError) as err:
        fast_failing(make_store).check()
    assert err.value.reason == "bad-credentials"
    assert "SignatureDoesNotMatch" in str(err.value)
    assert "not-the-secret" not in str(err.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    with pytest.raises(S3DatastoreError, match="InvalidAccessKeyId"):
        fast_failing(make_store).get_record("runs/x.json")


def test_access_denied(make_store, server, monkeypatch) -> None:
    if not server.enforces_auth:
        pytest.skip("moto accepts any credentials; SeaweedFS has a read-only identity")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER_SECRET)
    store = fast_failing(make_store)
    assert store.get_record("runs/x.json") is None, "the reader may read"
    with pytest.raises(S3DatastoreError) as err:
        store.check()
    assert err.value.reason == "access-denied"
    assert "s3:PutObject" in str(err.value)
    with pytest.raises(S3DatastoreError, match="access denied"):
        store.put_record("runs/x.json", b"{}")


def test_stack_check_reports_without_raising(tmp_path, server, aws_env) -> None:
    from s3_util import stack_toml

    from lamina.stack import Stack

    (tmp_path / "lamina.toml").write_text(
        stack_toml("no-such-bucket-anywhere", server.endpoint, retries=1))
    with Stack.load(cwd=tmp_path, env=aws_env) as stack:
        ok, message = stack.check()["datastore"]
    assert not ok and "does not exist" in message


# -- the server dies mid-upload ---------------------------------------------------------------


@pytest.fixture
def doomed(tmp_path: Path) -> Any:
    """A SeaweedFS server of the test's own, which the test kills and restarts."""
    server = SeaweedServer(tmp_path / "doomed")
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_server_killed_mid_upload_leaves_no_partial_object(doomed, tmp_path, monkeypatch) -> None:
    from lamina_datastore_s3.datastore import S3Datastore
    from lamina_datastore_s3.plugin import S3DatastoreOptions

    for key, value in doomed.env().items():
        monkeypatch.setenv(key, value)
    bucket = doomed.make_bucket()
    store = S3Datastore(S3DatastoreOptions(
        url=f"s3://{bucket}/lamina", endpoint_url=doomed.endpoint, retries=2,
        connect_timeout=1.0, read_timeout=5.0, multipart_threshold=5 * MIB,
        multipart_chunksize=5 * MIB, max_concurrency=2, cache_dir=str(tmp_path / "cache"),
    ))
    staged = Path(store.staging_dir()) / ".stage-big"
    digest = blake3()
    with open(staged, "wb") as f:
        for _ in range(40):  # 200 MiB, in 40 parts
            chunk = os.urandom(5 * MIB)
            digest.update(chunk)
            f.write(chunk)
    key = digest.hexdigest()
    remote = f"lamina/objects/{key[:2]}/{key}"
    failure: list[BaseException] = []

    def upload() -> None:
        try:
            store.commit_blob(str(staged), key)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=upload)
    worker.start()
    admin = doomed.client()
    deadline = time.monotonic() + 60
    while not admin.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        assert worker.is_alive() and time.monotonic() < deadline, "the upload never started"
        time.sleep(0.01)
    time.sleep(0.2)  # some parts are in
    doomed.kill()
    worker.join(120)
    assert not worker.is_alive()

    assert len(failure) == 1, "the upload must fail, not report success"
    error = failure[0]
    assert isinstance(error, S3DatastoreError) and error.reason == "unreachable"
    assert f"uploading object {key}" in str(error) and "after 2 attempts" in str(error)
    assert not staged.exists(), "the staged file is consumed even on failure"

    doomed.start()  # back, on the same data
    assert not store.has_blob(key)
    objects = admin.list_objects_v2(Bucket=bucket, Prefix="lamina/objects/").get("Contents", [])
    assert objects == [], "no partial object is visible"
    with pytest.raises(Exception, match=r"404|Not Found"):
        admin.head_object(Bucket=bucket, Key=remote)
    # parts of the interrupted upload cost storage until aborted; nothing shows them
    store.abort_stale_uploads(older_than=0)
    assert admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    store.close()


# -- a network that misbehaves ---------------------------------------------------------------


def test_a_cut_link_mid_upload_is_retried(make_store, proxy_to, server, bucket) -> None:
    proxy = proxy_to(cut_after=2 * MIB, cuts=2)
    store = make_store(endpoint_url=proxy.endpoint, multipart_threshold=5 * MIB,
                       multipart_chunksize=5 * MIB, max_concurrency=2, retries=4)
    data = os.urandom(12 * MIB)
    staged = Path(store.staging_dir()) / ".stage-cut"
    staged.write_bytes(data)
    key = blake3(data).hexdigest()
    assert store.commit_blob(str(staged), key) is True
    assert proxy.cuts_done == 2, "two connections were cut mid-body"
    stored = server.client().get_object(Bucket=bucket, Key=f"lamina/objects/{key[:2]}/{key}")
    assert blake3(stored["Body"].read()).hexdigest() == key


def test_a_server_that_ignores_if_none_match_gets_the_fallback(
    make_store, proxy_to, server, caplog
) -> None:
    if server.enforces_auth:
        pytest.skip("dropping a signed header breaks SigV4 on a server that checks it; "
                    "moto does not check, so it plays the server that ignores the header")
    proxy = proxy_to(strip=("If-None-Match",))
    store = make_store(endpoint_url=proxy.endpoint)
    with caplog.at_level("WARNING"):
        assert store.put_record("runs/R/run.json", b"first", exclusive=True) is True
    assert store._conditional is False and proxy.stripped >= 1
    assert "ignores If-None-Match" in caplog.text and "check-then-write" in caplog.text
    assert store.put_record("runs/R/run.json", b"second", exclusive=True) is False
    assert store.get_record("runs/R/run.json") == b"first"
    assert "not honoured" in store.check()


def test_a_cut_link_mid_download_resumes_the_part(make_store, proxy_to) -> None:
    writer = make_store()
    data = os.urandom(12 * MIB)
    staged = Path(writer.staging_dir()) / ".stage-down"
    staged.write_bytes(data)
    key = blake3(data).hexdigest()
    writer.commit_blob(str(staged), key)
    proxy = proxy_to(cut_response_after=3 * MIB, cuts=2)
    reader = make_store(endpoint_url=proxy.endpoint, multipart_chunksize=5 * MIB,
                        max_concurrency=2, retries=4)
    path = reader.blob_path(key)
    assert proxy.cuts_done == 2, "two downloads were cut mid-body"
    assert Path(path).read_bytes() == data
