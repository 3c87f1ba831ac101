"""Foreach elements: the local pool's tasks store their own elements (the scheduler only
serializes them), with the same references a store by the scheduler would give; a run's
every element is stored; plugins that observe saves keep seeing them where they happen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pluggy
import pytest
from ds_util import make_store, staged_files

import lamina.hookspecs
from lamina import Client, Flow
from lamina.builtin.file_datastore import FileDatastore
from lamina.datastore.artifacts import ArtifactStore
from lamina.datastore.serializers import builtin_serializers

VALUES = [0, -7, 2**70, 1.5, "fi", "é" * 5000, b"\x00\x01", None, True, (1, "a"),
          {"lr": 0.1, "depth": [1, 2]}, [1, 2, 3] * 20, np.arange(12.0).reshape(3, 4)]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_stage_gives_the_reference_save_gives_and_stores_nothing(tmp_path: Path, value) -> None:
    store = make_store(tmp_path / "a")
    staged = store.stage(value, name="x")
    assert staged is not None
    ref, data = staged
    assert not list((tmp_path / "a").rglob("objects/*/*")), "stage stored something"
    assert staged_files(tmp_path / "a") == []
    assert store.commit_staged(ref, data) is True
    assert store.commit_staged(ref, data) is False  # content addressed: once
    other = make_store(tmp_path / "b")
    saved, created = other.save(value, name="x")
    assert created and saved == ref
    loaded = store.load(ref)
    assert (loaded == value).all() if isinstance(value, np.ndarray) else loaded == value


def test_a_plugin_observing_saves_sees_a_staged_value_saved(tmp_path: Path) -> None:
    """Staging keeps the hooks: before-save when the value is staged (it sees the value),
    after-save when its bytes are committed (there, and only then, it is stored)."""
    seen: list[tuple] = []

    class Watcher:
        @lamina.hookspecs.hookimpl
        def lamina_before_artifact_save(self, name, value):
            seen.append(("before", name, value))

        @lamina.hookspecs.hookimpl
        def lamina_after_artifact_save(self, name, ref, created):
            seen.append(("after", name, ref.key, created))

    pm = pluggy.PluginManager(lamina.hookspecs.PROJECT_NAME)
    pm.add_hookspecs(lamina.hookspecs)
    pm.register(Watcher())
    store = ArtifactStore(FileDatastore(str(tmp_path)), builtin_serializers(), hooks=pm.hook)
    staged = store.stage({"k": 1}, name="run/items/0")
    assert staged is not None  # observers no longer turn staging off
    ref, data = staged
    assert seen == [("before", "run/items/0", {"k": 1})]
    assert store.commit_staged(ref, data, name="run/items/0") is True
    assert store.commit_staged(ref, data, name="run/items/0") is False
    assert seen[1:] == [("after", "run/items/0", ref.key, True),
                        ("after", "run/items/0", ref.key, False)]


def test_every_element_of_a_local_foreach_is_stored_by_its_task(project: Path) -> None:
    flow = Flow("elements")

    @flow.step
    def items() -> list[object]:
        return [i * 3 for i in range(40)] + ["a", ("t", 1), {"k": [1]}]

    @flow.step(foreach="items")
    def echo(items: object) -> object:
        return items

    run = flow.run()
    client = Client()
    stack = client.stack
    values = run["items"].value
    for task, expected in zip(run["echo"], values, strict=True):
        key = task.record.inputs["items"]
        assert stack.datastore.has_blob(key), f"element of {task.id} not stored"
        ref = task.record.output
        assert ref is not None and stack.artifacts.load(ref) == expected
    assert staged_files(project / ".lamina") == []


def test_task_records_are_written_in_the_background_in_order_and_errors_surface(
        tmp_path: Path) -> None:
    """The scheduler's record writer: batches go to the metadata store from a thread; a
    batch it cannot write (here: tasks of a run that is closed) is reported to the
    scheduler at its next wait, not lost."""
    import time

    from lamina.builtin.sqlite_metadata import SqliteMetadataStore
    from lamina.errors import LaminaError
    from lamina.records import RunRecord, TaskRecord
    from lamina.runtime.scheduler import _RecordWriter

    store = SqliteMetadataStore(str(tmp_path / "metadata.db"))
    store.create_run(RunRecord(run_id="r1", flow="f", status="running",
                               started_at=time.time(), steps=("s",)))
    writer = _RecordWriter(store)
    for batch in range(5):
        writer.submit([TaskRecord(run_id="r1", step="s", index=batch * 10 + i,
                                  status="succeeded", attempt=batch + 1) for i in range(10)])
    writer.submit([TaskRecord(run_id="r1", step="s", index=0, status="succeeded", attempt=9)])
    writer.wait()
    tasks = store.list_tasks("r1")
    assert [t.index for t in tasks] == list(range(50))
    assert tasks[0].attempt == 9  # written after its first record: batches keep their order
    store.finish_run("r1", status="succeeded", finished_at=time.time())
    writer.submit([TaskRecord(run_id="r1", step="s", index=99, status="succeeded")])
    with pytest.raises(LaminaError):
        writer.wait()
    writer.close()
    assert len(store.list_tasks("r1")) == 50


def _child_reads(path: str, out) -> None:
    from lamina.builtin.sqlite_metadata import SqliteMetadataStore  # noqa: F401 (forked)

    out.put(len(_STORE[0].list_tasks("r2")))


_STORE: list = []


def test_a_worker_forked_while_records_are_written_can_use_the_store(tmp_path: Path) -> None:
    """Forking (a new worker) while the writer thread is inside the metadata store waits
    for that batch: the child must not inherit the store's lock held by a thread it lacks."""
    import multiprocessing
    import time

    from lamina.builtin.sqlite_metadata import SqliteMetadataStore
    from lamina.records import RunRecord, TaskRecord
    from lamina.runtime.scheduler import _RecordWriter

    store = SqliteMetadataStore(str(tmp_path / "metadata.db"))
    _STORE[:] = [store]
    store.create_run(RunRecord(run_id="r2", flow="f", status="running",
                               started_at=time.time(), steps=("s",)))
    writer = _RecordWriter(store)
    writer.submit([TaskRecord(run_id="r2", step="s", index=i, status="succeeded",
                              inputs={"x": ["k" * 64] * 20}) for i in range(20000)])
    time.sleep(0.05)  # the writer is inside record_tasks now
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_reads, args=(str(tmp_path / "metadata.db"), out))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    writer.wait()
    writer.close()
    assert not alive and child.exitcode == 0, "the forked child hung on the store's lock"
    assert out.get(timeout=5) == 20000  # the fork waited for the batch being written


