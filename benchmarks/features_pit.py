"""Point-in-time join and online lookup: lamina's feature store vs DuckDB's own ASOF JOIN
and Feast's local store, on the same generated Parquet files.

Data like the anchor measurement: 10,000 entity keys, event times over 90 days, 5 float
features (plus a created timestamp), TTL 12 h; 1M entity rows against 1M and 10M feature
rows. Every measurement runs in a fresh subprocess (time of the join itself, peak RSS of
the process); lamina and raw DuckDB alternate, medians are reported. Feast runs in its own
virtual environment (created with uv under ``.cache/bench-envs/``), on the 1M x 1M case
only: it needs ~17 GiB there.

    python benchmarks/features_pit.py            # full sizes, Feast included
    python benchmarks/features_pit.py --quick    # tiny sizes, no Feast, seconds
    python benchmarks/features_pit.py --online-only   # only the online lookups, three ways
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = 10_000
DAYS = 90
TTL_HOURS = 12
FEATURES = [f"f{i}" for i in range(5)]
FEAST_REQUIREMENTS = ["feast==0.67.0", "psutil"]


# ----------------------------------------------------------------------------- data


def make_data(folder: Path, entity_rows: int, feature_rows: int, seed: int = 0) -> tuple[Path, Path]:
    """Entity and feature Parquet files (cached by size)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    ent = folder / f"entities_{entity_rows}.parquet"
    feat = folder / f"features_{feature_rows}.parquet"
    start = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
    span = DAYS * 86_400 * 1_000_000
    if not feat.exists():
        rng = np.random.default_rng(seed + feature_rows)
        event = start + rng.integers(0, span, feature_rows)
        created = event + rng.integers(0, 3_600 * 1_000_000, feature_rows)
        cols = {
            "driver_id": rng.integers(0, KEYS, feature_rows),
            "event_timestamp": pa.array(event, pa.timestamp("us")),
            "created": pa.array(created, pa.timestamp("us")),
        }
        for name in FEATURES:
            cols[name] = rng.random(feature_rows)
        pq.write_table(pa.table(cols), feat.with_suffix(".tmp"))
        feat.with_suffix(".tmp").replace(feat)
    if not ent.exists():
        rng = np.random.default_rng(seed + 7 * entity_rows + 1)
        when = start + rng.integers(0, span, entity_rows)
        pq.write_table(pa.table({
            "driver_id": rng.integers(0, KEYS, entity_rows),
            "event_timestamp": pa.array(when, pa.timestamp("us")),
        }), ent.with_suffix(".tmp"))
        ent.with_suffix(".tmp").replace(ent)
    return ent, feat


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads): steadier than wall
    time on a shared machine."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ----------------------------------------------------------------------------- workers
# Each runs in a fresh process and prints one JSON line.


def worker_duckdb(entities: str, features: str) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    sql = (
        f"SELECT e.*, {', '.join('f.' + f for f in FEATURES)} FROM read_parquet('{entities}') e "
        f"ASOF LEFT JOIN read_parquet('{features}') f ON e.driver_id = f.driver_id AND "
        "e.event_timestamp >= f.event_timestamp"
    )
    t, c = time.perf_counter(), cpu_seconds()
    rel = con.sql(sql)
    table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    return {"seconds": seconds, "cpu": cpu, "rss_mib": peak_rss_mib(), "rows": table.num_rows,
            "nonnull": table.num_rows - table.column("f0").null_count,
            "version": duckdb.__version__}


def _lamina_store(folder: str, features: str, created: bool = True, engine: str = "auto"
                  ) -> object:
    import datetime as dt

    from lamina.builtin.features_plugin import FeatureStoreOptions
    from lamina.features import Entity, Feature, FeatureView, LocalFeatureStore

    store = LocalFeatureStore(FeatureStoreOptions(engine=engine), root=folder)
    driver = Entity("driver", ["driver_id"])
    store.apply([driver, FeatureView(
        "stats", entities=[driver], source=features,
        features=[Feature(f, "float64") for f in FEATURES],
        created_timestamp_field="created" if created else None,
        ttl=dt.timedelta(hours=TTL_HOURS))])
    return store


