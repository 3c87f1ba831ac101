"""Reading the team's record back, on the SQLite file and on PostgreSQL, with Metaflow's
local metadata provider beside them: `lamina runs` over a store of 10,000 runs, listing
all 10,000 from the Client, and the notebook's "latest run plus one artifact".

Each probe runs in a fresh process (median of the probes, the sides alternating). "After
imports" means the clock starts once the modules a notebook has imported are loaded
(lamina's client, stack and both stores; ``metaflow`` for the peer): loading the stack
(config file, plugins) and connecting to the store are timed. The 10,000 lamina runs are
recorded through each store's public methods, as ``lamina run`` records them. Metaflow's
10,000 runs are one real run of a small flow whose run metadata (``_meta/_self.json``,
what ``Flow.runs()`` reads) is copied under 10,000 run ids. Needs a PostgreSQL server
(default: 127.0.0.1:5432, trust auth); a fresh database is created and dropped. Run from
the repository root::

    python benchmarks/teams_read.py                  # 10,000 runs
    python benchmarks/teams_read.py --quick          # 200 runs, no doc update
    python benchmarks/teams_read.py --server postgresql://USER@HOST:PORT/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    alternate,
    command_line,
    fmt_s,
    lamina_env,
    median,
    metaflow_built,
    metaflow_env,
    metaflow_python,
    run_timed,
    table,
    versions,
)
from metadata_postgres import MAKE_RUNS, _config
from report import machine_line, write_section
from runtime_foreach import LAMINA_FLOW

#: What a notebook has imported before the timed cell (both stores alike).
IMPORTS = """
import importlib
import lamina, lamina.client, lamina.stack, lamina.builtin.sqlite_metadata
import lamina.datastore.artifacts, lamina_metadata_postgres.store, psycopg
from lamina.kernel.defaults import DEFAULT_PLUGINS
from lamina.kernel.distributions import entry_points
for _name, _module in DEFAULT_PLUGINS:      # the plugins' modules: imports, not timed
    importlib.import_module(_module)
for _ep in entry_points("lamina"):
    _ep.load()
