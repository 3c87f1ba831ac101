"""The ``dask`` component in a stack: `lamina stack check`, option validation, a
datastore the workers cannot share, and the LocalCluster the plugin starts itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dask_util import load_flow, load_stack, make_project
from envs_util import free_port

from lamina.errors import BackendUnreachableError, ConfigError


def stack_check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    return subprocess.run(
        [sys.executable, "-m", "lamina", "stack", "check"], cwd=root, env=env,
        capture_output=True, text=True, timeout=120,
    )


def test_stack_check_reports_workers_and_threads(dask_cluster, tmp_path) -> None:
    root = make_project(tmp_path / "p", dask_cluster.address)
    proc = stack_check(root)
    out = proc.stdout + proc.stderr
    assert f"dask scheduler {dask_cluster.address}: 2 workers, 2 threads" in out, out
    assert "GPU=1" in out  # the resources the workers offer
    line = next(line for line in out.splitlines() if "dask scheduler" in line)
    assert line.strip().startswith("ok")


def test_stack_check_names_an_unreachable_scheduler_and_the_fix(tmp_path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    root = make_project(
        tmp_path / "p", address,
        compute=f'{{ plugin = "dask", address = "{address}", connect_timeout = 1.0 }}',
    )
    proc = stack_check(root)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"cannot reach the Dask scheduler at {address}" in out, out
    assert "dask scheduler" in out and "dask worker" in out  # how to start one
    with load_stack(root) as stack, pytest.raises(BackendUnreachableError):
        stack.compute.check()


def test_a_run_on_an_unreachable_scheduler_fails_before_any_task(tmp_path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    root = make_project(
        tmp_path / "p", address, flows=("dask_flaky.py",),
        compute=f'{{ plugin = "dask", address = "{address}", connect_timeout = 1.0 }}',
    )
    flow = load_flow(root / "dask_flaky.py")
    with load_stack(root) as stack, pytest.raises(BackendUnreachableError) as info:
        flow.run(stack=stack)
    assert address in str(info.value)


def test_options_are_validated_with_the_key(tmp_path) -> None:
    root = make_project(tmp_path / "p", "", compute='{ plugin = "dask", address = "scheduler:8786" }')
    with pytest.raises(ConfigError) as info:
        load_stack(root)
    assert "address" in str(info.value) and "tcp://" in str(info.value)
    root = make_project(tmp_path / "q", "", compute='{ plugin = "dask", resources = { disk = "DISK" } }')
    with pytest.raises(ConfigError) as info:
        load_stack(root)
    assert "disk" in str(info.value)


def test_a_datastore_in_memory_cannot_be_shared_with_workers(tmp_path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "lamina.toml").write_text(
        '[stacks.dask]\ndatastore = "memory://lamina-test"\ncompute = { plugin = "dask" }\n'
    )
    with load_stack(root) as stack:
        problems = stack.validate()
    assert any("memory://lamina-test" in p and "compute 'dask'" in p for p in problems)


@pytest.mark.slow
def test_a_local_cluster_is_started_and_closed_with_the_run(tmp_path) -> None:
    import psutil

    root = make_project(
        tmp_path / "p", "", flows=("dask_slow.py",),
        compute='{ plugin = "dask", n_workers = 2 }',
    )
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    flow = load_flow(root / "dask_slow.py")
    with load_stack(root) as stack:
        run = flow.run(stack=stack, n=6, delay=0.0)
        pids = {pid for _, pid in run["work"].value}
    assert run["total"].value == sum(i * 3 for i in range(6))
    assert os.getpid() not in pids and pids  # ran in the cluster's worker processes
    left = {p.pid for p in me.children(recursive=True) if p.is_running()} - before
    assert not (left & pids)
    assert not any(psutil.pid_exists(pid) for pid in pids)
