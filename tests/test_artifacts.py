"""The content-addressed artifact store: addressing, integrity, errors and hooks."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import pluggy
import pytest
from blake3 import blake3
from ds_util import assert_objects_valid, chmod_writable, make_store, object_files, staged_files

import lamina.hookspecs
from lamina.builtin.file_datastore import FileDatastore
from lamina.datastore.artifacts import ArtifactStore
from lamina.datastore.hashing import bytes_digest, object_key
from lamina.datastore.serializers import builtin_serializers
from lamina.errors import (
    ArtifactNotFoundError,
    CorruptArtifactError,
    SerializationError,
)
from lamina.records import ArtifactRef


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root) -> ArtifactStore:
    return make_store(root)


# -- content addressing -------------------------------------------------------------------


def test_same_value_twice_is_one_object(store, root):
    ref1, created1 = store.save({"a": [1, 2, 3]}, name="r1/s/0")
    ref2, created2 = store.save({"a": [1, 2, 3]}, name="r2/s/0")
    assert (created1, created2) == (True, False)
    assert ref1 == ref2
    assert len(object_files(root)) == 1
    assert staged_files(root) == []  # the second staged copy was discarded


def test_different_values_are_two_objects(store, root):
    a, _ = store.save(np.arange(10), name="a")
    b, _ = store.save(np.arange(11), name="b")
    assert a.key != b.key
    assert len(object_files(root)) == 2
    assert assert_objects_valid(root) == 2


def test_key_is_the_blake3_of_the_stored_bytes(store, root):
    ref, _ = store.save("hello", name="x")
    stored = (root / object_key(ref.key)).read_bytes()
    assert blake3(stored).hexdigest() == ref.key
    assert ref.size == len(stored)
    assert ref.type == "str"


def test_objects_are_read_only_after_commit(store, root):
    ref, _ = store.save([1, 2], name="x")
    mode = (root / object_key(ref.key)).stat().st_mode & 0o777
    assert mode == 0o444


def test_raw_blobs_and_files(store, tmp_path):
    key = store.put_bytes(b"log line\n")
    assert key == blake3(b"log line\n").hexdigest()
    assert store.get_bytes(key, name="r/s/0 stdout") == b"log line\n"
    assert store.put_bytes(b"log line\n") == key
    src = tmp_path / "flow.py"
    src.write_bytes(b"print('hi')\n" * 100_000)
    file_key = store.put_file(src)
    assert file_key == bytes_digest(src.read_bytes())
    assert store.get_bytes(file_key) == src.read_bytes()
    assert store.has(file_key)
    assert not store.has("0" * 64)


def test_json_records(store):
    assert store.put_json("runs/r1/run.json", {"status": "running", "n": 1})
    assert store.get_json("runs/r1/run.json") == {"status": "running", "n": 1}
    assert store.put_json("runs/r1/run.json", {"status": "done"})
    assert store.get_json("runs/r1/run.json") == {"status": "done"}
    assert store.put_json("runs/r1/lock", {"owner": 1}, exclusive=True)
    assert not store.put_json("runs/r1/lock", {"owner": 2}, exclusive=True)
    assert store.get_json("runs/r1/lock") == {"owner": 1}
    assert store.get_json("runs/r1/missing.json") is None
    store.put_json("runs/r1/tasks/a/0.json", {})
    assert store.list("runs/r1") == [
        "runs/r1/lock",
        "runs/r1/run.json",
        "runs/r1/tasks/a/0.json",
    ]


def test_memory_url_saves_loads_and_keeps_records(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(tmp_path / "cache"))
    url = f"memory://lamina-test-{os.getpid()}-{tmp_path.name}"
    store = ArtifactStore(FileDatastore(url), builtin_serializers())
    array = np.arange(1000, dtype=np.float32).reshape(10, 100)
    ref, created = store.save(array, name="r/s/0")
    assert created
    assert store.save(array, name="r/s/1") == (ref, False)
    np.testing.assert_array_equal(store.load(ref, name="r/s/0"), array)
    fn_ref, _ = store.save(lambda x: x * 2, name="r/fn/0")
    assert store.load(fn_ref)(21) == 42
    assert store.put_json("runs/r/run.json", {"ok": True})
    assert not store.put_json("runs/r/run.json", {"ok": False}, exclusive=True)
    assert store.get_json("runs/r/run.json") == {"ok": True}
    assert store.list("runs") == ["runs/r/run.json"]
    assert store.get_bytes(store.put_bytes(b"abc")) == b"abc"
    # Nothing of it touched the local disk except the read cache.
    assert not (tmp_path / "store").exists()


# -- integrity ------------------------------------------------------------------------------


def _object_path(root: Path, ref: ArtifactRef) -> Path:
    path = root / object_key(ref.key)
    chmod_writable(path)
    return path


def test_truncated_object_is_reported_with_label_key_and_fix(store, root):
    ref, _ = store.save(np.arange(10_000, dtype=np.float64), name="x")
    path = _object_path(root, ref)
    with open(path, "r+b") as f:
        f.truncate(ref.size - 100)
    with pytest.raises(CorruptArtifactError) as info:
        store.load(ref, name="run-7/train/3")
    message = str(info.value)
    assert "run-7/train/3" in message
    assert ref.key in message
    assert str(ref.size) in message and str(ref.size - 100) in message
    assert "lamina resume run-7" in message


def test_flipped_byte_with_same_size_is_detected(store, root):
    ref, _ = store.save({"weights": list(range(1000))}, name="x")
    path = _object_path(root, ref)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert path.stat().st_size == ref.size
    with pytest.raises(CorruptArtifactError) as info:
        store.load(ref, name="run-1/model/0")
    assert "run-1/model/0" in str(info.value) and ref.key in str(info.value)
    key = store.put_bytes(b"some log")
    raw = root / object_key(key)
    chmod_writable(raw)
    raw.write_bytes(b"some lag")
    with pytest.raises(CorruptArtifactError):
        store.get_bytes(key, name="run-1/model/0 stdout")


def test_verify_reads_off_skips_the_hash(root):
    store = make_store(root, verify_reads=False)
    ref, _ = store.save(b"x" * 1000, name="x")
    path = _object_path(root, ref)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] = ord("y")
    path.write_bytes(bytes(data))
    altered = store.load(ref)  # not checked: returns whatever is there
    assert altered != b"x" * 1000 and len(altered) == 1000
    with pytest.raises(CorruptArtifactError):
        store.verify(ref.key, size=ref.size)  # an explicit check still catches it


def test_missing_object_names_label_and_key(store, root):
    ref, _ = store.save([1], name="x")
    path = _object_path(root, ref)
    path.unlink()
    with pytest.raises(ArtifactNotFoundError) as info:
        store.load(ref, name="run-2/prep/0")
    assert "run-2/prep/0" in str(info.value) and ref.key in str(info.value)
    assert "lamina resume run-2" in str(info.value)


def test_saving_again_repairs_a_truncated_object(store, root):
    value = list(range(10_000))
    ref, _ = store.save(value, name="x")
    path = _object_path(root, ref)
    with open(path, "r+b") as f:
        f.truncate(10)
    ref2, created = store.save(value, name="x")
    assert ref2 == ref and not created
    assert store.load(ref) == value


def test_unknown_serializer_names_it_and_the_installed_ones(store):
    ref, _ = store.save([1], name="x")
    alien = ArtifactRef(key=ref.key, serializer="torch.pt", size=ref.size, type="Tensor")
    with pytest.raises(SerializationError) as info:
        store.load(alien, name="r/s/0")
    assert "torch.pt" in str(info.value) and "cloudpickle" in str(info.value)


# -- serializer failures -----------------------------------------------------------------------


class Exploding:
    pass


class ExplodingSerializer:
    name = "test.exploding"
    priority = 50

    def handles(self, value: Any) -> bool:
        return isinstance(value, Exploding) or callable(value)

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        file.write(b"partial output")
        raise RuntimeError("boom")

    def load(self, path: str) -> Any:
        raise AssertionError


def test_unpicklable_value_raises_naming_value_type_and_fix(root):
    import threading

    store = make_store(root)
    with pytest.raises(SerializationError) as info:
        store.save({"lock": threading.Lock()}, name="run-3/fit/1")
    message = str(info.value)
    assert "run-3/fit/1" in message
    assert "dict" in message
    assert "cloudpickle" in message
    assert "fix:" in message and "picklable" in message
    assert staged_files(root) == []
    assert object_files(root) == []


def test_failing_serializer_falls_back_with_a_warning(root):
    store = ArtifactStore(FileDatastore(str(root)), [ExplodingSerializer(), *builtin_serializers()])
    with pytest.warns(RuntimeWarning, match="test.exploding"):
        ref, _ = store.save(Exploding(), name="r/s/0")
    assert ref.serializer == "cloudpickle"
    assert isinstance(store.load(ref), Exploding)
    assert staged_files(root) == []
    assert assert_objects_valid(root) == 1


def test_serializer_error_when_every_candidate_fails(root):
    store = ArtifactStore(FileDatastore(str(root)), [ExplodingSerializer()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SerializationError) as info:
            store.save(Exploding(), name="r/s/0")
    assert "test.exploding" in str(info.value) and "boom" in str(info.value)
    assert staged_files(root) == []
    with pytest.raises(SerializationError, match="no installed serializer"):
        store.save(42, name="r/s/1")


# -- lifecycle hooks ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @lamina.hookspecs.hookimpl
    def lamina_before_artifact_save(self, name, value):
        self.calls.append(("before_save", {"name": name, "value": value}))

    @lamina.hookspecs.hookimpl
    def lamina_after_artifact_save(self, name, ref, created):
        self.calls.append(("after_save", {"name": name, "ref": ref, "created": created}))

    @lamina.hookspecs.hookimpl
    def lamina_on_artifact_error(self, name, error):
        self.calls.append(("error", {"name": name, "error": error}))

    @lamina.hookspecs.hookimpl
    def lamina_after_artifact_load(self, ref, value):
        self.calls.append(("after_load", {"ref": ref, "value": value}))


@pytest.fixture
def recorder_store(root):
    pm = pluggy.PluginManager(lamina.hookspecs.PROJECT_NAME)
    pm.add_hookspecs(lamina.hookspecs)
    recorder = Recorder()
    pm.register(recorder)
    return recorder, ArtifactStore(FileDatastore(str(root)), builtin_serializers(), hooks=pm.hook)


def test_hooks_see_saves_and_loads(recorder_store):
    recorder, store = recorder_store
    value = {"x": 1}
    ref, _ = store.save(value, name="r/s/0")
    store.save(value, name="r/s/1")
    loaded = store.load(ref, name="r/s/0")
    names = [c[0] for c in recorder.calls]
    assert names == ["before_save", "after_save", "before_save", "after_save", "after_load"]
    assert recorder.calls[0][1] == {"name": "r/s/0", "value": value}
    assert recorder.calls[1][1] == {"name": "r/s/0", "ref": ref, "created": True}
    assert recorder.calls[3][1] == {"name": "r/s/1", "ref": ref, "created": False}
    assert recorder.calls[4][1] == {"ref": ref, "value": loaded}


def test_hooks_see_errors_then_the_error_is_raised(recorder_store, root):
    import threading

    recorder, store = recorder_store
    with pytest.raises(SerializationError) as info:
        store.save(threading.Lock(), name="r/bad/0")
    assert recorder.calls[-1] == ("error", {"name": "r/bad/0", "error": info.value})
    ref, _ = store.save([1, 2], name="r/ok/0")
    path = root / object_key(ref.key)
    chmod_writable(path)
    path.write_bytes(b"junk")
    with pytest.raises(CorruptArtifactError) as info2:
        store.load(ref, name="r/ok/0")
    assert recorder.calls[-1] == ("error", {"name": "r/ok/0", "error": info2.value})
    assert "after_load" not in [c[0] for c in recorder.calls]


# -- objects addressed by SHA-256, as earlier versions did ----------------------------------------------


def _plant_legacy(root: Path, data: bytes) -> str:
    import hashlib

    key = hashlib.sha256(data).hexdigest()
    path = root / object_key(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024])  # read whole; hashed from the file
def test_an_object_stored_under_its_sha256_is_still_read(store, root, size):
    data = os.urandom(size)
    key = _plant_legacy(root, data)
    assert store.get_bytes(key, name="old/s/0") == data
    assert Path(store.verify(key, size=size)).read_bytes() == data


def test_an_altered_legacy_object_is_still_corrupt(store, root):
    key = _plant_legacy(root, b"original bytes")
    path = root / object_key(key)
    path.write_bytes(b"altered  bytes")
    with pytest.raises(CorruptArtifactError, match="does not match its hash"):
        store.get_bytes(key, name="old/s/0")


def test_big_buffers_and_files_hash_like_one_thread(tmp_path):
    from lamina.datastore.hashing import file_digest

    data = os.urandom(20 * 1024 * 1024 + 7)  # above the size hashed on every core
    reference = blake3(data).hexdigest()
    assert bytes_digest(data) == reference
    assert bytes_digest(memoryview(data)) == reference
    path = tmp_path / "big"
    path.write_bytes(data)
    assert file_digest(path) == (reference, len(data))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_digest(empty) == (blake3(b"").hexdigest(), 0)
