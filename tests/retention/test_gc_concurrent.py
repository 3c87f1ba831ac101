"""gc is safe while flows run, while another gc runs, and when it is killed mid-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gc_util import age_objects, bulk_runs, check_all_load, check_run_loads, flow_of, stack_of
from gc_util import write_project as make_project

from lamina import Client
from lamina.retention import collect

NOTHING_BY_AGE = """
keep_last = 0
keep_last_per_branch = 0
keep_newer_than = ""
grace = "30s"
"""


def _blob(data: bytes) -> tuple[str, bytes]:
    from lamina.datastore.hashing import bytes_digest

    return bytes_digest(data), data


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1")
    return env


def test_a_flow_running_during_gc_finishes_and_every_artifact_loads(tmp_path: Path) -> None:
    """The old run goes, so its objects are garbage; the new run writes the same bytes
    again (shared by hash: nothing is written, the object is only touched) while a gc is
    between its mark and its sweep, and more gcs run back to back: nothing the new run
    uses may go."""
    root = make_project(tmp_path / "p", NOTHING_BY_AGE)
    stack, flow = stack_of(root), flow_of(root)
    old = flow.run(stack=stack, n=40, tag="old")
    assert age_objects(root, 3600) > 40  # every object old: garbage unless used again
    live = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", "flow.py", "--set", "n=40", "--set",
         "pause=0.1", "--set", "tag=live", "--tag", "keep"],
        cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not any("/tasks/work/" in k for k, _, _ in stack.datastore.scan("runs")
                  if not k.startswith(f"runs/{old.id}/")):
        assert live.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)

    def slow(line: str) -> None:  # a big store: time passes between marking and sweeping
        if line.startswith("sweeping"):
            time.sleep(1.5)

    first = collect(stack_of(root), progress=slow)  # the work tasks save old bytes meanwhile
    assert [r[0] for r in first.runs_deleted] == [old.id] and first.objects_deleted > 0
    collections = 1
    while live.poll() is None:
        collect(stack_of(root))
        collections += 1
    out = live.stdout.read() if live.stdout else ""
    assert live.returncode == 0, out
    assert collections >= 2
    (new,) = Client(stack, namespace=None).runs("gcflow")
    assert new.status == "succeeded"
    assert check_run_loads(new) == 1 + 1 + 40 + 1
    assert collect(stack_of(root)).runs_deleted == [], "tagged keep once finished"
    check_run_loads(Client(stack, namespace=None).run(new.id))


def test_two_gcs_at_once(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", """
        keep_last = 2
        keep_last_per_branch = 0
        keep_newer_than = ""
        grace = "1h"
    """)
    stack, flow = stack_of(root), flow_of(root)
    runs = [flow.run(stack=stack, tag=f"r{i}") for i in range(5)]
    bulk = bulk_runs(stack, 600, objects_per_run=5)  # enough for the two to overlap
    age_objects(root, 2 * 3600)
    gcs = [subprocess.Popen([sys.executable, "-m", "lamina", "gc"], cwd=root, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(2)]
    for proc in gcs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "kept 4 of" in out, "the last 2 runs of each flow"
    assert sorted(check_all_load(stack)) == sorted([*(r.id for r in runs[-2:]), *bulk[-2:]])
    again = collect(stack)
    assert (again.runs_deleted, again.objects_deleted) == ([], 0), (
        "between them, the two gcs deleted everything")


def test_a_gc_killed_mid_way_leaves_every_kept_run_loadable(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", """
        keep_last = 0
        keep_last_per_branch = 0
        keep_newer_than = ""
        grace = "1h"
    """)
    stack, flow = stack_of(root), flow_of(root)
    kept = [flow.run(stack=stack, tags=["keep"], tag=f"k{i}") for i in range(2)]
    bulk_runs(stack, 600, objects_per_run=8)
    for i in range(30_000):  # garbage nothing points at: a sweep long enough to kill
        stack.datastore.put_blob(*_blob(f"loose object {i}".encode()))
    age_objects(root, 2 * 3600)
    for phase in ("deleting", "sweeping"):
        gc = subprocess.Popen([sys.executable, "-m", "lamina", "gc"], cwd=root, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
        assert gc.stderr is not None
        for line in gc.stderr:
            if f"gc: {phase}" in line:
                time.sleep(0.05)  # let it delete some, then kill it in the middle
                break
        os.killpg(gc.pid, signal.SIGKILL)
        gc.wait(timeout=60)
        assert gc.returncode == -signal.SIGKILL, f"gc finished before the kill in {phase}"
        for run in kept:
            check_run_loads(Client(stack, namespace=None).run(run.id))
    report = collect(stack)  # the next gc finishes the job
    assert report.runs_kept == 2
    assert sorted(check_all_load(stack)) == sorted(r.id for r in kept)
    assert collect(stack).objects_deleted == 0
