"""A real Dask cluster for the tests: a scheduler and workers as separate processes
(``dask scheduler``, ``dask worker``), and projects whose stack runs tasks on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from envs_util import free_port, stop_process, wait_for_port

FLOWS = Path(__file__).with_name("flows")
BIN = Path(sys.executable).parent
#: The scheduler gives up on a task after its worker died this many times + 1.
ALLOWED_FAILURES = 1


def dask_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(ALLOWED_FAILURES)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DaskCluster:
    """``dask scheduler`` on a free loopback port and named ``dask worker`` processes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - kept for the process
        return subprocess.Popen(
            args, cwd=self.workdir, env=dask_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> None:
        self.scheduler = self._spawn("scheduler", [
            str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard",
        ])
        wait_for_port(self.port, timeout=120, process=self.scheduler)
        self.add_worker("w1")
        self.add_worker("w2", resources="GPU=1 MEMORY=4096")
        self.wait_for_workers(2)

    def add_worker(self, name: str, resources: str = "", nthreads: int = 1) -> None:
        args = [
            str(BIN / "dask"), "worker", self.address, "--nworkers", "1",
            "--nthreads", str(nthreads),
            "--no-dashboard", "--name", name, "--host", "127.0.0.1",
        ]
        if resources:
            args += ["--resources", resources]
        self.workers[name] = self._spawn(name, args)

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=timeout)

    def worker_pids(self) -> dict[str, int]:
        """The pid of the process that runs tasks, per worker name (the nanny's child)."""
        with self.client() as client:
            return client.run(os.getpid)  # address -> pid

    def worker_pid_by_name(self) -> dict[str, int]:
        with self.client() as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            pids = client.run(os.getpid)
        return {w["name"]: pids[addr] for addr, w in info.items()}

    def lamina_keys(self) -> list[str]:
        """Keys of lamina tasks the scheduler still holds."""
        with self.client() as client:
            # a lambda, so that it is pickled by value: the scheduler cannot import this file
            keys = client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
        return [k for k in keys if k.startswith("lamina-")]

    def stop(self) -> None:
        for proc in self.workers.values():
            stop_process(proc)
        if self.scheduler is not None:
            stop_process(self.scheduler)


def make_project(root: Path, address: str, *, flows: tuple[str, ...] = (), extra: str = "",
                 compute: str | None = None) -> Path:
    """A project folder whose stack ``dask`` sends tasks to ``address`` (and a stack
    ``local`` on the same datastore folder, to compare with)."""
    root.mkdir(parents=True, exist_ok=True)
    compute = compute or f'{{ plugin = "dask", address = "{address}" }}'
    (root / "lamina.toml").write_text(
        'default_stack = "dask"\n\n'
        "[stacks.dask]\n"
        'datastore = "file://shared"\n'
        f"compute = {compute}\n"
        'metadata = { plugin = "sqlite", path = "shared/metadata.db" }\n\n'
        "[stacks.local]\n"
        'datastore = "file://shared"\n'
        'metadata = { plugin = "sqlite", path = "shared/metadata.db" }\n'
        + extra
    )
    for name in flows:
        shutil.copyfile(FLOWS / name, root / name)
    return root


def load_stack(root: Path, name: str = "dask") -> Any:
    from lamina.stack import Stack

    return Stack.load(name, cwd=root, env={})


def load_flow(path: Path) -> Any:
    from lamina.flow.loader import load_flow_file

    return load_flow_file(path)


def outputs(run: Any, step: str) -> list[str]:
    """The content hashes of a step's task outputs, in index order."""
    return [t.record.output.key for t in sorted(run[step].tasks, key=lambda t: t.index)]


def wait_until(predicate: Any, timeout: float = 60.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise TimeoutError(f"condition not met after {timeout:g} s")
