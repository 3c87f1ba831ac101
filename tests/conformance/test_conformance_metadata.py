"""The builtin ``sqlite`` metadata store passes the metadata conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.builtin.sqlite_metadata import SqliteMetadataStore
from lamina.testing import MetadataSuite


class TestSqliteMetadataStore(MetadataSuite):
    @pytest.fixture
    def metadata_store(self, tmp_path: Path) -> Iterator[SqliteMetadataStore]:
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        yield store
        store.close()

    @pytest.fixture
    def unreachable_metadata_store(self, tmp_path: Path) -> SqliteMetadataStore:
        (tmp_path / "a-file").write_text("not a folder")
        return SqliteMetadataStore(tmp_path / "a-file" / "metadata.db")
