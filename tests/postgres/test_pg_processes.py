"""Many processes on several hosts writing to one server at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from lamina_metadata_postgres.migrations import SCHEMA_VERSION
from lamina_metadata_postgres.store import PostgresMetadataStore

WRITER = textwrap.dedent("""
    import os, sys, time
    from lamina.sdk import RunRecord, Stack, TaskRecord
    from lamina.versioning.ids import new_run_id

    host, user, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stack = Stack.load("team")              # the lamina.toml of this "host" folder
    store = stack.component("metadata")
    sys.stdin.readline()                    # start together
    ids = []
    for n in range(runs):
        run_id = new_run_id()
        store.create_run(RunRecord(run_id=run_id, flow=f"flow-{n % 3}", status="running",
                                   started_at=time.time(), user=user, host=host,
                                   pid=os.getpid(), steps=("prep", "fit")))
        store.record_tasks([TaskRecord(run_id=run_id, step="prep", index=0,
                                       status="succeeded")])
        store.record_tasks([TaskRecord(run_id=run_id, step="fit", index=i,
                                       status="succeeded", metrics={"i": i})
                            for i in range(8)])
        store.add_tags(run_id, [user, host])
        store.finish_run(run_id, status="succeeded", finished_at=time.time())
        ids.append(run_id)
    print(" ".join(ids))
""")


def test_eight_processes_on_two_hosts_write_fifty_runs_each(tmp_path: Path, pg_url: str,
                                                            pg_schema: str) -> None:
    hosts = {}
    for host in ("host-a", "host-b"):  # separate project folders, each with its own config
        folder = tmp_path / host
        folder.mkdir()
        (folder / "lamina.toml").write_text(
            f'[stacks.team]\nmetadata = {{ plugin = "postgres", url = "{pg_url}", '
            f'schema = "{pg_schema}" }}\n')
        hosts[host] = folder
    writers = []
    for n in range(8):  # the schema does not exist yet: all eight race to create it
        host = "host-a" if n < 4 else "host-b"
        user = ("alice", "bob")[n % 2]
        writers.append(subprocess.Popen(
            [sys.executable, "-c", WRITER, host, user, "50"], cwd=hosts[host],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        outputs.append(out.split())
    written = [run_id for ids in outputs for run_id in ids]
    assert len(written) == 400 and len(set(written)) == 400, "run ids must be unique"

    store = PostgresMetadataStore(pg_url, schema=pg_schema)
    runs = store.list_runs()
    assert sorted(r.run_id for r in runs) == sorted(written)  # each recorded once, none lost
    assert all(r.status == "succeeded" for r in runs)
    assert Counter(r.host for r in runs) == {"host-a": 200, "host-b": 200}
    assert Counter(r.user for r in runs) == {"alice": 200, "bob": 200}
    assert all(set(r.tags) == {r.user, r.host} for r in runs)
    assert store.list_flows() == ["flow-0", "flow-1", "flow-2"]
    for run in runs:
        tasks = store.list_tasks(run.run_id)
        assert [(t.step, t.index) for t in tasks] == [("prep", 0)] + [("fit", i) for i in range(8)]
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
