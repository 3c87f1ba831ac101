"""The datastore conformance suite: :class:`DatastoreSuite`."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import pytest

from lamina.datastore.hashing import bytes_digest, file_digest
from lamina.errors import ArtifactNotFoundError, BackendUnreachableError, DatastoreError
from lamina.interfaces import BufferDatastore, CollectableDatastore, Datastore
from lamina.testing.flows import missing_fixture

#: Keys that are not relative ``/``-separated paths, or that name reserved places.
BAD_RECORD_KEYS = ("", "/runs/a.json", "runs/../a.json", "runs//a.json", "runs/./a.json",
                   "objects/ab/x.json", "tmp/x.json")
#: Keys that are not object keys (64 lowercase hex digits).
BAD_OBJECT_KEYS = ("abc", "A" * 64, "g" * 64, "../" + "a" * 61)


def stage(datastore: Any, data: bytes) -> tuple[str, str]:
    """Write ``data`` to a fresh file in the datastore's staging folder, as the artifact
    store does before :meth:`~lamina.interfaces.Datastore.commit_blob`: (path, key)."""
    folder = datastore.staging_dir()
    path = os.path.join(folder, f".stage-conformance-{uuid.uuid4().hex}")
    with open(path, "wb") as f:
        f.write(data)
    return path, bytes_digest(data)


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class DatastoreSuite:
    """Conformance of a :class:`lamina.interfaces.Datastore`.

    Override the ``datastore`` fixture to return a fresh, empty store (and optionally
    ``datastore_reader``: a second instance on the same location, e.g. with its own read
    cache, to show that what one instance writes another reads).

    The contract, beyond the Protocol's docstrings:

    - **Objects** are named by the BLAKE3 of their bytes (64 lowercase hex digits). A key
      of any other shape raises :class:`lamina.errors.DatastoreError` from
      ``commit_blob`` and ``blob_path``; ``has_blob`` answers False for it.
    - ``commit_blob`` always consumes the staged file, whether it wrote it (True) or the
      object existed already (False: the stored bytes are kept). The caller hashed the
      staged bytes, so a store may use them to repair an existing object whose size
      shows it is damaged, but never replaces an intact one.
    - ``blob_path`` of an absent object raises
      :class:`lamina.errors.ArtifactNotFoundError` (a ``DatastoreError``); the path it
      returns holds exactly the object's bytes.
    - **Records** are small byte strings under relative ``/``-separated keys. A key that is
      empty, absolute, has an empty, ``.`` or ``..`` part, or starts with the reserved
      folders ``objects/`` or ``tmp/``, raises ``DatastoreError``. A plain ``put_record``
      replaces the record atomically and returns True; an ``exclusive`` one writes only if
      the record is absent, and of several concurrent exclusive writers exactly one
      returns True and its bytes are what every reader sees. A reader sees either the old
      or the new bytes of a record, never a mix or a prefix.
    - ``get_record`` of an absent key (or of a key that is a folder of records, or lies
      below a record) is None.
    - ``list_records(prefix)`` treats ``prefix`` as a folder: it returns the full keys of
      every record below it at any depth (``runs/r1`` never matches ``runs/r10/...``),
      sorted, never objects or temporary files. An unknown prefix, or the key of a
      record (a record is not a folder), gives ``[]``; the empty prefix every record; a
      trailing ``/`` changes nothing.
    - ``commit_buffers`` (optional, :class:`lamina.interfaces.BufferDatastore`) stores the
      concatenation of its buffers under the key as ``commit_blob`` stores a staged file
      (an existing object is kept, a malformed key raises ``DatastoreError``); with it, the
      artifact store saves a big numpy array from memory, never through a staged file.
    - ``check`` returns a non-empty one-line summary, or raises
      :class:`lamina.errors.BackendUnreachableError` with a hint when the backend cannot
      be reached (checked when the subclass defines ``unreachable_datastore``).
    """

    @pytest.fixture
    def datastore(self) -> Any:
        """The component under test: a fresh, empty datastore. Override it."""
        missing_fixture(self, "datastore", "return MyDatastore(root=tmp_path)")

    @pytest.fixture
    def datastore_reader(self, datastore: Any) -> Any:
        """A second instance on the same location as ``datastore`` (by default the same
        object). Override it to prove that writes reach the backend, not a local cache."""
        return datastore

    @pytest.fixture
    def unreachable_datastore(self) -> Any:
        """A datastore of the same kind whose backend cannot be reached (a folder that
        cannot exist, a closed port). Override it to check what ``check`` says then."""
        pytest.skip(f"{type(self).__name__} defines no unreachable_datastore fixture")

    # -- shape ------------------------------------------------------------------------

    def test_it_is_a_datastore(self, datastore: Any) -> None:
        assert isinstance(datastore, Datastore), (
            f"{type(datastore).__name__} lacks methods of lamina.interfaces.Datastore"
        )
        assert isinstance(datastore.url, str) and datastore.url
        summary = datastore.check()
        assert isinstance(summary, str) and summary.strip()
        assert os.path.isdir(datastore.staging_dir())

    def test_check_names_an_unreachable_backend(self, unreachable_datastore: Any) -> None:
        with pytest.raises(BackendUnreachableError) as info:
            unreachable_datastore.check()
        assert info.value.hint, "the error says what to do"

    # -- objects ----------------------------------------------------------------------

    def test_a_committed_object_reads_back_byte_for_byte(
        self, datastore: Any, datastore_reader: Any
    ) -> None:
        data = os.urandom(200_000) + b"\x00end"
        staged, key = stage(datastore, data)
        assert not datastore.has_blob(key)
        assert datastore.commit_blob(staged, key) is True
        assert not os.path.exists(staged), "commit_blob must consume the staged file"
        assert datastore.has_blob(key)
        assert datastore_reader.has_blob(key)
        path = datastore_reader.blob_path(key)
        assert read(path) == data
        assert file_digest(path)[0] == key, "the object's bytes hash to its key"

    def test_committing_an_existing_object_keeps_the_stored_bytes(self, datastore: Any) -> None:
        staged, key = stage(datastore, b"the first bytes")
        assert datastore.commit_blob(staged, key) is True
        # Same key, other bytes (of the same size: a store may repair an object whose
        # size shows it is damaged): a store that overwrote would now hold the impostor.
        impostor, _ = stage(datastore, b"the other bytes")
        assert datastore.commit_blob(impostor, key) is False
        assert not os.path.exists(impostor), "the staged file is consumed even when unused"
        assert read(datastore.blob_path(key)) == b"the first bytes"

    def test_an_absent_object_is_not_found(self, datastore: Any) -> None:
        key = bytes_digest(b"never stored " + os.urandom(8))
        assert datastore.has_blob(key) is False
        with pytest.raises(ArtifactNotFoundError) as info:
            datastore.blob_path(key)
        assert key in str(info.value), "the error names the missing object"

    def test_a_malformed_object_key_is_refused(self, datastore: Any) -> None:
        for key in BAD_OBJECT_KEYS:
            assert datastore.has_blob(key) is False, key
            with pytest.raises(DatastoreError):
                datastore.blob_path(key)
            staged, _ = stage(datastore, b"x")
            with pytest.raises(DatastoreError):
                datastore.commit_blob(staged, key)

    def test_values_are_content_addressed_end_to_end(self, datastore: Any) -> None:
        """Through the artifact store (what a run uses): the same value stored twice is
        stored once, and it loads back equal."""
        from lamina.datastore.artifacts import ArtifactStore
        from lamina.datastore.serializers import builtin_serializers

        store = ArtifactStore(datastore, builtin_serializers())
        value = {"rows": list(range(1000)), "name": "conformance"}
        ref, created = store.save(value, name="conformance/value")
        assert created is True
        again, created_again = store.save(dict(value), name="conformance/again")
        assert again.key == ref.key and created_again is False
        assert store.load(ref) == value
        assert file_digest(datastore.blob_path(ref.key)) == (ref.key, ref.size)

    # -- saving from memory (lamina.interfaces.BufferDatastore) --------------------------

    @staticmethod
    def _buffered(datastore: Any) -> Any:
        return _offering(datastore, BufferDatastore,
                         "offers no commit_buffers (big values are staged to a file and committed)")

    def test_an_object_committed_from_buffers_reads_back_byte_for_byte(
        self, datastore: Any, datastore_reader: Any
    ) -> None:
        store = self._buffered(datastore)
        # several buffers of odd sizes, one empty: the object is their concatenation
        pieces = [os.urandom(113), b"", os.urandom(3 * 1024 * 1024 + 7), b"\x00end"]
        data = b"".join(pieces)
        key = bytes_digest(data)
        assert store.commit_buffers([memoryview(p) for p in pieces], key) is True
        assert datastore_reader.has_blob(key)
        path = datastore_reader.blob_path(key)
        assert read(path) == data
        assert read(store.blob_path(key)) == data, "the writer reads it back too"
        # the same key again, other bytes of the same size: the stored bytes are kept
        impostor = [memoryview(bytes(len(data)))]
        assert store.commit_buffers(impostor, key) is False
        assert read(datastore_reader.blob_path(key)) == data

    def test_buffers_under_a_malformed_key_are_refused(self, datastore: Any) -> None:
        store = self._buffered(datastore)
        for key in BAD_OBJECT_KEYS:
            with pytest.raises(DatastoreError):
                store.commit_buffers([memoryview(b"x")], key)
        assert not store.has_blob(bytes_digest(b"x"))

    def test_a_big_value_is_saved_from_memory_without_a_staged_file(
        self, datastore: Any
    ) -> None:
        """Through the artifact store: a numpy array goes through ``commit_buffers``
        (never ``commit_blob``) and loads back equal."""
        np = pytest.importorskip("numpy")
        from lamina.datastore.artifacts import ArtifactStore
        from lamina.datastore.serializers import builtin_serializers

        store = self._buffered(datastore)
        committed: list[str] = []
        original = store.commit_blob

        def watched(staged: str, key: str) -> bool:
            committed.append(key)
            return bool(original(staged, key))

        store.commit_blob = watched
        try:
            artifacts = ArtifactStore(store, builtin_serializers())
            array = np.arange(3 * 1024 * 1024, dtype=np.int32).reshape(3, -1)
            ref, created = artifacts.save(array, name="conformance/array")
            assert created is True
            assert committed == [], "no staged file was committed"
            assert os.listdir(store.staging_dir()) == [], "no staged file was written"
            assert np.array_equal(artifacts.load(ref), array)
            assert artifacts.save(array.copy(), name="again") == (ref, False)
        finally:
            del store.commit_blob

    # -- records ----------------------------------------------------------------------

    def test_records_round_trip_and_are_replaced(
        self, datastore: Any, datastore_reader: Any
    ) -> None:
        key = "runs/r1/tasks/step/0.json"
        assert datastore.get_record(key) is None
        assert datastore.put_record(key, b'{"a": 1}') is True
        assert datastore_reader.get_record(key) == b'{"a": 1}'
        assert datastore.put_record(key, b'{"a": 2, "longer": true}') is True
        assert datastore_reader.get_record(key) == b'{"a": 2, "longer": true}'
        assert datastore.put_record("runs/r1/empty", b"") is True
        assert datastore.get_record("runs/r1/empty") == b""

    def test_an_exclusive_record_is_never_overwritten(self, datastore: Any) -> None:
        key = "runs/r1/manifest.json"
        assert datastore.put_record(key, b"first", exclusive=True) is True
        assert datastore.put_record(key, b"second", exclusive=True) is False
        assert datastore.get_record(key) == b"first"

    def test_of_concurrent_exclusive_writers_exactly_one_wins(self, datastore: Any) -> None:
        key = "locks/conformance.json"
        payloads = [f"writer {i}".encode() * 50 for i in range(8)]
        results: dict[int, bool] = {}
        barrier = threading.Barrier(len(payloads))

        def write(i: int) -> None:
            barrier.wait()
            results[i] = datastore.put_record(key, payloads[i], exclusive=True)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        winners = [i for i, won in results.items() if won]
        assert len(results) == len(payloads), "every writer returned"
        assert len(winners) == 1, f"exactly one exclusive writer may win, not {winners}"
        assert datastore.get_record(key) == payloads[winners[0]]

    def test_a_reader_never_sees_a_partial_record(self, datastore: Any) -> None:
        key = "runs/r1/big.json"
        size = 256 * 1024
        versions = [bytes([65 + i]) * size for i in range(4)]
        datastore.put_record(key, versions[0])
        seen: list[bytes | None] = []
        done = threading.Event()

        def reader() -> None:
            while not done.is_set():
                seen.append(datastore.get_record(key))

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for round_ in range(12):
                datastore.put_record(key, versions[round_ % len(versions)])
        finally:
            done.set()
            thread.join(timeout=120)
        assert seen, "the reader ran"
        torn = [len(s) if s is not None else None for s in seen if s not in versions]
        assert not torn, f"a reader saw {len(torn)} partial or mixed records (sizes {torn[:5]})"

    def test_a_malformed_record_key_is_refused(self, datastore: Any) -> None:
        for key in BAD_RECORD_KEYS:
            with pytest.raises(DatastoreError) as info:
                datastore.put_record(key, b"x")
            assert repr(key) in str(info.value), f"the error names the key {key!r}"
            with pytest.raises(DatastoreError):
                datastore.get_record(key)
        assert datastore.list_records("") == [], "nothing was written"

    def test_listing_treats_the_prefix_as_a_folder(
        self, datastore: Any, datastore_reader: Any
    ) -> None:
        keys = ["runs/r1/a.json", "runs/r1/tasks/s/0.json", "runs/r1/tasks/s/1.json",
                "runs/r10/a.json", "runs/r2.json", "flows/f/latest"]
        for key in reversed(keys):
            datastore.put_record(key, key.encode())
        staged, _ = stage(datastore, b"an object is not a record")
        datastore.commit_blob(staged, bytes_digest(b"an object is not a record"))
        mine = ["runs/r1/a.json", "runs/r1/tasks/s/0.json", "runs/r1/tasks/s/1.json"]
        assert datastore_reader.list_records("runs/r1") == mine
        assert datastore_reader.list_records("runs/r1/") == mine
        assert datastore_reader.list_records("runs/r1/tasks/s") == mine[1:]
        assert datastore_reader.list_records("runs") == sorted(
            k for k in keys if k.startswith("runs/")
        )
        assert datastore_reader.list_records("") == sorted(keys), "no objects, no temp files"
        assert datastore_reader.list_records("nothing/here") == []
        assert datastore_reader.list_records("runs/r2.json") == [], "a record is not a folder"
        assert datastore_reader.get_record("runs/r1") is None, "a folder is not a record"
        assert datastore_reader.get_record("runs/r2.json/inner") is None

    # -- retention (lamina.interfaces.CollectableDatastore) -----------------------------

    @staticmethod
    def _collectable(datastore: Any) -> Any:
        return _offering(datastore, CollectableDatastore,
                         "is not a CollectableDatastore (lamina gc cannot collect it)")

    def test_scan_streams_objects_and_records_apart(
        self, datastore: Any, datastore_reader: Any
    ) -> None:
        store = self._collectable(datastore)
        reader = self._collectable(datastore_reader)
        before = time.time() - 5
        blobs = [b"first object", b"second, longer object"]
        keys = []
        for data in blobs:
            staged, key = stage(store, data)
            store.commit_blob(staged, key)
            keys.append(key)
        records = {"runs/r1/run.json": b"{}", "runs/r1/tasks/s/0.json": b'{"a": 1}',
                   "runs/r10/run.json": b"{}", "deployments/f/d.json": b"{}"}
        for key, data in records.items():
            store.put_record(key, data)
        objects = {key: (size, mtime) for key, size, mtime in reader.scan("objects")}
        assert set(objects) == {f"objects/{k[:2]}/{k}" for k in keys}
        for key, data in zip(keys, blobs, strict=True):
            size, mtime = objects[f"objects/{key[:2]}/{key}"]
            assert size == len(data)
            assert before < mtime < time.time() + 5, "mtime is epoch seconds"
        everything = {key: size for key, size, _ in reader.scan("")}
        assert everything == {k: len(v) for k, v in records.items()}, "records, never objects"
        assert sorted(k for k, _, _ in reader.scan("runs/r1")) == [
            "runs/r1/run.json", "runs/r1/tasks/s/0.json"], "a prefix is a folder"
        assert list(reader.scan("nothing/here")) == []

    def test_touch_blob_keeps_the_bytes_and_answers_for_absent_objects(
        self, datastore: Any
    ) -> None:
        store = self._collectable(datastore)
        staged, key = stage(store, b"reused by a later run")
        store.commit_blob(staged, key)
        assert store.touch_blob(key) is True
        assert read(store.blob_path(key)) == b"reused by a later run"
        assert store.touch_blob(bytes_digest(b"never stored")) is False

    def test_delete_blob_spares_young_objects_and_frees_old_ones(self, datastore: Any) -> None:
        store = self._collectable(datastore)
        staged, key = stage(store, b"garbage once nothing points at it")
        store.commit_blob(staged, key)
        listed = f"objects/{key[:2]}/{key}"
        assert store.delete_blob(key, older_than=time.time() - 3600) is None, (
            "an object written after older_than stays")
        assert listed in {k for k, _, _ in store.scan("objects")}
        freed = store.delete_blob(key, older_than=time.time() + 3600)
        assert freed == len(b"garbage once nothing points at it")
        assert listed not in {k for k, _, _ in store.scan("objects")}
        assert store.delete_blob(key, older_than=time.time() + 3600) is None, "already gone"
        again, _ = stage(store, b"garbage once nothing points at it")
        assert store.commit_blob(again, key) in (True, False)
        assert read(store.blob_path(key)) == b"garbage once nothing points at it", (
            "a collected object can be stored again")

    def test_delete_record(self, datastore: Any) -> None:
        store = self._collectable(datastore)
        store.put_record("runs/r1/run.json", b"{}")
        assert store.delete_record("runs/r1/run.json") is True
        assert store.get_record("runs/r1/run.json") is None
        assert store.delete_record("runs/r1/run.json") is False


def _offering(datastore: Any, capability: type, missing: str) -> Any:
    """The datastore, when it offers an optional ``capability``; else the test is skipped,
    saying what the store lacks."""
    if not isinstance(datastore, capability):
        pytest.skip(f"{type(datastore).__name__} {missing}")
    return datastore
