"""The data-source conformance suite on the ``postgres`` source (lamina-data-sql, ADBC)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from lamina.testing import DataSourceSuite


class TestPostgresSource(DataSourceSuite):
    # PostgreSQL does not tell a table's version and keeps no old ones
    versions = False
    time_travel = False
    queries = True
    param_query = "select id, name from {table} where id >= %(min_id)s"

    @pytest.fixture
    def data_source(self, source_name: str, pg_url: str, pg_schema: str) -> Any:
        from lamina_data_sql.plugin import PostgresSourceOptions
        from lamina_data_sql.postgres import PostgresSource

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'create schema "{pg_schema}"')
        return PostgresSource(source_name, PostgresSourceOptions(url=pg_url,
                                                                 search_path=pg_schema))

    @pytest.fixture
    def unreachable_data_source(self, source_name: str) -> Any:
        from lamina_data_sql.plugin import PostgresSourceOptions
        from lamina_data_sql.postgres import PostgresSource

        # port 1: nothing listens there on loopback
        return PostgresSource(source_name, PostgresSourceOptions(
            url="postgresql://postgres@127.0.0.1:1/x", connect_timeout=3))
