"""Pods that never start: a wrong image or a missing Secret fails the task after
``start_timeout`` with the kubelet's message and the fix, and the Job is deleted; an
unschedulable pod is reported, and fails its task after ``schedule_timeout`` or the step's
timeout if either is set; the pods are listed at most once per interval. Against
the replay cluster of k8s_util, whose Pending pods come from fixtures/pod_*.json."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from k8s_util import ReplayCluster, write_project
from lamina_compute_k8s.compute import pod_check_interval
from lamina_compute_k8s.pending import stuck_container

from lamina.errors import ConfigError
from lamina.flow.loader import load_flow_file
from lamina.records import TaskSpec
from lamina.runtime.task import read_outcome
from lamina.stack import Stack

NS = "ml"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
PODS = f"/api/v1/namespaces/{NS}/pods"
RUN = "20261127T044315123-a1b2c3"
IMAGE = "registry.example/ml:2026-11"


@pytest.fixture
def cluster(tmp_path: Path):
    pods = tmp_path / "pods"
    pods.mkdir()
    with ReplayCluster(NS, workdir=pods) as replay:
        yield replay


@pytest.fixture
def warnings():
    """The k8s compute's log records, whatever logging setup an earlier test left."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("lamina.compute.k8s")
    handler, level = Collect(logging.WARNING), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


class Session:
    """A started k8s compute of a project on the replay cluster, fed TaskSpecs directly."""

    def __init__(self, tmp_path: Path, cluster: ReplayCluster, **options) -> None:
        path = write_project(tmp_path / "project", cluster, python=sys.executable, **options)
        self.stack = Stack.load("k8s", cwd=path.parent, env={})
        self.compute = self.stack.compute_for("k8s")
        self.compute.start(SimpleNamespace(artifacts=self.stack.artifacts, flow=None))

    def submit(self, *indexes: int, timeout: float | None = None) -> None:
        for index in indexes:
            self.compute.submit(TaskSpec(
                run_id=RUN, flow="squares", step="square", index=index, attempt=1,
                datastore_url=self.stack.datastore.url, timeout=timeout,
            ))

    def poll_until(self, count: int, limit: float = 30.0) -> list:
        outcomes: list = []
        deadline = time.monotonic() + limit
        while len(outcomes) < count and time.monotonic() < deadline:
            outcomes += self.compute.poll(0.05)
        return outcomes

    def poll_for(self, seconds: float) -> list:
        outcomes: list = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            outcomes += self.compute.poll(0.05)
        return outcomes

    def close(self, cancel: bool = True) -> None:
        self.compute.shutdown(cancel=cancel)
        self.stack.close()


def job_of(cluster: ReplayCluster, completions: int) -> str:
    return next(j for j in cluster.created if j["spec"]["completions"] == completions)["metadata"]["name"]


def test_an_image_that_cannot_be_pulled_fails_its_task_with_the_fix(tmp_path, cluster) -> None:
    # two Jobs: tasks 0-1 run (hang), task 5's image cannot be pulled
    cluster.behaviour = lambda m, i: "hang" if m["spec"]["completions"] == 2 else "image-pull"
    session = Session(tmp_path, cluster, start_timeout=0.5)
    started = time.monotonic()
    session.submit(0, 1, 5)
    outcomes = session.poll_until(1)
    elapsed = time.monotonic() - started
    try:
        assert [o.index for o in outcomes] == [5]
        assert elapsed >= 0.5  # not before the grace
        stuck, running = job_of(cluster, 1), job_of(cluster, 2)
        out = outcomes[0]
        assert out.status == "failed" and out.exit_reason == "engine"
        assert out.error_type == "EngineFailure"
        assert f"pod {stuck}-0-x7k2p of task {RUN}/square/5 cannot start: ErrImagePull: " in out.error
        assert f'failed to pull and unpack image "{IMAGE}"' in out.error and "not found" in out.error
        assert f"image {IMAGE}" in out.error
        assert "fix: check the image name and tag" in out.error and "image_pull_secrets" in out.error
        assert read_outcome(session.stack.artifacts, RUN, "square", 5)["exit_reason"] == "engine"
        # the stuck Job is deleted, the other one keeps running untouched
        assert [r.path for r in cluster.calls("DELETE", JOBS)] == [f"{JOBS}/{stuck}"]
        assert stuck not in cluster.jobs and running in cluster.jobs
        assert session.compute.running() == 2
        assert all(r.query["labelSelector"] == [f"job-name={stuck}"] for r in cluster.calls("GET", PODS))
    finally:
        session.close()
    assert [r.path for r in cluster.calls("DELETE", JOBS)][-1] == f"{JOBS}/{running}"


