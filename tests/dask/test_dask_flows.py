"""Flows run through a real Dask cluster (scheduler and workers as separate processes)
give the results the local runtime gives, with logs, tracebacks and retries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dask_util import load_flow, load_stack, make_project, outputs

from lamina.errors import RunFailedError

REPO = Path(__file__).resolve().parents[2]


def run_both(root: Path, flow_file: str, **params):
    """The same flow on the local compute and on Dask; both finished runs."""
    flow = load_flow(root / flow_file)
    runs = {}
    for name in ("local", "dask"):
        with load_stack(root, name) as stack:
            run = flow.run(stack=stack, **params)
            runs[name] = (run, {s: outputs(run, s) for s in run.steps})
    return runs


@pytest.mark.slow
def test_a_1000_task_foreach_on_dask_equals_the_local_run(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_wide.py",))
    runs = run_both(root, "dask_wide.py", n=1000)
    _, local_out = runs["local"]
    dask_run, dask_out = runs["dask"]
    assert dask_run.status == "succeeded"
    assert len(dask_out["work"]) == 1000
    assert dask_out == local_out  # every task's result, byte for byte (content hashes)
    assert dask_run["total"].value == sum(i * i for i in range(1000))
    # the tasks really ran in the Dask workers, not here
    worker_pids = set(dask_cluster.worker_pids().values())
    assert {_pid(dask_run, "work", i) for i in (0, 500, 999)} <= worker_pids


def _pid(run, step: str, index: int) -> int:
    """The pid recorded in a task's outcome record in the datastore."""
    import json

    root = Path(run.record.datastore_url.removeprefix("file://"))
    data = json.loads((root / "runs" / run.id / "tasks" / step / f"{index}.json").read_text())
    return int(data["pid"])


@pytest.mark.slow
def test_the_quickstart_flow_on_dask_equals_the_local_run(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address)
    (root / "flow.py").write_bytes((REPO / "examples" / "quickstart" / "flow.py").read_bytes())
    runs = run_both(root, "flow.py")
    local_run, local_out = runs["local"]
    dask_run, dask_out = runs["dask"]
    assert dask_run.status == "succeeded"
    assert dask_out["dataset"] == local_out["dataset"]
    assert dask_out["candidates"] == local_out["candidates"]
    local_scores = [(t.value["candidate"], t.value["accuracy"]) for t in local_run["train"].tasks]
    dask_scores = [(t.value["candidate"], t.value["accuracy"]) for t in dask_run["train"].tasks]
    assert dask_scores == local_scores
    assert dask_run["best"].value["candidate"] == local_run["best"].value["candidate"]
    assert dask_run["best"].task.metrics == local_run["best"].task.metrics
    # what a step printed on a worker is in its task's log
    assert "training rows" in dask_run["dataset"].task.stdout


def test_a_failing_step_reports_its_traceback_and_logs(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_fail.py",))
    flow = load_flow(root / "dask_fail.py")
    with load_stack(root) as stack, pytest.raises(RunFailedError) as info:
        flow.run(stack=stack)
    run = info.value.run
    assert run.status == "failed"
    failed = run.failed_tasks()
    assert [(t.step, t.index) for t in failed] == [("work", 1)]
    record = failed[0].record
    assert record.error == "ValueError: element 2 is broken"
    assert record.exit_reason == "exception"
    line = _line_of(root / "dask_fail.py", "raise ValueError")
    assert record.location.endswith(f"dask_fail.py:{line}")  # the raise in the user's code
    assert 'raise ValueError(f"element {value} is broken")' in record.traceback
    assert "in check" in record.traceback and "in work" in record.traceback
    assert "working on 2" in failed[0].stdout
    # the CLI shows the same log
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "logs", f"{run.id}/work/1"], cwd=root,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "working on 2" in proc.stdout
    assert "ValueError: element 2 is broken" in proc.stdout


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_retries_run_the_next_attempt_on_dask(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_flaky.py",))
    flow = load_flow(root / "dask_flaky.py")
    with load_stack(root) as stack:
        run = flow.run(stack=stack)
        assert run.status == "succeeded"
        assert run["work"].value == [(1, 2), (2, 2)]
        assert [t.record.attempt for t in run["work"].tasks] == [2, 2]


def test_one_step_on_dask_the_others_local(dask_cluster, tmp_path) -> None:
    # the stack's compute is local; only the step marked compute="dask" goes to the cluster
    extra = f'\n[stacks.local.compute_overrides.dask]\naddress = "{dask_cluster.address}"\n'
    root = make_project(tmp_path / "p", dask_cluster.address, flows=("dask_mixed.py",),
                        extra=extra)
    flow = load_flow(root / "dask_mixed.py")
    with load_stack(root, "local") as stack:
        run = flow.run(stack=stack)
    values, gather_pid = run["gather"].value
    assert values == [101, 102, 103, 104]
    worker_pids = set(dask_cluster.worker_pids().values())
    assert {pid for _, pid in run["remote"].value} <= worker_pids
    assert gather_pid not in worker_pids
