"""Compare the variants of a deployment on logged outcomes: ``lamina ab report``.

Each request's variant comes from the prediction log; its outcome from the outcomes log
(joined by request id, the latest outcome of a request wins). For every variant: requests,
outcomes, mean with a 95% confidence interval; each variant is then tested against the
control (the first variant by default): a two-proportion z-test when every outcome is 0 or
1, else Welch's t-test (unequal variances; robust for the unequal traffic of an A/B split).
``metric`` may also name a numeric column of the prediction log itself (``latency_ms``,
``out.predict``), compared per prediction row.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from lamina.serving import stats
from lamina.serving.errors import ServingError

if TYPE_CHECKING:
    from lamina.stack import Stack


@attrs.frozen
class VariantSummary:
    variant: str
    requests: int
    n: int  # values of the metric (requests with an outcome)
    mean: float
    sd: float
    ci_low: float
    ci_high: float


@attrs.frozen
class Comparison:
    variant: str
    control: str
    difference: float  # mean(variant) - mean(control)
    relative: float  # difference / mean(control)
    test: str  # "two-proportion z" or "Welch t"
    statistic: float
    p_value: float


@attrs.frozen
class ABReport:
    """The outcome of ``ab_report``; ``str(report)`` is the table the CLI prints."""

    deployment: str
    metric: str
    binary: bool
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data, JSON-safe: an undefined number (the spread of one
        value, a test without variance) is None, never NaN or infinity."""
        return attrs.asdict(self, recurse=True, value_serializer=_finite_or_none)

    def __str__(self) -> str:
        lines = [f"A/B report: deployment {self.deployment}, metric {self.metric}"
                 f" ({'proportion' if self.binary else 'mean'}, 95% CI)"]
        lines.append(f"{'variant':<12} {'requests':>9} {'n':>8} {'mean':>10} {'95% CI':>23}")
        for v in self.variants:
            ci = f"[{v.ci_low:.4g}, {v.ci_high:.4g}]" if not math.isnan(v.ci_low) else "-"
            mean = f"{v.mean:.4g}" if not math.isnan(v.mean) else "-"
            lines.append(f"{v.variant:<12} {v.requests:>9} {v.n:>8} {mean:>10} {ci:>23}")
        for c in self.comparisons:
            verdict = "significant" if c.p_value < self.alpha else "not significant"
            rel = f" ({c.relative:+.1%})" if math.isfinite(c.relative) else ""
            stat = (f"{c.statistic:.3f}" if math.isfinite(c.statistic)
                    else "undefined (no variance in either variant)")
            lines.append(f"{c.variant} vs {c.control}: difference {c.difference:+.4g}{rel}, "
                         f"{c.test} = {stat}, p = {c.p_value:.3g} "
                         f"({verdict} at {self.alpha:g})")
        return "\n".join(lines)


def _finite_or_none(instance: Any, attribute: Any, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _summary(name: str, requests: int, values: list[float], binary: bool) -> VariantSummary:
    n = len(values)
    if n == 0:
        return VariantSummary(name, requests, 0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(values) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else math.nan
    lo, hi = stats.wilson_ci(sum(values), n) if binary else stats.mean_ci(mean, sd, n)
    return VariantSummary(name, requests, n, mean, sd, lo, hi)


def ab_report(
    stack: Stack | str | None,
    deployment: str,
    *,
    metric: str = "outcome",
    control: str | None = None,
    start: Any = None,
    end: Any = None,
    alpha: float = 0.05,
) -> ABReport:
    """Per-variant counts, mean metric with 95% CI, and a two-sample test of each variant
    against ``control`` (default: the first variant in name order), from the logs."""
    import pyarrow.compute as pc

    from lamina.serving.prediction_log import read_outcomes, read_prediction_log

    preds = read_prediction_log(stack, deployment, start, end)
    if preds.num_rows == 0:
        raise ServingError(f"deployment {deployment!r} has no logged predictions"
                           + (" in that time window" if start or end else ""),
                           hint="serve it and send requests first (lamina serve ...)")
    preds = preds.filter(pc.equal(preds["status"], 200))
    variants_col = preds["variant"].to_pylist()
    names = sorted(set(variants_col))
    values: dict[str, list[float]] = {n: [] for n in names}
    requests: dict[str, set[str]] = {n: set() for n in names}
    rids = preds["request_id"].to_pylist()
    for rid, v in zip(rids, variants_col, strict=True):
        requests[v].add(rid)
    if metric == "outcome":
        outcomes = read_outcomes(stack, deployment, start, None)
        latest: dict[str, float] = {}
        order = sorted(range(outcomes.num_rows), key=outcomes["timestamp"].to_pylist().__getitem__)
        ids, vals = outcomes["request_id"].to_pylist(), outcomes["outcome"].to_pylist()
        for i in order:
            latest[ids[i]] = vals[i]
        # a request's outcome belongs to the variant that answered it first; a mirror
        # answers after the response was sent, so it never takes the credit
        answered: dict[str, tuple[Any, str]] = {}
        for rid, v, ts in zip(rids, variants_col, preds["timestamp"].to_pylist(), strict=True):
            if rid not in answered or ts < answered[rid][0]:
                answered[rid] = (ts, v)
        for rid, (_, v) in answered.items():
            value = latest.get(rid)
            if value is not None and math.isfinite(value):  # logs from before outcomes
                values[v].append(value)                      # were checked may hold NaN
    else:
        if metric not in preds.column_names:
            numeric = [c for c, t in zip(preds.column_names, preds.schema.types, strict=True)
                       if str(t).startswith(("int", "uint", "float", "double"))]
            raise ServingError(f"metric {metric!r} is neither 'outcome' nor a column of the "
                               f"prediction log of {deployment!r}",
                               hint=f"numeric columns: {', '.join(numeric)}")
        col = preds[metric].to_pylist()
        for x, v in zip(col, variants_col, strict=True):
            if x is not None and math.isfinite(float(x)):
                values[v].append(float(x))
    every = [x for vs in values.values() for x in vs]
    if not every:
        raise ServingError(f"deployment {deployment!r}: no {metric} values to compare",
                           hint="post outcomes to /v2/models/NAME/outcomes or call "
                           "lamina.serving.log_outcomes(...)")
    binary = all(x in (0.0, 1.0) for x in every)
    summaries = tuple(_summary(n, len(requests[n]), values[n], binary) for n in names)
    control = control or names[0]
    if control not in values:
        raise ServingError(f"control variant {control!r} has no logged predictions",
                           hint=f"variants: {', '.join(names)}")
    base = next(s for s in summaries if s.variant == control)
    comps = []
    for s in summaries:
        if s.variant == control or s.n == 0 or base.n == 0:
            continue
        diff = s.mean - base.mean
        rel = diff / base.mean if base.mean else math.nan
        if binary:
            z, p = stats.two_proportions(base.mean * base.n, base.n, s.mean * s.n, s.n)
            comps.append(Comparison(s.variant, control, diff, rel, "two-proportion z", z, p))
        else:
            if s.n < 2 or base.n < 2:
                continue
            t, _df, p = stats.welch(base.mean, base.sd, base.n, s.mean, s.sd, s.n)
            comps.append(Comparison(s.variant, control, diff, rel, "Welch t", t, p))
    return ABReport(deployment, metric, binary, summaries, tuple(comps), alpha)