def test_a_missing_secret_fails_its_task_and_the_job_goes_once_all_are_settled(tmp_path, cluster) -> None:
    # one Job: index 0 crashes, index 1 waits for a Secret that does not exist
    cluster.behaviour = lambda m, i: "crash" if i == 0 else "config-error"
    session = Session(tmp_path, cluster, start_timeout=0.3)
    session.submit(3, 4)
    try:
        outcomes = {o.index: o for o in session.poll_until(2)}
        assert set(outcomes) == {3, 4}
        assert outcomes[3].exit_reason == "exit"
        config = outcomes[4]
        assert config.exit_reason == "engine"
        assert 'CreateContainerConfigError: secret "lamina-datastore" not found' in config.error
        assert "env_from_secrets" in config.error and "kubectl -n ml get secrets" in config.error
        name = cluster.created[0]["metadata"]["name"]
        assert [r.path for r in cluster.calls("DELETE", JOBS)] == [f"{JOBS}/{name}"]
        assert cluster.calls("DELETE", JOBS)[0].query["propagationPolicy"] == ["Background"]
        assert session.compute.running() == 0
    finally:
        session.close()


def test_a_refused_pod_listing_is_reported_and_the_watch_goes_on(tmp_path, cluster, warnings) -> None:
    cluster.behaviour = lambda m, i: "image-pull"
    cluster.pod_list_errors = ["status_403"]
    session = Session(tmp_path, cluster, start_timeout=0.3)
    session.submit(0)
    try:
        outcomes = session.poll_until(1)
        assert [o.exit_reason for o in outcomes] == ["engine"]
        texts = [r.getMessage() for r in warnings if "could not be listed" in r.getMessage()]
        assert len(texts) == 1 and "403 Forbidden" in texts[0] and "pods" in texts[0]
    finally:
        session.close()


def test_start_timeout_zero_keeps_waiting_without_listing_pods(tmp_path, cluster) -> None:
    cluster.behaviour = lambda m, i: "image-pull"
    session = Session(tmp_path, cluster, start_timeout=0)
    session.submit(0)
    try:
        assert session.poll_for(1.0) == []
        assert session.compute.running() == 1
        assert len(cluster.calls("GET", JOBS)) >= 2  # it did watch
        assert not cluster.calls("GET", PODS) and not cluster.calls("DELETE")
    finally:
        session.close()  # the user's Ctrl-C: the waiting Job is deleted
    assert len(cluster.calls("DELETE", JOBS)) == 1


def test_an_unschedulable_pod_waits_and_is_reported_once(tmp_path, cluster, warnings) -> None:
    # index 0 waits for a GPU node, index 1 is still being created: neither is fatal
    cluster.behaviour = lambda m, i: "unschedulable" if i == 0 else "creating"
    session = Session(tmp_path, cluster, start_timeout=0.2)
    session.submit(0, 1)
    try:
        assert session.poll_for(1.5) == []
        assert session.compute.running() == 2
        assert not cluster.calls("DELETE")
        assert len(cluster.calls("GET", PODS)) >= 2  # looked more than once ...
        texts = [r.getMessage() for r in warnings]
        reported = [t for t in texts if "cannot be scheduled" in t]
        assert len(reported) == 1, texts  # ... and said it once
        assert "0/3 nodes are available: 3 Insufficient nvidia.com/gpu" in reported[0]
        assert cluster.created[0]["metadata"]["name"] in reported[0]
    finally:
        session.close()


def test_an_unschedulable_pod_fails_after_schedule_timeout(tmp_path, cluster, warnings) -> None:
    cluster.behaviour = lambda m, i: "unschedulable"
    session = Session(tmp_path, cluster, start_timeout=0, schedule_timeout=0.4)
    started = time.monotonic()
    session.submit(2)
    try:
        outcomes = session.poll_until(1)
        elapsed = time.monotonic() - started
        assert [o.index for o in outcomes] == [2]
        assert elapsed >= 0.4  # not before the grace
        out = outcomes[0]
        name = cluster.created[0]["metadata"]["name"]
        assert out.status == "failed" and out.exit_reason == "engine"
        assert f"task {RUN}/square/2 found no node within 0.4 s (schedule_timeout): " in out.error
        assert "0/3 nodes are available: 3 Insufficient nvidia.com/gpu" in out.error
        assert "fix: lower the step's cpu/memory/gpu" in out.error
        assert [r.path for r in cluster.calls("DELETE", JOBS)] == [f"{JOBS}/{name}"]
        reported = [r.getMessage() for r in warnings if "cannot be scheduled" in r.getMessage()]
        assert len(reported) == 1 and "for up to 0.4 s" in reported[0]
    finally:
        session.close()


