"""lamina.data with the builtin sqlite source: named sources in the stack, reads and
writes, every read recorded on its task, ``lamina show``/``diff``, and the step cache and
``resume`` deciding from recorded versions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

import lamina
import lamina.data
from lamina.errors import ConfigError, DataSourceError, PluginNotInstalledError, RunFailedError
from lamina.flow.loader import load_flow_file
from lamina.stack import Stack

CONFIG = """\
[stacks.default.data.shop]
plugin = "sqlite"
url = "shop.db"
"""

FLOW = '''\
from pathlib import Path

import lamina.data
from lamina import Flow

flow = Flow("shop")


@flow.step
def orders(minimum: float = 2.0):
    return lamina.data.read(
        "shop", "select id, amount from orders where amount >= %(m)s order by id",
        params={"m": minimum})


@flow.step
def total(orders, flag: str = "") -> float:
    if flag and Path(flag).exists():
        raise ValueError("flag is set")
    return sum(orders.column("amount").to_pylist())
'''


@pytest.fixture
def shop(project: Path) -> Path:
    (project / "lamina.toml").write_text(CONFIG)
    (project / "flow.py").write_text(FLOW)
    lamina.data.write("shop", "orders", pa.table({"id": [1, 2, 3], "amount": [1.5, 2.0, 3.5]}))
    return project


def test_read_outside_a_step_reads_and_records_nothing(shop: Path) -> None:
    done = lamina.data.read_recorded("shop", "select * from orders where amount > :a",
                                     params={"a": 1.6})
    assert done.table.to_pydict() == {"id": [2, 3], "amount": [2.0, 3.5]}
    info = done.input
    assert (info.source, info.plugin, info.rows, info.version_kind) == ("shop", "sqlite", 2, "files")
    assert info.params == {"a": 1.6} and len(info.content_hash) == 64 and info.version
    assert lamina.data.read("shop", table="orders", columns=["id"]).column_names == ["id"]
    assert lamina.data.sources() == ["shop"]
    assert isinstance(lamina.data.source("shop", stack=Stack.load()), lamina.data.DataSource)


def test_types_round_trip_and_a_mixed_column_is_named(shop: Path) -> None:
    data = pa.table({"i": pa.array([1, None, 3], pa.int64()), "f": [0.5, None, 2.0],
                     "s": ["a", None, "é"], "b": [b"\x00", None, b"x"]})
    assert lamina.data.write("shop", "kinds", data) == 3
    assert lamina.data.read("shop", table="kinds").equals(data)
    db = sqlite3.connect(shop / "shop.db")
    db.execute("create table mixed (v)")
    db.executemany("insert into mixed values (?)", [(1,), ("x",)])
    db.commit()
    with pytest.raises(DataSourceError, match=r"column 'v' holds values of several types"):
        lamina.data.read("shop", "select v from mixed")


def test_write_overwrite_is_one_transaction(shop: Path) -> None:
    assert lamina.data.write("shop", "orders", {"id": [9], "amount": [1.0]},
                             mode="overwrite") == 1
    assert lamina.data.read("shop", table="orders").to_pydict() == {"id": [9], "amount": [1.0]}
    with pytest.raises(DataSourceError, match="cannot write table 'orders'"):
        lamina.data.write("shop", "orders", {"nope": [1]}, mode="overwrite")
    assert lamina.data.read("shop", table="orders").num_rows == 1, "rolled back"


def test_bad_input_is_one_line_naming_the_source(shop: Path) -> None:
    with pytest.raises(DataSourceError) as err:
        lamina.data.read("shopp", "select 1")
    assert "no data source 'shopp'" in err.value.message and "did you mean 'shop'" in err.value.message
    with pytest.raises(DataSourceError, match=r"data source 'shop' \(sqlite .*\): SQL error: .*selec"):
        lamina.data.read("shop", "selec 1")
    with pytest.raises(DataSourceError, match="no table 'missing'"):
        lamina.data.read("shop", table="missing")
    with pytest.raises(DataSourceError, match="give either a query or table"):
        lamina.data.read("shop")
    with pytest.raises(DataSourceError, match=r"uses %\(day\)s, which params does not give"):
        lamina.data.read("shop", "select %(day)s", params={"other": 1})
    with pytest.raises(DataSourceError, match="mode must be 'append' or 'overwrite'"):
        lamina.data.write("shop", "orders", {"id": [1]}, mode="upsert")  # type: ignore[arg-type]
    for err_ in (err.value,):
        assert "\n" not in err_.message


def test_config_errors_name_the_file_line_and_fix(project: Path) -> None:
    (project / "lamina.toml").write_text(CONFIG + 'timeuot = 3\n')
    with pytest.raises(ConfigError) as err:
        Stack.load()
    assert "lamina.toml:4" in str(err.value) and "did you mean 'timeout'" in str(err.value)
    (project / "lamina.toml").write_text(CONFIG.replace('"sqlite"', '"postgres"'))
    with pytest.raises(PluginNotInstalledError) as missing:
        Stack.load(plugins=_no_autoload())
    assert "No data source named 'postgres'" in str(missing.value)
    assert "pip install lamina-data-sql" in str(missing.value)
    (project / "lamina.toml").write_text("[stacks.default.data.shop]\nurl = 3\n")
    with pytest.raises(ConfigError, match="no 'plugin' key"):
        Stack.load()


def _no_autoload():  # type: ignore[no-untyped-def]
    from lamina.kernel.pluginmanager import PluginManager

    return PluginManager(autoload=False)


def test_a_password_in_a_url_is_a_problem_and_never_recorded(project: Path) -> None:
    from lamina.config.recorded import record_stack

    (project / "lamina.toml").write_text(
        "[stacks.default.data.shop]\nplugin = \"sqlite\"\n"
        "url = \"sqlite://bob:hunter2@host/shop.db\"\n"
        "[stacks.default.data.ok]\nplugin = \"sqlite\"\n"
        "url = \"sqlite://bob:${SHOP_PW}@host/shop.db\"\n")
    stack = Stack.load(env={"SHOP_PW": "pw-from-env"})
    problems = stack.validate()
    assert any("data source 'shop'" in p and "literal credential" in p for p in problems)
    assert not any("data source 'ok'" in p for p in problems)
    record = record_stack(stack)
    assert "hunter2" not in str(record) and "pw-from-env" not in str(record)
    assert record["data"]["ok"]["options"]["url"] == "sqlite://bob:${SHOP_PW}@host/shop.db"
    assert record["data"]["shop"]["missing"] == {"url": "literal-secret"}


def test_a_step_records_its_reads_and_the_cache_checks_their_version(shop: Path) -> None:
    flow = load_flow_file(shop / "flow.py")
    first = flow.run(cache=True)
    reads = first["orders"].task.data_inputs if hasattr(first["orders"], "task") else None
    reads = reads or next(t for t in first.tasks() if t.step == "orders").data_inputs
    assert len(reads) == 1
    read = reads[0]
    assert read.source == "shop" and read.rows == 2 and read.params == {"m": 2.0}
    assert read.query is not None and "%(m)s" in read.query and read.version_kind == "files"
    assert next(t for t in first.tasks() if t.step == "total").data_inputs == []

    again = flow.run(cache=True)
    assert {t.step: t.status for t in again.tasks()} == {"orders": "reused", "total": "reused"}
    assert next(t for t in again.tasks() if t.step == "orders").data_inputs == reads

    lamina.data.write("shop", "orders", {"id": [4], "amount": [9.0]})
    changed = flow.run(cache=True)
    orders = next(t for t in changed.tasks() if t.step == "orders")
    assert orders.status == "succeeded" and changed["total"].value == 14.5
    assert any("data source 'shop'" in n and "changed since" in n for n in orders.notes)

    diff = lamina.Client().diff(first.id, changed.id)
    text = diff.render()
    assert "data inputs changed" in text and "orders[0] shop:" in text
    assert "2 rows" in text and "3 rows" in text
    shown = subprocess.run([sys.executable, "-m", "lamina", "show", f"{changed.id}/orders/0"],
                           cwd=shop, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "data input shop (sqlite)" in shown.stdout and "params m=2.0" in shown.stdout
    assert "changed since" in shown.stdout


def test_resume_recomputes_a_step_whose_input_changed(shop: Path) -> None:
    flag = shop / "broken.flag"
    flag.write_text("x")
    flow = load_flow_file(shop / "flow.py")
    with pytest.raises(RunFailedError) as err:
        flow.run(flag=str(flag))
    failed = err.value.run
    flag.unlink()
    resumed = lamina.resume(failed.id)
    assert {t.step: t.status for t in resumed.tasks()} == {"orders": "reused",
                                                           "total": "succeeded"}
    flag.write_text("x")
    with pytest.raises(RunFailedError) as err:
        flow.run(flag=str(flag))
    flag.unlink()
    lamina.data.write("shop", "orders", {"id": [5], "amount": [10.0]})
    resumed = lamina.resume(err.value.run.id)
    orders = next(t for t in resumed.tasks() if t.step == "orders")
    assert orders.status == "succeeded" and resumed["total"].value == 15.5
    assert any("changed since" in n for n in orders.notes)


def test_an_error_in_a_step_names_the_step_and_the_source(shop: Path) -> None:
    (shop / "bad.py").write_text(textwrap.dedent('''\
        import lamina.data
        from lamina import Flow

        flow = Flow("bad")


        @flow.step
        def load():
            return lamina.data.read("shop", "select nope from orders")
        '''))
    with pytest.raises(RunFailedError) as err:
        load_flow_file(shop / "bad.py").run()
    task = err.value.run.failed_tasks()[0]
    assert "DataSourceError: step 'load': data source 'shop'" in task.error
    assert "no such column: nope" in task.error


def test_a_stack_rebuilt_from_the_run_record_has_the_sources(shop: Path) -> None:
    from lamina.config.recorded import record_stack

    (shop / "lamina.toml").write_text(
        CONFIG + '[stacks.default.data.secret]\nplugin = "sqlite"\n'
        'url = "sqlite://u:hunter2@h/shop.db"\n')
    record = record_stack(Stack.load())
    rebuilt = Stack.from_manifest(record, cwd=shop, env={})
    assert rebuilt.data_source_names() == ["secret", "shop"]
    assert lamina.data.read("shop", table="orders", stack=rebuilt).num_rows == 3
    with pytest.raises(ConfigError, match=r"data source 'secret'.*option 'url' was not recorded"):
        lamina.data.read("secret", "select 1", stack=rebuilt)


def test_stack_show_and_check_list_the_sources_without_passwords(shop: Path) -> None:
    (shop / "lamina.toml").write_text(
        CONFIG + '[stacks.default.data.other]\nplugin = "sqlite"\n'
        'url = "sqlite://u:${SHOP_PW}@h/missing.db"\n')
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("LAMINA_")},
           "SHOP_PW": "pw-in-env", "NO_COLOR": "1"}
    shown = subprocess.run([sys.executable, "-m", "lamina", "stack", "show"], cwd=shop,
                           capture_output=True, text=True, timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "data.other    sqlite  from lamina" in shown.stdout
    assert 'url = "sqlite://u@h/missing.db"' in shown.stdout and "pw-in-env" not in shown.stdout
    checked = subprocess.run([sys.executable, "-m", "lamina", "stack", "check"], cwd=shop,
                             capture_output=True, text=True, timeout=120, env=env)
    assert checked.returncode == 1 and "pw-in-env" not in checked.stdout
    assert "data.shop     sqlite: sqlite" in checked.stdout
    assert "data source 'other'" in checked.stdout and "does not exist" in checked.stdout


def test_the_ui_task_page_lists_the_reads_escaped(shop: Path) -> None:
    from starlette.testclient import TestClient

    from lamina.ui import create_app

    (shop / "flow.py").write_text(FLOW.replace('params={"m": minimum})',
                                               'params={"m": minimum, "note": "<b>x</b>"})'))
    run = load_flow_file(shop / "flow.py").run()
    with TestClient(create_app(Stack.load())) as client:
        page = client.get(f"/runs/{run.id}/steps/orders/0")
    assert page.status_code == 200, page.text
    assert 'id="data-inputs"' in page.text and "shop (sqlite)" in page.text
    assert "<b>x</b>" not in page.text and "\\u003cb\\u003ex" in page.text
