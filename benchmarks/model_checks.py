"""Model checks: a suite over 20 slices of 1M rows with ``lamina.checks``, side by side with
the equivalent hand-written pandas code (the floor: what a data scientist would write
for this one suite, with nothing general about it).

The suite: accuracy >= 0.7 overall and on each of the 20 slices, calibration (ECE and
Brier) overall and per slice, and a paired non-inferiority comparison with a champion
model overall and per slice. Both sides start from the same pandas DataFrame and the same
two fitted scikit-learn models, and both include the models' predictions (``predict``
and ``predict_proba`` of each model). Runs alternate (A/B) in one process; the table
shows medians.

    python benchmarks/model_checks.py             # 1M rows, writes docs/benchmarks.md
    python benchmarks/model_checks.py --quick     # 20k rows, writes nothing
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

FEATURES = [f"x{i}" for i in range(5)]
SLICES = 20


def make_data(rows: int, seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES)))
    region = rng.integers(0, SLICES, rows)
    logit = X @ np.array([1.2, -0.8, 0.5, 0.0, 0.3]) + 0.05 * (region - SLICES / 2)
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["region"] = np.array([f"region-{i:02d}" for i in range(SLICES)], dtype=object)[region]
    frame["label"] = y
    return frame


def fit_models(frame: Any) -> tuple[Any, Any]:
    from sklearn.linear_model import LogisticRegression

    sample = frame.sample(min(len(frame), 50_000), random_state=1)
    X, y = sample[FEATURES].to_numpy(), sample["label"].to_numpy()
    model = LogisticRegression(max_iter=500).fit(X, y)
    champion = LogisticRegression(max_iter=500).fit(X[:, :3], y)  # fewer features
    return model, _Columns(champion, 3)


class _Columns:
    """The champion reads the first ``k`` columns of the same matrix."""

    def __init__(self, est: Any, k: int) -> None:
        self.est, self.k = est, k

    def predict(self, X: Any) -> Any:
        return self.est.predict(X[:, : self.k])

    def predict_proba(self, X: Any) -> Any:
        return self.est.predict_proba(X[:, : self.k])


def lamina_side(frame: Any, model: Any, champion: Any) -> dict[str, Any]:
    from lamina import checks

    suite = checks.Suite(name="bench", target="label", features=tuple(FEATURES), checks=[
        checks.Check(kind="metric", metric="accuracy", min=0.7, slices=("region",)),
        checks.Check(kind="calibration", max_ece=0.05, max_brier=0.25, slices=("region",)),
        checks.Check(kind="champion", metric="accuracy", margin=0.01, slices=("region",)),
    ])
    result = checks.run(suite, model, frame, champion=champion)
    return {"passed": result.passed,
            "accuracy": {s["slice"].split("=", 1)[1]: s["value"]
                         for s in result.checks[0].slices}}


def pandas_side(frame: Any, model: Any, champion: Any) -> dict[str, Any]:
    """The floor: the same suite written by hand for this data with pandas."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    X, y = frame[FEATURES].to_numpy(), frame["label"].to_numpy()
    df = pd.DataFrame({"region": frame["region"], "y": y})
    df["correct"] = (model.predict(X) == y).astype(float)
    df["p"] = model.predict_proba(X)[:, 1]
    df["d"] = df["correct"] - (champion.predict(X) == y).astype(float)
    df["bin"] = np.minimum((df["p"] * 10).astype(int), 9)
    df["sq"] = (df["p"] - df["y"]) ** 2
    by = df.groupby("region")
    accuracy = by["correct"].mean()
    cells = df.groupby(["region", "bin"]).agg(p=("p", "sum"), y=("y", "sum"))
    ece = (cells["p"] - cells["y"]).abs().groupby(level=0).sum() / by.size()
    brier = by["sq"].mean()
    d = by["d"].agg(["mean", "std", "count"])
    low = d["mean"] - stats.t.ppf(0.95, d["count"] - 1) * d["std"] / np.sqrt(d["count"])
    overall_ok = (df["correct"].mean() >= 0.7 and
                  (df.groupby("bin").p.sum() - df.groupby("bin").y.sum()).abs().sum() / len(df)
                  <= 0.05 and df["sq"].mean() <= 0.25)
    dm, ds = df["d"].mean(), df["d"].std()
    overall_ok = overall_ok and dm - stats.t.ppf(0.95, len(df) - 1) * ds / np.sqrt(len(df)) >= -0.01
    passed = bool(overall_ok and (accuracy >= 0.7).all() and (ece <= 0.05).all()
                  and (brier <= 0.25).all() and (low.fillna(d["mean"]) >= -0.01).all())
    return {"passed": passed, "accuracy": {k: round(float(v), 6) for k, v in accuracy.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k rows, one round, no doc")
    args = parser.parse_args()
    rows, rounds = (20_000, 1) if args.quick else (args.rows, args.rounds)
    frame = make_data(rows)
    model, champion = fit_models(frame)
    sides = {"lamina": lamina_side, "pandas": pandas_side}
    times: dict[str, list[float]] = {name: [] for name in sides}
    answers: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in sides.items():  # alternating
            start = time.perf_counter()
            answers[name] = fn(frame, model, champion)
            times[name].append(time.perf_counter() - start)
    same = answers["lamina"]["passed"] == answers["pandas"]["passed"] and all(
        abs(answers["lamina"]["accuracy"][k] - v) < 1e-6
        for k, v in answers["pandas"]["accuracy"].items())
    result = {name: round(statistics.median(t), 4) for name, t in times.items()}
    print(json.dumps({"rows": rows, "slices": SLICES, "seconds": result, "same_answers": same,
                      "passed": answers["lamina"]["passed"]}))
    if not same:
        print("the two sides disagree", file=sys.stderr)
        return 1
    if not args.quick:
        _write_doc(rows, rounds, result)
    return 0


def _write_doc(rows: int, rounds: int, result: dict[str, float]) -> None:
    import numpy as np
    import pandas as pd
    from common import command_line, table
    from report import machine_line, write_section

    ratio = result["lamina"] / result["pandas"]
    body = (
        "## Model checks: a 20-slice suite on 1M rows (lamina.checks vs hand-written pandas)\n\n"
        f"Command: `{command_line()}`. {machine_line()}.\n\n"
        f"{rows:,} rows, 5 features, a slice column with {SLICES} values. The suite: "
        "accuracy >= 0.7 overall and per slice; calibration (ECE over 10 bins, Brier) "
        "overall and per slice; a paired one-sided non-inferiority test against a champion "
        "model overall and per slice. Both sides start from the same pandas DataFrame and "
        "the same two scikit-learn logistic regressions and include their predictions "
        "(`predict` and `predict_proba`). The pandas side is the floor: code written for "
        "this one suite, with nothing general about it. Both give the same per-slice "
        f"accuracies and verdict. Medians of {rounds} alternating rounds; numpy "
        f"{np.__version__}, pandas {pd.__version__}.\n\n"
        + table(["side", "seconds"], [["lamina.checks", f"{result['lamina']:.2f}"],
                                      ["hand-written pandas", f"{result['pandas']:.2f}"]])
        + f"\n\nlamina takes {ratio:.2f}x the time of the floor; the target is < 5 s.\n"
    )
    write_section("model_checks", body)


if __name__ == "__main__":
    raise SystemExit(main())
