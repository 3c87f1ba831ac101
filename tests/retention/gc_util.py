"""Shared by the retention tests: a project whose flow writes new and shared objects, its
stack, and the check that every run still shows, loads every artifact and its logs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

FLOW = '''
import os
import time

from lamina import Flow

flow = Flow("gcflow")


@flow.step
def shared() -> bytes:
    return b"s" * 5000  # the same bytes in every run: one object, shared by hash


@flow.step
def parts(n: int = 4) -> list[int]:
    return list(range(n))


@flow.step(foreach="parts")
def work(parts: int, shared: bytes, tag: str = "a", pause: float = 0.0, flag: str = "") -> tuple:
    if flag and os.path.exists(flag) and parts == 1:
        raise ValueError("broken while the flag exists")
    time.sleep(pause)
    print("work", parts, tag)
    if parts % 2:  # the same bytes in every run: shared by hash
        return b"k" * 3000 + bytes([parts % 256])
    return f"{tag}-{parts}-{len(shared)}"  # new bytes


@flow.step
def total(work: list) -> int:
    return len(work)
'''


def write_project(root: Path, retention: str = "", datastore: str = '".lamina"') -> Path:
    """A project with ``flow.py`` and a ``local`` stack with this retention table."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flow.py").write_text(FLOW)
    (root / "lamina.toml").write_text(
        f'default_stack = "local"\n[stacks.local]\ndatastore = {datastore}\n'
        f"[stacks.local.retention]\n{textwrap.dedent(retention)}\n"
    )
    return root


def stack_of(root: Path) -> Any:
    from lamina.stack import Stack

    return Stack.load(cwd=root, env={})


def flow_of(root: Path) -> Any:
    from lamina.flow.loader import load_flow_file

    return load_flow_file(root / "flow.py")


def age_objects(root: Path, seconds: float) -> int:
    """Set every object's mtime ``seconds`` into the past (as if written that long ago)."""
    when = time.time() - seconds
    count = 0
    for folder, _, files in os.walk(root / ".lamina" / "objects"):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when))
            count += 1
    return count


def check_run_loads(run: Any) -> int:
    """Every task of ``run``: its value and its logs load (objects verified). Returns how
    many values were loaded."""
    loaded = 0
    for task in run.tasks():
        if task.status in ("succeeded", "reused"):
            task.value  # noqa: B018  # loads and verifies the object
            loaded += 1
        task.stdout  # noqa: B018
    return loaded


def check_all_load(stack: Any) -> list[str]:
    """Every run the metadata store lists (every namespace) loads; returns their ids."""
    from lamina import Client

    client = Client(stack, namespace=None)
    ids = []
    for run in client.runs(limit=None):
        check_run_loads(run)
        ids.append(run.id)
    return ids


def lamina(root: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def bulk_runs(stack: Any, count: int, *, flow: str = "bulk", objects_per_run: int = 1,
              days_ago: float = 400.0) -> list[str]:
    """``count`` finished runs written straight through the store APIs (a run record, a
    manifest and one task record naming ``objects_per_run`` objects of their own)."""
    import json

    from lamina.records import RunRecord
    from lamina.versioning.ids import new_run_id

    made = []
    started = time.time() - days_ago * 86400
    for i in range(count):
        run_id = new_run_id()
        keys = [stack.artifacts.put_bytes(f"{run_id} object {j}".encode())
                for j in range(objects_per_run)]
        stack.datastore.put_record(f"runs/{run_id}/run.json",
                                   json.dumps({"run_id": run_id, "flow": flow}).encode())
        stack.datastore.put_record(f"runs/{run_id}/tasks/s/0.json",
                                   json.dumps({"output": {"key": keys[0]}, "more": keys}).encode())
        stack.metadata.create_run(RunRecord(run_id=run_id, flow=flow, status="running",
                                            started_at=started + i, user="bulk"))
        stack.metadata.finish_run(run_id, status="succeeded", finished_at=started + i + 1)
        made.append(run_id)
    return made
