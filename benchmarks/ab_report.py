"""The A/B report over a large experiment: 10M logged predictions and 10M outcomes.

The log is written as a server writes it (Parquet parts in a file datastore, a sticky key
per request from 1M users, a recorded 50/50 split); the report then reads every part,
credits each outcome to its request's variant, checks the sample ratio by distinct
sticky keys, and runs the sequential and fixed-horizon tests of the primary metric and a
latency guardrail. Each side runs in a fresh process, three times, alternating:

- **lamina**: ``lamina.serving.ab_report`` (the whole report, as ``lamina ab report``);
- **floor**: the least any report must do, by hand in pyarrow: read the same parts, join
  outcomes to requests, and sum the outcome per variant (no sample-ratio check, no
  sequential test, no guardrail).

    python benchmarks/ab_report.py            # 10M rows, writes docs/benchmarks.md
    python benchmarks/ab_report.py --quick    # 100k rows, writes nothing
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

LAMINA_SIDE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from lamina.serving import ab_report
from lamina.serving.experiment import Experiment, MetricSpec
from lamina.stack import Stack
t1 = time.perf_counter()
stack = Stack.load(cwd=sys.argv[1], env={})
experiment = Experiment(guardrails=(MetricSpec("latency_ms", "guardrail", "decrease", 0.1),))
report = ab_report(stack, sys.argv[2], experiment=experiment)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "report": t2 - t1, "decision": report.decision.action,
                  "srm": report.srm.unit, "n": sum(v.n for v in report.variants),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_SIDE = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
t1 = time.perf_counter()
root = Path(sys.argv[1]) / ".lamina"
deployment = sys.argv[2]
outs = pa.concat_tables([pq.read_table(p, columns=["request_id", "outcome", "variant"][
                             : 3 if deployment == "bench" else 2])
                         for p in sorted(root.glob(f"outcomes/{deployment}/*/*.parquet"))])
if deployment == "bench":  # outcomes with credit: nothing to join
    joined = outs
else:
    preds = pa.concat_tables([pq.read_table(p, columns=["request_id", "variant", "status"])
                              for p in sorted(root.glob(f"predictions/{deployment}/*/*.parquet"))])
    preds = preds.filter(pc.equal(preds["status"], 200))
    joined = preds.join(outs, "request_id", join_type="inner")
sums = joined.group_by("variant").aggregate([("outcome", "sum"), ("outcome", "count")])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "report": t2 - t1, "n": sum(sums["outcome_count"].to_pylist()),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

#: (label, side, deployment, what it computes)
SIDES = (
    ("lamina `ab_report`, outcomes with credit", LAMINA_SIDE, "bench",
     "sample ratio by distinct sticky key, outcome per variant, sequential + fixed tests, "
     "latency guardrail, decision"),
    ("floor (bare pyarrow), outcomes with credit", FLOOR_SIDE, "bench",
     "read outcomes, sum per variant only"),
    ("lamina `ab_report`, outcomes without credit", LAMINA_SIDE, "uncredited",
     "the same report, each outcome joined to its request"),
    ("floor (bare pyarrow), outcomes without credit", FLOOR_SIDE, "uncredited",
     "join and per-variant sum only"),
)


def make_log(project: Path, rows: int, parts: int) -> None:
    """``rows`` requests over ``parts`` parts, and one outcome per request."""
    import numpy as np
    import pyarrow as pa

    from lamina.serving.experiment import record_design
    from lamina.serving.prediction_log import (
        OUTCOMES,
        PREDICTIONS,
        _write_part,
        outcome_schema,
        prediction_schema,
    )
    from lamina.serving.spec import Deployment, Variant
    from lamina.stack import Stack

    stack = Stack.load(cwd=project, env={})
    store = stack.datastore
    for name in ("bench", "uncredited"):
        record_design(store, Deployment(name, (Variant("a", "f/a/m", 50), Variant("b", "f/b/m", 50))))
    rng = np.random.default_rng(0)
    users = max(rows // 10, 1)
    now = time.time_ns() // 1000 - 7 * 86_400 * 1_000_000
    schema = prediction_schema()
    per = rows // parts
    for part in range(parts):
        ids = np.arange(part * per, (part + 1) * per)
        user = rng.integers(0, users, per)
        variant = np.where(user % 2 == 0, "a", "b")  # sticky: a user always gets one variant
        ts = now + np.sort(rng.integers(0, 7 * 86_400 * 1_000_000, per))
        rid = pa.array([f"r{i}" for i in ids.tolist()], pa.string())
        table = pa.table({
            "request_id": rid,
            "timestamp": pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "deployment": pa.array(["bench"] * per, pa.string()),
            "variant": pa.array(variant, pa.string()),
            "model": pa.array(np.where(variant == "a", "f/a/m", "f/b/m"), pa.string()),
            "latency_ms": rng.gamma(4.0, 0.5, per),
            "status": pa.array(np.full(per, 200, np.int32)),
            "key": pa.array([f"u{u}" for u in user.tolist()], pa.string()),
        }, schema=schema)
        rate = np.where(variant == "a", 0.10, 0.102)
        outcomes = pa.table({
            "request_id": rid,
            "timestamp": pa.array(ts + 3_600_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "outcome": (rng.random(per) < rate).astype(np.float64),
            # the credit a server writes with an outcome posted to it (it remembers the
            # request's answer): the variant, the request's time and its sticky key
            "variant": table["variant"],
            "request_time": table["timestamp"],
            "key": table["key"],
        }, schema=outcome_schema())
        _write_part(store, PREDICTIONS, "bench", table, int(ts[0]))
        _write_part(store, OUTCOMES, "bench", outcomes, int(ts[0]))
        # the same log with outcomes logged without credit (posted after the server forgot
        # the request, or written before outcomes carried credit): the report joins them
        table = table.set_column(2, "deployment", pa.array(["uncredited"] * per, pa.string()))
        _write_part(store, PREDICTIONS, "uncredited", table, int(ts[0]))
        _write_part(store, OUTCOMES, "uncredited", outcomes.select(["request_id", "timestamp",
                                                                    "outcome"]), int(ts[0]))


def run_side(code: str, project: Path, deployment: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, str(project), deployment], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark side failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from common import command_line, table
    from report import machine_line, write_section

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, write nothing")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        t0 = time.perf_counter()
        make_log(project, rows, parts=max(1, rows // 500_000))
        made = time.perf_counter() - t0
        if hasattr(os, "sync"):  # the logs written back before any side is timed
            os.sync()
        results: dict[str, list[dict]] = {label: [] for label, *_ in SIDES}
        for _ in range(rounds):
            for label, code, deployment, _what in SIDES:
                results[label].append(run_side(code, project, deployment))
    med = {k: statistics.median(r["report"] for r in v) for k, v in results.items()}
    rss = {k: max(r["rss_mib"] for r in v) for k, v in results.items()}
    counts = {k: v[0]["n"] for k, v in results.items()}
    assert set(counts.values()) == {rows}, counts
    first = results[SIDES[0][0]][0]
    body = table(
        ["side", "report (median)", "every run", "peak RSS", "what it computes"],
        [[label, f"{med[label]:.2f} s", ", ".join(f"{r['report']:.2f}" for r in results[label]),
          f"{rss[label]:.0f} MiB", what] for label, _code, _dep, what in SIDES],
    )
    credited, loose = SIDES[0][0], SIDES[2][0]
    text = (f"### A/B report over {rows:,} predictions and {rows:,} outcomes\n\n"
            f"{machine_line()}. `{command_line()}` ({rounds} alternating rounds, fresh "
            f"processes; the logs took {made:.0f} s to write). Target: < 3 s.\n\n{body}\n\n"
            f"With credit (the variant written with each outcome), lamina's report takes "
            f"{med[credited]:.2f} s; without, {med[loose]:.2f} s. The decision was "
            f"`{first['decision']}`, the sample ratio counted by {first['srm']}.\n")
    print(text)
    if not args.quick:
        write_section("ab_report", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
