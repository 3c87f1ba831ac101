"""The ``postgres`` data source (lamina-data-sql, ADBC) against a real PostgreSQL: reads
with params, types round-trip, writes in one transaction, bad input as one-line errors,
and what the cache does with a read that has no version."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

import lamina.data
from lamina.errors import DataSourceError, RunFailedError
from lamina.flow.loader import load_flow_file
from lamina.sdk import table_digest
from lamina.stack import Stack


@pytest.fixture
def warehouse(project: Path, pg_url: str, pg_schema: str) -> Stack:
    host = pg_url.split("@", 1)[1]
    (project / "lamina.toml").write_text(
        f'[stacks.default.data.warehouse]\nplugin = "postgres"\nurl = "{pg_url}"\n'
        f'search_path = "{pg_schema}"\n'
        f'[stacks.default.data.byurl]\nurl = "{pg_url}"\nsearch_path = "{pg_schema}"\n'
        f'[stacks.default.data.badcreds]\nplugin = "postgres"\n'
        f'url = "postgresql://lamina_no_such_role@{host}"\n'
        f'[stacks.default.data.unreachable]\nplugin = "postgres"\n'
        f'url = "postgresql://postgres@127.0.0.1:1/x"\nconnect_timeout = 3\n')
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'create schema "{pg_schema}"')
        conn.execute(f'set search_path = "{pg_schema}"')
        conn.execute("""create table events (id int8, day date, amount numeric(12, 3),
                        at_utc timestamptz, local_at timestamp, note text, doc jsonb,
                        raw bytea, small int4, ratio float8, spot point)""")
        conn.execute(
            """insert into events values
               (1, '2026-11-30', 12.5, '2026-11-30 10:00:00.25+00', '2026-11-30 11:00',
                'é ✓', '{"k": [1, 2]}', '\\x0001', 7, 0.25, point(1, 2)),
               (2, '2026-12-01', null, null, null, null, null, null, null, null, null)""")
    return Stack.load()


def test_read_with_params_and_types(warehouse: Stack) -> None:
    cols = "id, day, amount, at_utc, local_at, note, doc, raw, small, ratio"
    done = lamina.data.read_recorded(
        "warehouse", f"select {cols} from events where day >= %(day)s::date order by id",
        params={"day": "2026-11-30"}, stack=warehouse)
    t = done.table
    assert t.schema.field("id").type == pa.int64() and t.schema.field("small").type == pa.int32()
    assert t.schema.field("amount").type == pa.decimal128(12, 3)
    assert t.schema.field("at_utc").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("local_at").type == pa.timestamp("us")
    assert t.schema.field("doc").type == pa.string()
    first, second = t.to_pylist()
    assert first["amount"] == Decimal("12.500") and second["amount"] is None
    assert first["at_utc"] == dt.datetime(2026, 11, 30, 10, 0, 0, 250000, tzinfo=dt.UTC)
    assert json.loads(first["doc"]) == {"k": [1, 2]} and first["note"] == "é ✓"
    assert first["raw"] == b"\x00\x01" and second["raw"] is None and first["ratio"] == 0.25
    info = done.input
    assert info.plugin == "postgres" and info.version_kind == "none" and info.rows == 2
    assert info.params == {"day": "2026-11-30"} and "%(day)s" in (info.query or "")
    assert info.content_hash == table_digest(t), "hashed as the rows came: same digest"
    plain = lamina.data.read_recorded("warehouse", "select id, note from events", stack=warehouse)
    assert plain.input.content_hash == table_digest(plain.table)
    positional = lamina.data.read("byurl", "select id from events where id = $1", params=[2],
                                  stack=warehouse)
    assert positional.to_pylist() == [{"id": 2}]


def test_write_back_and_read_again(warehouse: Stack, pg_schema: str) -> None:
    data = pa.table({
        "id": pa.array([1, 2, None], pa.int64()),
        "at": pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), None, None],
                       pa.timestamp("us", tz="UTC")),
        "label": ["a", None, "ü"],
    })
    target = f"{pg_schema}.predictions"
    assert lamina.data.write("warehouse", target, data, stack=warehouse) == 3
    assert lamina.data.write("warehouse", target, data, stack=warehouse) == 3
    back = lamina.data.read("warehouse", table=target, stack=warehouse)
    assert back.num_rows == 6 and back.slice(0, 3).equals(data)
    lamina.data.write("warehouse", target, data.slice(0, 1), mode="overwrite", stack=warehouse)
    assert lamina.data.read("warehouse", table=target, stack=warehouse).equals(data.slice(0, 1))
    with pytest.raises(DataSourceError, match="it has no column 'nope'"):
        lamina.data.write("warehouse", target, {"nope": [1]}, mode="overwrite", stack=warehouse)
    # JSON and decimals into typed columns; a bad JSON value rolls the overwrite back
    lamina.data.write("warehouse", "events", pa.table({
        "id": pa.array([3], pa.int64()), "doc": ['{"z": true}'],
        "amount": pa.array([Decimal("1.5")], pa.decimal128(4, 1))}), stack=warehouse)
    row = lamina.data.read("warehouse", "select doc, amount from events where id = 3",
                           stack=warehouse).to_pylist()[0]
    assert json.loads(row["doc"]) == {"z": True} and row["amount"] == Decimal("1.500")
    with pytest.raises(DataSourceError, match="invalid input syntax for type json"):
        lamina.data.write("warehouse", "events", {"id": [4], "doc": ["not json"]},
                          mode="overwrite", stack=warehouse)
    assert lamina.data.read("warehouse", "select count(*) as n from events",
                            stack=warehouse).to_pylist() == [{"n": 3}]


def test_bad_input_is_one_line_naming_the_source(warehouse: Stack) -> None:
    with pytest.raises(DataSourceError) as err:
        lamina.data.read("warehouse", "select id\nfrom events whre id = 1", stack=warehouse)
    message = err.value.message
    assert message.startswith("data source 'warehouse' (postgres postgresql://")
    assert "SQL error 42601: syntax error" in message and "line 2, column" in message
    assert "\n" not in message
    with pytest.raises(DataSourceError, match=r"column 'spot' has PostgreSQL type point"):
        lamina.data.read("warehouse", "select spot from events", stack=warehouse)
    for name, expected in (("badcreds", "bad credentials"),
                           ("unreachable", "the server is unreachable")):
        with pytest.raises(DataSourceError, match=expected) as bad:
            lamina.data.read(name, "select 1", stack=warehouse)
        assert "\n" not in bad.value.message and f"data source {name!r}" in bad.value.message
    assert isinstance(warehouse.data_source("warehouse"), lamina.data.DataSource)
    assert warehouse.check()["data.warehouse"][0] is True
    assert warehouse.check()["data.unreachable"][0] is False


def test_a_read_without_version_is_computed_again_and_says_so(
        warehouse: Stack, project: Path) -> None:
    (project / "flow.py").write_text(
        "import lamina.data\nfrom lamina import Flow\n\nflow = Flow('wh')\n\n\n"
        "@flow.step\ndef load(query: str = 'select id from events order by id'):\n"
        "    return lamina.data.read('warehouse', query)\n\n\n"
        "@flow.step\ndef count(load) -> int:\n    return load.num_rows\n")
    flow = load_flow_file(project / "flow.py")
    first = flow.run(cache=True)
    again = flow.run(cache=True)
    statuses = {t.step: t.status for t in again.tasks()}
    assert statuses == {"load": "succeeded", "count": "reused"}, (
        "the read is computed again; the same content lets the next step be reused")
    load = next(t for t in again.tasks() if t.step == "load")
    assert any("has no version to compare" in n for n in load.notes)
    assert load.data_inputs[0].content_hash == first.tasks()[0].data_inputs[0].content_hash
    with pytest.raises(RunFailedError) as err:
        flow.run(query="select nope from events")
    error = err.value.run.failed_tasks()[0].error
    assert "step 'load': data source 'warehouse' (postgres" in error and "nope" in error


@pytest.mark.slow
def test_data_read_benchmark_on_a_tiny_size(pg_server) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "data_read.py"), "--quick", "--server",
         pg_server.url()], cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| lamina.data.read (postgres source, read recorded) |" in done.stdout
    assert "100,000 rows x 6 columns" in done.stdout


FEATURE_FLOW = '''
import numpy as np
import pyarrow as pa
from lamina import Flow
from lamina.features import training_set

flow = Flow("fs-warehouse")


@flow.step
def train() -> pa.Table:
    when = np.datetime64("2026-01-01", "us") + np.array([2, 5, 9], dtype="timedelta64[h]")
    entities = pa.table({"driver_id": pa.array([1, 2, 1], pa.int64()),
                         "event_timestamp": pa.array(when, pa.timestamp("us"))})
    return training_set(entities, ["stats:rate"])
'''


def test_a_feature_view_reads_a_data_source_and_the_step_records_it(
        warehouse: Stack, project: Path, pg_url: str, pg_schema: str) -> None:
    from lamina.features import Entity, Feature, FeatureView, get_store

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'set search_path = "{pg_schema}"')
        conn.execute("create table stats (driver_id int8, event_timestamp timestamp, "
                     "rate float8)")
        conn.execute("insert into stats values (1, '2026-01-01 01:00', 0.1), "
                     "(2, '2026-01-01 01:00', 0.2), (1, '2026-01-01 08:00', 0.3)")
    source = lamina.data.ref("warehouse", "select * from stats where rate >= %(low)s",
                             params={"low": 0.0})
    assert lamina.data.parse_ref(source) == {
        "name": "warehouse", "query": "select * from stats where rate >= %(low)s",
        "params": {"low": 0.0}, "table": None, "columns": None}
    driver = Entity("driver", ["driver_id"])
    view = FeatureView("stats", entities=[driver], source=source,
                       features=[Feature("rate", "float64")])
    with open(project / "lamina.toml", "a") as config:
        config.write('[stacks.default.feature_store]\nplugin = "local"\n')
    stack = Stack.load()
    store = get_store(stack)
    store.apply([driver, view])
    (project / "train.py").write_text(FEATURE_FLOW)
    run = load_flow_file(project / "train.py").run(stack=stack)
    assert run["train"].value.column("rate").to_pylist() == [0.1, 0.2, 0.3]
    reads = run.tasks()[0].data_inputs
    assert [(r.source, r.plugin, r.rows) for r in reads] == [("warehouse", "postgres", 3)]
    assert reads[0].params == {"low": 0.0}
    store.close()
    stack.close()


def test_a_wrong_password_is_bad_credentials_and_a_right_one_from_env_is_never_shown(
        project: Path, password_server) -> None:  # type: ignore[no-untyped-def]
    host = f"{password_server.host}:{password_server.port}"
    (project / "lamina.toml").write_text(
        f'[stacks.default.data.db]\nplugin = "postgres"\n'
        f'url = "postgresql://postgres:${{PGPW}}@{host}/postgres"\n')
    wrong = Stack.load(env={"PGPW": "wrong-horse"})
    with pytest.raises(DataSourceError) as err:
        lamina.data.read("db", "select 1 as one", stack=wrong)
    message = str(err.value)
    assert "data source 'db' (postgres postgresql://postgres@" in message
    assert "bad credentials: password authentication failed" in message
    assert "wrong-horse" not in message and "\n" in message  # the fix on its own line
    right = Stack.load(env={"PGPW": "right-horse-battery"})
    done = lamina.data.read_recorded("db", "select 1 as one", stack=right)
    assert done.table.to_pylist() == [{"one": 1}]
    assert "right-horse-battery" not in repr(done.input)
