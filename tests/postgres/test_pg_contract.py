"""The metadata-store contract, run on both stores: the SQLite file and PostgreSQL.

The same cases as tests/test_sqlite_metadata.py (the behaviour a run, the Client and the
CLI rely on), written once against a ``store`` fixture that is each store in turn. A case
that fails on one store only is a difference in semantics, which is the bug.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from lamina.builtin.sqlite_metadata import SqliteMetadataStore
from lamina.errors import ImmutableRunError, MetadataError, RunNotFoundError
from lamina.interfaces import MetadataStore
from lamina.records import ArtifactRef, RunRecord, TaskRecord
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


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        sqlite = SqliteMetadataStore(str(tmp_path / "meta" / "metadata.db"))
        yield sqlite
        sqlite.close()
    else:
        yield request.getfixturevalue("pg_store")


def test_store_satisfies_the_protocol(store):
    assert isinstance(store, MetadataStore)
    assert store.list_flows() == [] and store.list_runs() == []


def test_run_round_trips_every_field(store):
    run = make_run(
        params={"alpha": 0.3, "path": "data/churn.parquet", "grid": [1, 2], "nested": {"a": None},
                "zeta": 1, "beta": "ü €"},
        tags=("baseline", "nightly", "baseline"),
        user="ada",
        stack="local",
        datastore_url="file:///project/.lamina",
        flow_file="flows/churn.py",
        code_hash="c0de",
        code_files={"flows/churn.py": "k1", "helpers.py": "k2"},
        step_code={"raw": "h1", "model": "h2"},
        python_version="3.11.7",
        packages_key="pk",
        git_commit="abc123",
        git_dirty=True,
        resumed_from="20260101T000000000-000000",
        orchestrator="local",
        orchestrator_run_id="o-1",
    )
    store.create_run(run)
    got = store.get_run(run.run_id)
    assert got == attrs.evolve(run, tags=("baseline", "nightly"))
    assert list(got.params) == list(run.params)  # the order the user wrote them in
    assert isinstance(got.steps, tuple) and got.git_dirty is True
    clean, unknown = make_run(git_dirty=False), make_run(git_dirty=None)
    store.create_run(clean)
    store.create_run(unknown)
    assert store.get_run(clean.run_id).git_dirty is False
    assert store.get_run(unknown.run_id).git_dirty is None


def test_duplicate_run_id_is_refused(store):
    run = make_run()
    store.create_run(run)
    with pytest.raises(MetadataError, match=run.run_id):
        store.create_run(attrs.evolve(run, flow="other"))
    assert store.get_run(run.run_id).flow == "churn"


def test_unserializable_param_names_the_field_and_run(store):
    run = make_run(params={"model": object()})
    with pytest.raises(MetadataError, match=rf"params of run {run.run_id}") as info:
        store.create_run(run)
    assert info.value.hint
    with pytest.raises(RunNotFoundError):
        store.get_run(run.run_id)  # nothing half-written


def test_finish_run_once_then_immutable(store):
    run = make_run()
    store.create_run(run)
    store.finish_run(run.run_id, status="failed", finished_at=run.started_at + 5, error="boom")
    got = store.get_run(run.run_id)
    assert (got.status, got.finished_at, got.error) == ("failed", run.started_at + 5, "boom")
    assert got.duration == pytest.approx(5)
    with pytest.raises(ImmutableRunError, match=run.run_id) as info:
        store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
    assert "tags" in str(info.value)
    with pytest.raises(ImmutableRunError, match=run.run_id):
        store.record_tasks([make_task(run.run_id, "raw")])
    assert store.list_tasks(run.run_id) == []
    assert store.get_run(run.run_id).status == "failed"


def test_tags_can_be_added_to_finished_runs_without_duplicates(store):
    run = make_run(tags=("a",))
    store.create_run(run)
    store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
    store.add_tags(run.run_id, ["b", "a", "b"])
    store.add_tags(run.run_id, ["c"])
    store.add_tags(run.run_id, "d")
    assert store.get_run(run.run_id).tags == ("a", "b", "c", "d")


def test_unknown_run_names_the_id_and_the_command(store):
    with pytest.raises(RunNotFoundError, match="20990101T000000000-abcdef") as info:
        store.get_run("20990101T000000000-abcdef")
    assert "lamina runs" in str(info.value)
    with pytest.raises(RunNotFoundError):
        store.list_tasks("nope")
    with pytest.raises(RunNotFoundError):
        store.add_tags("nope", ["x"])
    with pytest.raises(RunNotFoundError):
        store.record_tasks([make_task("nope", "raw")])
    with pytest.raises(RunNotFoundError):
        store.finish_run("nope", status="failed", finished_at=time.time())
    with pytest.raises(RunNotFoundError):
        store.get_run("")


def test_unique_prefix_finds_a_run_and_ambiguous_prefix_lists_matches(store):
    a = make_run(run_id="20261127T101010000-aaaaaa")
    b = make_run(run_id="20261127T101010000-abbbbb")
    c = make_run(run_id="20261127T121212000-cccccc")
    for run in (a, b, c):
        store.create_run(run)
    assert store.get_run("20261127T12").run_id == c.run_id
    assert store.get_run("20261127T101010000-aa").run_id == a.run_id
    with pytest.raises(RunNotFoundError, match="ambiguous") as info:
        store.get_run("20261127T10")
    assert a.run_id in str(info.value) and b.run_id in str(info.value)
    store.add_tags("20261127T12", ["by-prefix"])
    assert store.get_run(c.run_id).tags == ("by-prefix",)


def test_list_runs_newest_first_with_filters(store):
    runs = [make_run("churn"), make_run("churn", tags=("prod",)), make_run("other")]
    for run in runs:
        store.create_run(run)
        time.sleep(0.002)
    store.finish_run(runs[0].run_id, status="succeeded", finished_at=time.time())
    ids = [r.run_id for r in runs]
    assert [r.run_id for r in store.list_runs()] == ids[::-1]
    assert [r.run_id for r in store.list_runs("churn")] == [ids[1], ids[0]]
    assert [r.run_id for r in store.list_runs(status="succeeded")] == [ids[0]]
    assert [r.run_id for r in store.list_runs(status="running")] == [ids[2], ids[1]]
    assert [r.run_id for r in store.list_runs(tag="prod")] == [ids[1]]
    assert [r.run_id for r in store.list_runs(limit=2)] == [ids[2], ids[1]]
    assert [r.run_id for r in store.list_runs(status="running", limit=1)] == [ids[2]]
    assert store.list_runs("missing") == []
    assert store.list_flows() == ["churn", "other"]


def test_ordering_is_by_bytes_whatever_the_server_collation(store):
    """Flow names and ids sort as bytes (upper case before lower case), on every store."""
    for flow in ("beta", "Alpha", "alpha", "_x"):
        store.create_run(make_run(flow))
    assert store.list_flows() == ["Alpha", "_x", "alpha", "beta"]


def test_running_run_with_a_dead_pid_reads_as_crashed(store):
    crashed = make_run(pid=dead_pid())
    alive = make_run(pid=os.getpid())
    elsewhere = make_run(pid=dead_pid(), host=HOST + "-another-machine")
    finished = make_run(pid=dead_pid())
    for run in (crashed, alive, elsewhere, finished):
        store.create_run(run)
    store.finish_run(finished.run_id, status="succeeded", finished_at=time.time())
    assert store.get_run(crashed.run_id).status == "crashed"
    assert store.get_run(alive.run_id).status == "running"
    assert store.get_run(elsewhere.run_id).status == "running"  # cannot tell from here
    assert store.get_run(finished.run_id).status == "succeeded"
    assert [r.run_id for r in store.list_runs(status="crashed")] == [crashed.run_id]
    assert {r.run_id for r in store.list_runs(status="running")} == {
        alive.run_id, elsewhere.run_id}


def test_tasks_round_trip_upsert_and_follow_step_order(store):
    run = make_run(steps=("raw", "model", "best"))
    store.create_run(run)
    ref = ArtifactRef(
        key="f" * 64, serializer="arrow", size=10, type="pyarrow.Table", info={"rows": 3}
    )
    store.record_tasks([
        make_task(run.run_id, "best", 0, status="running"),
        make_task(run.run_id, "model", 10, element="'se'"),
        make_task(run.run_id, "model", 2, element="'fi'", metrics={"auc": 0.9}),
        make_task(run.run_id, "raw", 0, output=ref, inputs={"countries": ["a", "b"]},
                  started_at=1.0, finished_at=3.5, cache_key="ck", attempt=2),
    ])
    store.record_tasks([
        make_task(run.run_id, "best", 0, status="failed", error="ValueError: x",
                  error_type="ValueError", location="flow.py:12", traceback="tb",
                  exit_reason="exception"),
    ])
    tasks = store.list_tasks(run.run_id)
    assert [(t.step, t.index) for t in tasks] == [
        ("raw", 0), ("model", 2), ("model", 10), ("best", 0)]
    raw, model2, _, best = tasks
    assert raw.output == ref and raw.inputs == {"countries": ["a", "b"]}
    assert (raw.duration, raw.cache_key, raw.attempt) == (2.5, "ck", 2)
    assert model2.metrics == {"auc": 0.9} and model2.element == "'fi'"
    assert (best.status, best.error_type, best.location) == ("failed", "ValueError", "flow.py:12")
    assert [t.index for t in store.list_tasks(run.run_id, step="model")] == [2, 10]
    assert store.list_tasks(run.run_id, step="absent") == []


def test_the_same_task_twice_in_one_batch_keeps_the_last(store):
    run = make_run(steps=("raw",))
    store.create_run(run)
    store.record_tasks([make_task(run.run_id, "raw", 0, status="running"),
                        make_task(run.run_id, "raw", 0, status="succeeded", attempt=2)])
    (task,) = store.list_tasks(run.run_id)
    assert (task.status, task.attempt) == ("succeeded", 2)


def test_a_batch_that_touches_a_finished_run_writes_nothing(store):
    open_run, closed_run = make_run(), make_run()
    store.create_run(open_run)
    store.create_run(closed_run)
    store.finish_run(closed_run.run_id, status="succeeded", finished_at=time.time())
    with pytest.raises(ImmutableRunError, match=closed_run.run_id):
        store.record_tasks([make_task(open_run.run_id, "raw"), make_task(closed_run.run_id, "raw")])
    assert store.list_tasks(open_run.run_id) == []


def test_find_cached_returns_the_newest_successful_task(store):
    old, new, newest = make_run(), make_run(), make_run()
    for run in (old, new, newest):
        store.create_run(run)
    store.record_tasks([make_task(old.run_id, "model", 0, cache_key="k", element="old")])
    store.record_tasks([make_task(new.run_id, "model", 0, cache_key="k", status="reused",
                                  element="new", reused_from=f"{old.run_id}/model/0")])
    store.record_tasks([make_task(newest.run_id, "model", 0, cache_key="k", status="failed")])
    found = store.find_cached("k")
    assert found is not None and found.run_id == new.run_id and found.element == "new"
    assert store.find_cached("other") is None
    assert store.find_cached("") is None


def test_twenty_thousand_tasks_in_batches_are_fast(store):
    run = make_run(steps=("model",))
    store.create_run(run)
    ref = ArtifactRef(key="a" * 64, serializer="pickle", size=100, type="float")
    batches = [
        [make_task(run.run_id, "model", b * 500 + i, output=ref, started_at=1.0,
                   finished_at=2.0, inputs={"raw": "b" * 64, "countries": "c" * 64},
                   cache_key="d" * 64, element=repr(("fi", i)))
         for i in range(500)]
        for b in range(40)
    ]
    # CPU time of this process, not wall time: the server's work and the disk's fsync
    # say nothing about our code; a per-row round trip or a quadratic step shows in CPU
    start = time.process_time()
    for batch in batches:
        store.record_tasks(batch)
    cpu = time.process_time() - start
    assert cpu < 3.0, f"20,000 task records took {cpu:.2f} s of CPU"
    tasks = store.list_tasks(run.run_id)
    assert len(tasks) == 20_000 and tasks[-1].index == 19_999
    assert tasks[123].output == ref and tasks[123].element == repr(("fi", 123))


def test_check_summarises_a_healthy_store(store):
    assert store.check().endswith(": 0 runs")
    store.create_run(make_run())
    store.create_run(make_run())
    assert store.check().endswith(": 2 runs")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(store):
    parent_run = make_run()
    store.create_run(parent_run)  # the parent's connection is open now
    child_run = make_run(pid=0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            store.create_run(child_run)
            store.record_tasks([make_task(child_run.run_id, "raw")])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.record_tasks([make_task(parent_run.run_id, "raw")])  # parent still works
    assert store.get_run(child_run.run_id).flow == "churn"
    assert len(store.list_tasks(child_run.run_id)) == 1
    assert len(store.list_tasks(parent_run.run_id)) == 1


def test_listing_many_runs_reads_each_runs_own_tags_and_fields(store):
    runs = []
    gone = dead_pid()
    for i in range(620):
        run = make_run(
            flow="many" if i % 3 else "other",
            run_id=f"20260101T000000{i:06d}-test",
            params={"i": i},
            tags=(f"t{i}", "even") if i % 2 == 0 else (),
            git_dirty=bool(i % 4) if i % 5 else None,
            pid=gone if i == 7 else os.getpid(),
        )
        store.create_run(run)
        if i != 7:
            store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
        runs.append(run)
    expected = [r for r in reversed(runs) if r.flow == "many"]
    listed = store.list_runs("many")
    assert [r.run_id for r in listed] == [r.run_id for r in expected]
    by_id = {r.run_id: r for r in listed}
    for run in expected:
        got = by_id[run.run_id]
        assert got.tags == run.tags and got.params == run.params
        assert got.git_dirty == run.git_dirty and got.steps == run.steps
    assert by_id[runs[7].run_id].status == "crashed"
    assert [r.run_id for r in store.list_runs("many", limit=3)] == [
        r.run_id for r in expected[:3]]
    even = store.list_runs(tag="even")
    assert len(even) == 310 and all("even" in r.tags for r in even)
    assert store.list_runs("many", tag="t4")[0].tags == ("t4", "even")


def test_listing_many_tasks_decodes_every_row(store):
    run = make_run()
    store.create_run(run)
    ref = ArtifactRef(key="a" * 64, serializer="cloudpickle", size=3, type="int")
    tasks = [
        make_task(run.run_id, "raw", i, output=ref if i % 2 else None,
                  inputs={"countries": [f"{i:064x}"]}, metrics={"loss": i / 2} if i % 3 else {})
        for i in range(50)
    ]
    store.record_tasks(tasks)
    assert store.list_tasks(run.run_id) == tasks
