"""The lake sources through the stack, inside steps: what a read records (the table's
version), the step cache deciding from it, and Delta time travel reading an old run's
input back exactly."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lamina.data
import lamina.sdk
from lamina.flow.loader import load_flow_file

CONFIG = """\
[stacks.default.data.lake]
plugin = "parquet"
url = "lake"

[stacks.default.data.events]
plugin = "delta"
url = "delta"
"""

FLOW = '''\
import lamina.data
import lamina.sdk
from lamina import Flow

flow = Flow("lakes")


@flow.step
def amounts():
    return lamina.data.read("lake", table="orders", filter=[("day", "=", "2026-01-02")],
                            columns=["amount"])


@flow.step
def clicks():
    return lamina.data.read("events", table="clicks")


@flow.step
def total(amounts, clicks) -> float:
    return sum(amounts.column("amount").to_pylist()) + clicks.num_rows
'''


@pytest.fixture
def lakes(project: Path) -> Path:
    (project / "lamina.toml").write_text(CONFIG)
    (project / "flow.py").write_text(FLOW)
    for day, amounts in (("2026-01-01", [1.0, 2.0]), ("2026-01-02", [3.0, 4.5])):
        folder = project / "lake" / "orders" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"amount": amounts}), folder / "part-0.parquet")
    lamina.data.write("events", "clicks", pa.table({"user": ["a", "b"]}), mode="overwrite")
    return project


def _task(run, step):
    return next(t for t in run.tasks() if t.step == step)


def test_lake_reads_are_recorded_and_the_cache_follows_their_versions(lakes: Path) -> None:
    pytest.importorskip("deltalake")
    flow = load_flow_file(lakes / "flow.py")
    first = flow.run(cache=True)
    assert first["total"].value == 7.5 + 2
    (parquet,) = _task(first, "amounts").data_inputs
    assert (parquet.source, parquet.plugin, parquet.table) == ("lake", "parquet", "orders")
    assert parquet.version_kind == "files" and parquet.version and parquet.rows == 2
    (delta,) = _task(first, "clicks").data_inputs
    assert (delta.plugin, delta.version_kind, delta.rows) == ("delta", "delta", 2)

    again = flow.run(cache=True)
    assert {t.step: t.status for t in again.tasks()} == {
        "amounts": "reused", "clicks": "reused", "total": "reused"}

    # one more Delta commit: the step that read it runs again, the other is reused
    lamina.data.write("events", "clicks", pa.table({"user": ["c"]}), mode="append")
    changed = flow.run(cache=True)
    assert _task(changed, "amounts").status == "reused"
    assert _task(changed, "clicks").status == "succeeded"
    assert changed["total"].value == 7.5 + 3
    (newer,) = _task(changed, "clicks").data_inputs
    assert int(newer.version) == int(delta.version) + 1

    # the first run's input, read back exactly at its recorded version
    old = lamina.data.read("events", table="clicks", as_of=delta.version)
    assert sorted(old.column("user").to_pylist()) == ["a", "b"]
    assert lamina.sdk.table_digest(old) == delta.content_hash
