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


@pytest.fixture
def shop(tmp_path: Path) -> SqliteSource:
    source = SqliteSource("shop", str(tmp_path / "shop.db"))
    source.write("orders", {"id": [1, 2, 3], "day": ["a", "b", None],
                            "paid": [True, False, None]})
    return source


def test_a_filter_value_is_bound_never_formatted(shop: SqliteSource) -> None:
    got = shop.read(table="orders", filter=[("day", "=", "a' OR '1'='1")])
    assert got.table.num_rows == 0
    assert shop.read(table="orders", filter=[("day", "in", [])]).table.num_rows == 0


def test_a_none_in_a_filter_is_is_null(shop: SqliteSource) -> None:
    assert shop.read(table="orders", filter=[("day", "=", None)]).table.column(
        "id").to_pylist() == [3]
    assert sorted(shop.read(table="orders", filter=[("day", "!=", None)]).table.column(
        "id").to_pylist()) == [1, 2]


def test_booleans_round_trip(shop: SqliteSource) -> None:
    assert shop.read(table="orders").table.column("paid").to_pylist() == [True, False, None]


def test_a_bad_filter_operator_is_a_clear_error(shop: SqliteSource) -> None:
    from lamina.errors import LaminaError

    with pytest.raises(LaminaError) as err:
        shop.read(table="orders", filter=[("day", "like", "a%")])
    message = str(err.value)
    assert "'shop'" in message and "'orders'" in message and "like" in message
    assert err.value.hint and "not in" in err.value.hint and "\n" not in err.value.message


def test_a_quoted_column_name_in_a_filter_stays_a_name(shop: SqliteSource) -> None:
    from lamina.errors import LaminaError

    with pytest.raises(LaminaError) as err:
        shop.read(table="orders", filter=[('day" OR 1=1 --', "=", "a")])
    assert "has no column 'day\" OR 1=1 --'" in str(err.value) and err.value.hint
    with pytest.raises(LaminaError, match="has no column 'nope'"):
        shop.read(table="orders", columns=["id", "nope"])


def test_a_declared_decimal_with_more_digits_is_read_as_it_is(tmp_path: Path) -> None:
    import decimal

    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table prices (id integer, price decimal(10,2))")
        conn.execute("insert into prices values (1, 1.25), (2, 1.234)")
    got = SqliteSource("legacy", str(path)).read(table="prices").table
    assert got.column("price").to_pylist() == [1.25, 1.234]  # not rounded to the scale
    conn = sqlite3.connect(path)
    conn.execute("delete from prices where id = 2")
    conn.commit()
    conn.close()
    got = SqliteSource("legacy", str(path)).read(table="prices").table
    assert got.column("price").to_pylist() == [decimal.Decimal("1.25")]


def test_lamina_data_hashes_a_read_once(project: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    import lamina.data
    import lamina.datastore.hashing as hashing
    from lamina.stack import Stack

    (project / "lamina.toml").write_text(
        '[stacks.default.data.shop]\nplugin = "sqlite"\nurl = "shop.db"\n')
    stack = Stack.load()
    lamina.data.write("shop", "orders", {"id": [1, 2]}, stack=stack)
    calls: list[int] = []
    real = hashing.table_digest

    def counting(table: object) -> str:
        calls.append(1)
        return real(table)

    monkeypatch.setattr(hashing, "table_digest", counting)
    done = lamina.data.read_recorded("shop", table="orders", filter=[("id", ">", 1)],
                                     stack=stack)
    assert len(calls) == 1
    assert done.input.rows == 1 and done.input.content_hash == real(done.table)
    assert done.input.filter == '[[["id", ">", 1]]]'
