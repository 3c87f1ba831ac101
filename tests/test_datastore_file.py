"""The builtin ``file`` datastore: layout, atomic commits and records, races, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ds_util import (
    assert_objects_valid,
    make_store,
    object_files,
    staged_files,
    start_worker,
    wait_for,
)

from lamina.builtin.file_datastore import FileDatastore
from lamina.datastore.hashing import bytes_digest, object_key
from lamina.errors import ArtifactNotFoundError, BackendUnreachableError, DatastoreError
from lamina.interfaces import Datastore


def stage(ds: FileDatastore, data: bytes) -> str:
    path = Path(ds.staging_dir()) / f"staged-{bytes_digest(data)[:8]}-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def ds(root) -> FileDatastore:
    return FileDatastore(str(root))


def test_implements_the_datastore_protocol(ds):
    assert isinstance(ds, Datastore)


def test_local_store_imports_nothing_heavy(root):
    code = (
        "import sys\n"
        "from lamina.builtin.file_datastore import FileDatastore\n"
        "from lamina.datastore.artifacts import ArtifactStore\n"
        "from lamina.datastore.serializers import builtin_serializers\n"
        f"store = ArtifactStore(FileDatastore({str(root)!r}), builtin_serializers())\n"
        "store.load(store.save({'a': 1}, name='x')[0])\n"
        "print(sorted(m for m in ('fsspec', 'numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("form", ["plain", "file-url", "file-localhost"])
def test_accepts_paths_and_file_urls(root, form):
    url = {
        "plain": str(root),
        "file-url": f"file://{root}",
        "file-localhost": f"file://localhost{root}",
    }[form]
    ds = FileDatastore(url)
    assert ds.is_local and ds.root == str(root)
    assert ds.url == url
    key = bytes_digest(b"abc")
    assert ds.commit_blob(stage(ds, b"abc"), key)
    assert (root / "objects" / key[:2] / key).read_bytes() == b"abc"


def test_staging_is_on_the_same_filesystem(ds, root):
    assert Path(ds.staging_dir()) == root / "tmp"
    assert os.stat(ds.staging_dir()).st_dev == os.stat(root).st_dev


def test_commit_consumes_the_staged_file_and_deduplicates(ds, root):
    key = bytes_digest(b"payload")
    first = stage(ds, b"payload")
    assert ds.commit_blob(first, key) is True
    assert not os.path.exists(first)
    second = stage(ds, b"payload")
    assert ds.commit_blob(second, key) is False
    assert not os.path.exists(second)
    assert ds.has_blob(key)
    assert Path(ds.blob_path(key)) == root / object_key(key)
    assert os.stat(ds.blob_path(key)).st_mode & 0o777 == 0o444
    assert staged_files(root) == []


def test_blob_keys_are_validated_and_missing_blobs_raise(ds):
    with pytest.raises(DatastoreError, match="not 64 lowercase hex digits"):
        ds.commit_blob(stage(ds, b"x"), "../../etc/passwd")
    assert not ds.has_blob("not-a-key")
    with pytest.raises(ArtifactNotFoundError, match="0" * 64):
        ds.blob_path("0" * 64)


def test_records_overwrite_atomically_and_exclusive_never_overwrites(ds, root):
    assert ds.put_record("runs/r1/run.json", b"one")
    assert ds.put_record("runs/r1/run.json", b"two")
    assert ds.get_record("runs/r1/run.json") == b"two"
    assert ds.put_record("runs/r1/done", b"a", exclusive=True)
    assert not ds.put_record("runs/r1/done", b"b", exclusive=True)
    assert ds.get_record("runs/r1/done") == b"a"
    assert ds.get_record("runs/r1/nothing") is None
    assert ds.get_record("runs") is None  # a folder is not a record
    leftovers = [p.name for p in (root / "runs" / "r1").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_bad_record_keys_are_refused(ds):
    for key in ("", "/abs", "a/../b", "a//b", "objects/ab/x", "tmp/x", "runs/.tmp-x"):
        with pytest.raises(DatastoreError) as info:
            ds.put_record(key, b"x")
        assert repr(key) in str(info.value) and "fix:" in str(info.value)


def test_list_records_is_recursive_sorted_and_hides_internals(ds, root):
    ds.put_record("runs/b/run.json", b"")
    ds.put_record("runs/a/tasks/s/1.json", b"")
    ds.put_record("runs/a/tasks/s/0.json", b"")
    ds.put_record("flows/f.json", b"")
    ds.commit_blob(stage(ds, b"obj"), bytes_digest(b"obj"))
    (root / "runs" / "a" / ".tmp-abandoned").write_bytes(b"half")
    assert ds.list_records("runs") == [
        "runs/a/tasks/s/0.json",
        "runs/a/tasks/s/1.json",
        "runs/b/run.json",
    ]
    assert ds.list_records("runs/a/tasks/") == ["runs/a/tasks/s/0.json", "runs/a/tasks/s/1.json"]
    assert ds.list_records("") == [
        "flows/f.json",
        "runs/a/tasks/s/0.json",
        "runs/a/tasks/s/1.json",
        "runs/b/run.json",
    ]
    assert ds.list_records("nothing/here") == []


def test_delete_record(ds):
    ds.put_record("locks/x", b"1")
    assert ds.delete_record("locks/x")
    assert not ds.delete_record("locks/x")
    assert ds.get_record("locks/x") is None


def test_check_reports_writable_and_object_count(ds, root):
    for data in (b"a", b"b"):
        ds.commit_blob(stage(ds, data), bytes_digest(data))
    summary = ds.check()
    assert summary == f"file datastore at {root}: writable, 2 objects"
    assert ds.list_records("") == []  # the probe is gone


def test_check_on_an_unusable_location_says_what_is_wrong(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ds = FileDatastore(str(blocker / "store"))
    with pytest.raises(BackendUnreachableError) as info:
        ds.check()
    assert str(blocker / "store") in str(info.value) and "fix:" in str(info.value)


def test_memory_url_primitives(tmp_path):
    url = f"memory://lamina-ds-{os.getpid()}-{tmp_path.name}"
    ds = FileDatastore(url, cache_dir=str(tmp_path / "cache"))
    assert not ds.is_local
    key = bytes_digest(b"remote bytes")
    staged = stage(ds, b"remote bytes")
    assert ds.commit_blob(staged, key)
    assert not os.path.exists(staged)
    assert not ds.commit_blob(stage(ds, b"remote bytes"), key)
    local = ds.blob_path(key)
    assert Path(local).read_bytes() == b"remote bytes"
    assert Path(local).is_relative_to(tmp_path / "cache")
    with pytest.raises(ArtifactNotFoundError):
        ds.blob_path("1" * 64)
    assert ds.put_record("runs/r/a.json", b"1")
    assert not ds.put_record("runs/r/a.json", b"2", exclusive=True)
    assert ds.get_record("runs/r/a.json") == b"1"
    assert ds.list_records("runs") == ["runs/r/a.json"]
    assert ds.check() == f"file datastore at {url}: writable, 1 objects"


# -- crashes and races (real processes) ---------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_in_the_middle_of_a_save_leaves_no_object(root, tmp_path):
    marker = tmp_path / "halfway"
    proc = start_worker("hang-save", str(root), str(marker))
    wait_for(marker.exists, proc)
    staged = staged_files(root)
    assert staged and staged[0].stat().st_size >= 4 * 1024 * 1024  # killed mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert object_files(root) == []
    # The store is usable afterwards; the stray staged file is only garbage in tmp/,
    # which clean_staging removes once it is old enough not to be a live save.
    store = make_store(root)
    ref, created = store.save(np.ones(10), name="after")
    assert created
    np.testing.assert_array_equal(store.load(ref), np.ones(10))
    ds = FileDatastore(str(root))
    assert ds.clean_staging(older_than=3600) == 0
    assert ds.clean_staging(older_than=0) == 1
    assert staged_files(root) == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_during_a_stream_of_saves_leaves_only_valid_objects(root):
    proc = start_worker("save-loop", str(root))
    wait_for(lambda: len(object_files(root)) >= 2 and bool(staged_files(root)), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert assert_objects_valid(root) >= 2
    for path in object_files(root):
        loaded = np.load(path, mmap_mode="r")
        assert loaded.shape == (2 * 1024 * 1024,) and loaded[0] == loaded[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_during_record_writes_leaves_a_whole_record(root, ds):
    size = 8 * 1024 * 1024
    key = "runs/r/big.json"
    target = root / "runs" / "r" / "big.json"
    folder = target.parent
    for _ in range(3):  # three kills, each at a different moment of the rewrite loop
        proc = start_worker("record-loop", str(root), key, str(size))
        wait_for(target.exists, proc)
        # Aim the kill at a moment a temp file is being written; the window is a few
        # milliseconds a loop, so poll without sleeping, and kill anyway after a while:
        # whenever the kill lands, the record must be one whole version.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if any(name.startswith(".tmp-") for name in os.listdir(folder)):
                break
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = ds.get_record(key)
        assert data is not None and len(data) == size
        assert data.count(data[:1]) == size  # one whole version, never a mix
        assert ds.list_records("runs") == [key]  # a stray temp file is not a record


def test_exclusive_records_race_between_processes_has_one_winner(root, tmp_path):
    go = tmp_path / "go"
    count = 200
    procs = [start_worker("race", str(root), "locks", str(count), who, str(go)) for who in "AB"]
    go.write_text("go")
    results = {}
    for who, proc in zip("AB", procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[who] = json.loads(out)
    ds = FileDatastore(str(root))
    for i in range(count):
        wins = [who for who in "AB" if results[who][i]]
        assert len(wins) == 1, f"record {i}: winners {wins}"
        assert ds.get_record(f"locks/{i}") == wins[0].encode()
