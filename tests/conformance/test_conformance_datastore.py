"""The builtin ``file`` datastore passes the datastore conformance suite: on a local
folder (plain ``os`` calls) and through fsspec (``memory://``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lamina.builtin.file_datastore import FileDatastore
from lamina.testing import DatastoreSuite


class TestFileDatastoreOnDisk(DatastoreSuite):
    @pytest.fixture
    def datastore(self, tmp_path: Path) -> FileDatastore:
        return FileDatastore(str(tmp_path / "store"))

    @pytest.fixture
    def datastore_reader(self, datastore: FileDatastore) -> FileDatastore:
        return FileDatastore(f"file://{datastore.root}")

    @pytest.fixture
    def unreachable_datastore(self, tmp_path: Path) -> FileDatastore:
        (tmp_path / "a-file").write_text("not a folder")
        return FileDatastore(str(tmp_path / "a-file" / "store"))


class TestFileDatastoreThroughFsspec(DatastoreSuite):
    @pytest.fixture
    def datastore(self, tmp_path: Path) -> FileDatastore:
        return FileDatastore(f"memory://conformance-{uuid.uuid4().hex}",
                             cache_dir=str(tmp_path / "cache"))

    @pytest.fixture
    def datastore_reader(self, datastore: FileDatastore, tmp_path: Path) -> FileDatastore:
        return FileDatastore(datastore.url, cache_dir=str(tmp_path / "reader-cache"))
