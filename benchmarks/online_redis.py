"""Online lookup of 100 entity keys on Redis: lamina's redis online store vs Feast 0.67's
Redis online store, on the same Redis server, the same rows, the same TTL.

Both sides materialize the same Parquet source (KEYS keys x 5 float features, event times
in the last hour, a 2-day TTL) into one Redis server (127.0.0.1:6379 when it answers, else
a throwaway ``redis-server``), then time ``get_online_features`` for the same 100 keys,
the TTL applied (lamina at lookup and as Redis expiry; Feast at lookup). Each side runs
in its own process, lamina and Feast alternating round by round; medians are reported.
Feast runs in its own virtual environment (``feast[redis]==0.67.0``), made by this script
on first use under ``.cache/test-envs/``. Keys are written under a random prefix / project
and removed at the end.

    python benchmarks/online_redis.py            # 100,000 keys, 3 rounds, Feast included
    python benchmarks/online_redis.py --quick    # 2,000 keys, 1 round, no Feast, seconds
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from features_pit import _online_timing as _timing  # noqa: E402
from report import machine_line, write_section  # noqa: E402

FEATURES = [f"f{i}" for i in range(5)]
FEAST_REQUIREMENTS = ["feast[redis]==0.67.0", "psutil"]
TTL_HOURS = 48
DB = 14


def make_source(path: Path, keys: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    now = np.datetime64(int(time.time() * 1e6) - 3_600_000_000, "us")
    when = now + rng.integers(0, 3_000_000_000, keys).astype("timedelta64[us]")
    pq.write_table(pa.table({
        "driver_id": pa.array(np.arange(keys), pa.int64()),
        "event_timestamp": pa.array(when, pa.timestamp("us")),
        "created": pa.array(when, pa.timestamp("us")),
        **{f: rng.random(keys) for f in FEATURES},
    }), path)


def sample_rows(keys: int) -> list[dict]:
    return [{"driver_id": k} for k in range(0, keys, max(1, keys // 100))][:100]


# ----------------------------------------------------------------------------- workers


def worker_lamina(source: str, port: int, prefix: str, calls: int, keys: int) -> dict:
    import datetime as dt

    from lamina.features import Entity, Feature, FeatureView, get_store
    from lamina.stack import load_stack

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\n'
            'feature_store = { plugin = "local", online_store = "redis", online_options = '
            f'{{ url = "redis://127.0.0.1:{port}/{DB}", prefix = "{prefix}" }} }}\n')
        store = get_store(load_stack(cwd=folder))
        driver = Entity("driver", ["driver_id"])
        store.apply([driver, FeatureView(
            "stats", entities=[driver], source=source,
            features=[Feature(f, "float64") for f in FEATURES],
            created_timestamp_field="created", ttl=dt.timedelta(hours=TTL_HOURS))])
        t = time.perf_counter()
        store.materialize(None, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        materialize = time.perf_counter() - t
        rows = sample_rows(keys)
        refs = [f"stats:{f}" for f in FEATURES]
        got = store.get_online_features(refs, rows)
        ms = _timing(lambda: store.get_online_features(refs, rows), calls)
        store.close()
    return {"median_ms": ms, "found": sum(v is not None for v in got["f0"]),
            "materialize_s": materialize}


FEAST_YAML = """project: {project}
registry: {folder}/registry.db
provider: local
online_store:
  type: redis
  connection_string: "127.0.0.1:{port},db={db}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def worker_feast(source: str, port: int, prefix: str, calls: int, keys: int) -> dict:
    import datetime as dt

    import feast
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "feature_store.yaml").write_text(
            FEAST_YAML.format(project=prefix.replace("-", "_"), folder=folder, port=port, db=DB))
        driver = Entity(name="driver", join_keys=["driver_id"])
        view = FeatureView(
            name="stats", entities=[driver], ttl=dt.timedelta(hours=TTL_HOURS),
            schema=[Field(name=f, dtype=Float64) for f in FEATURES],
            source=FileSource(path=source, timestamp_field="event_timestamp",
                              created_timestamp_column="created"))
        store = FeatureStore(repo_path=folder)
        store.apply([driver, view])
        t = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        store.materialize(now - dt.timedelta(days=3), now + dt.timedelta(hours=1))
        materialize = time.perf_counter() - t
        rows = sample_rows(keys)
        refs = [f"stats:{f}" for f in FEATURES]
        got = store.get_online_features(features=refs, entity_rows=rows).to_dict()
        ms = _timing(lambda: store.get_online_features(features=refs, entity_rows=rows).to_dict(),
                     calls)
    return {"median_ms": ms, "found": sum(v is not None for v in got["f0"]),
            "materialize_s": materialize, "version": feast.__version__}


WORKERS = {"lamina": worker_lamina, "feast": worker_feast}


# ----------------------------------------------------------------------------- driver


