"""Running a suite: the model (and the champion) predict once on the data, then every check
is vectorized numpy over those predictions (slices by ``bincount`` over integer codes).
numpy and scipy are imported here, never on ``import lamina``."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from lamina.checks.suite import LOWER_IS_BETTER, Check, Suite
from lamina.errors import CheckSuiteError

#: Metrics the champion check compares row by row (means of a per-row score).
PAIRED_METRICS = ("accuracy", "error_rate", "brier", "log_loss", "mae", "mse")


@attrs.frozen
class CheckResult:
    """One check's outcome: ``passed``, the measured ``value`` against ``threshold``, a
    one-line ``detail``, and per-slice rows (``slice``, ``value``, ``rows``, ``passed``)."""

    name: str
    kind: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""
    slices: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "passed": self.passed,
                "value": _num(self.value), "threshold": _num(self.threshold),
                "detail": self.detail, "slices": [dict(s) for s in self.slices]}


@attrs.frozen
class SuiteResult:
    """A suite's outcome: ``passed`` when every check passed; ``rows`` checked; what was
    checked (``model``) and against what (``champion``)."""

    suite: str
    passed: bool
    checks: tuple[CheckResult, ...]
    rows: int
    model: str = ""
    champion: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed (with the failing slices)."""
        out = []
        for c in self.checks:
            if not c.passed:
                bad = [str(s["slice"]) for s in c.slices if s.get("passed") is False]
                out.append(c.name + (f" [{', '.join(bad[:5])}]" if bad else ""))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "passed": self.passed, "rows": self.rows,
                "model": self.model, "champion": self.champion,
                "seconds": round(self.seconds, 4), "failed": self.failed,
                "checks": [c.to_dict() for c in self.checks]}

    def to_html(self, title: str = "") -> str:
        """A standalone HTML report (every user string escaped)."""
        from lamina.checks.report import render_html

        return render_html(self.to_dict(), title=title)

    def __str__(self) -> str:
        lines = [f"suite {self.suite}: {'PASSED' if self.passed else 'FAILED'} "
                 f"({self.rows} rows{', vs ' + self.champion if self.champion else ''})"]
        for c in self.checks:
            lines.append(f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}")
        return "\n".join(lines)


def _num(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


# ------------------------------------------------------------------------------ data


def load_data(data: Any) -> dict[str, Any]:
    """Columns as numpy arrays from a pandas DataFrame, a pyarrow Table, a dict of
    arrays, or a Parquet/CSV path."""
    import numpy as np

    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise CheckSuiteError(f"data {str(path)!r} does not exist",
                                  hint="pass a Parquet or CSV file (--data PATH)")
        if path.suffix.lower() == ".csv":
            from pyarrow import csv

            data = csv.read_csv(path)
        else:
            import pyarrow.parquet as pq

            data = pq.read_table(path)
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow Table
        return {name: _arrow_to_numpy(data.column(name)) for name in data.column_names}
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # pandas DataFrame
        return {str(c): data[c].to_numpy() for c in data.columns}
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v) for k, v in data.items()}
    raise CheckSuiteError(f"cannot check a model on a {type(data).__name__}",
                          hint="pass a pandas DataFrame, a pyarrow Table or a Parquet/CSV path")


def _arrow_to_numpy(column: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_numpy(zero_copy_only=False)


def _codes(values: Any) -> tuple[Any, list[Any]]:
    """Integer codes and the distinct values of a slice column."""
    import numpy as np

    if values.dtype.kind in "OUS":
        import pyarrow as pa

        encoded = pa.array(values, from_pandas=True).dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return codes.astype(np.int64), encoded.dictionary.to_pylist()
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), uniques.tolist()


# ------------------------------------------------------------------------------ model


