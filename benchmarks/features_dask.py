"""The offline point-in-time join on a 2-worker Dask cluster vs the single-machine engine.

The same generated Parquet (entity rows x source rows, 10,000 keys, 5 float features, a
created time, a 12-hour TTL: the data of ``features_pit.py``) joined by lamina's
single-machine store (the numpy engine, in its own process) and by ``lamina-features-dask``
on a cluster of one ``dask scheduler`` and two ``dask worker`` processes (one thread
each) on this machine. Reported: wall time, the single process's peak RSS, and each Dask
worker's peak RSS (sampled every 50 ms); and whether the two training sets are equal row
by row. One run per side (the sizes are large; the machine is shared).

    python benchmarks/features_dask.py            # 1,000,000 entity rows x 10,000,000 source rows
    python benchmarks/features_dask.py --quick    # 20,000 x 100,000, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))
from common import TreeMemory  # noqa: E402
from features_pit import FEATURES, _lamina_store, make_data  # noqa: E402
from report import machine_line, write_section  # noqa: E402


def worker_single(entities: str, features: str, out: str) -> dict:
    """The single-machine join in this (fresh) process; the result written to ``out``."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as folder:
        store = _lamina_store(folder, features)
        t = time.perf_counter()
        table = store.get_historical_features(entities, [f"stats:{f}" for f in FEATURES])
        seconds = time.perf_counter() - t
        store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pq.write_table(table, out)
    return {"seconds": seconds, "rss_mib": rss, "rows": table.num_rows}


#: Each worker's memory limit: Dask spills held partition pieces to disk past 60% of it
#: (its standard behaviour); pausing and terminating are off, so a join is never killed.
WORKER_MEMORY = "700MB"
SPILL_ENV = {
    "DASK_DISTRIBUTED__WORKER__MEMORY__TARGET": "0.5",
    "DASK_DISTRIBUTED__WORKER__MEMORY__SPILL": "0.6",
    "DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE": "False",
    "DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE": "False",
}


def start_cluster(folder: Path, memory: str) -> tuple[str, list[subprocess.Popen]]:
    from envs_util import free_port, wait_for_port

    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env.update(SPILL_ENV)
    procs = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    wait_for_port(port, timeout=120, process=procs[0])
    address = f"tcp://127.0.0.1:{port}"
    for name in ("w1", "w2"):
        procs.append(subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
             "--name", name, "--host", "127.0.0.1", "--memory-limit", memory],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return address, procs


def run_dask(entities: Path, features: Path, folder: Path, memory: str,
             partitions: int | None, chunk_rows: int) -> tuple[dict, object]:
    from distributed import Client
    from lamina_features_dask import training_set

    from lamina.builtin.file_datastore import FileDatastore

    address, procs = start_cluster(folder, memory)
    try:
        with Client(address, set_as_default=False, timeout=120) as client:
            client.wait_for_workers(2, timeout=120)
            pids = client.run(os.getpid)
            store = _lamina_store(str(folder / "store"), str(features))
            monitors = [TreeMemory(pid) for pid in pids.values()]
            for m in monitors:
                m.__enter__()
            try:
                result = training_set(store, str(entities), [f"stats:{f}" for f in FEATURES],
                                      client=client, partitions=partitions,
                                      chunk_rows=chunk_rows,
                                      datastore=FileDatastore(str(folder / "datastore")))
            finally:
                for m in monitors:
                    m.__exit__(None, None, None)
            store.close()  # type: ignore[attr-defined]
        table = result.read()
        return {"seconds": result.seconds, "partitions": result.partitions,
                "memory": memory, "chunk_rows": chunk_rows,
                "worker_rss_mib": [m.peak_root / 2**20 for m in monitors],
                "rows": result.rows}, table
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)


def render(r: dict) -> str:
    s, d = r["single"], r["dask"]
    peak = max(d["worker_rss_mib"])
    return "\n".join([
        "## Feature store: the offline join on Dask vs one machine",
        "",
        f"Machine: {r['machine']}. Command: `{r['command']}`. {r['entities']:,} entity rows x "
        f"{r['sources']:,} source rows (10,000 keys, 5 float features, created time, 12 h "
        "TTL). The Dask side: a `dask scheduler` and two `dask worker` processes, one thread "
        f"each, on the same 2 cores, memory limit {d['memory']} each (Dask spills held "
        f"pieces to disk past 60% of it); {d['partitions']} key-hash partitions, read chunks "
        f"of about {d['chunk_rows']:,} rows. One run per side "
        "on a machine shared with other work: the times are noisy.",
        "",
        "| engine | wall time (s) | peak RSS (MiB) |",
        "|---|---:|---:|",
        f"| single machine (numpy engine, one process) | {s['seconds']:.1f} | "
        f"{s['rss_mib']:,.0f} |",
        f"| Dask, 2 workers | {d['seconds']:.1f} | per worker: "
        f"{', '.join(f'{m:,.0f}' for m in d['worker_rss_mib'])} |",
        "",
        f"Training sets equal row by row: **{r['equal']}** ({d['rows']:,} rows). Largest "
        f"worker peak / single-machine peak: **{peak / s['rss_mib']:.2f}**.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 x 100,000 rows")
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=10_000_000)
    parser.add_argument("--worker-memory", default=WORKER_MEMORY)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--data", default=str(REPO / ".cache" / "bench-features"))
    parser.add_argument("--doc", default=None)
    parser.add_argument("--worker", nargs=3, metavar=("ENTITIES", "FEATURES", "OUT"))
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker_single(*args.worker)))
        return 0
    n_ent, n_src = (20_000, 100_000) if args.quick else (args.entities, args.sources)
    entities, features = make_data(Path(args.data), n_ent, n_src)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "single.parquet"
        env = dict(os.environ, PYTHONPATH=str(REPO / "benchmarks"))
        proc = subprocess.run([sys.executable, __file__, "--worker", str(entities),
                               str(features), str(out)], capture_output=True, text=True,
                              env=env, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"single-machine worker failed:\n{proc.stderr[-3000:]}")
        single = json.loads(proc.stdout.strip().splitlines()[-1])
        dask, table = run_dask(entities, features, folder, args.worker_memory,
                               args.partitions, args.chunk_rows)
        import pyarrow.parquet as pq

        want = pq.read_table(out)
        equal = (table.column_names == want.column_names  # type: ignore[attr-defined]
                 and all(table.column(c).equals(want.column(c))  # type: ignore[attr-defined]
                         for c in want.column_names))
    command = " ".join(["python benchmarks/features_dask.py",
                        *(a for a in (argv if argv is not None else sys.argv[1:])
                          if not a.startswith(("--doc", "--data")) and "/" not in a)])
    results = {"quick": args.quick, "command": command, "entities": n_ent, "sources": n_src,
               "machine": machine_line(), "single": single, "dask": dask, "equal": equal}
    markdown = render(results)
    print(markdown)
    write_section("features_dask", markdown, **({"doc": Path(args.doc)} if args.doc else {}))
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
