"""The data-source conformance suite on the ``mysql`` source (lamina-data-sql) against
MariaDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from lamina.testing import DataSourceSuite
from lamina.testing.data_sources import sample_table


class TestMysqlSource(DataSourceSuite):
    # MySQL does not tell a table's version and keeps no old ones
    versions = False
    time_travel = False
    queries = True
    param_query = "select id, name from {table} where id >= %(min_id)s"

    @pytest.fixture
    def data_source(self, source_name: str, maria_server: Any,
                    maria_database: str) -> Iterator[Any]:
        from lamina_data_sql.mysql import MysqlSource
        from lamina_data_sql.plugin import MysqlSourceOptions

        source = MysqlSource(source_name, MysqlSourceOptions(url=maria_server.url(maria_database)))
        yield source
        source.close()

    def test_a_zoned_timestamp_in_a_filter_is_an_instant(self, data_source: Any,
                                                       table_name: str) -> None:
        data_source.write(table_name, sample_table())
        at = dt.datetime(2026, 1, 1, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        got = data_source.read(table=table_name, filter=[("at", ">=", at)], columns=["id"])
        assert sorted(got.table.column("id").to_pylist()) == [1, 2]

    @pytest.fixture
    def unreachable_data_source(self, source_name: str) -> Any:
        from lamina_data_sql.mysql import MysqlSource
        from lamina_data_sql.plugin import MysqlSourceOptions

        # port 1: nothing listens there on loopback
        return MysqlSource(source_name, MysqlSourceOptions(
            url="mysql://root@127.0.0.1:1/x", connect_timeout=3))
