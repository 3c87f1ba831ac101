"""The ``mysql`` data source (lamina-data-sql) against a real MariaDB: reads with params,
types, writes in one transaction, and each kind of bad input as a one-line error."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import lamina.data
from lamina.errors import DataSourceError, RunFailedError
from lamina.flow.loader import load_flow_file
from lamina.stack import Stack


@pytest.fixture
def warehouse(project: Path, maria_server: Any, maria_database: str) -> Stack:
    (project / "lamina.toml").write_text(
        f'[stacks.default.data.warehouse]\nplugin = "mysql"\n'
        f'url = "{maria_server.url(maria_database)}"\n'
        f'[stacks.default.data.byurl]\nurl = "{maria_server.url(maria_database, scheme="mariadb")}"\n'
        f'[stacks.default.data.badcreds]\nplugin = "mysql"\n'
        f'url = "{maria_server.url(maria_database, user="nobody")}"\n'
        f'[stacks.default.data.unreachable]\nplugin = "mysql"\n'
        f'url = "mysql://root@127.0.0.1:1/{maria_database}"\nconnect_timeout = 3\n')
    conn = maria_server.connect(maria_database)
    cur = conn.cursor()
    cur.execute("""create table events (id bigint, day date, amount decimal(12, 3),
                   at_utc timestamp(6) null, local_at datetime(6), note varchar(40),
                   doc json, raw blob, small int, ratio double, shape point)""")
    cur.executemany(
        "insert into events values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, point(1, 2))",
        [(1, "2026-11-30", "12.500", "2026-11-30 10:00:00.250000", "2026-11-30 11:00:00",
          "é ✓", '{"k": [1, 2]}', b"\x00\x01", 7, 0.25),
         (2, "2026-12-01", None, None, None, None, None, None, None, None)])
    conn.close()
    return Stack.load()


def test_read_with_params_and_types(warehouse: Stack) -> None:
    cols = "id, day, amount, at_utc, local_at, note, doc, raw, small, ratio"
    done = lamina.data.read_recorded(
        "warehouse", f"select {cols} from events where day >= %(day)s order by id",
        params={"day": dt.date(2026, 11, 30)}, stack=warehouse)
    t = done.table
    assert t.schema.field("id").type == pa.int64() and t.schema.field("small").type == pa.int32()
    assert t.schema.field("amount").type == pa.decimal128(12, 3)
    assert t.schema.field("at_utc").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("local_at").type == pa.timestamp("us")
    assert t.schema.field("day").type == pa.date32()
    first, second = t.to_pylist()
    assert first["amount"] == Decimal("12.500") and second["amount"] is None
    assert first["at_utc"] == dt.datetime(2026, 11, 30, 10, 0, 0, 250000, tzinfo=dt.UTC)
    assert json.loads(first["doc"]) == {"k": [1, 2]} and first["note"] == "é ✓"
    assert first["raw"] == b"\x00\x01" and second["raw"] is None and first["ratio"] == 0.25
    info = done.input
    assert info.plugin == "mysql" and info.version_kind == "none" and info.version is None
    assert info.params == {"day": "2026-11-30"} and info.rows == 2
    by_url = lamina.data.read("byurl", "select count(*) as n from events", stack=warehouse)
    assert by_url.to_pylist() == [{"n": 2}]


def test_write_back_and_read_again(warehouse: Stack) -> None:
    data = pa.table({
        "id": pa.array([1, 2, None], pa.int64()),
        "score": pa.array([Decimal("1.50"), None, Decimal("-2.25")], pa.decimal128(8, 2)),
        "at": pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), None, None],
                       pa.timestamp("us", tz="UTC")),
        "label": ["a", None, "ü"],
    })
    assert lamina.data.write("warehouse", "predictions", data, stack=warehouse) == 3
    assert lamina.data.write("warehouse", "predictions", data, stack=warehouse) == 3
    back = lamina.data.read("warehouse", table="predictions", stack=warehouse)
    assert back.num_rows == 6 and back.slice(0, 3).equals(data)
    lamina.data.write("warehouse", "predictions", data.slice(0, 1), mode="overwrite",
                      stack=warehouse)
    assert lamina.data.read("warehouse", table="predictions", stack=warehouse).equals(
        data.slice(0, 1))
    with pytest.raises(DataSourceError, match="cannot write table 'predictions'"):
        lamina.data.write("warehouse", "predictions", {"nope": [1]}, mode="overwrite",
                          stack=warehouse)
    assert lamina.data.read("warehouse", table="predictions", stack=warehouse).num_rows == 1


def test_bad_input_is_one_line_naming_the_source(warehouse: Stack) -> None:
    with pytest.raises(DataSourceError) as err:
        lamina.data.read("warehouse", "select id\nfrom events whre id = 1", stack=warehouse)
    message = err.value.message
    assert message.startswith("data source 'warehouse' (mysql ") and "SQL error 1064" in message
    assert "line 2" in message and "\n" not in message
    with pytest.raises(DataSourceError, match=r"column 'shape' has MySQL type GEOMETRY"):
        lamina.data.read("warehouse", "select shape from events", stack=warehouse)
    for name, expected in (("badcreds", "bad credentials"),
                           ("unreachable", "the server is unreachable")):
        with pytest.raises(DataSourceError, match=expected) as bad:
            lamina.data.read(name, "select 1", stack=warehouse)
        assert "\n" not in bad.value.message and f"data source {name!r}" in bad.value.message


def test_in_a_step_the_error_names_the_step_and_no_version_means_recompute(
        warehouse: Stack, project: Path) -> None:
    (project / "flow.py").write_text(
        "import lamina.data\nfrom lamina import Flow\n\nflow = Flow('wh')\n\n\n"
        "@flow.step\ndef load(query: str = 'select id from events order by id'):\n"
        "    return lamina.data.read('warehouse', query)\n")
    flow = load_flow_file(project / "flow.py")
    first = flow.run(cache=True)
    again = flow.run(cache=True)
    task = again.tasks()[0]
    assert task.status == "succeeded", "a read with no version is computed again"
    assert any("has no version to compare" in n for n in task.notes)
    assert task.data_inputs[0].content_hash == first.tasks()[0].data_inputs[0].content_hash
    with pytest.raises(RunFailedError) as err:
        flow.run(query="select nope from events")
    error = err.value.run.failed_tasks()[0].error
    assert "step 'load': data source 'warehouse' (mysql" in error and "nope" in error
