"""A team on one server: 8 processes on 2 "hosts" (each its own project folder, datastore
and host name) run a real flow 50 times each, as 2 users, all at once against one
PostgreSQL metadata store: every run and every task is recorded once, none is lost, the
ids are unique and each run carries its user and host."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from lamina_metadata_postgres.store import PostgresMetadataStore

FLOW = Path(__file__).parent / "flows" / "pg_tiny.py"

RUNNER = textwrap.dedent("""
    import socket, sys
    host, runs, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    socket.gethostname = lambda: host       # this process plays a machine of its own
    from lamina.flow.loader import load_flow_file
    from lamina import Stack
    flow = load_flow_file(sys.argv[4])
    stack = Stack.load("team")
    stack.metadata.list_flows()             # connected before the start signal
    sys.stdin.readline()                    # start together
    ids = [flow.run(stack=stack, seed=first + n).id for n in range(runs)]
    print(" ".join(ids))
""")


@pytest.mark.slow
def test_eight_processes_on_two_hosts_run_fifty_flows_each(tmp_path: Path, pg_url: str,
                                                          pg_schema: str) -> None:
    folders = {}
    for host in ("host-a", "host-b"):
        folder = tmp_path / host
        folder.mkdir()
        (folder / "lamina.toml").write_text(
            "[stacks.team]\n"
            'datastore = "file://.lamina"\n'
            'compute = { plugin = "local", workers = 1 }\n'
            'orchestrator = { plugin = "local", progress = "off" }\n'
            f'metadata = {{ plugin = "postgres", url = "{pg_url}", schema = "{pg_schema}" }}\n')
        folders[host] = folder
    runners = []
    for n in range(8):
        host, user = ("host-a", "host-b")[n // 4], ("alice", "bob")[n % 2]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
        env["LAMINA_USER"] = user
        runners.append(subprocess.Popen(
            [sys.executable, "-c", RUNNER, host, "50", str(1000 * n), str(FLOW)],
            cwd=folders[host], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    for runner in runners:
        assert runner.stdin is not None
        runner.stdin.write("go\n")
        runner.stdin.flush()
    launched = []
    for runner in runners:
        out, err = runner.communicate(timeout=280)
        assert runner.returncode == 0, err[-3000:]
        launched.append(out.split())
    written = [run_id for ids in launched for run_id in ids]
    assert len(written) == 400 and len(set(written)) == 400, "run ids must be unique"

    store = PostgresMetadataStore(pg_url, schema=pg_schema)
    runs = store.list_runs()
    assert sorted(r.run_id for r in runs) == sorted(written)  # each once, none lost
    assert {r.status for r in runs} == {"succeeded"}
    assert Counter((r.host, r.user) for r in runs) == {
        ("host-a", "alice"): 100, ("host-a", "bob"): 100,
        ("host-b", "alice"): 100, ("host-b", "bob"): 100,
    }
    seeds = sorted(r.params["seed"] for r in runs)
    assert seeds == sorted(1000 * n + i for n in range(8) for i in range(50))
    for run in runs:
        tasks = store.list_tasks(run.run_id)
        assert [(t.step, t.index, t.status) for t in tasks] == [
            ("items", 0, "succeeded"), ("double", 0, "succeeded"), ("double", 1, "succeeded"),
            ("total", 0, "succeeded")], run.run_id
    store.close()