def worker_lamina(entities: str, features: str, created: bool = True, engine: str = "auto",
                  cold: bool = False) -> dict:
    """``engine``: the store's (``auto`` takes the numpy engine for this data); ``cold``:
    the source file is touched after apply, as when it is rewritten, so the join cannot
    use what apply learned about it (the DuckDB engine's repeated-times scan)."""
    import duckdb

    import lamina

    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        store = _lamina_store(folder, features, created, engine)
        apply_seconds = time.perf_counter() - t
        if cold:
            os.utime(features)
        t, c = time.perf_counter(), cpu_seconds()
        table = store.get_historical_features(entities, [f"stats:{f}" for f in FEATURES])
        seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
        store.close()
    return {"seconds": seconds, "cpu": cpu, "rss_mib": peak_rss_mib(), "rows": table.num_rows,
            "nonnull": table.num_rows - table.column("f0").null_count,
            "apply_seconds": apply_seconds,
            "version": lamina.__version__, "duckdb": duckdb.__version__}


def _online_timing(call: object, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def worker_lamina_online(entities: str, features: str, calls: int) -> dict:
    import datetime as dt

    with tempfile.TemporaryDirectory() as folder:
        store = _lamina_store(folder, features)
        store.materialize(None, dt.datetime(2026, 4, 2))  # type: ignore[attr-defined]
        rows = [{"driver_id": k} for k in range(0, KEYS, KEYS // 100)][:100]
        refs = [f"stats:{f}" for f in FEATURES]
        now = dt.datetime(2026, 3, 31)
        got = store.get_online_features(refs, rows, now=now)  # type: ignore[attr-defined]
        ms = _online_timing(lambda: store.get_online_features(refs, rows, now=now), calls)  # type: ignore[attr-defined]
        store.close()  # type: ignore[attr-defined]
    return {"median_ms": ms, "found": sum(v is not None for v in got["f0"])}


def worker_lamina_online_calls(entities: str, features: str, calls: int) -> dict:
    """100-key lookups the three ways a serving process makes them: on the store object,
    through ``online_features(..., stack=stack)``, and through ``online_features(...)``
    without ``stack=`` (the project's stack, found from the working directory as the CLI
    finds it, and kept by lamina per process and configuration). Also the first call
    without ``stack=``, which loads the stack and builds the store."""
    import datetime as dt

    from lamina.features import Entity, Feature, FeatureView, get_store, online_features
    from lamina.stack import load_stack

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "lamina.toml").write_text(
            '[stacks.local]\ndatastore = "file://.lamina"\n'
            'feature_store = { plugin = "local" }\n')
        os.chdir(folder)
        stack = load_stack()
        store = get_store(stack)
        driver = Entity("driver", ["driver_id"])
        store.apply([driver, FeatureView(
            "stats", entities=[driver], source=features,
            features=[Feature(f, "float64") for f in FEATURES],
            created_timestamp_field="created", ttl=dt.timedelta(hours=TTL_HOURS))])
        store.materialize(None, dt.datetime(2026, 4, 2))
        rows = [{"driver_id": k} for k in range(0, KEYS, KEYS // 100)][:100]
        refs = [f"stats:{f}" for f in FEATURES]
        now = dt.datetime(2026, 3, 31)
        t = time.perf_counter()
        got = online_features(refs, rows, now=now)
        first_ms = (time.perf_counter() - t) * 1000
        out = {
            "first_no_stack_ms": first_ms,
            "found": sum(v is not None for v in got["f0"]),
            "store_ms": _online_timing(
                lambda: store.get_online_features(refs, rows, now=now), calls),
            "stack_ms": _online_timing(
                lambda: online_features(refs, rows, stack=stack, now=now), calls),
            "no_stack_ms": _online_timing(lambda: online_features(refs, rows, now=now), calls),
        }
        os.chdir(REPO)
    return out


FEAST_REPO_YAML = """project: bench
registry: {folder}/registry.db
provider: local
online_store:
  type: sqlite
  path: {folder}/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def _feast_store(folder: str, features: str) -> tuple[object, list[str]]:
    from datetime import timedelta

    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64

    Path(folder, "feature_store.yaml").write_text(FEAST_REPO_YAML.format(folder=folder))
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = FileSource(path=features, timestamp_field="event_timestamp",
                        created_timestamp_column="created")
    view = FeatureView(name="stats", entities=[driver], ttl=timedelta(hours=TTL_HOURS),
                       schema=[Field(name=f, dtype=Float64) for f in FEATURES], source=source)
    store = FeatureStore(repo_path=folder)
    store.apply([driver, view])
    return store, [f"stats:{f}" for f in FEATURES]


def worker_feast(entities: str, features: str) -> dict:
    import feast
    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        store, refs = _feast_store(folder, features)
        entity_df = pd.read_parquet(entities)
        t, c = time.perf_counter(), cpu_seconds()
        df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()  # type: ignore[attr-defined]
        seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
    return {"seconds": seconds, "cpu": cpu, "rss_mib": peak_rss_mib(), "rows": len(df),
            "nonnull": int(df["f0"].notna().sum()), "version": feast.__version__}


def worker_feast_online(entities: str, features: str, calls: int) -> dict:
    import datetime as dt

    with tempfile.TemporaryDirectory() as folder:
        store, refs = _feast_store(folder, features)
        store.materialize(dt.datetime(2025, 12, 31), dt.datetime(2026, 4, 2))  # type: ignore[attr-defined]
        rows = [{"driver_id": k} for k in range(0, KEYS, KEYS // 100)][:100]
        got = store.get_online_features(features=refs, entity_rows=rows).to_dict()  # type: ignore[attr-defined]
        ms = _online_timing(
            lambda: store.get_online_features(features=refs, entity_rows=rows).to_dict(),  # type: ignore[attr-defined]
            calls)
    return {"median_ms": ms, "found": sum(v is not None for v in got["f0"])}


def worker_lamina_nocreated(entities: str, features: str) -> dict:
    return worker_lamina(entities, features, created=False)


def worker_lamina_duckdb(entities: str, features: str) -> dict:
    return worker_lamina(entities, features, engine="duckdb")


def worker_lamina_duckdb_cold(entities: str, features: str) -> dict:
    return worker_lamina(entities, features, engine="duckdb", cold=True)


WORKERS = {"duckdb": worker_duckdb, "lamina": worker_lamina, "feast": worker_feast,
           "lamina-nocreated": worker_lamina_nocreated,
           "lamina-duckdb": worker_lamina_duckdb, "lamina-duckdb-cold": worker_lamina_duckdb_cold,
           "lamina-online": worker_lamina_online, "feast-online": worker_feast_online,
           "lamina-online-calls": worker_lamina_online_calls}


# ----------------------------------------------------------------------------- driver


def feast_python() -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from envs_util import ensure_env

    return ensure_env("bench-feast", FEAST_REQUIREMENTS)


def run_worker(python: str, kind: str, entities: Path, features: Path, calls: int = 0,
               timeout: float = 1800) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--entities", str(entities),
           "--features", str(features), "--calls", str(calls)]
    env = dict(os.environ, PYTHONPATH=str(REPO / "benchmarks"))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode == -9:
        return {"error": f"killed by SIGKILL (out of memory) after {elapsed:.0f} s",
                "returncode": -9, "elapsed": elapsed}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1],
                "returncode": proc.returncode, "elapsed": elapsed}
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: the runs of one round, shuffled round by round (seeded): a process that follows a
#: DuckDB run was measured ~0.1 s slower at 1M x 1M (the machine taking back the memory
#: of the one before), which a fixed or rotated order charges to the same column
ROUND = ["duckdb", "lamina", "lamina-nocreated", "lamina-duckdb", "lamina-duckdb-cold"]


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no Feast")
    parser.add_argument("--reps", type=int, default=None, help="runs per side (default 3)")
    parser.add_argument("--feast", action=argparse.BooleanOptionalAction, default=None,
                        help="include Feast (default: on unless --quick)")
    parser.add_argument("--data", default=str(REPO / ".cache" / "bench-data" / "features"))
    parser.add_argument("--doc", default=None, help="write the section into this file "
                        "instead of docs/benchmarks.md")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="only write the section from a saved results file")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--entities", help=argparse.SUPPRESS)
    parser.add_argument("--features", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--online-only", action="store_true",
                        help="only the online lookups (their own section of the page)")
    args = parser.parse_args(argv)

    if args.worker:
        fn = WORKERS[args.worker]
        extra = (args.calls,) if "online" in args.worker else ()
        print(json.dumps(fn(args.entities, args.features, *extra)))  # type: ignore[operator]
        return 0

    sys.path.insert(0, str(REPO / "benchmarks"))
    from report import machine_line, write_section

    if args.render:
        results = json.loads(Path(args.render).read_text())
        feast_run = any("feast" in r for r in results["rows"]) or "feast" in results["online"]
        markdown = render(results, None if feast_run else
                          kept_feast(Path(args.doc) if args.doc else None))
        print(markdown)
        write_section("features_pit", markdown, **({"doc": Path(args.doc)} if args.doc else {}))
        return 0

    if args.online_only or args.quick:
        section = online_section(args.quick, Path(args.data), machine_line())
        print(section)
        if not args.quick:
            write_section("features_online", section,
                          **({"doc": Path(args.doc)} if args.doc else {}))
        if args.online_only:
            return 0

    quick = args.quick
    reps = args.reps or (1 if quick else 3)
    use_feast = (not quick) if args.feast is None else args.feast
    entity_rows = 20_000 if quick else 1_000_000
    sizes = [20_000, 100_000] if quick else [1_000_000, 10_000_000]
    online_rows = 20_000 if quick else 100_000
    calls = 50 if quick else 1000
    data = Path(args.data)
    me = sys.executable
    rows = []
    versions: dict[str, str] = {}
    feast_py = str(feast_python()) if use_feast else None
    for size in sizes:
        ent, feat = make_data(data, entity_rows, size)
        runs: dict[str, list[dict]] = {kind: [] for kind in ROUND}
        for i in range(reps):  # rounds of one run each, in a shuffled order (ROUND)
            order = list(ROUND)
            random.Random(i).shuffle(order)
            for kind in order:
                runs[kind].append(run_worker(me, kind, ent, feat))
        duck, lam, bare = runs["duckdb"], runs["lamina"], runs["lamina-nocreated"]
        other, cold = runs["lamina-duckdb"], runs["lamina-duckdb-cold"]
        for r in duck + lam + bare + other + cold:
            if "error" in r:
                raise SystemExit(f"worker failed: {r}")
        versions["duckdb"] = duck[0]["version"]
        versions["lamina"] = lam[0]["version"]
        row = {
            "case": f"{entity_rows:,} x {size:,}",
            "duckdb_s": median_of(duck, "seconds"), "lamina_s": median_of(lam, "seconds"),
            "duckdb_mib": median_of(duck, "rss_mib"), "lamina_mib": median_of(lam, "rss_mib"),
            "lamina_rows": lam[0]["rows"], "lamina_nonnull": lam[0]["nonnull"],
            "duckdb_nonnull": duck[0]["nonnull"],
            "bare_s": median_of(bare, "seconds"), "bare_mib": median_of(bare, "rss_mib"),
            "duckdb_cpu": median_of(duck, "cpu"), "lamina_cpu": median_of(lam, "cpu"),
            "bare_cpu": median_of(bare, "cpu"),
            "engine_duckdb_s": median_of(other, "seconds"),
            "engine_duckdb_mib": median_of(other, "rss_mib"),
            "cold_s": median_of(cold, "seconds"), "cold_mib": median_of(cold, "rss_mib"),
            "apply_s": median_of(lam, "apply_seconds"),
            "apply_bare_s": median_of(bare, "apply_seconds"),
            "apply_duckdb_s": median_of(other, "apply_seconds"),
            # each lamina run against the DuckDB run of its round: how much the ratio
            # moves from run to run on this machine
            "lamina_pairs": [a["seconds"] / d["seconds"] for a, d in zip(lam, duck, strict=True)],
            "bare_pairs": [a["seconds"] / d["seconds"] for a, d in zip(bare, duck, strict=True)],
        }
        if feast_py and size == sizes[0]:
            print(f"feast on {row['case']} (one run)...", file=sys.stderr, flush=True)
            fr = run_worker(feast_py, "feast", ent, feat, timeout=3600)
            row["feast"] = fr
            if "version" in fr:
                versions["feast"] = fr["version"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    ent, feat = make_data(data, entity_rows, online_rows)
    online = {"lamina": run_worker(me, "lamina-online", ent, feat, calls)}
    if feast_py:
        online["feast"] = run_worker(feast_py, "feast-online", ent, feat, max(calls // 5, 50))
    print(json.dumps(online), file=sys.stderr, flush=True)

    flags = (["--quick"] if quick else []) + (["--no-feast"] if not quick and not use_feast
                                              else []) + ([f"--reps {reps}"] if args.reps else [])
    results = {"quick": quick, "reps": reps, "machine": machine_line(), "versions": versions,
               "command": " ".join(["python benchmarks/features_pit.py", *flags]),
               "rows": rows, "online": online, "calls": calls, "online_rows": online_rows}
    (data / f"results-{'quick' if quick else 'full'}.json").write_text(json.dumps(results))
    doc = Path(args.doc) if args.doc else None
    markdown = render(results, kept_feast(doc) if not feast_py else None)
    print(markdown)
    write_section("features_pit", markdown, **({"doc": Path(args.doc)} if args.doc else {}))
    return 0


def online_section(quick: bool, data: Path, machine: str) -> str:
    """Online lookups of 100 keys, on the store, with ``stack=`` and without, as Markdown:
    ``--reps`` is not used; each way is the median of its calls in one process."""
    online_rows = 20_000 if quick else 100_000
    calls = 50 if quick else 2000
    ent, feat = make_data(data, 20_000 if quick else 1_000_000, online_rows)
    r = run_worker(sys.executable, "lamina-online-calls", ent, feat, calls)
    if "error" in r:
        raise SystemExit(f"worker failed: {r}")
    held = "holds" if r["no_stack_ms"] < 0.5 else "misses"
    return "\n".join([
        "## Feature store: online lookup without `stack=`",
        "",
        f"100 keys, 5 features, {KEYS:,} keys materialized from {online_rows:,} rows into "
        f"the SQLite online store; median of {calls} calls each, in one process. "
        "`online_features(...)` without `stack=` finds the project's stack from the "
        "working directory, as the CLI does, and keeps the store it builds per process "
        "and configuration (see [features](features.md#for-the-serving-layer)).",
        "",
        f"Produced by `python benchmarks/features_pit.py"
        f"{' --quick' if quick else ' --online-only'}` on {machine}.",
        "",
        "| call | per 100-key lookup |",
        "|---|---|",
        f"| `store.get_online_features(...)` | {r['store_ms']:.3f} ms |",
        f"| `online_features(..., stack=stack)` | {r['stack_ms']:.3f} ms |",
        f"| `online_features(...)`, no `stack=` | **{r['no_stack_ms']:.3f} ms** |",
        f"| the first call without `stack=` (loads the stack, builds the store) | "
        f"{r['first_no_stack_ms']:.1f} ms |",
        "",
        f"Target: under 0.5 ms per 100 ids without `stack=`: {held}. Before the store was "
        "kept, each call without `stack=` built it again: 3-5 ms (up to 13 ms).",
    ])


FEAST_LATER = "The Feast columns are not rerun here"


def kept_feast(doc: Path | None) -> dict:
    """The Feast results of the section already in ``doc`` (docs/benchmarks.md by
    default), to carry over when this run leaves Feast out (``--no-feast``): one Feast run
    takes the machine's memory for a quarter of an hour, so its cells are measured
    rarely and kept by hand. Keys: ``cells`` (case -> last table cell), ``version`` (the
    note after the versions), ``online`` (the Feast clause of the online sentence),
    ``note`` (the closing paragraph)."""
    import re

    if doc is None:
        from report import DOC as doc  # type: ignore[no-redef]
    try:
        text = doc.read_text()
    except OSError:
        return {}
    found = re.search(r"<!-- bench:features_pit -->(.*?)<!-- /bench:features_pit -->", text,
                      re.S)
    if not found:
        return {}
    section = found.group(1)
    kept: dict = {"cells": {}}
    for line in section.splitlines():
        if line.startswith("| ") and " x " in line.split("|")[1]:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] != "entity x feature rows" and cells[-1] != "not run":
                cell = cells[-1]
                kept["cells"][cells[0]] = cell if "earlier" in cell else f"{cell} (an earlier run)"
        elif line.startswith("Versions:"):
            note = re.search(r"\((Feast [^)]*)\)", line) or re.search(r", (feast [^,.]*)", line)
            if note:
                kept["version"] = note.group(1)
        elif line.startswith("Online lookup"):
            clause = re.search(r"; (Feast .*?)\.?$", line)
            if clause:
                kept["online"] = clause.group(1)
        elif line.startswith(FEAST_LATER):
            kept["note"] = line.strip()
    return kept


def render(results: dict, kept: dict | None = None) -> str:
    """The markdown section from a results record (also ``--render FILE``); ``kept``
    holds Feast results from an earlier run (:func:`kept_feast`) for a run without Feast."""
    kept = kept or {}
    quick, reps, versions = results["quick"], results["reps"], results["versions"]
    rows, online, calls = results["rows"], results["online"], results["calls"]
    online_rows = results["online_rows"]
    cmd = results.get("command") or (
        "python benchmarks/features_pit.py" + (" --quick" if quick else ""))
    out = [
        "## Feature store: point-in-time join and online lookup",
        "",
        f"Command: `{cmd}` ({reps} rounds of one run per column, medians; each run a "
        "fresh process; time of the join call, peak RSS of the process; the order within "
        "a round is shuffled, since a process that follows a DuckDB run measured about "
        "0.1 s slower at 1M x 1M).",
        f"Machine: {results['machine']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + (f" ({kept['version']})" if "feast" not in versions and kept.get("version")
           else "") + ".",
        "",
        f"Data: {KEYS:,} entity keys, event times over {DAYS} days, 5 float features and a "
        f"created timestamp, TTL {TTL_HOURS} h. Raw DuckDB is the bare ASOF LEFT JOIN on the "
        "same files (no TTL, no tie rule, no order guarantee); lamina applies the TTL, "
        "breaks event-time ties by the created timestamp and returns rows in the entity "
        "order.",
        "",
        "lamina runs with its default engine, `auto`, which takes the numpy engine for "
        "this data (integer keys, timestamps, local Parquet): one sort of the source's "
        "packed keys and event times, one binary search per entity row, the features "
        "gathered in entity order. Two lamina columns: *with tie rule* is the view with a "
        "created timestamp column (ties on event time go to the latest-created row; tied "
        "rows sit next to each other once sorted, and the created column is read only if "
        "a matched row has a tie). *No created column* is the same view without it (TTL "
        "and order only). DuckDB's own ASOF picks an arbitrary row among ties, and not the "
        "same one from run to run (duckdb/duckdb#25536).",
        "",
        "| entity x feature rows | raw DuckDB ASOF | lamina, tie rule | ratio | lamina, no "
        "created column | ratio | DuckDB peak RSS | lamina peak RSS (tie rule / none) | RSS "
        "ratio | Feast 0.67 local |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        feast_cell = kept.get("cells", {}).get(r["case"], "not run")
        if "feast" in r:
            fr = r["feast"]
            if "error" in fr:
                feast_cell = f"failed: {fr['error'][:300]}"
                if fr.get("elapsed"):
                    feast_cell += (f" (lamina's time is at least "
                                   f"**{fr['elapsed'] / r['lamina_s']:.0f}x** shorter)")
            else:
                feast_cell = (f"{fr['seconds']:.1f} s, {fr['rss_mib'] / 1024:.1f} GiB, "
                              f"{fr['rows']:,} rows returned "
                              f"(**{fr['seconds'] / r['lamina_s']:.0f}x** lamina's time)")
        out.append(
            f"| {r['case']} | {r['duckdb_s']:.2f} s | {r['lamina_s']:.2f} s | "
            f"{r['lamina_s'] / r['duckdb_s']:.2f}x | {r['bare_s']:.2f} s | "
            f"{r['bare_s'] / r['duckdb_s']:.2f}x | {r['duckdb_mib']:.0f} MiB | "
            f"{r['lamina_mib']:.0f} / {r['bare_mib']:.0f} MiB | "
            f"{r['lamina_mib'] / r['duckdb_mib']:.2f}x / {r['bare_mib'] / r['duckdb_mib']:.2f}x | "
            f"{feast_cell} |"
        )
    engine_rows = [r for r in rows if "engine_duckdb_s" in r]
    out += [
        "",
        *([] if not engine_rows else [
            "lamina's DuckDB engine on the same view with the tie rule (`engine = "
            "\"duckdb\"`, what `auto` uses for remote sources, DATE timestamps or key "
            "ranges that do not pack into 64 bits: the ASOF JOIN with the TTL, the rows put "
            "back in entity order): "
            + "; ".join(f"{r['case']}: {r['engine_duckdb_s']:.2f} s "
                        f"({r['engine_duckdb_s'] / r['duckdb_s']:.2f}x), "
                        f"{r['engine_duckdb_mib']:.0f} MiB "
                        f"({r['engine_duckdb_mib'] / r['duckdb_mib']:.2f}x)"
                        for r in engine_rows)
            + ". Its first join after the source file changed (touched after apply, so "
            "nothing is known of this version) checks the matched rows for ties with one "
            "hash join of the source: "
            + "; ".join(f"{r['case']}: {r['cold_s']:.2f} s ({r['cold_s'] / r['duckdb_s']:.2f}x), "
                        f"{r['cold_mib']:.0f} MiB ({r['cold_mib'] / r['duckdb_mib']:.2f}x)"
                        for r in engine_rows)
            + ". Apply (registering the view and checking the source's columns; for the "
            "DuckDB engine, with a created column, also its once-per-source-version scan "
            "for repeated event times): "
            + "; ".join(f"{r['case']}: {r['apply_s']:.2f} s (auto), "
                        f"{r['apply_bare_s']:.2f} s (no created column)"
                        + (f", {r['apply_duckdb_s']:.2f} s (DuckDB engine)"
                           if "apply_duckdb_s" in r else "") for r in engine_rows)
            + ".", ""]),
        "CPU time of the join (user + system, all threads; steadier than wall time when "
        "the machine is shared): "
        + "; ".join(f"{r['case']}: DuckDB {r['duckdb_cpu']:.2f} s, lamina with tie rule "
                    f"{r['lamina_cpu']:.2f} s ({r['lamina_cpu'] / r['duckdb_cpu']:.2f}x), "
                    f"without {r['bare_cpu']:.2f} s ({r['bare_cpu'] / r['duckdb_cpu']:.2f}x)"
                    for r in rows) + ".",
        "",
        *([] if not all("lamina_pairs" in r for r in rows) else [
            "Time ratio run by run (each lamina run against the DuckDB run of its round; "
            "the spread is the machine's): " + "; ".join(
                f"{r['case']}: tie rule {min(r['lamina_pairs']):.2f}-"
                f"{max(r['lamina_pairs']):.2f}x (median {statistics.median(r['lamina_pairs']):.2f}x), "
                f"no created column {min(r['bare_pairs']):.2f}-{max(r['bare_pairs']):.2f}x "
                f"(median {statistics.median(r['bare_pairs']):.2f}x)" for r in rows) + ".",
            ""]),
        "Rows with a value within the TTL (lamina) vs any earlier value (raw ASOF): "
        + "; ".join(f"{r['case']}: {r['lamina_nonnull']:,} of {r['lamina_rows']:,} vs "
                    f"{r['duckdb_nonnull']:,}" for r in rows) + ".",
        "",
        f"Online lookup of 100 keys (5 features, {KEYS:,} keys materialized from "
        f"{online_rows:,} rows), median of {calls} calls: lamina (SQLite online store) "
        f"{online['lamina'].get('median_ms', float('nan')):.3f} ms"
        + (f"; Feast 0.67 (SQLite online store) "
           f"{online['feast'].get('median_ms', float('nan')):.3f} ms"
           if "feast" in online else f"; {kept['online']}" if kept.get("online") else "")
        + ".",
    ]
    if not any("feast" in r for r in rows) and kept.get("note"):
        out += ["", kept["note"]]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
