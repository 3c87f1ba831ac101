"""``lamina gc`` and ``lamina runs --delete`` on the file datastore and SQLite: kept runs
still show, load every artifact and resume; what a tag, a deployment, a registered model
or the step cache needs stays; the rest goes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from gc_util import age_objects, check_all_load, check_run_loads, flow_of, lamina, stack_of
from gc_util import write_project as make_project

from lamina import Client
from lamina.errors import RunFailedError, RunNotFoundError
from lamina.retention import RunKeptError, collect, delete_run, why_kept

STRICT = """
keep_last = 1
keep_last_per_branch = 0
keep_newer_than = ""
grace = "1h"
"""


def object_keys(run: Any) -> set[str]:
    return {t.ref.key for t in run.tasks() if t.status in ("succeeded", "reused")}


def test_gc_deletes_what_the_policy_lets_go_and_kept_runs_load_and_resume(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    tagged = flow.run(stack=stack, tag="t", tags=["keep"])
    old = [flow.run(stack=stack, tag=f"old{i}") for i in range(2)]
    flag = root / "broken.flag"
    flag.write_text("bug")
    with pytest.raises(RunFailedError) as failed_info:
        flow.run(stack=stack, tag="f", flag=str(flag))
    failed = failed_info.value.run
    gone_keys = set().union(*(object_keys(r) for r in old)) - object_keys(tagged) \
        - object_keys(failed)
    assert gone_keys, "the deleted runs had objects of their own"
    age_objects(root, 2 * 3600)

    report = collect(stack)

    assert {r[0] for r in report.runs_deleted} == {r.id for r in old}
    assert report.runs_kept == 2 and report.runs_total == 4
    assert report.objects_deleted >= len(gone_keys) and report.bytes_reclaimed > 0
    assert not any(stack.datastore.has_blob(k) for k in gone_keys)
    assert sorted(check_all_load(stack)) == sorted([tagged.id, failed.id])
    client = Client(stack, namespace=None)
    for run in old:
        with pytest.raises(RunNotFoundError):
            client.run(run.id)
        assert stack.datastore.list_records(f"runs/{run.id}") == []
        assert not (root / ".lamina" / "runs" / run.id).exists(), "no empty folders left"
    flag.unlink()  # fix the bug; the kept failed run resumes from what gc left
    resumed = client.run(failed.id).resume(stack=stack)
    assert resumed.status == "succeeded"
    assert {t.status for t in resumed.tasks("work")} == {"succeeded", "reused"}
    assert check_run_loads(resumed) == 7


def test_the_run_whose_results_a_kept_run_reused_stays(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    origin = flow.run(stack=stack, cache=True)
    reuser = flow.run(stack=stack, cache=True, tags=["keep"])
    assert {t.record.reused_from.split("/")[0] for t in reuser.tasks()} == {origin.id}
    plain = flow.run(stack=stack, tag="other")
    newest = flow.run(stack=stack, tag="newest")
    age_objects(root, 2 * 3600)
    report = collect(stack)
    assert [r[0] for r in report.runs_deleted] == [plain.id]
    assert sorted(check_all_load(stack)) == sorted([origin.id, reuser.id, newest.id])
    assert why_kept(stack, origin.id) == f"run {reuser.id} reused its results"
    with pytest.raises(RunKeptError, match=f"run {origin.id} is kept: run {reuser.id} reused"):
        delete_run(stack, origin.id)


def test_registered_models_and_deployments_keep_their_runs(tmp_path: Path) -> None:
    from lamina.deploy import build_deployment_plan

    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    model = flow.run(stack=stack, tag="model")
    deployed = flow.run(stack=stack, tag="deployed")
    plan = build_deployment_plan(flow, stack)  # records deployments/gcflow/ID.json
    (root / "flow.py").write_text((root / "flow.py").read_text() + "\n# changed\n")
    flow = flow_of(root)
    plain = flow.run(stack=stack, tag="plain")
    newest = flow.run(stack=stack, tag="newest")
    with sqlite3.connect(root / ".lamina" / "metadata.db") as db:  # what the registry writes
        db.execute("INSERT INTO model_versions (namespace, name, version, ref, run_id) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (model.namespace, "churn", 1, f"gcflow/{model.id}/total", model.id))
    age_objects(root, 2 * 3600)
    report = collect(stack)
    assert [r[0] for r in report.runs_deleted] == [plain.id]
    assert sorted(check_all_load(stack)) == sorted([model.id, deployed.id, newest.id])
    assert why_kept(stack, model.id) == "a registered model version"
    assert why_kept(stack, deployed.id) == (
        f"the newest run of deployment {plan.deployment_id!r}")
    for name in plan.code_files:  # the deployed code snapshot stays with its record
        assert stack.datastore.has_blob(plan.code_files[name])


def test_runs_delete_refuses_naming_what_keeps_a_run_and_force_overrides(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    tagged = flow.run(stack=stack, tag="t", tags=["keep"])
    plain = flow.run(stack=stack, tag="p")
    refused = lamina(root, "runs", "--delete", tagged.id)
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[0] == (
        f"lamina: error: run {tagged.id} is kept: tagged 'keep'")
    assert Client(stack).run(tagged.id)
    done = lamina(root, "runs", "--delete", plain.id[:18])
    assert done.returncode == 0, done.stderr
    assert f"deleted run {plain.id} of flow gcflow" in done.stdout
    with pytest.raises(RunNotFoundError):
        Client(stack).run(plain.id)
    assert stack.datastore.list_records(f"runs/{plain.id}") == []
    forced = lamina(root, "runs", "--delete", tagged.id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "forced past: tagged 'keep'" in forced.stdout
    # a run still going is never deleted, not even with --force
    from lamina.testing.metadata import make_run

    live = make_run("gcflow", namespace=tagged.namespace, production=False, tags=())
    stack.metadata.create_run(live)
    with pytest.raises(RunKeptError, match="is kept: it is running"):
        delete_run(stack, live.run_id, force=True)
    wrong = lamina(root, "runs", "--force")
    assert wrong.returncode != 0 and "--force goes with --delete RUN" in wrong.stderr


def test_dry_run_deletes_nothing_and_says_what_would_go(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    runs = [flow.run(stack=stack, tag=f"r{i}") for i in range(3)]
    age_objects(root, 2 * 3600)
    before = sorted(k for k, _, _ in stack.datastore.scan(""))
    objects = stack.datastore.count_objects()
    shown = lamina(root, "gc", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    for run in runs[:2]:
        assert f"would delete run {run.id}  gcflow" in shown.stdout
    assert "would delete 2 runs" in shown.stdout and "reclaimed" in shown.stdout
    assert "dry run: nothing was deleted" in shown.stderr
    bad = lamina(root, "gc", "--dry-run", "--grace", "soon")
    assert bad.returncode != 0
    assert bad.stderr.splitlines()[0] == (
        "lamina: error: --grace must be a duration such as \"30d\", \"24h\", \"90m\" or "
        "\"45s\", got 'soon'")
    assert sorted(k for k, _, _ in stack.datastore.scan("")) == before
    assert stack.datastore.count_objects() == objects
    dry = collect(stack, dry_run=True)
    real = collect(stack)
    assert (dry.runs_deleted, dry.objects_deleted, dry.bytes_reclaimed, dry.records_deleted) == (
        real.runs_deleted, real.objects_deleted, real.bytes_reclaimed, real.records_deleted)
    assert real.objects_deleted > 0
    assert check_all_load(stack) == [runs[2].id]


def test_prediction_logs_and_monitoring_outputs_have_their_own_age(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", """
        keep_last = 10
        prediction_logs_max_age = "30d"
        monitoring_max_age = "90d"
        grace = "1h"
    """)
    stack, flow = stack_of(root), flow_of(root)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    old_part = "predictions/churn/date=2020-01-01/part-1.parquet"
    new_part = f"predictions/churn/date={today}/part-2.parquet"
    old_outcome = "outcomes/churn/date=2020-01-02/part-3.parquet"
    for key in (old_part, new_part, old_outcome):
        stack.datastore.put_record(key, b"PAR1" + b"x" * 100)
    monitoring = flow.run(stack=stack, tag="m", tags=["monitoring"])
    other = flow.run(stack=stack, tag="o")
    reports = root / ".lamina" / "reports"
    reports.mkdir(parents=True)
    (reports / f"{monitoring.id}.html").write_text("<html></html>")
    report = collect(stack)
    assert report.logs_deleted == 2 and report.log_bytes_reclaimed == 2 * 104
    assert stack.datastore.get_record(old_part) is None
    assert stack.datastore.get_record(old_outcome) is None
    assert stack.datastore.get_record(new_part) is not None
    assert report.runs_deleted == [] and report.reports_deleted == 0
    later = time.time() + 100 * 86400  # a hundred days on: the monitoring run is too old
    report = collect(stack, now=later)
    assert [r[0] for r in report.runs_deleted] == [monitoring.id]
    assert report.reports_deleted == 1 and not (reports / f"{monitoring.id}.html").exists()
    assert check_all_load(stack) == [other.id]


def test_a_run_folder_the_metadata_store_does_not_know_yet_is_kept(tmp_path: Path) -> None:
    """A run being created writes its manifest before its metadata record: gc must treat
    such a folder as a root, or the objects it names would go."""
    root = make_project(tmp_path / "p", STRICT)
    stack, flow = stack_of(root), flow_of(root)
    flow.run(stack=stack)
    key = stack.artifacts.put_bytes(b"named only by a run being created")
    stack.datastore.put_record("runs/20991231T000000000-aaaaaa/run.json",
                               f'{{"code_files": {{"flow.py": "{key}"}}}}'.encode())
    age_objects(root, 2 * 3600)
    collect(stack)
    assert stack.datastore.has_blob(key)
