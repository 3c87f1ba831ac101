"""The feature store's DuckDB connections: a fresh database per job, with the store's
settings, in UTC."""

from __future__ import annotations

import duckdb
import pytest

from lamina.features.connections import connect


def test_each_connection_is_a_fresh_database_with_the_settings() -> None:
    first, second = connect(threads=1, memory_limit="300MB"), connect(1, "300MB")
    first.execute("CREATE TABLE t AS SELECT 1 AS x")
    with pytest.raises(duckdb.CatalogException):
        second.execute("SELECT * FROM t")  # nothing carried over
    for con in (first, second):
        assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit[0].startswith(("286", "300"))  # MiB or MB, as printed
        con.close()