def test_a_wide_step_hands_tasks_over_while_it_builds_the_rest(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step with more tasks than the scheduler's feed chunk gives the workers the first
    ones before it built the last: every task still runs once, results in index order."""
    import lamina.runtime.scheduler as scheduler

    monkeypatch.setattr(scheduler, "_FEED_EVERY", 7)
    submitted: list[int] = []  # indexes of "sq" in the order they left the queue
    built: list[int] = []
    real = scheduler.Scheduler._feed

    def feed(self):
        before = [s.index for q in self.pending.values() for s in reversed(q) if s.step == "sq"]
        real(self)
        after = {s.index for q in self.pending.values() for s in q if s.step == "sq"}
        gone = [i for i in before if i not in after]
        if gone and not submitted:  # the first hand-over: how many specs existed then
            built.append(sum(1 for step, _ in self.specs if step == "sq"))
        submitted.extend(gone)

    monkeypatch.setattr(scheduler.Scheduler, "_feed", feed)
    flow = Flow("chunks")

    @flow.step
    def xs() -> list[int]:
        return list(range(100))

    @flow.step(foreach="xs")
    def sq(xs: int) -> int:
        return xs * xs

    @flow.step
    def total(sq: list[int]) -> int:
        return sum(sq)

    run = flow.run()
    assert run["total"].value == sum(i * i for i in range(100))
    assert [t.index for t in run["sq"]] == list(range(100))
    assert all(t.status == "succeeded" and t.record.attempt == 1 for t in run["sq"])
    assert submitted == list(range(100)), "tasks left the queue out of order or twice"
    assert built and built[0] < 100, "no task was handed over before all were built"
