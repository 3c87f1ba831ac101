"""The Snowflake source beyond the conformance suite: JSON (VARIANT), parameters and their
record, options and the URL shorthand, registration, and the errors of bad input. Run
through the real connector against fakesnow's server (an emulator: no real Snowflake)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from lamina.errors import DataSourceError, OptionError


@pytest.fixture
def source(snowflake_options: dict[str, Any]) -> Iterator[Any]:
    from lamina_data_snowflake.plugin import SnowflakeOptions
    from lamina_data_snowflake.source import SnowflakeSource

    made = SnowflakeSource("warehouse", SnowflakeOptions(**snowflake_options))
    yield made
    made.close()


def test_json_in_a_variant_column_reads_back(source: Any) -> None:
    cursor = source._connection().cursor()
    cursor.execute("create table docs (id int, doc variant)")
    cursor.execute("insert into docs select 1, parse_json('{\"a\": [1, 2], \"b\": null}')")
    got = source.read("select id, doc from docs where id = %(id)s", params={"id": 1})
    assert json.loads(got.table.column("DOC")[0].as_py()) == {"a": [1, 2], "b": None}
    assert got.input.query.startswith("select id, doc") and got.input.params == {"id": 1}


def test_params_are_bound_by_the_connector_and_recorded_as_json(source: Any) -> None:
    source.write("events", pa.table({"id": [1, 2], "name": ["o'hara", "x"]}))
    day = dt.date(2026, 1, 1)
    got = source.read("select id from events where name = %(name)s and %(day)s is not null",
                      params={"name": "o'hara", "day": day})
    assert got.table.column("ID").to_pylist() == [1]
    assert got.input.params == {"name": "o'hara", "day": "2026-01-01"}
    assert got.input.version_kind == "none" and got.input.version is None


def test_a_sql_error_names_the_source_and_the_database_message(source: Any) -> None:
    with pytest.raises(DataSourceError) as err:
        source.read("select nope( from x")
    message = str(err.value)
    assert "'warehouse' (snowflake): SQL error" in message and "select nope(" in message
    assert "\n" not in err.value.message


def test_a_column_with_no_snowflake_type_is_named(source: Any) -> None:
    with pytest.raises(DataSourceError, match="column 'wait' of table 'jobs' has type "
                       "duration"):
        source.write("jobs", pa.table({"id": [1], "wait": pa.array([5], pa.duration("s"))}))


def test_read_takes_a_query_or_a_table(source: Any) -> None:
    with pytest.raises(DataSourceError, match="either a query or table="):
        source.read()
    with pytest.raises(DataSourceError, match="records no table versions"):
        source.read(table="events", as_of="3")
    with pytest.raises(DataSourceError, match="not a list of"):
        source.read(table="events", filter="id > 3")


def test_the_url_shorthand_and_its_refusals() -> None:
    from lamina_data_snowflake.plugin import SnowflakeOptions

    from lamina.config.options import build_options

    options = build_options(SnowflakeOptions, {
        "url": "snowflake://ana@myorg-acct/SALES/PUBLIC?warehouse=WH&role=ANALYST",
        "password": "s3cret"})
    kwargs = options.connect_kwargs()
    assert {k: kwargs[k] for k in ("account", "user", "database", "schema", "warehouse",
                                   "role", "password")} == {
        "account": "myorg-acct", "user": "ana", "database": "SALES", "schema": "PUBLIC",
        "warehouse": "WH", "role": "ANALYST", "password": "s3cret"}
    with pytest.raises(OptionError, match="holds a password"):
        build_options(SnowflakeOptions, {"url": "snowflake://ana:pw@acct/DB"})
    with pytest.raises(OptionError, match="account is required"):
        build_options(SnowflakeOptions, {"user": "ana"})


def test_the_plugin_is_found_through_its_entry_point() -> None:
    from lamina.kernel.pluginmanager import PluginManager

    pm = PluginManager(autoload=True)
    found = {spec.name: spec for group in pm.hook.lamina_data_sources() for spec in group}
    assert found["snowflake"].url_schemes == ("snowflake",)
    assert found["snowflake"].install_hint == "pip install lamina-data-snowflake"


def test_a_failed_overwrite_leaves_the_old_rows(snowflake_options: dict[str, Any]) -> None:
    from lamina_data_snowflake.plugin import SnowflakeOptions
    from lamina_data_snowflake.source import SnowflakeSource

    source = SnowflakeSource("warehouse", SnowflakeOptions(**snowflake_options,
                                                           insert_batch=1))
    try:
        source.write("scores", pa.table({"id": [1, 2, 3]}))
        # the first row converts, the second does not: the delete and the first insert
        # are rolled back with it
        with pytest.raises(DataSourceError, match="'warehouse' \\(snowflake\\): SQL error"):
            source.write("scores", pa.table({"id": ["7", "not a number"]}), mode="overwrite")
        got = source.read(table="scores")
        assert sorted(got.table.column("ID").to_pylist()) == [1, 2, 3]
    finally:
        source.close()


def test_an_unreachable_host_is_not_called_a_refused_login(fakesnow_server: Any) -> None:
    from envs_util import free_port
    from lamina_data_snowflake.plugin import SnowflakeOptions
    from lamina_data_snowflake.source import SnowflakeSource

    source = SnowflakeSource("warehouse", SnowflakeOptions(**fakesnow_server.options(
        port=free_port(), login_timeout=3, network_timeout=3)))
    with pytest.raises(DataSourceError,
                       match=r"'warehouse' \(snowflake\): cannot reach 127\.0\.0\.1:") as err:
        source.read("select 1")
    assert "snow" not in str(err.value).replace("snowflake", "")  # no password shown


def test_names_resolve_as_snowflake_resolves_them(source: Any,
                                                  snowflake_options: dict[str, Any]) -> None:
    source.write("order", pa.table({"select": [1, 2], "Mixed Case": ["a", "b"]}))
    plain = source.read('select * from "ORDER" where 1 = 0')
    assert plain.table.column_names == ["SELECT", "Mixed Case"]  # reserved words work
    qualified = f"{snowflake_options['database']}.{snowflake_options['schema']}.order"
    got = source.read(table=qualified, columns=["select", "Mixed Case"],
                      filter=[("Mixed Case", "=", "b")])
    assert got.table.to_pylist() == [{"SELECT": 2, "Mixed Case": "b"}]
    with pytest.raises(DataSourceError, match="table 'missing' does not exist"):
        source.read(table="missing")
