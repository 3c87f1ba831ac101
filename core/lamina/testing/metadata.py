"""The metadata conformance suite: :class:`MetadataSuite`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import attrs
import pytest

from lamina.errors import (
    BackendUnreachableError,
    ImmutableRunError,
    MetadataError,
    ModelNotFoundError,
    RunNotFoundError,
)
from lamina.interfaces import CollectableMetadataStore, MetadataStore
from lamina.interfaces.model_registry import AliasChange, ModelVersion
from lamina.records import ArtifactRef, RunRecord, TaskRecord
from lamina.testing.flows import missing_fixture
from lamina.versioning.ids import new_run_id

STEPS = ("load", "train", "report")


def make_run(flow: str = "conformance", **changes: Any) -> RunRecord:
    """A running run of this process with every kind of field filled in."""
    values: dict[str, Any] = dict(
        run_id=new_run_id(), flow=flow, status="running", started_at=time.time(),
        params={"alpha": 0.5, "countries": ["fi", "se"], "nested": {"k": None}},
        tags=("team:ml", "nightly"), user="ada", host=socket.gethostname(), pid=os.getpid(),
        stack="local", datastore_url="file:///data/.lamina", flow_file="flow.py",
        code_hash="c0de", code_files={"flow.py": "a" * 64}, step_code={"train": "b" * 64},
        python_version="3.11.7", packages_key="d" * 64, git_commit="abc123", git_dirty=True,
        orchestrator="local", steps=STEPS, namespace="project:churn/branch:prod",
        project="churn", branch="prod", production=True,
    )
    values.update(changes)
    return RunRecord(**values)


def make_task(run: RunRecord, step: str, index: int = 0, **changes: Any) -> TaskRecord:
    values: dict[str, Any] = dict(
        run_id=run.run_id, step=step, index=index, status="succeeded", attempt=1,
        started_at=time.time(), finished_at=time.time() + 0.5,
        output=ArtifactRef(key="e" * 64, serializer="pickle", size=12, type="builtins.int",
                           info={"rows": 3}),
        inputs={"data": "f" * 64, "parts": ["1" * 64, "2" * 64]}, element="'fi'",
        stdout_key="3" * 64, metrics={"seconds": 0.5},
        data_inputs=[DATA_INPUT],
    )
    values.update(changes)
    return TaskRecord(**values)


#: A recorded data-source read (``tasks.data_inputs``) with every kind of field filled in.
DATA_INPUT: dict[str, Any] = {
    "source": "warehouse", "plugin": "postgres",
    "query": "select * from events where day = %(day)s and note = 'é ✓'",
    "params": {"day": "2026-11-30", "limit": 10, "ratio": 0.5, "flag": None},
    "table": None, "filter": None, "columns": ["a", "b"], "version": None,
    "version_kind": "none", "rows": 42, "content_hash": "9" * 64,
    "read_at": "2026-11-30T12:00:00+00:00",
}


class MetadataSuite:
    """Conformance of a :class:`lamina.interfaces.MetadataStore`.

    Override the ``metadata_store`` fixture to return a fresh, empty store.

    The contract, beyond the Protocol's docstrings:

    - Every field of a :class:`lamina.records.RunRecord` and
      :class:`lamina.records.TaskRecord` reads back equal to what was written (dicts,
      lists, tuples, None, booleans; an output's :class:`~lamina.records.ArtifactRef`).
    - ``create_run`` of an id that exists raises :class:`lamina.errors.MetadataError` and
      leaves the stored run as it was.
    - A run is named by its full id or a unique prefix of it; an unknown or ambiguous
      one raises :class:`lamina.errors.RunNotFoundError` (from ``get_run``,
      ``list_tasks``, ``add_tags``, ``remove_tags``).
    - After ``finish_run`` the run is immutable: finishing it again or recording its
      tasks raises :class:`lamina.errors.ImmutableRunError`, and a batch of tasks in which
      one belongs to a finished run writes nothing (one transaction). Tags may still be
      added; adding a tag twice keeps one.
    - ``record_tasks`` of a run that does not exist raises ``RunNotFoundError``.
    - ``list_runs`` is newest first (run ids sort by creation time); its ``flow``,
      ``status``, ``tag`` and ``limit`` filters combine. A ``running`` run whose process
      (same host, ``pid``) is gone reads as ``crashed`` and is found by
      ``status="crashed"``, not by ``status="running"``.
    - ``find_cached`` returns the newest ``succeeded`` or ``reused`` task with the key,
      never a failed one; the empty key finds nothing.
    - ``list_flows`` is sorted and has each flow once.
    - Namespaces: ``list_runs(namespace=NS)`` and ``list_flows(namespace=NS)`` keep the
      runs of one namespace (combined with the other filters); a record with an empty
      ``namespace`` (written before namespaces) belongs to ``user:<its user>``.
      ``list_namespaces()`` names every namespace that has runs, sorted, each once.
    - Several threads may use one store object at once.
    - The model registry's records: ``register_model_version`` numbers versions 1, 2, ...
      per (namespace, name), never the same number twice even from concurrent writers;
      ``list_model_versions`` reads them back field for field, oldest first;
      ``list_model_names`` is sorted, per namespace. ``record_alias_change`` fills
      ``previous`` with the alias's last version and refuses (``ModelNotFoundError``,
      nothing written) a version that is not registered; ``list_alias_changes`` is the
      history oldest first. ``record_model_check`` / ``list_model_checks`` keep check
      results per version, oldest first.
    - ``check`` returns a non-empty one-line summary, or raises
      :class:`lamina.errors.BackendUnreachableError` with a hint when the store cannot be
      reached (checked when the subclass defines ``unreachable_metadata_store``).
    """

    @pytest.fixture
    def metadata_store(self) -> Any:
        """The component under test: a fresh, empty metadata store. Override it."""
        missing_fixture(self, "metadata_store",
                        "return MyMetadataStore(tmp_path / 'metadata.db')")

    @pytest.fixture
    def unreachable_metadata_store(self) -> Any:
        """A store of the same kind whose backend cannot be reached (a file that cannot
        exist, a closed port). Override it to check what ``check`` says then."""
        pytest.skip(f"{type(self).__name__} defines no unreachable_metadata_store fixture")

    # -- shape ------------------------------------------------------------------------

    def test_it_is_a_metadata_store(self, metadata_store: Any) -> None:
        assert isinstance(metadata_store, MetadataStore), (
            f"{type(metadata_store).__name__} lacks methods of lamina.interfaces.MetadataStore"
        )
        summary = metadata_store.check()
        assert isinstance(summary, str) and summary.strip()

    def test_check_names_an_unreachable_backend(self, unreachable_metadata_store: Any) -> None:
        with pytest.raises(BackendUnreachableError) as info:
            unreachable_metadata_store.check()
        assert info.value.hint, "the error says what to do"

    # -- runs -------------------------------------------------------------------------

    def test_a_run_reads_back_equal_field_for_field(self, metadata_store: Any) -> None:
        run = make_run()
        metadata_store.create_run(run)
        back = metadata_store.get_run(run.run_id)
        assert isinstance(back, RunRecord)
        assert attrs.asdict(back) == attrs.asdict(run)
        sparse = make_run(params={}, tags=(), code_files={}, step_code={}, git_dirty=None,
                          steps=())
        metadata_store.create_run(sparse)
        assert metadata_store.get_run(sparse.run_id) == sparse

    def test_a_run_id_is_never_reused(self, metadata_store: Any) -> None:
        run = make_run()
        metadata_store.create_run(run)
        with pytest.raises(MetadataError) as info:
            metadata_store.create_run(attrs.evolve(run, flow="impostor", params={}))
        assert run.run_id in str(info.value)
        assert metadata_store.get_run(run.run_id).flow == "conformance"

    def test_an_unknown_run_is_not_found(self, metadata_store: Any) -> None:
        metadata_store.create_run(make_run())
        missing = new_run_id()
        with pytest.raises(RunNotFoundError) as info:
            metadata_store.get_run(missing)
        assert missing in str(info.value)
        with pytest.raises(RunNotFoundError):
            metadata_store.finish_run(missing, status="succeeded", finished_at=time.time())
        with pytest.raises(RunNotFoundError):
            metadata_store.record_tasks([make_task(make_run(run_id=missing), "load")])
        with pytest.raises(RunNotFoundError):
            metadata_store.add_tags(missing, ["orphan"])

    def test_a_unique_prefix_names_a_run(self, metadata_store: Any) -> None:
        first = make_run(run_id="20260101T000000000-aaaaaa")
        second = make_run(run_id="20260101T000000000-aabbbb")
        for run in (first, second):
            metadata_store.create_run(run)
        assert metadata_store.get_run("20260101T000000000-aaa").run_id == first.run_id
        assert metadata_store.get_run("20260101T000000000-aab").run_id == second.run_id
        with pytest.raises(RunNotFoundError):
            metadata_store.get_run("20260101T000000000-aa")  # both match
        with pytest.raises(RunNotFoundError):
            metadata_store.get_run("20260101T000000000-ab")  # none matches

    def test_a_finished_run_is_immutable_but_takes_tags(self, metadata_store: Any) -> None:
        run = make_run()
        metadata_store.create_run(run)
        metadata_store.record_tasks([make_task(run, "load")])
        ended = time.time()
        metadata_store.finish_run(run.run_id, status="failed", finished_at=ended,
                                  error="ValueError: bad row")
        back = metadata_store.get_run(run.run_id)
        assert (back.status, back.finished_at, back.error) == ("failed", ended,
                                                               "ValueError: bad row")
        with pytest.raises(ImmutableRunError):
            metadata_store.finish_run(run.run_id, status="succeeded", finished_at=time.time())
        with pytest.raises(ImmutableRunError):
            metadata_store.record_tasks([make_task(run, "load", status="failed")])
        assert metadata_store.get_run(run.run_id).status == "failed"
        assert [t.status for t in metadata_store.list_tasks(run.run_id)] == ["succeeded"]
        metadata_store.add_tags(run.run_id, ["reviewed", "nightly", "reviewed"])
        assert metadata_store.get_run(run.run_id).tags == ("team:ml", "nightly", "reviewed")
        metadata_store.remove_tags(run.run_id, ["nightly", "never-there"])
        assert metadata_store.get_run(run.run_id).tags == ("team:ml", "reviewed")

    def test_tasks_of_a_batch_are_written_all_or_nothing(self, metadata_store: Any) -> None:
        open_run, closed_run = make_run(), make_run()
        metadata_store.create_run(open_run)
        metadata_store.create_run(closed_run)
        metadata_store.finish_run(closed_run.run_id, status="succeeded", finished_at=time.time())
        with pytest.raises(ImmutableRunError):
            metadata_store.record_tasks([make_task(open_run, "load"), make_task(closed_run, "load")])
        assert metadata_store.list_tasks(open_run.run_id) == []

    def test_runs_are_listed_newest_first_and_filtered(self, metadata_store: Any) -> None:
        a1 = make_run("alpha", tags=("gold",))
        b1 = make_run("beta", tags=())
        a2 = make_run("alpha", tags=())
        a3 = make_run("alpha", tags=("gold",))
        for run in (a1, b1, a2, a3):
            metadata_store.create_run(run)
        metadata_store.finish_run(a1.run_id, status="succeeded", finished_at=time.time())
        metadata_store.finish_run(a2.run_id, status="failed", finished_at=time.time())

        def ids(**query: Any) -> list[str]:
            return [r.run_id for r in metadata_store.list_runs(**query)]

        assert ids() == [a3.run_id, a2.run_id, b1.run_id, a1.run_id]
        assert ids(flow="alpha") == [a3.run_id, a2.run_id, a1.run_id]
        assert ids(flow="alpha", status="succeeded") == [a1.run_id]
        assert ids(status="running") == [a3.run_id, b1.run_id]
        assert ids(tag="gold") == [a3.run_id, a1.run_id]
        assert ids(flow="alpha", tag="gold", limit=1) == [a3.run_id]
        assert ids(limit=2) == [a3.run_id, a2.run_id]
        assert ids(flow="gamma") == []
        assert metadata_store.list_flows() == ["alpha", "beta"]

    def test_runs_are_filtered_by_namespace(self, metadata_store: Any) -> None:
        mine = make_run("alpha", user="alice", namespace="user:alice", project="", branch="",
                        production=False)
        older = make_run("beta", user="alice", namespace="", project="", branch="",
                         production=False)  # recorded before namespaces: alice's
        bobs = make_run("alpha", user="bob", namespace="user:bob", project="", branch="",
                        production=False)
        prod = make_run("alpha", user="alice")  # project:churn/branch:prod
        branch = make_run("alpha", user="bob", namespace="project:churn/branch:bob",
                          branch="bob", production=False)
        carols = make_run("gamma", user="carol", namespace="", project="", branch="",
                          production=False)
        for run in (mine, older, bobs, prod, branch, carols):
            metadata_store.create_run(run)
        metadata_store.finish_run(mine.run_id, status="succeeded", finished_at=time.time())

        def ids(**query: Any) -> list[str]:
            return [r.run_id for r in metadata_store.list_runs(**query)]

        assert ids(namespace="user:alice") == [older.run_id, mine.run_id]
        assert ids(namespace="user:bob") == [bobs.run_id]
        assert ids(namespace="user:carol") == [carols.run_id]
        assert ids(namespace="project:churn/branch:prod") == [prod.run_id]
        assert ids(namespace="project:churn/branch:bob") == [branch.run_id]
        assert ids(namespace="user:nobody") == []
        assert ids(namespace="user:alice", flow="alpha") == [mine.run_id]
        assert ids(namespace="user:alice", status="succeeded") == [mine.run_id]
        assert ids(namespace="user:alice", limit=1) == [older.run_id]
        assert ids(namespace="user:alice", tag="nightly", flow="beta") == [older.run_id]
        assert len(ids()) == 6  # no namespace: every run
        assert metadata_store.list_flows(namespace="user:alice") == ["alpha", "beta"]
        assert metadata_store.list_flows(namespace="user:carol") == ["gamma"]
        assert metadata_store.list_flows(namespace="user:nobody") == []
        assert metadata_store.list_namespaces() == [
            "project:churn/branch:bob", "project:churn/branch:prod", "user:alice",
            "user:bob", "user:carol",
        ]
        got = metadata_store.get_run(prod.run_id)
        assert (got.namespace, got.project, got.branch, got.production) == (
            "project:churn/branch:prod", "churn", "prod", True
        )

    def test_a_running_run_whose_process_is_gone_reads_as_crashed(
        self, metadata_store: Any
    ) -> None:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        live, dead = make_run(), make_run(pid=gone.pid)
        metadata_store.create_run(live)
        metadata_store.create_run(dead)
        assert metadata_store.get_run(dead.run_id).status == "crashed"
        assert metadata_store.get_run(live.run_id).status == "running"
        assert [r.run_id for r in metadata_store.list_runs(status="crashed")] == [dead.run_id]
        assert [r.run_id for r in metadata_store.list_runs(status="running")] == [live.run_id]

    # -- tasks ------------------------------------------------------------------------

    def test_tasks_are_upserted_and_listed_in_step_order(self, metadata_store: Any) -> None:
        run = make_run()
        metadata_store.create_run(run)
        # written out of order, across two calls; the second updates one task
        metadata_store.record_tasks([make_task(run, "report"), make_task(run, "train", 1),
                                     make_task(run, "train", 0, status="running", output=None,
                                               finished_at=None)])
        done = make_task(run, "train", 0, attempt=2, error="", metrics={"loss": 0.25})
        metadata_store.record_tasks([done, make_task(run, "load")])
        tasks = metadata_store.list_tasks(run.run_id)
        assert [(t.step, t.index) for t in tasks] == [
            ("load", 0), ("train", 0), ("train", 1), ("report", 0)
        ]
        assert tasks[1] == done, "the second write replaced the first, field for field"
        assert all(isinstance(t, TaskRecord) for t in tasks)
        assert [t.index for t in metadata_store.list_tasks(run.run_id, step="train")] == [0, 1]
        assert metadata_store.list_tasks(run.run_id, step="nothing") == []
        with pytest.raises(RunNotFoundError):
            metadata_store.list_tasks(new_run_id())

    def test_data_inputs_round_trip_in_order(self, metadata_store: Any) -> None:
        run = make_run()
        metadata_store.create_run(run)
        lake = {**DATA_INPUT, "source": "lake", "plugin": "delta", "query": None,
                "table": "events", "filter": "day = '2026-11-30'", "version": "17",
                "version_kind": "delta"}
        metadata_store.record_tasks([
            make_task(run, "train", 0, data_inputs=[DATA_INPUT, lake]),
            make_task(run, "train", 1, data_inputs=[]),
        ])
        tasks = metadata_store.list_tasks(run.run_id, step="train")
        assert tasks[0].data_inputs == [DATA_INPUT, lake], "every field, in read order"
        assert tasks[1].data_inputs == []
        metadata_store.record_tasks([make_task(run, "train", 1, cache_key="dk",
                                               data_inputs=[lake])])
        found = metadata_store.find_cached("dk")
        assert found is not None and found.data_inputs == [lake]

    def test_the_cache_finds_the_newest_successful_task(self, metadata_store: Any) -> None:
        old, new, failed = make_run(), make_run(), make_run()
        for run in (old, new, failed):
            metadata_store.create_run(run)
        metadata_store.record_tasks([make_task(old, "train", cache_key="k1")])
        metadata_store.record_tasks([make_task(new, "train", cache_key="k1", status="reused",
                                               reused_from=f"{old.run_id}/train/0")])
        metadata_store.record_tasks([make_task(failed, "train", cache_key="k1",
                                               status="failed", output=None)])
        found = metadata_store.find_cached("k1")
        assert found is not None and found.run_id == new.run_id
        assert metadata_store.find_cached("k2") is None
        assert metadata_store.find_cached("") is None

    def test_several_threads_share_one_store(self, metadata_store: Any) -> None:
        errors: list[BaseException] = []
        made: list[str] = []

        def work() -> None:
            try:
                for _ in range(5):
                    run = make_run("threads")
                    metadata_store.create_run(run)
                    metadata_store.record_tasks([make_task(run, s) for s in STEPS])
                    metadata_store.finish_run(run.run_id, status="succeeded",
                                              finished_at=time.time())
                    made.append(run.run_id)
            except BaseException as error:  # reported below, with the others
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        runs = metadata_store.list_runs("threads", status="succeeded")
        assert sorted(r.run_id for r in runs) == sorted(made) and len(made) == 20
        assert all(len(metadata_store.list_tasks(r)) == 3 for r in made)

    # -- the model registry's records -------------------------------------------------

    def test_model_versions_are_numbered_per_name_and_namespace(self, metadata_store: Any) -> None:
        def register(ns: str, name: str, **meta: Any) -> ModelVersion:
            return metadata_store.register_model_version(ModelVersion(
                name=name, version=0, ref=f"churn/r{len(meta)}/train", run_id="r1",
                namespace=ns, registered_by="ada", registered_at="2026-01-01T00:00:00+00:00",
                metadata=meta))

        first = register("user:ada", "churn", auc=0.8, tags=["a", "b"], note=None)
        assert first.version == 1
        assert [register("user:ada", "churn").version for _ in range(2)] == [2, 3]
        assert register("user:bob", "churn").version == 1  # another namespace
        assert register("user:ada", "fraud").version == 1  # another name
        listed = metadata_store.list_model_versions("user:ada", "churn")
        assert [v.version for v in listed] == [1, 2, 3]
        assert listed[0] == first and listed[0].metadata == {"auc": 0.8, "tags": ["a", "b"],
                                                             "note": None}
        assert metadata_store.list_model_names("user:ada") == ["churn", "fraud"]
        assert metadata_store.list_model_names("user:nobody") == []
        assert metadata_store.list_model_versions("user:ada", "nothing") == []

    def test_alias_moves_are_recorded_with_their_previous_version(
        self, metadata_store: Any
    ) -> None:
        ns = "project:churn/branch:prod"
        for _ in range(2):
            metadata_store.register_model_version(ModelVersion(
                name="churn", version=0, ref="churn/r/train", run_id="r", namespace=ns))

        def move(version: int | None, **kw: Any) -> AliasChange:
            return metadata_store.record_alias_change(ns, AliasChange(
                name="churn", alias="champion", version=version, previous=None, user="ada",
                at="2026-01-02T00:00:00+00:00", **kw))

        assert move(1, reason="first").previous is None
        forced = move(2, reason="beats v1", forced=True)
        assert forced.previous == 1 and forced.forced
        removed = move(None, reason="rolled back")
        assert removed.previous == 2 and removed.version is None
        with pytest.raises(ModelNotFoundError):
            move(9)
        history = metadata_store.list_alias_changes(ns, "churn")
        assert [(c.version, c.previous, c.reason, c.forced) for c in history] == [
            (1, None, "first", False), (2, 1, "beats v1", True), (None, 2, "rolled back", False)]
        assert metadata_store.list_alias_changes("user:ada", "churn") == []

    def test_check_results_are_kept_per_version(self, metadata_store: Any) -> None:
        ns = "user:ada"
        metadata_store.register_model_version(ModelVersion(
            name="churn", version=0, ref="churn/r/train", run_id="r", namespace=ns))
        metadata_store.record_model_check(ns, "churn", 1, {"suite": "gate", "passed": False})
        metadata_store.record_model_check(ns, "churn", 1, {"suite": "gate", "passed": True,
                                                           "failed": []})
        metadata_store.record_model_check(ns, "churn", 2, {"suite": "gate", "passed": True})
        one = metadata_store.list_model_checks(ns, "churn", 1)
        assert [(r["version"], r["passed"]) for r in one] == [(1, False), (1, True)]
        assert one[1]["failed"] == []
        assert len(metadata_store.list_model_checks(ns, "churn")) == 3
        assert metadata_store.list_model_checks("user:bob", "churn") == []

    def test_concurrent_registrations_get_distinct_numbers(self, metadata_store: Any) -> None:
        numbers: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(5):
                    numbers.append(metadata_store.register_model_version(ModelVersion(
                        name="race", version=0, ref="race/r/train", run_id="r", namespace="user:ada"
                    )).version)
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sorted(numbers) == list(range(1, 21))

    # -- retention (lamina.interfaces.CollectableMetadataStore) -------------------------

    @staticmethod
    def _collectable(metadata_store: Any) -> Any:
        if not isinstance(metadata_store, CollectableMetadataStore):
            pytest.skip(f"{type(metadata_store).__name__} is not a CollectableMetadataStore "
                        "(lamina gc cannot collect it)")
        return metadata_store

    def test_delete_runs_takes_tasks_and_tags_and_nothing_else(
        self, metadata_store: Any
    ) -> None:
        store = self._collectable(metadata_store)
        gone, other, stays = make_run("retention"), make_run("retention"), make_run("retention")
        for run in (gone, other, stays):
            store.create_run(run)
            store.record_tasks([make_task(run, s, cache_key=f"k-{run.run_id}") for s in STEPS])
        store.add_tags(gone.run_id, ["old"])
        assert store.delete_runs([gone.run_id, other.run_id, new_run_id()]) == 2
        with pytest.raises(RunNotFoundError):
            store.get_run(gone.run_id)
        assert [r.run_id for r in store.list_runs("retention")] == [stays.run_id]
        assert store.list_runs(tag="old") == []
        assert store.find_cached(f"k-{gone.run_id}") is None, "its tasks went too"
        assert len(store.list_tasks(stays.run_id)) == 3
        assert store.delete_runs([]) == 0
        assert store.delete_runs([gone.run_id]) == 0

    def test_runs_reusing_names_the_runs_that_reused_a_result(self, metadata_store: Any) -> None:
        store = self._collectable(metadata_store)
        origin, reuser, unrelated = make_run(), make_run(), make_run()
        for run in (origin, reuser, unrelated):
            store.create_run(run)
        store.record_tasks([make_task(origin, "train")])
        store.record_tasks([make_task(reuser, "train", status="reused",
                                      reused_from=f"{origin.run_id}/train/0")])
        store.record_tasks([make_task(unrelated, "train")])
        assert store.runs_reusing(origin.run_id) == [reuser.run_id]
        assert store.runs_reusing(reuser.run_id) == []
        assert store.runs_reusing(origin.run_id[:-1]) == [], "a whole id, not a prefix"

    def test_referenced_run_ids_is_empty_without_registered_models(
        self, metadata_store: Any
    ) -> None:
        store = self._collectable(metadata_store)
        store.create_run(make_run())
        assert store.referenced_run_ids() == []
