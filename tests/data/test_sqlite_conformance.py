"""The data-source conformance suite on the builtin ``sqlite`` source."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lamina.builtin.sqlite_source import SqliteSource
from lamina.testing import DataSourceSuite


class TestSqlite(DataSourceSuite):
    # the version is the database file's size, time and change counter (version_of)
    versions = True
    # SQLite keeps no old versions
    time_travel = False
    queries = True
    param_query = "select id, name from {table} where id >= %(min_id)s"

    @pytest.fixture
    def data_source(self, source_name: str, tmp_path: Path) -> Any:
        path = tmp_path / "conformance.db"
        sqlite3.connect(path).close()  # an empty database, as check() wants one
        return SqliteSource(source_name, str(path))

    def test_a_missing_database_file_names_the_table(self, source_name: str,
                                                     tmp_path: Path) -> None:
        from lamina.errors import LaminaError

        source = SqliteSource(source_name, str(tmp_path / "absent.db"))
        with pytest.raises(LaminaError) as err:
            source.read(table="events")
        assert source_name in str(err.value) and "'events'" in str(err.value)
        assert "does not exist" in str(err.value) and err.value.hint
