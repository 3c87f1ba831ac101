"""The SQLite metadata store against real SQLite files and real processes: what is its
own (its file, its schema, locks, processes). The behaviour every metadata store shares
runs on SQLite and PostgreSQL alike in tests/postgres/test_pg_contract.py, and the
conformance suite in tests/conformance."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lamina.builtin.sqlite_metadata import SCHEMA_VERSION, SqliteMetadataStore
from lamina.errors import (
    BackendUnreachableError,
)
from lamina.interfaces import MetadataStore
from lamina.records import RunRecord, TaskRecord
from lamina.versioning.ids import new_run_id

HOST = socket.gethostname()


def make_run(flow: str = "churn", **changes) -> RunRecord:
    values = dict(
        run_id=new_run_id(),
        flow=flow,
        status="running",
        started_at=time.time(),
        host=HOST,
        pid=os.getpid(),
        steps=("countries", "raw", "model", "best"),
    )
    values.update(changes)
    return RunRecord(**values)


def make_task(run_id: str, step: str, index: int = 0, **changes) -> TaskRecord:
    values = dict(run_id=run_id, step=step, index=index, status="succeeded")
    values.update(changes)
    return TaskRecord(**values)


@pytest.fixture
def store(tmp_path: Path) -> SqliteMetadataStore:
    store = SqliteMetadataStore(str(tmp_path / "meta" / "metadata.db"))
    yield store
    store.close()


# --- creation, schema --------------------------------------------------------------------


def test_store_satisfies_the_protocol_and_creates_its_file_lazily(tmp_path):
    path = tmp_path / "a" / "b" / "metadata.db"
    store = SqliteMetadataStore(str(path))
    assert isinstance(store, MetadataStore)
    assert not path.parent.exists()  # nothing happens until first use
    assert store.list_flows() == []
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_every_record_field_has_a_column(store):
    """A field added to RunRecord/TaskRecord needs a migration adding its column."""
    store.list_flows()
    with sqlite3.connect(store.path) as conn:
        run_cols = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        task_cols = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
    run_fields = {a.name for a in RunRecord.__attrs_attrs__} - {"tags"}
    task_fields = {a.name for a in TaskRecord.__attrs_attrs__}
    assert run_fields <= run_cols, f"add a migration for {run_fields - run_cols}"
    assert task_fields <= task_cols, f"add a migration for {task_fields - task_cols}"


def test_database_from_a_newer_schema_still_reads_and_writes(store):
    run = make_run()
    store.create_run(run)
    store.close()
    with sqlite3.connect(store.path) as conn:  # what a later lamina's migration might do
        conn.execute("ALTER TABLE runs ADD COLUMN owner_team TEXT NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE tasks ADD COLUMN gpu_seconds REAL")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    reopened = SqliteMetadataStore(store.path)
    assert reopened.get_run(run.run_id) == run
    reopened.record_tasks([make_task(run.run_id, "raw")])
    assert [t.step for t in reopened.list_tasks(run.run_id)] == ["raw"]
    reopened.create_run(make_run())
    assert len(reopened.list_runs()) == 2
    reopened.close()


# --- runs ---------------------------------------------------------------------------------


# --- tasks --------------------------------------------------------------------------------


# --- check ----------------------------------------------------------------------------------


def test_check_reports_an_unusable_folder(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    store = SqliteMetadataStore(str(blocker / "metadata.db"))
    with pytest.raises(BackendUnreachableError, match="not-a-folder") as info:
        store.check()
    assert info.value.hint


def test_check_reports_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "metadata.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackendUnreachableError, match="not a SQLite database") as info:
        SqliteMetadataStore(str(path)).check()
    assert str(path) in str(info.value)


def test_check_reports_a_locked_database(tmp_path):
    path = tmp_path / "metadata.db"
    first = SqliteMetadataStore(str(path))
    first.check()
    first.close()  # exclusive locking needs every other connection closed
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sqlite3, sys, time
            conn = sqlite3.connect({str(path)!r}, isolation_level=None)
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("INSERT INTO run_tags (run_id, tag) VALUES ('x', 'y')")
            print("locked", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = SqliteMetadataStore(str(path), busy_timeout=0.2)
        with pytest.raises(BackendUnreachableError, match="locked") as info:
            store.check()
        assert "busy_timeout" in str(info.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


# --- several processes ------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import os, sys, time
    from lamina.builtin.sqlite_metadata import SqliteMetadataStore
    from lamina.records import RunRecord, TaskRecord
    from lamina.versioning.ids import new_run_id

    store = SqliteMetadataStore(sys.argv[1])
    flow = sys.argv[2]
    for _ in range(5):
        run_id = new_run_id()
        store.create_run(RunRecord(run_id=run_id, flow=flow, status="running",
                                   started_at=time.time(), pid=os.getpid(), steps=("s",)))
        for batch in range(4):
            store.record_tasks([TaskRecord(run_id=run_id, step="s", index=batch * 50 + i,
                                           status="succeeded") for i in range(50)])
        store.add_tags(run_id, [flow])
        store.finish_run(run_id, status="succeeded", finished_at=time.time())
    print("done")
""")


def test_several_processes_write_runs_at_the_same_time(tmp_path):
    path = str(tmp_path / "shared" / "metadata.db")  # nobody has created it yet
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, f"flow{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert out.strip() == "done"
    store = SqliteMetadataStore(path)
    assert store.list_flows() == ["flow0", "flow1", "flow2"]
    runs = store.list_runs()
    assert len(runs) == 15 and all(r.status == "succeeded" for r in runs)
    for run in runs:
        assert len(store.list_tasks(run.run_id)) == 200
        assert run.tags == (run.flow,)
    store.close()


def test_records_are_json_in_the_database(store):
    """Other tools (sqlite3 shell, DuckDB) can read the records."""
    run = make_run(params={"alpha": 0.5}, steps=("a",))
    store.create_run(run)
    with sqlite3.connect(store.path) as conn:
        params, steps = conn.execute(
            "SELECT params, steps FROM runs WHERE run_id = ?", (run.run_id,)
        ).fetchone()
    assert json.loads(params) == {"alpha": 0.5} and json.loads(steps) == ["a"]