class Predictor:
    """A model as the checks call it: a :class:`lamina.serving.Model`, an estimator with
    ``predict`` (and ``predict_proba``), or a function of the columns dict."""

    def __init__(self, model: Any, features: tuple[str, ...], positive: Any) -> None:
        self.model = model
        self.positive = positive
        schema = getattr(model, "schema", None)
        self.lamina = schema is not None and callable(getattr(model, "bind", None))
        self.features = (tuple(model.schema.input_names) if self.lamina and not features
                         else features)
        self.obj = model.obj if self.lamina else model
        self._fn = model.bind() if self.lamina else None
        #: the inputs of the last columns seen (the suite's data is predicted on several
        #: times: by labels, by probabilities); shared with the champion when it is set
        self.shared: dict[Any, Any] = {}

    def inputs(self, cols: Mapping[str, Any]) -> Any:
        key = (id(cols), self.lamina, self.features)
        found = self.shared.get(key)
        if found is not None and found[0] is cols:
            return found[1]
        x = self._inputs(cols)
        self.shared.clear()
        self.shared[key] = (cols, x)
        return x

    def _inputs(self, cols: Mapping[str, Any]) -> Any:
        import numpy as np

        missing = [f for f in self.features if f not in cols]
        if missing:
            raise CheckSuiteError(
                f"the data has no column {missing[0]!r}, an input of the model",
                hint=f"columns: {', '.join(list(cols)[:20])}")
        if self.lamina:
            return self.model.prepare({f: cols[f] for f in self.features}, None)
        if hasattr(self.model, "predict"):
            # column-major: each column is one contiguous copy (what column_stack is not)
            n = len(cols[self.features[0]]) if self.features else 0
            x = np.empty((n, len(self.features)), dtype=float, order="F")
            for i, f in enumerate(self.features):
                x[:, i] = cols[f]
            return x
        return {f: cols[f] for f in self.features}

    def predict(self, cols: Mapping[str, Any]) -> Any:
        import numpy as np

        x = self.inputs(cols)
        if self._fn is not None:
            out = self._fn(x)
        elif hasattr(self.model, "predict"):
            out = self.model.predict(x)
        else:
            out = self.model(x)
        if isinstance(out, Mapping):  # a dict of outputs: the first
            out = next(iter(out.values()))
        arr = np.asarray(out)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        return arr

    def proba(self, cols: Mapping[str, Any]) -> Any:
        """P(positive) per row, or None when the model gives no probabilities."""
        import numpy as np

        fn = getattr(self.obj, "predict_proba", None)
        if not callable(fn):
            return None
        p = np.asarray(fn(self.inputs(cols)), dtype=float)
        if p.ndim == 1:
            return p
        classes = list(getattr(self.obj, "classes_", []))
        column = classes.index(self.positive) if self.positive in classes else p.shape[1] - 1
        return p[:, column]


