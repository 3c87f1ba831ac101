"""The data-source conformance suite on the ``postgres`` source (lamina-data-sql, ADBC)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from lamina.testing import DataSourceSuite
from lamina.testing.data_sources import sample_table


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

    def test_a_zoned_timestamp_in_a_filter_is_an_instant(self, data_source: Any,
                                                       table_name: str) -> None:
        data_source.write(table_name, sample_table())
        at = dt.datetime(2026, 1, 1, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        got = data_source.read(table=table_name, filter=[("at", ">=", at)], columns=["id"])
        assert sorted(got.table.column("id").to_pylist()) == [1, 2]

    @pytest.fixture
    def unreachable_data_source(self, source_name: str) -> Any:
        from lamina_data_sql.plugin import PostgresSourceOptions
        from lamina_data_sql.postgres import PostgresSource

        # port 1: nothing listens there on loopback
        return PostgresSource(source_name, PostgresSourceOptions(
            url="postgresql://postgres@127.0.0.1:1/x", connect_timeout=3))
