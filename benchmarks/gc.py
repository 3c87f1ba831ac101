"""``lamina gc`` on a big store: 1,000,000 small objects, 100,000 runs' worth.

The store is written straight through the store APIs (``FileDatastore.put_blob`` and
``put_record``, ``SqliteMetadataStore.create_run``/``finish_run``), in two processes, not by
running 100,000 flows: 10 flows of 10,000 runs each, every run a manifest and a task
record naming its 10 objects of its own, its flow's code file and a value shared by every
run. The policy keeps the last 50 runs of each flow (5 with ``--quick``), so gc deletes
99,500 runs and 995,000 objects. ``lamina gc --dry-run`` and then ``lamina gc`` run as
subprocesses; each is timed with the peak resident memory of its process tree. Run from
the repository root::

    python benchmarks/gc.py                  # 1,000,000 objects, 100,000 runs
    python benchmarks/gc.py --quick          # 2,000 objects, 200 runs (a test runs it)
    python benchmarks/gc.py --runs 20000     # any size: 10 objects per run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, lamina_env, run_timed, table
from report import machine_line, write_section

FLOWS = 10
PER_RUN = 10  # objects of its own per run (plus its flow's code file and a shared value)
TOML = """default_stack = "local"
[stacks.local]
datastore = ".lamina"
[stacks.local.retention]
keep_last = {keep_last}
keep_last_per_branch = 0
keep_newer_than = ""
grace = "1h"
"""


def _write_runs(root: str, flow: int, count: int, first_started: float) -> int:
    """Write ``count`` runs of flow ``flow``: objects, records, metadata. Returns the
    number of objects written."""
    from lamina.builtin.file_datastore import FileDatastore
    from lamina.builtin.sqlite_metadata import SqliteMetadataStore
    from lamina.datastore.hashing import bytes_digest
    from lamina.records import RunRecord

    store = FileDatastore(os.path.join(root, ".lamina"))
    metadata = SqliteMetadataStore(os.path.join(root, ".lamina", "metadata.db"))
    code = f"flow {flow} source".encode()
    code_key = bytes_digest(code)
    shared = b"a value every run computes"
    shared_key = bytes_digest(shared)
    store.put_blob(code_key, code)
    store.put_blob(shared_key, shared)
    written = 2
    for i in range(count):
        run_id = f"2026{flow:02d}{i:07d}T000000000-{flow:02d}{i:06d}"
        keys = []
        for j in range(PER_RUN):
            data = f"{run_id} value {j}".encode()
            key = bytes_digest(data)
            store.put_blob(key, data)
            keys.append(key)
        written += PER_RUN
        started = first_started + i
        store.put_record(f"runs/{run_id}/run.json", json.dumps(
            {"run_id": run_id, "flow": f"flow{flow}", "code_files": {"flow.py": code_key}},
        ).encode())
        store.put_record(f"runs/{run_id}/tasks/train/0.json", json.dumps(
            {"output": {"key": keys[0]}, "stdout_key": shared_key, "parts": keys[1:]},
        ).encode())
        metadata.create_run(RunRecord(
            run_id=run_id, flow=f"flow{flow}", status="running", started_at=started,
            user="bench", code_files={"flow.py": code_key},
        ))
        metadata.finish_run(run_id, status="succeeded", finished_at=started + 1)
    metadata.close()
    return written


def build(root: Path, runs: int, keep_last: int) -> tuple[int, float]:
    """The store: (objects written, seconds)."""
    (root / ".lamina").mkdir(parents=True)
    (root / "lamina.toml").write_text(TOML.format(keep_last=keep_last))
    from lamina.builtin.sqlite_metadata import SqliteMetadataStore

    SqliteMetadataStore(root / ".lamina" / "metadata.db").check()  # the schema, once
    per_flow = runs // FLOWS
    old = time.time() - 400 * 86400
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        written = sum(pool.starmap(_write_runs, [
            (str(root), flow, per_flow, old + flow * per_flow) for flow in range(FLOWS)]))
    seconds = time.perf_counter() - started
    when = time.time() - 2 * 86400  # every object older than the grace period
    for folder, _, files in os.walk(root / ".lamina" / "objects"):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when))
    return written, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="200 runs (2,000 objects)")
    parser.add_argument("--dir", help="where to build the store (default: a temporary folder)")
    args = parser.parse_args(argv)
    runs = 200 if args.quick else args.runs
    keep_last = 5 if args.quick else 50
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="lamina-gc-bench-"))
    root = base / "store"
    machine = machine_line()
    try:
        objects, build_s = build(root, runs, keep_last)
        print(f"built {runs:,} runs and {objects:,} objects in {build_s:.1f} s", flush=True)
        env = lamina_env()
        rows = []
        results = {}
        for name, extra in (("lamina gc --dry-run", ["--dry-run"]), ("lamina gc", [])):
            done = run_timed([sys.executable, "-m", "lamina", "gc", "--json", *extra],
                             cwd=root, env=env, memory=True)
            report = json.loads(done["stdout"])
            results[name] = report
            rows.append([name, f"{done['wall']:.1f} s", f"{done['cpu']:.1f} s",
                         f"{done['rss_tree_mb']:.0f} MB", f"{len(report['runs_deleted']):,}",
                         f"{report['objects_deleted']:,} of {report['objects_scanned']:,}",
                         f"{report['bytes_reclaimed'] / 2**20:.1f} MB"])
        text = "\n".join([
            "## Retention: `lamina gc` on 1,000,000 objects",
            "",
            f"A file datastore with {objects:,} small objects of {runs:,} runs (10 flows; "
            "each run a manifest and a task record naming its 10 objects of its own, its "
            "flow's code file and one value shared by every run) and the SQLite metadata "
            f"store, written straight through the store APIs in {build_s:.0f} s (two "
            f"processes). The policy keeps the last {keep_last} runs of each flow; every "
            "object is older than the grace period. Each command is a fresh `lamina gc` "
            "process: wall time, CPU seconds and the peak resident memory of its process "
            "tree.",
            "",
            f"Produced by `{command_line()}` on {machine}.",
            "",
            table(["command", "wall", "CPU", "peak memory", "runs deleted",
                   "objects deleted", "reclaimed"], rows),
            "",
            "Target: memory under 500 MB whatever the number of objects (the mark set is a "
            "SQLite table in a temporary file; objects are listed and checked 1,000 at a "
            "time; runs are decided from compact summaries).",
        ])
        print(text)
        if not args.quick:
            write_section("gc", text)
        real = results["lamina gc"]
        expected_runs = runs - FLOWS * min(keep_last, runs // FLOWS)
        assert len(real["runs_deleted"]) == expected_runs, real["runs_kept"]
        assert real["objects_deleted"] == expected_runs * PER_RUN, real["objects_deleted"]
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