@attrs.define
class _Run:
    """Predictions computed once and shared by the checks."""

    suite: Suite
    cols: dict[str, Any]
    model: Predictor
    champion: Predictor | None
    n: int
    _cache: dict[str, Any] = attrs.field(factory=dict)

    def get(self, key: str, fn: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def pred(self, which: str = "model") -> Any:
        p = self.model if which == "model" else self.champion
        assert p is not None
        return self.get(f"pred:{which}", lambda: p.predict(self.cols))

    def proba(self, which: str = "model") -> Any:
        p = self.model if which == "model" else self.champion
        assert p is not None
        return self.get(f"proba:{which}", lambda: p.proba(self.cols))

    def y(self) -> Any:
        target = self.suite.target
        if target not in self.cols:
            raise CheckSuiteError(f"the data has no label column {target!r} (suite "
                                  f"{self.suite.name!r}, target)",
                                  hint=f"columns: {', '.join(list(self.cols)[:20])}")
        return self.cols[target]

    def groups(self, column: str) -> tuple[Any, list[Any]]:
        if column not in self.cols:
            raise CheckSuiteError(f"the data has no slice column {column!r} (suite "
                                  f"{self.suite.name!r})",
                                  hint=f"columns: {', '.join(list(self.cols)[:20])}")
        return self.get(f"codes:{column}", lambda: _codes(self.cols[column]))


# ------------------------------------------------------------------------------ metrics


def row_scores(metric: str, y: Any, pred: Any, proba: Any, positive: Any) -> Any:
    """Per-row values whose mean is the metric (for the row-decomposable metrics)."""
    import numpy as np

    if metric == "accuracy":
        return (pred == y).astype(float)
    if metric == "error_rate":
        return (pred != y).astype(float)
    if metric in ("brier", "log_loss"):
        if proba is None:
            raise CheckSuiteError(f"metric {metric!r} needs probabilities, and the model "
                                  "has no predict_proba", hint="use accuracy, or a classifier "
                                  "with predict_proba")
        truth = (y == positive).astype(float)
        if metric == "brier":
            return (proba - truth) ** 2
        p = np.clip(proba, 1e-15, 1 - 1e-15)
        return -(truth * np.log(p) + (1 - truth) * np.log(1 - p))
    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    if metric == "mae":
        return np.abs(err)
    return err**2  # mse (and rmse, r2 from it)


def grouped_metric(metric: str, y: Any, pred: Any, proba: Any, positive: Any,
                   codes: Any, k: int) -> tuple[Any, Any]:
    """(value per group, rows per group) of ``metric`` over ``k`` groups."""
    import numpy as np

    counts = np.bincount(codes, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric in PAIRED_METRICS:
            sums = np.bincount(codes, weights=row_scores(metric, y, pred, proba, positive),
                               minlength=k)
            return sums / counts, counts
        if metric in ("rmse", "r2"):
            sse = np.bincount(codes, weights=row_scores("mse", y, pred, proba, positive),
                              minlength=k)
            if metric == "rmse":
                return np.sqrt(sse / counts), counts
            yf = np.asarray(y, dtype=float)
            s1 = np.bincount(codes, weights=yf, minlength=k)
            s2 = np.bincount(codes, weights=yf * yf, minlength=k)
            return 1 - sse / (s2 - s1 * s1 / counts), counts
        if metric in ("precision", "recall", "f1"):
            pp, ap = pred == positive, y == positive
            tp = np.bincount(codes, weights=(pp & ap).astype(float), minlength=k)
            npp = np.bincount(codes, weights=pp.astype(float), minlength=k)
            nap = np.bincount(codes, weights=ap.astype(float), minlength=k)
            if metric == "precision":
                return tp / npp, counts
            if metric == "recall":
                return tp / nap, counts
            return 2 * tp / (npp + nap), counts
        if metric == "auc":
            if proba is None:
                raise CheckSuiteError("metric 'auc' needs probabilities, and the model has "
                                      "no predict_proba", hint="use accuracy")
            values = np.array([_auc((y == positive)[codes == g], proba[codes == g])
                               for g in range(k)])
            return values, counts
    raise CheckSuiteError(f"unknown metric {metric!r}", hint="see lamina.checks.suite")


def _auc(truth: Any, score: Any) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged; numpy only: importing
    scipy.stats costs about a second)."""
    import numpy as np

    pos = int(truth.sum())
    neg = len(truth) - pos
    if pos == 0 or neg == 0:
        return math.nan
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float((ranks[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _slice_rows(run: _Run, check: Check, values: Any, counts: Any, uniques: list[Any],
                column: str, ok: Any) -> list[dict[str, Any]]:
    rows = []
    for g, value in enumerate(uniques):
        n = int(counts[g])
        small = n < check.min_rows
        rows.append({"slice": f"{column}={value}", "value": _num(values[g]), "rows": n,
                     "passed": None if small else bool(ok(values[g]))})
    return rows


# ------------------------------------------------------------------------------ checks


def _bound_ok(check: Check) -> Any:
    def ok(value: float) -> bool:
        if value != value:  # nan: undefined on these rows
            return False
        if check.min is not None and value < check.min:
            return False
        return not (check.max is not None and value > check.max)
    return ok


def _check_metric(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    y, positive = run.y(), run.suite.positive
    proba = run.proba() if check.metric in ("brier", "log_loss", "auc") else None
    ok = _bound_ok(check)
    zeros = np.zeros(run.n, dtype=np.int64)
    overall, _ = grouped_metric(check.metric, y, run.pred(), proba, positive, zeros, 1)
    slices: list[dict[str, Any]] = []
    for column in check.slices:
        codes, uniques = run.groups(column)
        values, counts = grouped_metric(check.metric, y, run.pred(), proba, positive, codes,
                                        len(uniques))
        slices += _slice_rows(run, check, values, counts, uniques, column, ok)
    bad = [s for s in slices if s["passed"] is False]
    passed = ok(float(overall[0])) and not bad
    bound = " and ".join(x for x in (f">= {check.min:g}" if check.min is not None else "",
                                     f"<= {check.max:g}" if check.max is not None else "") if x)
    detail = f"{check.metric} {float(overall[0]):.4f} overall (must be {bound})"
    if check.slices:
        detail += f"; {len(bad)} of {len(slices)} slices fail" + (
            f" ({', '.join(str(s['slice']) for s in bad[:5])})" if bad else "")
    threshold = check.min if check.min is not None else check.max
    return CheckResult(check.label, check.kind, passed, float(overall[0]), threshold,
                       detail, tuple(slices))


def _check_champion(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    from lamina.statistics.classical import mean_and_var, mean_ci

    if run.champion is None:
        return CheckResult(check.label, check.kind, True, None, -check.margin,
                           "no champion to compare with: passed")
    if check.metric not in PAIRED_METRICS:
        raise CheckSuiteError(
            f"check {check.label!r}: the champion comparison is paired row by row, and "
            f"{check.metric!r} is not a mean over rows",
            hint=f"compare on one of {', '.join(PAIRED_METRICS)}")
    y, positive = run.y(), run.suite.positive
    need_p = check.metric in ("brier", "log_loss")
    new = row_scores(check.metric, y, run.pred(), run.proba() if need_p else None, positive)
    old = row_scores(check.metric, y, run.pred("champion"),
                     run.proba("champion") if need_p else None, positive)
    sign = -1.0 if check.metric in LOWER_IS_BETTER else 1.0
    d = sign * (new - old)  # > 0: the new model is better on that row
    level = 1 - 2 * check.alpha  # the lower end of this two-sided interval is one-sided 1-alpha

    def lower_bounds(codes: Any, k: int) -> tuple[Any, Any, Any]:
        n = np.bincount(codes, minlength=k).astype(float)
        mean, var = mean_and_var(n, np.bincount(codes, weights=d, minlength=k),
                                 np.bincount(codes, weights=d * d, minlength=k))
        low, _ = mean_ci(mean, np.sqrt(var), n, level)
        return mean, np.where(var == 0, mean, low), n

    mean, low, _ = lower_bounds(np.zeros(run.n, dtype=np.int64), 1)

    def ok(lo: float) -> bool:
        return bool(lo >= -check.margin)

    slices: list[dict[str, Any]] = []
    for column in check.slices:
        codes, uniques = run.groups(column)
        means, lows, counts = lower_bounds(codes, len(uniques))
        for row, m in zip(_slice_rows(run, check, lows, counts, uniques, column, ok),
                          means, strict=True):
            row["difference"] = _num(sign * m)
            slices.append(row)
    bad = [s for s in slices if s["passed"] is False]
    passed = ok(float(low[0])) and not bad
    detail = (f"{check.metric}: new - champion = {sign * float(mean[0]):+.4f} on the same "
              f"{run.n} rows; one-sided {1 - check.alpha:.0%} bound of the improvement "
              f"{float(low[0]):+.4f} (must be >= {-check.margin:+g})")
    if check.slices:
        detail += f"; {len(bad)} of {len(slices)} slices fail"
    return CheckResult(check.label, check.kind, passed, float(low[0]), -check.margin,
                       detail, tuple(slices))


def _perturbed(run: _Run, check: Check) -> dict[str, Any]:
    import numpy as np

    if check.column not in run.cols:
        raise CheckSuiteError(f"check {check.label!r}: the data has no column {check.column!r}",
                              hint=f"columns: {', '.join(list(run.cols)[:20])}")
    cols = dict(run.cols)
    values = cols[check.column]
    if check.set is not None:
        cols[check.column] = np.full(len(values), check.set, dtype=values.dtype
                                     if values.dtype.kind not in "OUS" else object)
    elif check.add is not None:
        cols[check.column] = values + check.add
    else:
        cols[check.column] = values * check.scale
    return cols


def _check_invariance(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    base = run.pred()
    moved = run.model.predict(_perturbed(run, check))
    if base.dtype.kind in "fc":
        changed = np.abs(moved.astype(float) - base.astype(float)) > check.tolerance
    else:
        changed = moved != base
    share = float(changed.mean()) if run.n else 0.0
    change = _describe_change(check)
    return CheckResult(check.label, check.kind, share <= check.max_changed, share,
                       check.max_changed,
                       f"{change} changed {share:.2%} of predictions (at most "
                       f"{check.max_changed:.2%} may change)")


def _describe_change(check: Check) -> str:
    if check.set is not None:
        return f"{check.column} = {check.set!r}"
    if check.add is not None:
        return f"{check.column} + {check.add:g}"
    return f"{check.column} x {check.scale:g}"


def _check_directional(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    cols = _perturbed(run, check)
    base = run.proba()
    if base is not None:
        moved = run.model.proba(cols)
        what = f"P({run.suite.positive!r})"
    else:
        base, moved, what = run.pred().astype(float), run.model.predict(cols).astype(float), \
            "the prediction"
    delta = np.asarray(moved, dtype=float) - np.asarray(base, dtype=float)
    wrong = delta < -check.tolerance if check.expect == "increase" else delta > check.tolerance
    share = float(wrong.mean()) if run.n else 0.0
    return CheckResult(check.label, check.kind, share <= check.max_violations, share,
                       check.max_violations,
                       f"{_describe_change(check)} should {check.expect} {what}: "
                       f"{share:.2%} of rows moved the other way (at most "
                       f"{check.max_violations:.2%})")


def _check_calibration(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    p = run.proba()
    if p is None:
        return CheckResult(check.label, check.kind, False, None, check.max_ece,
                           "the model gives no probabilities (no predict_proba)")
    truth = (run.y() == run.suite.positive).astype(float)

    def measures(codes: Any, k: int) -> tuple[Any, Any, Any]:
        bins = np.minimum((p * check.bins).astype(np.int64), check.bins - 1)
        cell = codes * check.bins + bins
        size = k * check.bins
        n = np.bincount(cell, minlength=size).reshape(k, check.bins)
        sp = np.bincount(cell, weights=p, minlength=size).reshape(k, check.bins)
        st = np.bincount(cell, weights=truth, minlength=size).reshape(k, check.bins)
        rows = n.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ece = np.abs(sp - st).sum(axis=1) / rows
            brier = np.bincount(codes, weights=(p - truth) ** 2, minlength=k) / rows
        return ece, brier, rows

    def ok_pair(ece: float, brier: float) -> bool:
        return not ((check.max_ece is not None and not ece <= check.max_ece)
                    or (check.max_brier is not None and not brier <= check.max_brier))

    ece, brier, _ = measures(np.zeros(run.n, dtype=np.int64), 1)
    slices: list[dict[str, Any]] = []
    for column in check.slices:
        codes, uniques = run.groups(column)
        eces, briers, counts = measures(codes, len(uniques))
        for g, value in enumerate(uniques):
            n = int(counts[g])
            slices.append({"slice": f"{column}={value}", "value": _num(eces[g]),
                           "brier": _num(briers[g]), "rows": n,
                           "passed": None if n < check.min_rows
                           else ok_pair(float(eces[g]), float(briers[g]))})
    bad = [s for s in slices if s["passed"] is False]
    passed = ok_pair(float(ece[0]), float(brier[0])) and not bad
    bounds = ", ".join(x for x in (
        f"ECE <= {check.max_ece:g}" if check.max_ece is not None else "",
        f"Brier <= {check.max_brier:g}" if check.max_brier is not None else "") if x)
    return CheckResult(check.label, check.kind, passed, float(ece[0]),
                       check.max_ece if check.max_ece is not None else check.max_brier,
                       f"ECE {float(ece[0]):.4f}, Brier {float(brier[0]):.4f} ({bounds})"
                       + (f"; {len(bad)} of {len(slices)} slices fail" if check.slices else ""),
                       tuple(slices))


def _check_latency(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    size = min(check.batch_size, run.n) if run.n else 0
    if size == 0:
        return CheckResult(check.label, check.kind, False, None, check.max_ms, "no rows")
    reps = int(np.ceil(check.batch_size / size))
    batch = {k: (np.tile(v[:size], reps)[: check.batch_size] if v.ndim == 1 else v[:size])
             for k, v in run.cols.items()}
    run.model.predict(batch)  # warm-up
    times = []
    for _ in range(check.repeats):
        start = time.perf_counter()
        run.model.predict(batch)
        times.append((time.perf_counter() - start) * 1000)
    median = float(np.median(times))
    assert check.max_ms is not None
    return CheckResult(check.label, check.kind, median <= check.max_ms, median, check.max_ms,
                       f"median {median:.2f} ms to predict {check.batch_size} rows over "
                       f"{check.repeats} calls (at most {check.max_ms:g} ms)")


def _check_schema(run: _Run, check: Check) -> CheckResult:
    import numpy as np

    problems: list[str] = []
    model = run.model
    if model.lamina:
        from lamina.serving.schema import _ACCEPTS, _KIND, v2_datatype

        for field in model.model.schema.inputs:
            if field.name not in run.cols:
                problems.append(f"input {field.name!r} is missing")
                continue
            try:
                kind = _KIND[v2_datatype(run.cols[field.name].dtype)]
            except Exception:
                kind = "?"
            if kind not in _ACCEPTS.get(field.kind, set()):
                problems.append(f"input {field.name!r} is {run.cols[field.name].dtype}, the "
                                f"schema says {field.datatype}")
            elif not field.allow_nan and kind == "f" and np.isnan(
                    run.cols[field.name].astype(float)).any():
                problems.append(f"input {field.name!r} has NaN, the schema allows none")
    else:
        problems += [f"input {f!r} is missing" for f in model.features if f not in run.cols]
    if not problems:
        pred = run.pred()
        if len(pred) != run.n:
            problems.append(f"the model returned {len(pred)} predictions for {run.n} rows")
        elif pred.dtype.kind in "fc" and not np.isfinite(pred).all():
            problems.append(f"{int((~np.isfinite(pred)).sum())} predictions are not finite")
    return CheckResult(check.label, check.kind, not problems, float(len(problems)), 0.0,
                       "; ".join(problems[:5]) or "inputs and outputs match the schema")


_RUNNERS = {
    "metric": _check_metric, "champion": _check_champion, "invariance": _check_invariance,
    "directional": _check_directional, "calibration": _check_calibration,
    "latency": _check_latency, "schema": _check_schema,
}


def run_suite(suite: Suite, model: Any, data: Any, *, champion: Any = None,
              model_name: str = "", champion_name: str = "") -> SuiteResult:
    """Run every check of ``suite`` on ``model`` (and ``champion``) over ``data``."""
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
    except ImportError as exc:
        from lamina.errors import LaminaError

        raise LaminaError(f"model checks need numpy and scipy ({exc})",
                          hint="pip install 'lamina[checks]'") from None
    started = time.perf_counter()
    cols = load_data(data)
    n = len(next(iter(cols.values()))) if cols else 0
    features = suite.features
    predictor = Predictor(model, features, suite.positive)
    rival = Predictor(champion, features, suite.positive) if champion is not None else None
    if rival is not None:
        rival.shared = predictor.shared  # one input matrix when both read the same columns
    run = _Run(suite, cols, predictor, rival, n)
    results = []
    for check in suite.checks:
        results.append(_RUNNERS[check.kind](run, check))
    return SuiteResult(suite.name, all(r.passed for r in results), tuple(results), n,
                       model_name, champion_name, time.perf_counter() - started)
