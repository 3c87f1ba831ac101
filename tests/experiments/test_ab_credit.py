"""Outcomes that carry their credit (the variant that answered the request, when, and its
sticky key, written by the server that remembers the answer) give the A/B report exactly
what joining them to the prediction log gives, without the join."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lamina.serving import ab_report, log_outcomes, read_outcomes
from lamina.serving.experiment import Covariate, Experiment, MetricSpec, record_design
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.schema import Field, Schema
from lamina.serving.spec import Deployment, Variant
from lamina.stack import Stack

SCHEMA = Schema([Field("x", "FP64")], [Field("y", "FP64")])
DAY_US = 86_400 * 1_000_000


def _serve(stack: Stack, name: str, *, remember: int = 100_000) -> tuple[PredictionLogWriter, list]:
    """A log as a server with a mirror writes it: 3 days of sticky users, a request that
    logs two rows, failed requests and the mirror's answers. Returns the open writer and
    the outcomes to post (with repeats, an unknown id and a failed request's id)."""
    rng = np.random.default_rng(11)
    record_design(stack.datastore, Deployment(
        name, (Variant("a", "f/a/m", 50), Variant("b", "f/b/m", 50)),
        mirror=Variant("shadow", "f/s/m", 0)))
    writer = PredictionLogWriter(stack.datastore, name, [SCHEMA], flush_seconds=60,
                                 mirror="shadow", remember=remember)
    start = time.time_ns() // 1000 - 3 * DAY_US
    outcomes = []
    for i in range(600):
        user = f"u{i % 150}"
        variant = "a" if (i % 150) % 2 else "b"
        rid = f"req-{i}"
        ts = start + i * (3 * DAY_US // 600)
        rows = 2 if i == 7 else 1
        ok = i % 97 != 5
        writer.record(rid, ts, variant, f"f/{variant}/m", float(rng.gamma(4, 0.5)),
                      200 if ok else 500, rows if ok else 0,
                      {"x": np.ones(rows)} if ok else None,
                      {"y": np.full(rows, 0.5)} if ok else None, key=user)
        if i % 4 == 0:  # the mirror answers too; its answer is never the credited one
            writer.record(rid, ts + 10, "shadow", "f/s/m", 1.0, 200, 1, {"x": np.ones(1)},
                          {"y": np.ones(1)}, key=user)
        lift = 0.15 if variant == "b" else 0.0
        outcomes.append((rid, ts + 3_600_000_000, float(rng.random() < 0.3 + lift)))
    outcomes += [("req-3", outcomes[3][1] + 1, 1.0 - outcomes[3][2]),  # posted again: wins
                 ("nobody-asked", outcomes[0][1], 1.0)]
    return writer, outcomes


def _both(project: Path, **kwargs) -> tuple[Stack, list]:
    """The same log three times: 'credited' gets its outcomes through the server's writer,
    'batch' through ``log_outcomes`` (which looks the requests up), 'joined' through
    ``log_outcomes(credit=False)``, as outcomes logged before outcomes carried credit."""
    stack = Stack.load(cwd=project, env={})
    writer, outcomes = _serve(stack, "credited", **kwargs)
    writer.record_outcomes(outcomes)
    writer.close()
    for name in ("batch", "joined"):
        plain, _ = _serve(stack, name)
        plain.close()
    # in two batches: the outcome posted again comes later, and so wins
    log_outcomes(stack, "batch", [(rid, value) for rid, _ts, value in outcomes[:-2]])
    log_outcomes(stack, "batch", [(rid, value) for rid, _ts, value in outcomes[-2:]])
    for rid, _ts, value in outcomes:  # one call each: the last posted is the latest
        log_outcomes(stack, "joined", {rid: value}, credit=False)
    return stack, outcomes


def _same(stack: Stack, **kwargs) -> dict:
    reports = {name: ab_report(stack, name, **kwargs).to_dict()
               for name in ("credited", "batch", "joined")}
    for name, report in reports.items():
        assert report.pop("deployment") == name
    # equal but for the last bits of sums taken in another order (parts are read by
    # date), which a difference of sums (a variance) can carry to the tenth digit
    _close(reports["credited"], reports["joined"])
    _close(reports["batch"], reports["joined"])
    return reports["credited"]


def _close(a: object, b: object, where: str = "report") -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-12), (where, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_credited_outcomes_report_exactly_what_the_join_gives(project: Path) -> None:
    stack, outcomes = _both(project)
    table = read_outcomes(stack, "credited")
    credit = dict(zip(table["request_id"].to_pylist(), table["variant"].to_pylist(), strict=True))
    assert credit["req-1"] == "a" and credit["req-2"] == "b"  # never the mirror's
    assert credit["nobody-asked"] is None and credit["req-5"] is None  # unknown; failed
    batch = read_outcomes(stack, "batch")
    assert dict(zip(batch["request_id"].to_pylist(), batch["variant"].to_pylist(),
                    strict=True)) == credit
    assert read_outcomes(stack, "joined")["variant"].null_count == len(outcomes)

    report = _same(stack)
    srm = report["srm"]
    assert srm["unit"] == "sticky keys" and srm["observed"] == {"a": 75, "b": 75}
    n = {v["variant"]: v["n"] for v in report["metrics"][0]["variants"]}
    # 600 requests, 7 failed; the repeated outcome counts once; the unknown id not at all
    assert n["a"] + n["b"] == 600 - 7
    # a window reads the outcomes of the requests inside it, credited or joined alike
    day = time.time_ns() // 1000 - 2 * DAY_US
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(day / 1e6))
    windowed = _same(stack, start=start)
    assert sum(v["n"] for v in windowed["metrics"][0]["variants"]) < 593
    # several metrics at once, and CUPED keyed by each unit's sticky key
    rng = np.random.default_rng(2)
    path = project / "pre.parquet"
    pq.write_table(pa.table({"user": [f"u{i}" for i in range(150)],
                             "spend": rng.normal(5, 1, 150)}), path)
    cuped = _same(stack, experiment=Experiment(
        covariate=Covariate(path, "user", "spend"),
        guardrails=(MetricSpec("latency_ms", "guardrail", "decrease", 0.2),)))
    assert cuped["metrics"][0]["variance_reduction"] is not None
    assert [m["metric"] for m in cuped["metrics"]] == ["outcome", "latency_ms"]
    # the guardrail counts the answered rows: not the mirror's, not the failed requests'
    assert sum(v["n"] for v in cuped["metrics"][1]["variants"]) == 593 + 1  # req-7: 2 rows


def test_an_answer_the_writer_forgot_is_joined_when_reported(project: Path) -> None:
    stack, _ = _both(project, remember=100)
    table = read_outcomes(stack, "credited")
    credited = table.filter(table["variant"].is_valid())["request_id"].to_pylist()
    # only the latest 100 answers are remembered; older outcomes carry no credit
    assert 0 < len(credited) <= 100 and "req-599" in credited and "req-0" not in credited
    _same(stack)
