"""The team metadata store (lamina-metadata-postgres) against the embedded SQLite store, on
the same machine in the same run: listing 10,000 runs, and a 20,000-task product foreach
whose task records go to each store.

Needs a PostgreSQL server (default: the one on 127.0.0.1:5432, trust auth); a fresh
database with a random name is created and dropped at the end. Each listing runs in a fresh
process (median of the probes, the two stores alternating); the foreach is the whole
``lamina run`` command, as in ``runtime_scale.py``. Run from the repository root::

    python benchmarks/metadata_postgres.py                 # 10,000 runs, 200 x 100 tasks
    python benchmarks/metadata_postgres.py --quick         # 200 runs, 10 x 10, no doc update
    python benchmarks/metadata_postgres.py --parts foreach # one part, no doc update
    python benchmarks/metadata_postgres.py --server postgresql://USER@HOST:PORT/postgres
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
    run_timed,
    table,
    versions,
)
from report import machine_line, write_section
from runtime_scale import FLOW

MAKE_RUNS = r'''
import sys, time
from lamina import Stack
from lamina.records import RunRecord
count, stack = int(sys.argv[1]), sys.argv[2]
meta = Stack.load(stack).metadata
now = time.time() - count
for i in range(count):
    run_id = f"20260101T000000{i:06d}-bench"
    meta.create_run(RunRecord(run_id=run_id, flow="many", status="running",
                              started_at=now + i, params={"i": i}, user="bench",
                              steps=("a", "b"), tags=("bench",)))
    meta.finish_run(run_id, status="succeeded", finished_at=now + i + 0.5, error="")
'''

LIST_PROBE = r'''
import json, sys, time
from lamina import Client
client = Client(sys.argv[1])
client.stack.metadata.list_flows()  # the store is built and connected before the clock
t = time.perf_counter()
value = len(client.runs("many"))
print(json.dumps({"seconds": time.perf_counter() - t, "value": value}))
'''


def _config(url: str) -> str:
    return (
        "[stacks.sqlite]\n"
        'compute = { plugin = "local", workers = 2 }\n\n'
        "[stacks.postgres]\n"
        'compute = { plugin = "local", workers = 2 }\n'
        f'metadata = {{ plugin = "postgres", url = "{url}" }}\n'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no doc update")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a database URL on the server to use (a fresh database is "
                        "created beside it)")
    parser.add_argument("--probes", type=int, default=None, help="listings per store (7)")
    parser.add_argument("--runs", type=int, default=None, help="foreach runs per store (2)")
    parser.add_argument("--parts", default="list,foreach",
                        help="what to measure: list, foreach or both (default both; the "
                        "page is rewritten only with both)")
    args = parser.parse_args(argv)
    import psycopg

    machine = machine_line()  # the load average at the start; the end's is added below

    runs_n = 200 if args.quick else 10_000
    c, g = (10, 10) if args.quick else (200, 100)
    probes = args.probes or (1 if args.quick else 7)
    foreach_runs = args.runs or (1 if args.quick else 2)
    dbname = f"lamina_bench_{uuid.uuid4().hex[:10]}"
    base, _, _ = args.server.rpartition("/")
    url = f"{base}/{dbname}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        server_version = admin.info.server_version
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "lamina.toml").write_text(_config(url))
            (project / "grid.py").write_text(FLOW)
            env = lamina_env()
            env["LAMINA_USER"] = "bench"  # the user the records are made by: his namespace
            # the postgres store is a plugin: let plugins load, on both sides alike
            env.pop("LAMINA_DISABLE_PLUGIN_AUTOLOAD", None)
            # making the runs to list is not what is measured: no fsync per commit while
            # they are recorded (the setting is reset before anything is timed)
            with psycopg.connect(args.server, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
            for stack in ("sqlite", "postgres"):
                made = run_timed([sys.executable, "-c", MAKE_RUNS, str(runs_n), stack],
                                 cwd=project, env=env)
                print(f"recorded {runs_n} runs on {stack} in {made['wall']:.1f} s", flush=True)
            with psycopg.connect(args.server, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{dbname}" RESET synchronous_commit')

            def probe(stack: str) -> float:
                out = run_timed([sys.executable, "-c", LIST_PROBE, stack], cwd=project, env=env)
                result = json.loads(out["stdout"].strip().splitlines()[-1])
                assert result["value"] == runs_n, result
                return float(result["seconds"])

            def cli(stack: str) -> float:
                out = run_timed([sys.executable, "-m", "lamina", "runs", "many", "--stack",
                                 stack, "--limit", str(runs_n), "--json"], cwd=project, env=env)
                return float(out["wall"])

            parts = set(args.parts.split(","))
            both = {"sqlite": [float("nan")], "postgres": [float("nan")]}
            listing = commands = walls = both
            if "list" in parts:
                listing = alternate({s: (lambda s=s: probe(s)) for s in ("sqlite", "postgres")},
                                    {"sqlite": probes, "postgres": probes})
                commands = alternate({s: (lambda s=s: cli(s)) for s in ("sqlite", "postgres")},
                                     {"sqlite": 3, "postgres": 3})

            def foreach(stack: str) -> float:
                out = run_timed([sys.executable, "-m", "lamina", "run", "grid.py", "--stack",
                                 stack, "--set", f"c={c}", "--set", f"g={g}"],
                                cwd=project, env=env)
                return float(out["wall"])

            if "foreach" in parts:
                walls = alternate({s: (lambda s=s: foreach(s)) for s in ("sqlite", "postgres")},
                                  {"sqlite": foreach_runs, "postgres": foreach_runs})
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def ratio(kind: dict[str, list[float]]) -> str:
        return f"{median(kind['postgres']) / median(kind['sqlite']):.2f}x"

    rows = [
        [f"`Client().runs(\"many\")`, {runs_n:,} runs (after imports and the store's connection)",
         fmt_s(median(listing["sqlite"])), fmt_s(median(listing["postgres"])), ratio(listing),
         probes],
        [f"`lamina runs many --limit {runs_n} --json` (the whole command)",
         fmt_s(median(commands["sqlite"])), fmt_s(median(commands["postgres"])),
         ratio(commands), 3],
        [f"`lamina run grid.py`: {c} x {g} = {c * g:,}-task product foreach",
         fmt_s(median(walls["sqlite"])), fmt_s(median(walls["postgres"])), ratio(walls),
         foreach_runs],
    ]
    for row in rows:
        print(row, flush=True)
    major, minor = divmod(server_version, 10000)
    text = "\n".join([
        "## Team metadata: PostgreSQL vs the SQLite file",
        "",
        "The same project with two stacks that differ only in the metadata store: the "
        "embedded SQLite file, and `lamina-metadata-postgres` on a PostgreSQL server on the "
        f"same machine (loopback TCP, PostgreSQL {major}.{minor}). The runs are recorded "
        "through the store's public methods, as `lamina run` records them. Listing: a fresh "
        "process per probe, timed after the imports and the store's connection, the two "
        "stores alternating, median; the command row is the whole `lamina runs` process "
        "(interpreter, imports, plugins, connection, listing, and printing the 10,000 runs "
        "as JSON: rich's table of 10,000 rows alone takes seconds on either store). "
        "Foreach: the whole `lamina run` command, two workers, the 20,000 task records "
        "written in batches (one statement per batch on PostgreSQL). Installed plugins load "
        "on both sides (the PostgreSQL store is one).",
        "",
        f"Produced by `{command_line()}` on {machine}, {os.getloadavg()[0]:.1f} at the "
        f"end; {versions(None)}.",
        "",
        table(["what", "SQLite", "PostgreSQL", "PostgreSQL / SQLite", "runs"], rows),
        "",
        "Targets: listing 10,000 runs under 0.5 s; the 20,000-task foreach within 1.5x of "
        "the same run on SQLite.",
    ])
    print(text)
    if not args.quick and parts == {"list", "foreach"}:
        write_section("metadata-postgres", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