def test_the_steps_timeout_bounds_the_wait_for_a_node(tmp_path, cluster) -> None:
    # activeDeadlineSeconds only counts once a node took the pod: lamina counts before
    cluster.behaviour = lambda m, i: "unschedulable" if i == 0 else "hang"
    session = Session(tmp_path, cluster, start_timeout=0)
    session.submit(0, timeout=0.4)
    session.submit(1)  # no timeout: waits on
    try:
        outcomes = session.poll_until(1)
        assert [(o.index, o.exit_reason) for o in outcomes] == [(0, "timeout")]
        assert "found no node within 0.4 s (the step's timeout)" in outcomes[0].error
        assert session.poll_for(0.6) == [] and session.compute.running() == 1
    finally:
        session.close()


def test_pods_are_listed_at_most_once_per_interval(tmp_path, cluster) -> None:
    cluster.behaviour = lambda m, i: "unschedulable"
    session = Session(tmp_path, cluster, start_timeout=2)
    interval = pod_check_interval(session.compute.options)
    assert interval == 0.5  # a quarter of the grace, above poll_interval (0.05)
    started = time.monotonic()
    session.submit(0)
    try:
        session.poll_for(1.6)
        elapsed = time.monotonic() - started
        lists = cluster.calls("GET", PODS)
        assert 1 <= len(lists) <= elapsed / interval + 1
        assert len(cluster.calls("GET", JOBS)) > 2 * len(lists)  # not on every status read
    finally:
        session.close()
    # the default: 120 s of grace, pods listed at most every 10 s
    from lamina_compute_k8s.plugin import K8sComputeOptions

    assert pod_check_interval(K8sComputeOptions(image=IMAGE)) == 10.0
    # the shorter of the two graces sets the pace
    assert pod_check_interval(K8sComputeOptions(image=IMAGE, schedule_timeout=8)) == 2.0
    assert pod_check_interval(K8sComputeOptions(image=IMAGE, start_timeout=0)) == 10.0


def test_a_run_whose_image_cannot_be_pulled_fails_with_the_fix(tmp_path, cluster) -> None:
    import kubernetes_validate

    cluster.behaviour = lambda m, i: "image-pull"
    path = write_project(tmp_path / "project", cluster, python=sys.executable, start_timeout=0.3)
    stack = Stack.load("k8s", cwd=path.parent, env={})
    try:
        run = load_flow_file(path).run(stack=stack, raise_on_failure=False)
    finally:
        stack.close()
    assert run.status == "failed"
    for task in run["square"].tasks:
        record = task.record
        assert record.exit_reason == "engine" and "cannot start: ErrImagePull" in record.error
        assert "fix: check the image name and tag" in record.error
    assert len(cluster.calls("DELETE", JOBS)) == 1
    for manifest in cluster.created:
        kubernetes_validate.validate(manifest, "1.31.0", strict=True)


def test_an_init_container_with_a_bad_image_name_is_found() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "fetch", "image": "Bad Image"}],
                 "containers": [{"name": "task", "image": IMAGE}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "fetch", "state": {"waiting": {
                "reason": "InvalidImageName", "message": 'couldn\'t parse image name "Bad Image"'}}}],
            "containerStatuses": [{"name": "task", "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }
    stuck = stuck_container(pod)
    assert stuck is not None and stuck.init and stuck.image == "Bad Image"
    assert stuck.reason == "InvalidImageName" and "registry/repository:tag" in stuck.fix(NS)
    pod["status"]["initContainerStatuses"] = []
    assert stuck_container(pod) is None  # PodInitializing is transient
    pod["status"]["phase"] = "Running"
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ErrImagePull"}}
    assert stuck_container(pod) is None  # only Pending pods


@pytest.mark.parametrize("option", ["start_timeout", "schedule_timeout"])
def test_the_timeouts_are_validated(tmp_path, cluster, option) -> None:
    path = write_project(tmp_path / "project", cluster, **{option: -1})
    with pytest.raises(ConfigError, match=f"{option} must be >= 0"):
        Stack.load("k8s", cwd=path.parent, env={}).compute_for("k8s")
