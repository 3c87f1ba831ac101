"""A Dask worker process runs several lamina tasks at once (one per thread): task state
lives in contextvars, so each task sees its own ``current``, metrics and captured output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dask_util import BIN, DaskCluster, load_flow, load_stack, make_project
from envs_util import running, wait_for_port


class TwoThreadCluster(DaskCluster):
    """A scheduler and ONE worker process with two threads."""

    def start(self) -> None:
        self.scheduler = self._spawn("scheduler", [
            str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard",
        ])
        wait_for_port(self.port, timeout=120, process=self.scheduler)
        self.add_worker("threads2", nthreads=2)
        self.wait_for_workers(1)


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    with running(TwoThreadCluster(tmp_path_factory.mktemp("dask-2-threads"))) as cluster:
        yield cluster


def test_two_tasks_run_at_once_in_one_worker_process(two_threads, tmp_path) -> None:
    root = make_project(tmp_path / "p", two_threads.address, flows=("dask_together.py",))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    flow = load_flow(root / "dask_together.py")
    with load_stack(root) as stack:
        run = flow.run(stack=stack, barrier=str(barrier), lines=40)
    assert run.status == "succeeded"
    tasks = sorted(run["meet"].tasks, key=lambda t: t.index)
    results = [t.value for t in tasks]
    (worker_pid,) = two_threads.worker_pids().values()
    # one process ran both, and they overlapped in time (each waited for the other)
    assert {r["pid"] for r in results} == {worker_pid}
    a, b = results
    assert a["started"] < b["finished"] and b["started"] < a["finished"]
    # each saw its own task in `current`, all along
    for index, (task, result) in enumerate(zip(tasks, results, strict=True)):
        assert result["name"] == "ab"[index]
        assert (result["run"], result["step"], result["index"]) == (run.id, "meet", index)
        assert result["attempt"] == 1 and result["consistent"]
        assert task.record.metrics == {"index_seen": float(index)}
    # and its own captured output, nothing of the other's
    for name, task in zip("ab", tasks, strict=True):
        other = "b" if name == "a" else "a"
        assert task.stdout.splitlines() == [f"{name} line {i}" for i in range(40)]
        assert task.stderr == f"{name} met {other}\n"