def redis_port(stack: list) -> int:
    """6379 when a server answers there, else a throwaway ``redis-server`` (kept in
    ``stack`` to stop)."""
    import redis

    try:
        if redis.Redis(port=6379, socket_timeout=2).ping():
            return 6379
    except redis.RedisError:
        pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    folder = tempfile.mkdtemp()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL)
    stack.append(proc)
    for _ in range(300):
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return port
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def cleanup(port: int, patterns: list[str]) -> None:
    import redis

    client = redis.Redis(port=port, db=DB)
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])
    client.close()


def feast_python() -> str:
    sys.path.insert(0, str(REPO / "tests"))
    from envs_util import ensure_env

    return str(ensure_env("bench-feast-redis", FEAST_REQUIREMENTS))


def run_worker(python: str, kind: str, source: Path, port: int, prefix: str, calls: int,
               keys: int) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--source", str(source),
           "--port", str(port), "--prefix", prefix, "--calls", str(calls), "--keys", str(keys)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def render(results: dict) -> str:
    lam = results["lamina"]
    lines = [
        "## Feature store: online lookup on Redis (lamina vs Feast)",
        "",
        f"Machine: {results['machine']}. Command: `{results['command']}`. "
        f"{results['keys']:,} keys x 5 float "
        f"features materialized into one Redis {results['redis']} server; the median of "
        f"{results['calls']} calls of `get_online_features` for the same 100 keys, TTL "
        f"applied, per round; {results['rounds']} round(s), the two sides alternating, each "
        "in its own process. The machine is shared by other work: absolute numbers are "
        "noisy, the ratio is measured side by side.",
        "",
        "| side | 100-key lookup, median (ms) | keys found | materialize (s) |",
        "|---|---:|---:|---:|",
        f"| lamina (redis online store) | {lam['median_ms']:.3f} | {lam['found']} | "
        f"{lam['materialize_s']:.2f} |",
    ]
    if results.get("feast"):
        fe = results["feast"]
        lines.append(f"| Feast {fe.get('version', '')} (Redis online store) | "
                     f"{fe['median_ms']:.3f} | {fe['found']} | {fe['materialize_s']:.2f} |")
        lines += ["", f"lamina is **{fe['median_ms'] / lam['median_ms']:.1f}x** faster per "
                  f"lookup (rounds: {', '.join(f'{r:.1f}x' for r in results['ratios'])})."]
    else:
        lines += ["", "Feast not run (`--quick`)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 keys, 1 round, no Feast")
    parser.add_argument("--feast", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--doc", default=None, help="write the section into this file")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--source")
    parser.add_argument("--port", type=int)
    parser.add_argument("--prefix")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.source, args.port, args.prefix, args.calls,
                                              args.keys)))
        return 0
    keys = 2_000 if args.quick else args.keys
    calls = 30 if args.quick else args.calls
    rounds = args.rounds or (1 if args.quick else 3)
    use_feast = (not args.quick) if args.feast is None else args.feast
    servers: list = []
    port = redis_port(servers)
    prefixes: list[str] = []
    try:
        import redis

        version = redis.Redis(port=port).info("server")["redis_version"]
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "stats.parquet"
            make_source(source, keys)
            feast_py = feast_python() if use_feast else None
            lamina_runs, feast_runs = [], []
            for _ in range(rounds):
                prefix = f"bench-{uuid.uuid4().hex[:8]}"
                prefixes.append(prefix)
                lamina_runs.append(run_worker(sys.executable, "lamina", source, port, prefix,
                                              calls, keys))
                if feast_py:
                    feast_runs.append(run_worker(feast_py, "feast", source, port, prefix,
                                                 calls, keys))
                cleanup(port, [f"{prefix}:*", f"*{prefix.replace('-', '_')}*"])

        def median(runs: list[dict]) -> dict:
            return {**runs[0], "median_ms": statistics.median(r["median_ms"] for r in runs),
                    "materialize_s": statistics.median(r["materialize_s"] for r in runs)}

        command = " ".join(["python benchmarks/online_redis.py",
                            *(a for a in (argv if argv is not None else sys.argv[1:])
                              if not a.startswith("--doc") and "/" not in a)])
        results = {"quick": args.quick, "command": command, "keys": keys, "calls": calls, "rounds": rounds,
                   "machine": machine_line(), "redis": version,
                   "lamina": median(lamina_runs),
                   "feast": median(feast_runs) if feast_runs else None,
                   "ratios": [f["median_ms"] / ll["median_ms"]
                              for f, ll in zip(feast_runs, lamina_runs, strict=False)]}
    finally:
        for prefix in prefixes:
            cleanup(port, [f"{prefix}:*", f"*{prefix.replace('-', '_')}*"])
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    markdown = render(results)
    print(markdown)
    write_section("online_redis", markdown, **({"doc": Path(args.doc)} if args.doc else {}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
