"""Reading results back (the notebook case), lamina and Metaflow: the latest run of a flow
and one artifact; the 500 results of a 500-task foreach; listing 10,000 runs of one flow
(lamina alone: making 10,000 Metaflow runs would take the better part of a day).

Each measurement runs in a fresh process after the imports (what a notebook cell pays),
median of the runs. The 10,000 runs are recorded through the metadata store's public
methods (``create_run``/``finish_run``), as ``lamina run`` records them. Run from the
repository root::

    python benchmarks/client_read.py              # 500 results, 10,000 runs
    python benchmarks/client_read.py --quick      # 20 results, 200 runs, no doc update
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    alternate,
    command_line,
    fmt_s,
    lamina_env,
    lamina_toml,
    median,
    metaflow_built,
    metaflow_env,
    metaflow_python,
    run_timed,
    table,
    versions,
)
from report import machine_line, write_section
from runtime_foreach import LAMINA_FLOW, METAFLOW_FLOW

MAKE_RUNS = r'''
import sys, time
from lamina import Stack
from lamina.records import RunRecord
count = int(sys.argv[1])
meta = Stack.load(None).metadata
now = time.time() - count
for i in range(count):
    run_id = f"20260101T000000{i:06d}-bench"
    meta.create_run(RunRecord(run_id=run_id, flow="many", status="running",
                              started_at=now + i, params={"i": i}, user="bench",
                              steps=("a", "b"), tags=("bench",)))
    meta.finish_run(run_id, status="succeeded", finished_at=now + i + 0.5, error="")
'''

LAMINA_PROBE = r'''
import json, sys, time
cold = time.perf_counter()
from lamina import Client
kind = sys.argv[1]
t = cold if kind == "cold" else time.perf_counter()
client = Client()
if kind in ("latest", "cold"):
    value = client.latest_run("wide")["join"].value
elif kind == "results":
    run = client.latest_run("wide")
    t = time.perf_counter()
    value = len(run["double"].value)
elif kind == "list":
    value = len(client.runs("many"))
print(json.dumps({"seconds": time.perf_counter() - t, "value": value}))
'''

METAFLOW_PROBE = r'''
import json, sys, time
cold = time.perf_counter()
from metaflow import Flow, namespace
namespace(None)
kind = sys.argv[1]
t = cold if kind == "cold" else time.perf_counter()
run = Flow("WideFlow").latest_successful_run
if kind in ("latest", "cold"):
    value = run["join"].task.data.total
elif kind == "results":
    t = time.perf_counter()
    value = len([task.data.y for task in run["double"]])
print(json.dumps({"seconds": time.perf_counter() - t, "value": value}))
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no doc update")
    parser.add_argument("--runs", type=int, default=None, help="probes per side (default 5)")
    parser.add_argument("--no-metaflow", action="store_true")
    args = parser.parse_args(argv)
    results_n = 20 if args.quick else 500
    runs_n = 200 if args.quick else 10_000
    probes = args.runs or (1 if args.quick else 5)
    use_mf = not args.no_metaflow and (not args.quick or metaflow_built())
    mf_python = metaflow_python() if use_mf else None

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lam, mf = root / "lamina", root / "metaflow"
        lam.mkdir()
        mf.mkdir()
        (lam / "wide.py").write_text(LAMINA_FLOW)
        (lam / "lamina.toml").write_text(lamina_toml(2))
        env = lamina_env()
        run_timed([sys.executable, "-m", "lamina", "run", "wide.py", "--set", f"n={results_n}"],
                  cwd=lam, env=env)
        run_timed([sys.executable, "-c", MAKE_RUNS, str(runs_n)], cwd=lam, env=env)
        if mf_python:
            (mf / "wide_mf.py").write_text(METAFLOW_FLOW)
            run_timed([mf_python, "wide_mf.py", "--no-pylint", "run", "--max-workers", "2",
                       "--max-num-splits", str(max(results_n, 100)), "--n", str(results_n)],
                      cwd=mf, env=metaflow_env(mf))

        def probe(python: str, code: str, kind: str, cwd: Path, penv: dict) -> float:
            out = run_timed([python, "-c", code, kind], cwd=cwd, env=penv)
            return float(json.loads(out["stdout"].strip().splitlines()[-1])["seconds"])

        rows = []
        for kind, label in (("latest", "latest run of a flow, one artifact"),
                            ("cold", "the same, its imports included (a new notebook)"),
                            ("results", f"the {results_n} results of a {results_n}-task foreach"),
                            ("list", f"list {runs_n:,} runs of one flow")):
            sides = {"lamina": lambda k=kind: probe(sys.executable, LAMINA_PROBE, k, lam, env)}
            if mf_python and kind != "list":
                sides["metaflow"] = lambda k=kind: probe(mf_python, METAFLOW_PROBE, k, mf,
                                                         metaflow_env(mf))
            times = alternate(sides, {"lamina": probes, "metaflow": probes})
            lam_s, mf_s = median(times["lamina"]), median(times.get("metaflow", []))
            ratio = mf_s / lam_s
            rows.append([label, fmt_s(lam_s), fmt_s(mf_s),
                         (f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x")
                         if times.get("metaflow") else "—"])
            print(rows[-1], flush=True)
    text = "\n".join([
        "## Client: reading results back",
        "",
        "Each measurement in a fresh process, after the imports (what a notebook cell "
        "pays); median of the runs. Metaflow reads its local datastore and metadata. The "
        "first row includes `Client()`, which loads the stack (config file, plugins, the "
        "SQLite store) and the lamina modules it needs, which `import lamina` defers; Metaflow "
        "does the equivalent work when `metaflow` is imported. The second row counts the "
        "imports too, on both sides: what a fresh notebook pays for its first answer.",
        "",
        f"Produced by `{command_line()}` on {machine_line()}; {versions(mf_python)}.",
        "",
        table(["", "lamina", "Metaflow", "Metaflow / lamina"], rows),
        "",
        "Targets: the 500 results in under 100 ms; 10,000 runs listed in under 1 s.",
    ])
    print(text)
    if not args.quick:
        write_section("client-read", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