"""

LAMINA_PROBE = IMPORTS + r'''
import json, sys, time
from lamina import Client
kind, stack = sys.argv[1], sys.argv[2]
t = time.perf_counter()
client = Client(stack)                      # the notebook's first cell, with the imports
if kind == "client":
    value = 0
else:
    if kind != "cell":
        t = time.perf_counter()             # the timed cell: connect, query, load
    if kind == "list":
        value = len(client.runs("many"))
    else:
        value = client.latest_run("wide")["join"].value
print(json.dumps({"seconds": time.perf_counter() - t, "value": value}))
'''

METAFLOW_PROBE = r'''
import json, sys, time
from metaflow import Flow, namespace
t = time.perf_counter()
namespace(None)
value = len([(run.id, run.created_at) for run in Flow("ManyFlow").runs()])
print(json.dumps({"seconds": time.perf_counter() - t, "value": value}))
'''

METAFLOW_FLOW = '''
from metaflow import FlowSpec, step


class ManyFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ManyFlow()
'''


def clone_metaflow_runs(sysroot: Path, count: int) -> None:
    """Copy the run metadata of the one real ManyFlow run under ``count`` run ids."""
    flow_dir = sysroot / ".metaflow" / "ManyFlow"
    (template,) = [p for p in flow_dir.iterdir() if p.name.isdigit()]
    meta = json.loads((template / "_meta" / "_self.json").read_text())
    base = int(template.name)
    for i in range(1, count):
        run_id = str(base + i)
        folder = flow_dir / run_id / "_meta"
        folder.mkdir(parents=True)
        (folder / "_self.json").write_text(json.dumps(
            {**meta, "run_number": run_id, "ts_epoch": meta["ts_epoch"] + i}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 runs, no doc update")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a database URL on the server to use (a fresh database is "
                        "created beside it)")
    parser.add_argument("--probes", type=int, default=None, help="probes per side (7)")
    parser.add_argument("--no-metaflow", action="store_true")
    args = parser.parse_args(argv)
    import psycopg

    machine = machine_line()
    runs_n = 200 if args.quick else 10_000
    probes = args.probes or (1 if args.quick else 7)
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None
    dbname = f"lamina_bench_{uuid.uuid4().hex[:10]}"
    base, _, _ = args.server.rpartition("/")
    url = f"{base}/{dbname}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        server_version = admin.info.server_version
    stacks = ("sqlite", "postgres")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project, mf = Path(tmp) / "lamina", Path(tmp) / "metaflow"
            project.mkdir()
            mf.mkdir()
            (project / "lamina.toml").write_text(_config(url))
            (project / "wide.py").write_text(LAMINA_FLOW)
            env = lamina_env()
            env.pop("LAMINA_DISABLE_PLUGIN_AUTOLOAD", None)  # the postgres store is a plugin
            env["LAMINA_USER"] = "bench"  # the user the records are made by: his namespace
            with psycopg.connect(args.server, autocommit=True) as admin:  # not what is timed
                admin.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
            for stack in stacks:
                run_timed([sys.executable, "-c", MAKE_RUNS, str(runs_n), stack], cwd=project,
                          env=env)
                run_timed([sys.executable, "-m", "lamina", "run", "wide.py", "--stack", stack,
                           "--set", "n=10"], cwd=project, env=env)
            with psycopg.connect(args.server, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{dbname}" RESET synchronous_commit')
            if mf_python:
                (mf / "many_mf.py").write_text(METAFLOW_FLOW)
                run_timed([mf_python, "many_mf.py", "--no-pylint", "run"], cwd=mf,
                          env=metaflow_env(mf))
                clone_metaflow_runs(mf, runs_n)

            def probe(kind: str, stack: str) -> float:
                out = run_timed([sys.executable, "-c", LAMINA_PROBE, kind, stack],
                                cwd=project, env=env)
                result = json.loads(out["stdout"].strip().splitlines()[-1])
                want = {"client": 0, "list": runs_n}.get(kind, 90)
                assert result["value"] == want, result
                return float(result["seconds"])

            def metaflow() -> float:
                assert mf_python
                out = run_timed([mf_python, "-c", METAFLOW_PROBE], cwd=mf, env=metaflow_env(mf))
                result = json.loads(out["stdout"].strip().splitlines()[-1])
                assert result["value"] == runs_n, result
                return float(result["seconds"])

            cpu: dict[str, list[float]] = {s: [] for s in stacks}

            def command(stack: str) -> float:
                out = run_timed([sys.executable, "-m", "lamina", "runs", "many", "--stack",
                                 stack], cwd=project, env=env)
                cpu[stack].append(float(out["cpu"]))
                return float(out["wall"])

            counts = dict.fromkeys(stacks, probes)
            latest = alternate({s: (lambda s=s: probe("latest", s)) for s in stacks}, counts)
            client = alternate({s: (lambda s=s: probe("client", s)) for s in stacks}, counts)
            cell = alternate({s: (lambda s=s: probe("cell", s)) for s in stacks}, counts)
            list_sides = {s: (lambda s=s: probe("list", s)) for s in stacks}
            if mf_python:
                list_sides["metaflow"] = metaflow
            listing = alternate(list_sides, {**counts, "metaflow": probes})
            commands = alternate({s: (lambda s=s: command(s)) for s in stacks}, counts)
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def cells(kind: dict[str, list[float]]) -> list[str]:
        mf_s = median(kind.get("metaflow", []))
        return [fmt_s(median(kind["sqlite"])), fmt_s(median(kind["postgres"])), fmt_s(mf_s)]

    rows = [
        ["`Client(stack)` after imports (config file, plugins)", *cells(client), probes],
        ["then the latest run of a flow plus one artifact (connect, query, load)",
         *cells(latest), probes],
        ["both in one cell", *cells(cell), probes],
        [f"list {runs_n:,} runs of one flow (after imports)", *cells(listing), probes],
        [f"`lamina runs many` over {runs_n:,} runs (the whole command, 20 newest): wall",
         *cells(commands), probes],
        ["the same: CPU seconds of the command", *cells(cpu), probes],
    ]
    for row in rows:
        print(row, flush=True)
    major, minor = divmod(server_version, 10000)
    text = "\n".join([
        "## Teams: reading the shared record (SQLite, PostgreSQL, Metaflow)",
        "",
        "One project with two stacks that differ only in the metadata store (the SQLite "
        f"file; PostgreSQL {major}.{minor} on the same machine over loopback TCP), each "
        f"holding {runs_n:,} runs of one flow, and Metaflow's local metadata provider "
        f"holding {runs_n:,} runs. A fresh process per probe, median, the sides "
        "alternating. \"After imports\": the clock starts once lamina's client, stack and "
        "store modules are imported (`metaflow` for the peer); loading the stack (config, "
        "plugins) is one row, the timed cell after it another (the first metadata call "
        "connects to the store). Metaflow's listing builds a `Run` per run "
        "(its id and creation time, from each run's `_meta/_self.json`); lamina's returns "
        "every run's whole record (status, timings, params, tags). The command row is the "
        "whole `lamina runs` process: interpreter, imports, plugins, the query and the "
        "table of the 20 newest runs.",
        "",
        f"Produced by `{command_line()}` on {machine}, {os.getloadavg()[0]:.1f} at the "
        f"end; {versions(mf_python)}.",
        "",
        table(["what", "lamina, SQLite", "lamina, PostgreSQL", "Metaflow (local)", "probes"],
              rows),
        "",
        "Targets: `lamina runs` over 10,000 runs under 0.5 s on both stores; the latest run "
        "plus one artifact under 50 ms after imports. The machine is shared: the CPU row "
        "is the steadier measure of the command when the wall clock mostly measures "
        "waiting for a core.",
    ])
    print(text)
    if not args.quick:
        write_section("teams-read", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
