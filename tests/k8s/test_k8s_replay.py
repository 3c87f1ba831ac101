"""Submit, watch, logs and cancel of the ``k8s`` compute, through the official kubernetes
client, against the recorded API exchange replayed on loopback (see k8s_util). The replay
cluster runs each pod's command for real, so a successful run is a real end-to-end run of
``python -m lamina task`` launched from the Job the plugin created."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest
from k8s_util import TOKEN, ReplayCluster, write_project

from lamina.errors import BackendUnreachableError
from lamina.flow.loader import load_flow_file
from lamina.records import TaskSpec
from lamina.stack import Stack

NS = "ml"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"


@pytest.fixture
def cluster(tmp_path: Path):
    pods = tmp_path / "pods"  # the pods' working directory: not the project
    pods.mkdir()
    with ReplayCluster(NS, workdir=pods) as replay:
        yield replay


def run_flow(tmp_path: Path, cluster: ReplayCluster, params: dict | None = None, **options):
    path = write_project(tmp_path / "project", cluster, python=sys.executable, **options)
    stack = Stack.load("k8s", cwd=path.parent, env={})
    try:
        run = load_flow_file(path).run(stack=stack, raise_on_failure=False, **(params or {}))
    finally:
        stack.close()
    for manifest in cluster.created:  # every Job the plugin sent is valid batch/v1
        kubernetes_validate.validate(manifest, "1.31.0", strict=True)
    return run


def task(run, step: str, index: int):
    return next(t for t in run[step].tasks if t.index == index)


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_a_foreach_step_is_one_indexed_job_and_its_results_come_back(tmp_path, cluster) -> None:
    run = run_flow(tmp_path, cluster)
    assert run.status == "succeeded", run.record.error
    assert run["total"].value == 14
    assert [t.value for t in run["square"].tasks] == [1, 4, 9]
    assert "squaring 2" in task(run, "square", 1).stdout  # what the step printed, in the pod

    creates = cluster.calls("POST", JOBS)
    assert len(creates) == 1 and creates[0].path == JOBS
    job = creates[0].body
    assert job["spec"]["completions"] == 3 and job["spec"]["completionMode"] == "Indexed"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-6:] == ["--index", "0", "--attempt", "1", "--index-env",
                                         "JOB_COMPLETION_INDEX"]
    assert container["command"][container["command"].index("--run") + 1] == run.id
    assert container["envFrom"] == [{"secretRef": {"name": "lamina-datastore"}}]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "256Mi"},
                                      "limits": {"memory": "256Mi"}}
    assert job["metadata"]["labels"]["team"] == "churn"
    assert creates[0].headers["authorization"] == f"Bearer {TOKEN}"

    watches = cluster.calls("GET", JOBS)
    assert watches and all(r.query["labelSelector"] == [f"lamina.dev/run={run.id}"] for r in watches)
    assert not cluster.calls("GET", f"/api/v1/namespaces/{NS}/pods")  # nothing failed
    assert not cluster.calls("DELETE")  # finished Jobs are left to ttlSecondsAfterFinished
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_max_in_flight_caps_the_tasks_created_at_once(tmp_path, cluster) -> None:
    run = run_flow(tmp_path, cluster, max_in_flight=2)
    assert run.status == "succeeded", run.record.error
    assert run["total"].value == 14
    jobs = cluster.created
    assert [j["spec"]["completions"] for j in jobs] == [2, 1]
    second = jobs[1]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert second[second.index("--index") + 1] == "2"


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_a_step_exception_comes_back_with_its_traceback(tmp_path, cluster) -> None:
    run = run_flow(tmp_path, cluster, params={"fail": 2})
    assert run.status == "failed"
    failed = task(run, "square", 1)
    record = failed.record
    assert record.status == "failed" and record.exit_reason == "exception"
    assert "ValueError: cannot square 2" in record.traceback
    assert record.location.endswith("squares.py:15")
    assert task(run, "square", 0).status == "succeeded"
    assert task(run, "square", 2).status == "succeeded"
    # the task wrote its own outcome: no pod inspection was needed
    assert not cluster.calls("GET", f"/api/v1/namespaces/{NS}/pods")


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_an_oom_killed_pod_is_reported_with_its_log(tmp_path, cluster) -> None:
    cluster.behaviour = lambda manifest, index: "oom" if index == 1 else "run"
    run = run_flow(tmp_path, cluster)
    assert run.status == "failed"
    record = task(run, "square", 1).record
    assert record.exit_reason == "oom" and record.error_type == "OutOfMemory"
    assert "OOMKilled, exit code 137" in record.error
    assert "Killed" in task(run, "square", 1).stderr  # the pod's log, for `lamina logs`
    name = cluster.created[0]["metadata"]["name"]
    pods = cluster.calls("GET", f"/api/v1/namespaces/{NS}/pods")
    assert pods[0].query["labelSelector"] == [f"job-name={name}"]
    logs = [r for r in pods if r.path.endswith("/log")]
    assert [r.path for r in logs] == [f"/api/v1/namespaces/{NS}/pods/{name}-1-x7k2p/log"]
    assert logs[0].query["container"] == ["task"]
    assert task(run, "square", 0).status == "succeeded"


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_deadline_and_preemption_are_told_apart(tmp_path, cluster) -> None:
    cluster.behaviour = lambda manifest, index: {0: "deadline", 1: "evicted"}.get(index, "run")
    cluster.job_failure = "deadline"
    run = run_flow(tmp_path, cluster)
    timeout = task(run, "square", 0).record
    assert timeout.exit_reason == "timeout" and "activeDeadlineSeconds" in timeout.error
    preempted = task(run, "square", 1).record
    assert preempted.exit_reason == "preempted" and "PreemptionByScheduler" in preempted.error
    assert task(run, "square", 2).status == "succeeded"


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_backoff_limit_exceeded_reports_the_exit_code(tmp_path, cluster) -> None:
    cluster.behaviour = lambda manifest, index: "crash"
    cluster.job_failure = "backoff_limit"
    run = run_flow(tmp_path, cluster)
    assert run.status == "failed"
    for index in range(3):
        record = task(run, "square", index).record
        assert record.exit_reason == "exit"
        assert "exited with code 3" in record.error
        assert "No module named 'lamina'" in task(run, "square", index).stderr


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_forbidden_create_fails_with_the_rbac_fix(tmp_path, cluster) -> None:
    cluster.create_errors = ["status_403"]
    with pytest.raises(BackendUnreachableError) as info:
        run_flow(tmp_path, cluster)
    text = str(info.value)
    assert 'cannot create resource \\"jobs\\"' in text or 'cannot create resource "jobs"' in text
    assert "403 Forbidden" in text and "Role in namespace ml" in text


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_a_job_that_already_exists_is_adopted(tmp_path, cluster) -> None:
    cluster.create_errors = ["status_409"]
    run = run_flow(tmp_path, cluster)
    assert run.status == "succeeded", run.record.error
    assert run["total"].value == 14
    assert len(cluster.calls("POST", JOBS)) == 1


@pytest.mark.slow  # runs the pods' commands: real task processes
def test_a_job_deleted_behind_our_back_is_reported_lost(tmp_path, cluster) -> None:
    cluster.behaviour = lambda manifest, index: "hang"

    def delete_all() -> None:
        cluster.jobs.clear()

    cluster.on_list = delete_all
    run = run_flow(tmp_path, cluster)
    record = task(run, "square", 0).record
    assert record.exit_reason == "lost" and "disappeared" in record.error


def _compute(tmp_path: Path, cluster: ReplayCluster, **options):
    path = write_project(tmp_path / "project", cluster, python=sys.executable, **options)
    stack = Stack.load("k8s", cwd=path.parent, env={})
    return stack, stack.compute_for("k8s")


def test_cancel_deletes_unfinished_jobs_with_background_propagation(tmp_path, cluster) -> None:
    cluster.behaviour = lambda manifest, index: "hang" if manifest["spec"]["completions"] == 2 else "crash"
    stack, compute = _compute(tmp_path, cluster)
    compute.start(SimpleNamespace(artifacts=stack.artifacts, flow=None))
    spec = dict(run_id="20261127T044315123-a1b2c3", flow="squares", step="square", attempt=1,
                datastore_url=stack.datastore.url)
    for index in (0, 1, 5):  # two ranges: 0-1 (hangs) and 5 (finishes)
        compute.submit(TaskSpec(index=index, **spec))
    outcomes = []
    for _ in range(200):
        outcomes += compute.poll(0.05)
        if outcomes:
            break
    assert [o.index for o in outcomes] == [5] and compute.running() == 2
    compute.shutdown(cancel=True)
    stack.close()
    deletes = cluster.calls("DELETE", JOBS)
    hanging = next(j for j in cluster.created if j["spec"]["completions"] == 2)["metadata"]["name"]
    assert [r.path for r in deletes] == [f"{JOBS}/{hanging}"]
    assert deletes[0].query["propagationPolicy"] == ["Background"]
    assert hanging not in cluster.jobs


def test_check_reaches_the_cluster_and_reviews_the_permission(tmp_path, cluster) -> None:
    stack, compute = _compute(tmp_path, cluster)
    summary = compute.check()
    assert "namespace ml: may create Jobs" in summary
    review = cluster.calls("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")[0]
    assert review.body["spec"]["resourceAttributes"] == {
        "namespace": NS, "verb": "create", "resource": "jobs", "group": "batch"}
    cluster.allowed = False
    with pytest.raises(BackendUnreachableError, match="may not create Jobs in namespace ml"):
        compute.check()
    cluster.list_errors = ["status_403"]
    with pytest.raises(BackendUnreachableError, match="403 Forbidden"):
        compute.check()
    stack.close()


def test_an_unreadable_kubeconfig_is_a_config_error(tmp_path, cluster) -> None:
    from lamina.errors import ConfigError

    stack, compute = _compute(tmp_path, cluster, kubeconfig=str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="cannot load the cluster configuration"):
        compute.check()
    stack.close()
