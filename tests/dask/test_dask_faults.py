"""What goes wrong on a cluster: a worker killed mid-run, a step that kills its worker,
a timeout, resources no worker has, Ctrl-C. Each leaves a clear record and nothing
running on the cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from dask_util import ALLOWED_FAILURES, load_flow, load_stack, make_project, wait_until
from proc_util import default_sigint

from lamina.errors import RunFailedError


def _task_records(root, run_id_holder: dict) -> int:
    runs = root / "shared" / "runs"
    if not runs.exists():
        return 0
    return sum(1 for _ in runs.glob("*/tasks/work/*.json"))


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_survived(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_slow.py",))
    flow = load_flow(root / "dask_slow.py")
    victim = dask_cluster.worker_pid_by_name()["w1"]
    killed = threading.Event()

    def kill_when_running() -> None:
        # both workers are busy (one thread each, tasks of 0.3 s): w1 is mid-task
        wait_until(lambda: _task_records(root, {}) >= 4, timeout=120)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    with load_stack(root) as stack:
        run = flow.run(stack=stack, n=24)
    killer.join(timeout=5)
    assert killed.is_set()
    assert run.status == "succeeded"
    assert run["total"].value == sum(i * 3 for i in range(24))
    assert [value for value, _ in run["work"].value] == [i * 3 for i in range(24)]
    assert all(t.record.attempt == 1 for t in run["work"].tasks)  # Dask rescheduled, no retry
    # the nanny replaced the killed process; the cluster is whole again for other tests
    dask_cluster.wait_for_workers(2)
    assert victim not in dask_cluster.worker_pids().values()


@pytest.mark.slow
def test_a_step_that_kills_its_worker_fails_with_killed_worker(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_crash.py",))
    flow = load_flow(root / "dask_crash.py")
    with load_stack(root) as stack, pytest.raises(RunFailedError) as info:
        flow.run(stack=stack)
    record = info.value.run["crash"].task.record
    assert record.status == "failed"
    assert record.exit_reason == "killed"
    assert record.error_type == "KilledWorker"
    assert f"died {ALLOWED_FAILURES + 1} times" in record.error
    assert record.location == flow.steps["crash"].where  # the step, for a crash
    dask_cluster.wait_for_workers(2)
    wait_until(lambda: not dask_cluster.lamina_keys(), timeout=30)


@pytest.mark.slow
def test_a_task_past_its_timeout_is_stopped(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_timeout.py",))
    flow = load_flow(root / "dask_timeout.py")
    before = set(dask_cluster.worker_pids().values())
    with load_stack(root) as stack, pytest.raises(RunFailedError) as info:
        flow.run(stack=stack)
    record = info.value.run["sleepy"].task.record
    assert record.exit_reason == "timeout"
    assert record.error_type == "TaskTimeout"
    assert "timeout of 1.5 s" in record.error and "stopped" in record.error
    assert record.finished_at - record.started_at < 60  # not the step's 120 s
    # the worker that ran it was restarted, so the step is not still sleeping somewhere
    dask_cluster.wait_for_workers(2)
    after = set(dask_cluster.worker_pids().values())
    assert len(before - after) == 1
    assert not dask_cluster.lamina_keys()


def test_resources_pick_the_worker_that_has_them(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_gpu.py",))
    flow = load_flow(root / "dask_gpu.py")
    with load_stack(root) as stack:
        run = flow.run(stack=stack)
    gpu_worker = dask_cluster.worker_pid_by_name()["w2"]  # started with --resources GPU=1
    assert run["on_gpu_too"].value == (gpu_worker, gpu_worker)


def test_resources_no_worker_has_fail_at_once_with_the_fix(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_gpu_many.py",))
    flow = load_flow(root / "dask_gpu_many.py")
    with load_stack(root) as stack, pytest.raises(RunFailedError) as info:
        flow.run(stack=stack)
    record = info.value.run["greedy"].task.record
    assert record.exit_reason == "resources"
    assert "no worker of the Dask cluster" in record.error
    assert '--resources "GPU=8"' in record.error


@pytest.mark.slow
def test_ctrl_c_cancels_every_future(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_slow.py",))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", "dask_slow.py", "--set", "n=200",
         "--set", "delay=0.5"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=default_sigint,
    )
    try:
        wait_until(lambda: _task_records(root, {}) >= 2, timeout=120)
        assert dask_cluster.lamina_keys()  # the foreach is on the cluster
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "interrupted" in out
    # what was queued is gone at once; a task already running ends within its 0.5 s
    wait_until(lambda: not dask_cluster.lamina_keys(), timeout=30)
    assert _task_records(root, {}) < 200


def test_an_engine_failure_of_a_task_recorded_as_succeeded_yields_the_success(tmp_path) -> None:
    """A worker records a task's success and dies before Dask hands the result over; Dask
    runs the task again, and the rerun refuses (the record is final). What the compute
    then queues for the scheduler is the recorded success, not a failure, and the record
    is left as it was."""
    from types import SimpleNamespace

    from client_util import copy_flow, load, project_stack
    from lamina_compute_dask.compute import DaskCompute
    from lamina_compute_dask.plugin import DaskComputeOptions

    from lamina.records import TaskSpec

    root = tmp_path / "project"
    stack = project_stack(root)
    try:
        flow = load(copy_flow("client_numbers.py", root))
        run = flow.run(stack=stack, n=2)
        record = root / ".lamina" / "runs" / run.id / "tasks" / "square" / "1.json"
        before = record.read_bytes()
        compute = DaskCompute(DaskComputeOptions())  # never started: no cluster
        compute._ctx = SimpleNamespace(flow=flow, artifacts=stack.artifacts)
        spec = TaskSpec(run_id=run.id, flow=flow.name, step="square", index=1, attempt=1,
                        datastore_url=run.record.datastore_url)
        outcome = compute._fail(spec, "worker-error", "ImmutableRunError",
                                "the task could not run on its Dask worker: already succeeded")
        assert outcome.status == "succeeded"
        assert outcome.output == run["square"][1].ref
        assert compute._ready == [outcome]
        assert record.read_bytes() == before
    finally:
        stack.close()
