"""Data-drift report: lamina vs Evidently 0.7, 100k reference vs 100k current rows of 20
numeric and 5 categorical columns, with shifts in 5 columns (the issue's detection case).

Each measurement is a fresh subprocess that reads the same Parquet files, builds the
drift report and writes its HTML; we record the report time (tables in memory -> HTML on
disk), the import time, the process's wall time and its peak RSS. Sides alternate (A/B)
and the table shows medians. Evidently runs in its own environment (``evidently==0.7.*``,
``pandas<3``), created once under .cache/.

    python benchmarks/monitoring_drift.py            # the real size, writes docs/benchmarks.md
    python benchmarks/monitoring_drift.py --quick    # tiny, lamina only, writes nothing
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "monitoring"))
sys.path.insert(0, str(REPO / "benchmarks"))

EVIDENTLY_REQS = ["evidently==0.7.*", "pandas<3", "pyarrow"]
SHIFTED = ("num_0", "num_1", "count_0", "cat_0", "cat_1")

LAMINA_SIDE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pyarrow.parquet as pq
from lamina.monitoring import analyze
t1 = time.perf_counter()
ref = pq.read_table(sys.argv[1]); cur = pq.read_table(sys.argv[2])
t2 = time.perf_counter(); c2 = time.process_time()
report = analyze(ref, cur)
report.save_html(sys.argv[3])
t3 = time.perf_counter(); c3 = time.process_time()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "report": t3 - t2, "report_cpu": c3 - c2,
                  "drifted": report.drifted_columns,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

EVIDENTLY_SIDE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
t1 = time.perf_counter()
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
t2 = time.perf_counter(); c2 = time.process_time()
num = [c for c in ref.columns if not c.startswith("cat_")]
cat = [c for c in ref.columns if c.startswith("cat_")]
definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(cur, data_definition=definition),
    Dataset.from_pandas(ref, data_definition=definition))
snapshot.save_html(sys.argv[3])
t3 = time.perf_counter(); c3 = time.process_time()
drifted = []
for m in snapshot.dict()["metrics"]:
    cfg = m.get("config") or {}
    if "ValueDrift" in m.get("metric_name", "") and float(m["value"]) >= cfg.get("threshold", 0.1):
        drifted.append(cfg["column"])
# Evidently's default methods on these sizes are distances flagged at >= threshold
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "report": t3 - t2, "report_cpu": c3 - c2,
                  "drifted": drifted,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_data(folder: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    import pyarrow.parquet as pq
    from monitoring_util import make_table

    folder.mkdir(parents=True, exist_ok=True)
    ref, cur = folder / f"ref-{rows}.parquet", folder / f"cur-{rows}.parquet"
    if not ref.exists():
        pq.write_table(make_table(rows, seed, shifted=False), ref)
    if not cur.exists():
        pq.write_table(make_table(rows, seed + 1, shifted=True), cur)
    return ref, cur


def measure(python: str, code: str, ref: Path, cur: Path, out: Path) -> dict:
    import time

    start = time.perf_counter()
    proc = subprocess.run([python, "-c", code, str(ref), str(cur), str(out)],
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark side failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    result["html_kib"] = out.stat().st_size / 1024
    return result


def evidently_python() -> str:
    from envs_util import ensure_env

    return str(ensure_env("evidently", EVIDENTLY_REQS))


def version(python: str, module: str) -> str:
    proc = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version('{module}'))"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, lamina only, no docs")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = 2_000 if args.quick else args.rows
    data = REPO / ".cache" / "bench-monitoring"
    ref, cur = make_data(data, rows)
    sides = {"lamina": (sys.executable, LAMINA_SIDE)}
    if not args.quick:
        py = evidently_python()
        measure(py, EVIDENTLY_SIDE, ref, cur, data / "warm.html")   # compile its bytecode once
        sides["evidently"] = (py, EVIDENTLY_SIDE)
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(1 if args.quick else args.rounds):
        for name, (python, code) in sides.items():             # A/B alternating
            results[name].append(measure(python, code, ref, cur, data / f"{name}.html"))
    med = {name: {k: statistics.median(r[k] for r in runs)
                  for k in ("import", "report", "report_cpu", "wall", "rss_mib", "html_kib")}
           for name, runs in results.items()}
    found = {name: runs[-1]["drifted"] for name, runs in results.items()}
    print(json.dumps({"rows": rows, "median": med, "drifted": found}, indent=1))
    if args.quick:
        return 0
    from report import machine_line, write_section

    lam, ev = med["lamina"], med["evidently"]
    ratio = ev["report"] / lam["report"]

    def hits(name: str) -> str:
        got = set(found[name])
        return (f"{len(got & set(SHIFTED))}/5 shifts found"
                + (f", missed {', '.join(sorted(set(SHIFTED) - got))}" if set(SHIFTED) - got else "")
                + (f", {len(got - set(SHIFTED))} false" if got - set(SHIFTED) else ", 0 false"))

    ev_py = sides["evidently"][0]
    cpu_ratio = ev["report_cpu"] / lam["report_cpu"]
    table = f"""## Monitoring: data-drift report (lamina vs Evidently)

Command: `python benchmarks/monitoring_drift.py --rounds {args.rounds}`. Machine:
{machine_line()}.

{rows:,} reference vs {rows:,} current rows, 20 numeric + 5 categorical columns, shifts in
5 of them (mean +0.5 sd, scale x1.3, Poisson 3 -> 3.1, category proportions, 5% moved to a
new category). Each number is the median of {args.rounds} fresh subprocesses per side, run
alternately (A/B). *report* = tables in memory to HTML file written (imports and Parquet
reading excluded), as wall time and as the process's CPU time (the CPU time is what a
loaded machine does not distort); peak RSS is the whole process's. Versions: lamina
{version(sys.executable, 'lamina')} (numpy {version(sys.executable, 'numpy')}, scipy
{version(sys.executable, 'scipy')}); Evidently {version(ev_py, 'evidently')} (pandas
{version(ev_py, 'pandas')}) in its own environment; both with default settings
(`DataDriftPreset()`).

| | lamina | Evidently | ratio |
|---|---:|---:|---:|
| report, wall (s) | {lam['report']:.2f} | {ev['report']:.2f} | {ratio:.1f}x faster |
| report, CPU (s) | {lam['report_cpu']:.2f} | {ev['report_cpu']:.2f} | {cpu_ratio:.1f}x less |
| import (s) | {lam['import']:.2f} | {ev['import']:.2f} | |
| process wall (s) | {lam['wall']:.2f} | {ev['wall']:.2f} | |
| peak RSS (MiB) | {lam['rss_mib']:.0f} | {ev['rss_mib']:.0f} | {ev['rss_mib'] / lam['rss_mib']:.1f}x less |
| HTML (KiB) | {lam['html_kib']:.0f} | {ev['html_kib']:.0f} | |
| detection | {hits('lamina')} | {hits('evidently')} | |
"""
    write_section("monitoring_drift", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
