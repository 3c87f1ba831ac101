"""The data-source conformance suite on the ``mysql`` source (lamina-data-sql) against
MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lamina.testing import DataSourceSuite


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

    @pytest.fixture
    def unreachable_data_source(self, source_name: str) -> Any:
        from lamina_data_sql.mysql import MysqlSource
        from lamina_data_sql.plugin import MysqlSourceOptions

        # port 1: nothing listens there on loopback
        return MysqlSource(source_name, MysqlSourceOptions(
            url="mysql://root@127.0.0.1:1/x", connect_timeout=3))
