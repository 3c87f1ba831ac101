"""The file datastore where the filesystem has no hard links (FAT/exFAT drives, some network
shares): objects and records still appear atomically and exclusively, between real
processes racing on real files; and every key is a name every platform can store."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from ds_util import assert_objects_valid, object_files, start_worker, wait_for

from lamina.builtin import file_datastore
from lamina.builtin.file_datastore import FileDatastore, rename_exclusive
from lamina.datastore.hashing import bytes_digest
from lamina.errors import DatastoreError

#: native: renameat2(RENAME_NOREPLACE) / renamex_np(RENAME_EXCL); locked: the O_EXCL lock
#: file, for a filesystem that has neither hard links nor a no-replace rename.
RENAMES = ["native", "locked"]


def _race(mode: str, root: Path, go: Path, rename: str, *args: str) -> dict[str, list[bool]]:
    env = {"DS_HARD_LINKS": "0", "DS_RENAME": rename}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        procs = {who: start_worker(mode, str(root), *args) for who in "ABC"}
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    go.write_text("go")
    results = {}
    for who, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[who] = json.loads(out)
    return results


@pytest.mark.parametrize("rename", RENAMES)
def test_without_hard_links_exclusive_records_have_one_winner(tmp_path, rename):
    root, count = tmp_path / "store", 150
    results = _race("race", root, tmp_path / "go", rename, "locks", str(count), "?", str(tmp_path / "go"))
    ds = FileDatastore(str(root))
    for i in range(count):
        wins = [who for who in results if results[who][i]]
        assert len(wins) == 1, f"record {i}: winners {wins}"
    # every record holds one racer's whole value, and no lock or temp file is left
    assert {ds.get_record(f"locks/{i}") for i in range(count)} == {b"?"}
    assert ds.list_records("locks") == sorted(f"locks/{i}" for i in range(count))
    leftovers = [p.name for p in (root / "tmp").glob(".lock-*")] if (root / "tmp").exists() else []
    assert leftovers == []


@pytest.mark.parametrize("rename", RENAMES)
def test_without_hard_links_concurrent_commits_of_one_object_create_it_once(tmp_path, rename):
    root, count = tmp_path / "store", 60
    results = _race("commit-race", root, tmp_path / "go", rename, str(count), str(tmp_path / "go"))
    for i in range(count):
        created = [who for who in results if results[who][i]]
        assert len(created) == 1, f"object {i}: created by {created}"
    assert assert_objects_valid(root) == count


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("rename", RENAMES)
def test_without_hard_links_a_reader_never_sees_a_partial_object(tmp_path, rename, monkeypatch):
    root = tmp_path / "store"
    monkeypatch.setenv("DS_HARD_LINKS", "0")
    monkeypatch.setenv("DS_RENAME", rename)
    proc = start_worker("big-loop", str(root))
    seen: set[str] = set()
    try:
        wait_for(lambda: len(object_files(root)) >= 1, proc)
        while len(seen) < 12:  # read every object the moment it appears, while more are written
            for path in object_files(root):
                if path.name in seen:
                    continue
                data = path.read_bytes()
                assert len(data) == 4 * 1024 * 1024 + 8, f"{path.name}: partial ({len(data)} bytes)"
                assert bytes_digest(data) == path.name
                seen.add(path.name)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert assert_objects_valid(root) >= 12


def test_a_refused_hard_link_switches_the_store_to_exclusive_renames(tmp_path, monkeypatch):
    calls = []

    def no_link(src, dst):
        calls.append(dst)
        raise OSError(errno.EPERM, "Operation not permitted", dst)  # what vfat answers

    monkeypatch.setattr(file_datastore.os, "link", no_link)
    ds = FileDatastore(str(tmp_path / "store"))
    assert ds.put_record("runs/r/run.json", b"first", exclusive=True) is True
    assert ds.put_record("runs/r/run.json", b"second", exclusive=True) is False
    assert ds.get_record("runs/r/run.json") == b"first"
    data = b"payload" * 1000
    staged = Path(ds.staging_dir()) / "s1"
    staged.write_bytes(data)
    assert ds.commit_blob(str(staged), bytes_digest(data)) is True
    staged.write_bytes(data)
    assert ds.commit_blob(str(staged), bytes_digest(data)) is False
    assert not staged.exists()
    assert len(calls) == 1, "the store should stop trying hard links after the first refusal"
    assert Path(ds.blob_path(bytes_digest(data))).read_bytes() == data


@pytest.mark.parametrize("rename", RENAMES)
def test_rename_exclusive_never_replaces(tmp_path, rename, monkeypatch):
    if rename == "locked":
        monkeypatch.setattr(file_datastore, "_native_rename_noreplace", lambda: None)
    a, b, dst = tmp_path / "a", tmp_path / "b", tmp_path / "dst"
    a.write_text("a")
    b.write_text("b")
    assert rename_exclusive(str(a), str(dst)) is True
    assert rename_exclusive(str(b), str(dst)) is False
    assert dst.read_text() == "a" and b.exists() and not a.exists()


def test_a_stale_lock_of_a_killed_writer_is_broken(tmp_path, monkeypatch):
    monkeypatch.setattr(file_datastore, "_native_rename_noreplace", lambda: None)
    monkeypatch.setattr(file_datastore, "STALE_LOCK_SECONDS", 0.2)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("x")
    # a writer killed while holding the lock for dst left this behind
    import hashlib

    digest = hashlib.sha256(os.fsencode(os.path.abspath(dst))).hexdigest()[:32]
    (tmp_path / f".lock-{digest}").write_text("")
    os.utime(tmp_path / f".lock-{digest}", (0, 0))
    assert rename_exclusive(str(src), str(dst)) is True
    assert dst.read_text() == "x"


@pytest.mark.parametrize(
    "key",
    [
        "runs/r/tasks/train:v2/0.json",  # ':' (a step named with a colon)
        "runs/r/tasks/aux/0.json",  # a device name
        "runs/r/steps/con.json",  # a device name with an extension
        "runs/r/steps/what?.json",
        "runs/r/steps/a\\b.json",
        "runs/r/steps/trailing.",
        "runs/r/tasks/LPT1/0.json",
    ],
)
def test_keys_windows_cannot_store_are_refused_on_every_platform(tmp_path, key):
    ds = FileDatastore(str(tmp_path / "store"))
    with pytest.raises(DatastoreError, match="every platform") as err:
        ds.put_record(key, b"{}")
    assert key.split("/")[-2] in str(err.value) or key.split("/")[-1] in str(err.value)
    assert "rename" in str(err.value)
    assert not (tmp_path / "store" / "runs").exists()


def test_ordinary_keys_are_accepted(tmp_path):
    ds = FileDatastore(str(tmp_path / "store"))
    for key in ("runs/20261203T095204595-e86460/tasks/train_v2/0.json",
                "runs/r/steps/console.json", "deployments/churn.v1/x.json"):
        assert ds.put_record(key, b"{}") is True


def test_a_step_whose_name_windows_refuses_fails_the_run_with_the_fix(project):
    from lamina import Flow

    flow = Flow("names")
    ran = project / "ran"

    @flow.step(name="aux")
    def first() -> int:
        ran.write_text("yes")
        return 1

    with pytest.raises(DatastoreError, match="'aux' is a device name on Windows") as err:
        flow.run()
    assert "rename the step" in str(err.value)
    assert not ran.exists(), "the step ran although its records cannot be stored everywhere"
